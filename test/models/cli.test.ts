import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeTinyModels } from '../helpers/tiny-models.js';

let root: string;
let manifestPath: string;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-models-cli-'));
  writeTinyModels(join(root, 'models'), { skip: ['pickscore'] });
  const clipFiles = ['onnx/vision_model.onnx', 'onnx/text_model.onnx', 'tokenizer.json', 'preprocessor_config.json', 'config.json'];
  const dir = join(root, 'models', 'clip-vit-large-patch14');
  manifestPath = join(root, 'manifest.json');
  writeFileSync(
    manifestPath,
    JSON.stringify({
      schema_version: 1,
      models: [
        {
          id: 'clip-vit-large-patch14',
          role: 'test',
          metrics: ['clip_score'],
          obtain: 'download',
          source: 'test',
          license: 'MIT',
          files: clipFiles.map((f, i) => ({
            path: f,
            url: `http://127.0.0.1:9/${f}`,
            // the tokenizer hash is deliberately wrong; config.json is unpinned
            sha256: f === 'config.json' ? null : f === 'tokenizer.json' ? 'f'.repeat(64) : sha(join(dir, f)),
            size: i === 0 ? readFileSync(join(dir, f)).length : null,
          })),
        },
        { id: 'pickscore', role: 'test', metrics: ['pickscore'], obtain: 'export', source: 's', license: 'l', files: [{ path: 'onnx/vision_model.onnx', url: null, sha256: null, size: null }] },
        {
          id: 'laion-aesthetic-v2',
          role: 'test',
          metrics: ['aesthetic'],
          obtain: 'build',
          source: 's',
          license: 'l',
          files: [{ path: 'aesthetic_head.onnx', url: null, sha256: sha(join(root, 'models', 'laion-aesthetic-v2', 'aesthetic_head.onnx')), size: null }],
        },
      ],
    }),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loop models', () => {
  it('list shows present / missing, size and path (LOOP_MODELS_DIR)', async () => {
    const r = await runCli(['models', 'list', '--manifest', manifestPath], { env: { LOOP_MODELS_DIR: join(root, 'models') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`models folder: ${join(root, 'models')}`);
    expect(r.stdout).toMatch(/clip-vit-large-patch14\s+present\s+\d+(\.\d)? kB/);
    expect(r.stdout).toMatch(/pickscore\s+missing/);
    expect(r.stdout).toContain(join(root, 'models', 'pickscore'));
    const j = await runCli(['models', 'list', '--manifest', manifestPath, '--models-dir', join(root, 'models'), '--json']);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.models.map((m: { id: string; status: string }) => [m.id, m.status])).toEqual([
      ['clip-vit-large-patch14', 'present'],
      ['pickscore', 'missing'],
      ['laion-aesthetic-v2', 'present'],
    ]);
    // VQAScore is a remote model: the list says which one is configured, or how to configure one
    expect(r.stdout).toMatch(/VQAScore \(vqa_score, text_alignment_vqa\): .*LOOP_VQA_MODEL is unset/);
    const v = await runCli(['models', 'list', '--manifest', manifestPath, '--json'], { env: { LOOP_MODELS_DIR: join(root, 'models'), LOOP_VQA_MODEL: 'gpt-4o-mini' } });
    expect(JSON.parse(v.stdout).vqa).toEqual({ model: 'gpt-4o-mini', metrics: ['vqa_score', 'text_alignment_vqa'] });
  });

  it('verify refuses a wrong sha256 with exit code 10 and reports unpinned files', async () => {
    const r = await runCli(['models', 'verify', '--manifest', manifestPath, '--models-dir', join(root, 'models')]);
    expect(r.code).toBe(10);
    expect(r.stdout).toMatch(/clip-vit-large-patch14: FAILED/);
    expect(r.stdout).toMatch(/mismatch\s+tokenizer\.json/);
    expect(r.stdout).toMatch(/unpinned\s+config\.json/);
    expect(r.stdout).toMatch(/ok\s+onnx\/vision_model\.onnx/);
    expect(r.stdout).toMatch(/pickscore: not installed/);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: model verification failed/)]);
    const ok = await runCli(['models', 'verify', 'laion-aesthetic-v2', '--manifest', manifestPath, '--models-dir', join(root, 'models'), '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).models[0].files[0].status).toBe('ok');
    const missing = await runCli(['models', 'verify', 'pickscore', '--manifest', manifestPath, '--models-dir', join(root, 'models')]);
    expect(missing.code).toBe(10);
  });

  it('path prints the folder; unknown ids are NOT_FOUND; export-only models explain themselves', async () => {
    const p = await runCli(['models', 'path', 'pickscore', '--models-dir', join(root, 'models')]);
    expect(p.code).toBe(0);
    expect(p.stdout.trim()).toBe(join(root, 'models', 'pickscore'));
    const u = await runCli(['models', 'path', 'nope']);
    expect(u.code).toBe(9);
    expect(u.stderr).toMatch(/unknown model "nope"/);
    const pull = await runCli(['models', 'pull', 'pickscore', '--models-dir', join(root, 'm2')]);
    expect(pull.code).toBe(10);
    expect(pull.stderr).toMatch(/no public ONNX export.*models\/README\.md/);
  });
});
