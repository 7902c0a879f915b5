import { redact } from './secrets.js';
import { termSafe } from './terminal.js';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  /** Only printed with --verbose. */
  debug(msg: string): void;
  /** Whether --verbose was given (workers then keep a failed job's full stack for the board). */
  readonly verbose?: boolean;
}

/** Logs go to stderr so that stdout stays clean for --json and for the run id. */
export function createLogger(opts: { verbose?: boolean; quiet?: boolean } = {}): Logger {
  // log lines carry file names and provider text: redacted, and no raw escape reaches the terminal
  const write = (line: string) => process.stderr.write(termSafe(redact(line), { multiline: true }) + '\n');
  return {
    info: (m) => (opts.quiet ? undefined : write(m)),
    warn: (m) => write(`warning: ${m}`),
    debug: (m) => (opts.verbose ? write(`[debug] ${m}`) : undefined),
    verbose: opts.verbose === true,
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };
