#!/usr/bin/env node
/**
 * `loop`: the command-line entry. Parses flags, prints, sets exit codes; no domain logic.
 * Start-up must stay fast: command modules only declare flags and import their implementation
 * lazily inside the action.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../src/errors.js';
import { dataFile } from '../src/lib/paths.js';
import { termSafe } from '../src/lib/terminal.js';
import * as enhanceImagePrompt from './commands/enhance-image-prompt.js';
import * as enhanceVideoPrompt from './commands/enhance-video-prompt.js';
import * as generateImages from './commands/generate-images.js';
import * as scoreImages from './commands/score-images.js';
import * as scoreVideos from './commands/score-videos.js';
import * as createStoryboard from './commands/create-storyboard.js';
import * as generateVideos from './commands/generate-videos.js';
import * as models from './commands/models.js';
import * as cache from './commands/cache.js';
import * as report from './commands/report.js';
import * as queue from './commands/queue.js';

const version = (JSON.parse(readFileSync(dataFile('package.json'), 'utf8')) as { version: string }).version;

/** The widest a help screen gets, in columns (the README and tests hold it under 100). */
export const HELP_WIDTH = 99;
const helpWidth = (s: NodeJS.WriteStream): number => Math.min(HELP_WIDTH, s.isTTY && s.columns > 0 ? s.columns : HELP_WIDTH);

export function buildProgram(): Command {
  const program = new Command('loop')
    .description('Automated feedback loops for generative images and video: enhance, generate, score, rank, trace.')
    .version(version, '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // commander's own errors (unknown flag, bad value) become one `loop: error:` line
      outputError: (str, write) => write(`loop: error: ${termSafe(str.replace(/^error:\s*/i, '').trim(), { multiline: true })}\n`),
      // help wraps to the terminal, never wider than HELP_WIDTH (piped: HELP_WIDTH); every
      // sub-command made with .command() after this shares this configuration
      getOutHelpWidth: () => helpWidth(process.stdout),
      getErrHelpWidth: () => helpWidth(process.stderr),
    })
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop run examples/start.txt               # prompt → images → scores, offline defaults\n' +
        '  npx loop run examples/start.txt --workflow full --dry-run\n  npx loop generate-images --help               # every command has its own help',
    );
  enhanceImagePrompt.register(program);
  enhanceVideoPrompt.register(program);
  generateImages.register(program);
  scoreImages.register(program);
  scoreVideos.register(program);
  createStoryboard.register(program);
  generateVideos.register(program);
  models.register(program);
  cache.register(program);
  report.register(program);
  queue.register(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      const ok = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(e.code);
      process.exitCode = ok ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    throw e;
  }
}

await main();
