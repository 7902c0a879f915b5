/**
 * `loop models pull`: download a model's files with progress, resume (HTTP Range) and sha256
 * verification. A file is written as `<name>.part` and renamed to its final name only once it is
 * complete and verified, so a partial download never sits under the final name.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { LoopError } from '../errors.js';
import { withRetry } from '../lib/retry.js';
import type { ModelEntry } from './manifest.js';
import { fileSize, modelDir, sha256File } from './store.js';

export interface PullProgress {
  file: string;
  received: number;
  total: number | null;
}

export interface PullOptions {
  onProgress?: (p: PullProgress) => void;
  /** Download attempts per file (a dropped connection resumes from what arrived). */
  attempts?: number;
  /** Re-download files that are present (default: keep a present file that verifies). */
  force?: boolean;
}

export interface PullFileResult {
  path: string;
  status: 'downloaded' | 'present';
  sha256: string;
  pinned: boolean;
  resumed: boolean;
}

async function downloadOnce(url: string, part: string, onProgress: (received: number, total: number | null) => void): Promise<{ resumed: boolean }> {
  const have = (await fileSize(part)) ?? 0;
  const res = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, redirect: 'follow' });
  if (res.status === 416 && have > 0) {
    // the range starts at the end: the .part is already complete
    await res.body?.cancel();
    return { resumed: true };
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    const err = new Error(`HTTP ${res.status} for ${url}`);
    (err as Error & { fatal?: boolean }).fatal = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
    throw err;
  }
  const resumed = res.status === 206 && have > 0;
  const start = resumed ? have : 0;
  const len = Number(res.headers.get('content-length'));
  const total = Number.isFinite(len) && len > 0 ? start + len : null;
  let received = start;
  onProgress(received, total);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  // Write each chunk before reading the next: when the connection drops, everything that arrived
  // is on disk, so the next attempt resumes from exactly there.
  const fh = await open(part, resumed ? 'a' : 'w');
  try {
    for await (const chunk of body) {
      await fh.write(chunk as Uint8Array);
      onProgress((received += (chunk as Uint8Array).length), total);
    }
  } finally {
    await fh.close();
  }
  if (total !== null && received < total) throw new Error(`connection closed after ${received} of ${total} bytes`);
  return { resumed };
}

export async function pullModel(modelsDir: string, m: ModelEntry, opts: PullOptions = {}): Promise<PullFileResult[]> {
  if (m.obtain !== 'download')
    throw new LoopError('MODEL', `${m.id} cannot be downloaded (${m.obtain === 'export' ? 'no public ONNX export' : 'built locally'}): ${m.instructions ?? 'see models/README.md'}`);
  const dir = modelDir(modelsDir, m.id);
  const out: PullFileResult[] = [];
  for (const f of m.files) {
    const final = join(dir, f.path);
    const part = `${final}.part`;
    await mkdir(dirname(final), { recursive: true });
    if (!opts.force && existsSync(final)) {
      const sha = await sha256File(final);
      if (f.sha256 === null || f.sha256 === sha) {
        out.push({ path: f.path, status: 'present', sha256: sha, pinned: f.sha256 !== null, resumed: false });
        continue;
      }
      // present but wrong: replace it (the bad file stays until the good one is verified)
    }
    if (!f.url) throw new LoopError('MODEL', `${m.id}: ${f.path} has no download URL in the manifest`);
    const attempts = opts.attempts ?? 5;
    let resumedAny = false;
    let tries = 0;
    try {
      await withRetry(
        async () => {
          tries++;
          const r = await downloadOnce(f.url!, part, (received, total) => opts.onProgress?.({ file: f.path, received, total }));
          resumedAny ||= r.resumed;
        },
        // a dropped connection resumes from the .part file; a 404 or a bad answer does not retry
        (e) => ({ retry: !(e as { fatal?: boolean }).fatal }),
        { policy: { retries: attempts - 1, baseMs: 200, maxMs: 5000 } },
      );
    } catch (e) {
      throw new LoopError('REMOTE', `download of ${m.id}/${f.path} failed after ${tries} attempt${tries === 1 ? '' : 's'}: ${(e as Error).message}; run pull again to resume`, { cause: e });
    }
    const sha = await sha256File(part);
    const size = (await stat(part)).size;
    if ((f.sha256 !== null && sha !== f.sha256) || (f.size !== null && size !== f.size)) {
      await rm(part, { force: true });
      throw new LoopError('MODEL', `${m.id}/${f.path} failed verification (sha256 ${sha}, ${size} bytes; manifest says ${f.sha256 ?? 'unpinned'}, ${f.size ?? '?'} bytes); the download was discarded`);
    }
    await rename(part, final);
    out.push({ path: f.path, status: 'downloaded', sha256: sha, pinned: f.sha256 !== null, resumed: resumedAny });
  }
  return out;
}
