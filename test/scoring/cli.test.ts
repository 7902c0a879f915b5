import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { writeGenerationDir } from './gen-dir.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-score-cli-'));
  writeTinyModels(join(root, 'models'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loop score-images', () => {
  it('scores, ranks and renames a generation folder; prints the table, top 3 and best candidate', async () => {
    const dir = join(root, 'gen');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5 },
      { rgb: [20, 180, 60], seed: 3, noise: 40 },
      { rgb: [40, 40, 220], seed: 9 },
      { rgb: [0, 0, 0], seed: 4, corrupt: true },
    ]);
    const r = await runCli(['score-images', dir, '--models-dir', join(root, 'models')]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(7); // one image could not be scored: partial
    expect(r.stdout).toMatch(/rank\s+file\s+seed.*pick\s+clip\s+aesth\s+tech\s+overall/);
    expect(r.stdout).toMatch(/★\s+1\s+image_001\.png/);
    expect(r.stdout).toMatch(/best candidate: image_001\.png/);
    expect(r.stdout).toMatch(/unavailable: vqa_score: LOOP_VQA_MODEL is not set/);
    expect(r.stdout).toMatch(/not scored: image_004\.png: cannot decode image/);
    expect(r.stdout).toMatch(/overall from: pickscore 59%, clip_score 29%, aesthetic 12%/);
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    expect(trace.best).toBe('image_001.png');
    expect(trace.images.map((i: { file: string; rank: number | null }) => [i.file, i.rank])).toEqual([
      ['image_001.png', 1],
      ['image_002.png', 2],
      ['image_003.png', 3],
      ['image_004.png', null],
    ]);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('--json, --prompt-file and the fallback to technical quality without models', async () => {
    const dir = join(root, 'gen2');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5, noise: 20 },
      { rgb: [20, 180, 60], seed: 3 },
    ]);
    writeFileSync(join(root, 'p.txt'), 'a red cat\n');
    const r = await runCli(['score-images', dir, '--prompt-file', join(root, 'p.txt'), '--models-dir', join(root, 'none'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.weights_used).toEqual({ technical: 1 });
    expect(j.metrics_unavailable.clip_score).toMatch(/not installed.*loop models pull clip-vit-large-patch14/);
    expect(j.images[0].overall).toBeCloseTo(j.images[0].metrics.technical, 5);
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.scoring.prompt_scored).toBe('a red cat');
    expect(trace.scoring.overall_note).toMatch(/no model metric was available/);
  });

  it('says each thing once: the prompt it scored against, each unavailable metric on one line with its fix, scores rounded', async () => {
    const dir = join(root, 'gen-honest');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5, noise: 20 },
      { rgb: [20, 180, 60], seed: 3 },
    ]);
    const promptFile = join(root, 'honest-prompt.txt');
    writeFileSync(promptFile, 'a green cat\n');
    const r = await runCli(['score-images', dir, '--prompt-file', promptFile, '--models-dir', join(root, 'none')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^prompt:\\s+${promptFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(r.stdout).not.toMatch(/^prompt:\s+test$/m); // the generation's prompt source is not what was scored
    const lines = r.stdout.split('\n');
    for (const m of ['clip_score', 'pickscore', 'aesthetic', 'vqa_score']) {
      const said = lines.filter((l) => l.startsWith(`unavailable: ${m}:`));
      expect(said, m).toHaveLength(1);
      expect(said[0]!.length, said[0]).toBeLessThan(150);
    }
    expect(lines.filter((l) => l.includes('clip-vit-large-patch14 not installed'))).toHaveLength(1);
    expect(r.stdout).toMatch(/^unavailable: clip_score: model clip-vit-large-patch14 not installed; run `loop models pull clip-vit-large-patch14`$/m);
    // export-only: the recipe, not a pull that refuses
    expect(r.stdout).toMatch(/^unavailable: pickscore: model pickscore not installed; export it: models\/README\.md "PickScore"$/m);
    expect(r.stdout).not.toMatch(/loop models pull pickscore/);
    // people get one decimal; the files keep full precision
    expect(r.stdout).toMatch(/best candidate: image_001\.png \(seed \d+, overall \d+\.\d\)/);
    expect(r.stdout.match(/(?<![$\d.])\d+\.\d{3,}/g)).toBeNull(); // money keeps its 4 places
    const meta = JSON.parse(readFileSync(join(dir, 'image_001_metadata.json'), 'utf8'));
    expect(String(meta.scores.overall)).toMatch(/\.\d{3,}/);
    expect(meta.scores.metrics.pickscore.reason).toBe('model pickscore not installed; export it: models/README.md "PickScore"');
  });

  it('rejects a bad device and a folder that is not a generation folder', async () => {
    const bad = await runCli(['score-images', root, '--device', 'tpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--device must be cpu, cuda or cuda:N/);
    const empty = mkdtempSync(join(root, 'empty-'));
    const r = await runCli(['score-images', empty]);
    expect(r.code).toBe(3);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: .*not an image generation directory/)]);
  });

  it('--device cuda falls back to CPU with a warning on a machine without CUDA', async () => {
    const dir = join(root, 'gen3');
    await writeGenerationDir(dir, 'the cat', [{ rgb: [200, 30, 30], seed: 5 }]);
    const r = await runCli(['score-images', dir, '--device', 'cuda:0', '--models-dir', join(root, 'models'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    if (j.device === 'cpu') expect(r.stderr).toMatch(/warning: CUDA execution provider unavailable.*falling back to CPU/);
    else expect(j.device).toBe('cuda:0');
  });
});
