/**
 * `loop report <run-dir>`: write (or rewrite) the run's report.html, a self-contained page that
 * opens from disk, and print its path. Works on a run in progress. Exit 0 written, 3 not a run
 * directory (missing or not a folder).
 */
import type { Command } from 'commander';
import { action } from '../shared.js';

export function register(program: Command): void {
  program
    .command('report')
    .argument('<run-dir>', 'a run directory (output/feedback_loops/<ts>/)')
    .summary('write a run\'s report.html (opens from disk)')
    .description('write <run-dir>/report.html: status, prompt rounds, ranked images, storyboard, videos, cost and time per stage (opens from disk)')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop run examples/start.txt --workflow prompt-only\n' +
        '  npx loop report "$(ls -d output/feedback_loops/*/ | tail -n 1)"   # the run just made',
    )
    .action(
      action(async (runDir: string) => {
        const { writeRunReport } = await import('../../src/report/report.js');
        const { termSafe } = await import('../../src/lib/terminal.js');
        const path = await writeRunReport(runDir);
        process.stdout.write(`${termSafe(path)}\n`);
        return 0;
      }),
    );
}
