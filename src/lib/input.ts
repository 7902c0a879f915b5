import { readFile, stat } from 'node:fs/promises';
import { inputError } from '../errors.js';

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

/** Read a prompt from a file path or "-" (stdin), with every check a user's mistake can trip. */
export async function readPromptInput(input: string, maxChars = MAX_PROMPT_CHARS): Promise<string> {
  if (input === '-') return decodePrompt(await readStdin(), 'stdin', maxChars);
  let st;
  try {
    st = await stat(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw inputError(`prompt file not found: ${input}`);
    throw inputError(`cannot read prompt file ${input}: ${code}`);
  }
  if (st.isDirectory()) throw inputError(`${input} is a directory, not a prompt file`);
  if (st.size > maxChars * 4 + 1024) throw inputError(`${input} is ${st.size} bytes; a prompt is at most ${maxChars} characters (is this the right file?)`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(input);
  } catch (e) {
    throw inputError(`cannot read prompt file ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodePrompt(bytes, input, maxChars);
}
