import { stat } from 'node:fs/promises';
import { readRegularFile } from '../lib/input.js';
import { inputError, isLoopError } from '../errors.js';
import { BrandSchema, type Brand } from './types.js';

/** Load and validate a brand file (JSON like examples/brand.json). Any problem is one INPUT line. */
export async function loadBrand(path: string): Promise<Brand> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw inputError(`brand file ${path} is a directory`);
    // a FIFO or device would hang a plain read: readRegularFile refuses anything but a file
    text = (await readRegularFile(path, 'brand file', 256 * 1024, (n) => `brand file ${path} is ${n} bytes; a brand file is small JSON`)).toString('utf8');
  } catch (e) {
    if (isLoopError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw inputError(code === 'ENOENT' ? `brand file not found: ${path}` : `cannot read brand file ${path}: ${code}`);
  }
  return parseBrand(text, path);
}

export function parseBrand(text: string, source = 'brand'): Brand {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw inputError(`brand file ${source} is not valid JSON: ${(e as Error).message}`);
  }
  const r = BrandSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw inputError(`brand file ${source}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const b = r.data;
  if (!b.palette.length && !b.tone.length && !b.must_include.length && !b.avoid.length)
    throw inputError(`brand file ${source} has no palette, tone, must_include or avoid entries`);
  return b;
}
