import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { inputError, isLoopError } from '../errors.js';

/** Longest prompt we accept; far above any model's useful prompt, low enough to catch a wrong file. */
export const MAX_PROMPT_CHARS = 4000;

/** Decode bytes as a prompt: must be UTF-8 text, no NULs or control bytes, not empty, not huge. */
export function decodePrompt(bytes: Uint8Array, source: string, maxChars = MAX_PROMPT_CHARS): string {
  if (bytes.includes(0)) throw inputError(`${source} looks binary (contains NUL bytes); give a UTF-8 text prompt`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw inputError(`${source} is not valid UTF-8 text`);
  }
  text = text.replace(/^\uFEFF/, '');
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x08\x0B\x0C\x0E-\x1F\x7F]/.test(text)) throw inputError(`${source} contains control characters; give a plain text prompt`);
  const trimmed = text.trim();
  if (!trimmed) throw inputError(`${source} is empty: give a prompt with some words in it`);
  if (trimmed.length > maxChars)
    throw inputError(`${source} is ${trimmed.length} characters; the limit is ${maxChars} (is this the right file?)`);
  return trimmed;
}

async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw inputError('reading the prompt from stdin ("-") but stdin is a terminal; pipe a prompt in');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Spellings of standard input. "-" is the documented one; /dev/stdin and its aliases name the
 * same stream (a pipe, when one is piped in), so they read stdin the same way instead of being
 * refused as "not a regular file".
 */
export const STDIN_PATHS: ReadonlySet<string> = new Set(['-', '/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

/** What a non-regular file is, in words. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Read a file that must be a regular file, at most `maxBytes` long. A named pipe would block the
 * read until some writer appears (forever), a device may never end: anything that is not a
 * regular file is refused with one INPUT line. Opened non-blocking and checked again on the open
 * handle, so a file swapped for a FIFO between the checks cannot hang the read either.
 * `what` names the file in messages ("prompt file", "brand file").
 */
export async function readRegularFile(path: string, what: string, maxBytes: number, tooLarge?: (size: number) => string): Promise<Buffer> {
  const refuse = (st: Stats) =>
    st.isDirectory()
      ? inputError(`${path} is a directory, not a ${what}`)
      : inputError(`${what} ${path} is ${kindOf(st)}, not a regular file${what === 'prompt file' ? '; give a text file, or "-" to read the prompt from stdin' : ''}`);
  const big = (size: number) => inputError(tooLarge ? tooLarge(size) : `${what} ${path} is ${size} bytes; the limit is ${maxBytes} (is this the right file?)`);
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw inputError(`${what} not found: ${path}`);
    throw inputError(`cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw refuse(st);
  if (st.size > maxBytes) throw big(st.size);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st2 = await fh.stat();
    if (!st2.isFile()) throw refuse(st2);
    if (st2.size > maxBytes) throw big(st2.size);
    return await fh.readFile();
  } catch (e) {
    if (isLoopError(e)) throw e;
    throw inputError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    await fh?.close();
  }
}

/**
 * Read a prompt from a file path or "-" (stdin), with every check a user's mistake can trip.
 * /dev/stdin, /dev/fd/0 and /proc/self/fd/0 read stdin as "-" does.
 */
export async function readPromptInput(input: string, maxChars = MAX_PROMPT_CHARS): Promise<string> {
  if (STDIN_PATHS.has(input)) return decodePrompt(await readStdin(), 'stdin', maxChars);
  const bytes = await readRegularFile(
    input,
    'prompt file',
    maxChars * 4 + 1024,
    (size) => `${input} is ${size} bytes; a prompt is at most ${maxChars} characters (is this the right file?)`,
  );
  return decodePrompt(bytes, input, maxChars);
}
