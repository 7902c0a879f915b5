/** Limits and defaults the CLI states in --help; kept apart so the CLI loads nothing else at start-up. */
export const MAX_VARIATIONS = 32;
export const DEFAULT_VARIATIONS = 8;
export const MAX_CONCURRENCY = 32;
/** Largest seed a user may give; S+i for up to MAX_VARIATIONS still fits in uint32. */
export const MAX_SEED = 2_147_483_647;
