import type { Command } from 'commander';

// Placeholder: the issue that builds this command fills it in.
export function register(_program: Command): void {}
