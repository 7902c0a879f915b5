/**
 * What the storyboard's plan is drawn from (its FanOut.basis): the prompt and the bytes of the
 * image clip 1 starts on. A new best image changes it (the board is drawn again on a re-run);
 * the same bytes under another name, or an unrelated upstream field, do not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StageSummary } from '../../queues/payloads.js';
import { storyboardStage } from '../../workers/storyboard.js';
import type { StageContext } from '../../workers/stage.js';

const root = mkdtempSync(join(tmpdir(), 'loop-plan-basis-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const summary = (stage: string, outputs: Record<string, unknown>) => ({ stage, outputs }) as unknown as StageSummary;
const ctxWith = (best: string, prompt = 'a cat', note = 'x') =>
  ({
    runDir: root,
    spec: { prompt: 'raw', options: {} },
    previous: [summary('image-prompt', { final_prompt: prompt }), summary('image-scoring', { best_image: best, backend_note: note })],
  }) as unknown as StageContext<undefined>;

describe('storyboard plan basis', () => {
  it('follows the prompt and the start image by content', async () => {
    writeFileSync(join(root, 'a.png'), 'image A');
    writeFileSync(join(root, 'b.png'), 'image B');
    writeFileSync(join(root, 'a-copy.png'), 'image A');
    const basis = storyboardStage.fanOut!.basis!;
    const a = await basis(ctxWith('a.png'));
    expect(await basis(ctxWith('a-copy.png', 'a cat', 'another note'))).toEqual(a);
    expect(await basis(ctxWith('b.png'))).not.toEqual(a);
    expect(await basis(ctxWith('a.png', 'a dog'))).not.toEqual(a);
  });
});
