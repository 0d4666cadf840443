/**
 * The decode sandbox's default budgets, apart from the sandbox so that the CLI's help can quote them without
 * loading the TIFF reader (start-up time, see src/cli/main.ts).
 */

/** Default time budget of one sandboxed inspection (ms). */
export const DEFAULT_DECODE_TIMEOUT_MS = 30_000;
/** Default heap budget of the sandbox worker (MB). */
export const DEFAULT_DECODE_MEMORY_MB = 1024;
