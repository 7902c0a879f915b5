/**
 * Untrusted text on a terminal. File names, file contents, provider and model text can carry
 * control characters and escape sequences (ESC [ 31 m, OSC titles, cursor moves, a carriage
 * return that overwrites the line): printed raw, they recolour, hide or forge what the user sees.
 *
 * termSafe() makes every such character visible instead: ESC becomes the four characters `\x1b`,
 * so `a<ESC>[31mb.txt` prints as `a\x1b[31mb.txt` and the user can still tell which file it is.
 * Apply it to the untrusted pieces of a line, not to loop's own formatted output (the colours
 * cli/format.ts adds are ESC sequences too). It is idempotent: its output has nothing left to
 * replace.
 *
 * Replaced: C0 controls (U+0000–U+001F) except TAB, and except LF where `multiline` is set; DEL;
 * C1 controls (U+0080–U+009F: some terminals obey the 8-bit CSI U+009B); the Unicode line and
 * paragraph separators; the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069)
 * that make text display in an order other than its own.
 */
import { redact } from './secrets.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0A-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_KEEP_LF = /[\x00-\x08\x0B-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r' };

function visible(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

export interface TermSafeOptions {
  /** Keep line feeds (a multi-line print that is meant to be multi-line); CR LF becomes LF. */
  multiline?: boolean;
}

/** Text safe to print: every control or display-reordering character shown as an escape. */
export function termSafe(text: string, opts: TermSafeOptions = {}): string {
  const s = String(text);
  if (opts.multiline) return s.replace(/\r\n/g, '\n').replace(UNSAFE_KEEP_LF, visible);
  return s.replace(UNSAFE, visible);
}

/**
 * Untrusted text cut to at most `max` characters for a table cell or a one-line summary:
 * secrets are redacted BEFORE cutting (cutting first can leave 11 of 12 characters of a token that
 * the redactor then no longer recognises), then made terminal-safe, then cut with an ellipsis.
 */
export function clipSafe(text: string, max: number): string {
  const s = termSafe(redact(String(text)));
  if (s.length <= max) return s;
  return max <= 1 ? s.slice(0, Math.max(0, max)) : s.slice(0, max - 1) + '…';
}

// JSON.stringify escapes C0 controls but leaves DEL, C1, the line separators and the bidi
// controls raw. Outside strings JSON.stringify never emits them, so escaping them as \uXXXX is
// exact: the document parses to the same value.
const JSON_UNSAFE = /[\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

/** JSON.stringify for a terminal: the same document, with the characters above escaped. */
export function jsonForTerminal(value: unknown, indent: number | undefined = 2): string {
  return JSON.stringify(value, null, indent).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
