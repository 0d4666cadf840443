/**
 * How the process ends after SIGINT/SIGTERM or a run time limit, once the cleanup handlers (OutputDir's) have run.
 *
 * An interrupted run re-raises its signal with the default action restored, so the kernel ends the process at once
 * and its exit status shows the signal (a shell reports 130/143): nothing can keep it alive, not a worker thread
 * nor a libuv thread stuck in a system call. A run that hit `--max-time` exits 1 after the same cleanup, its
 * TIME_LIMIT error already printed. A watchdog ends the process anyway if neither has happened within 3 s.
 */
import type { S2ChangeError } from '../errors.js';

let pendingLimit: S2ChangeError | null = null;

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** What ended the run, for the cleanup's message: "interrupted by SIGTERM", or "stopped by --max-time". */
export function interruptionReason(sig: 'SIGINT' | 'SIGTERM'): string {
  return pendingLimit ? 'stopped by the time limit (--max-time)' : `interrupted by ${sig}`;
}

/**
 * End the process after the cleanup of `sig`: exit 1 when a time limit caused it (see `endWithTimeLimit`), else
 * re-raise `sig` with no listener left, so the default action (termination by that signal) applies.
 */
export function endAfterInterrupt(sig: 'SIGINT' | 'SIGTERM'): void {
  setTimeout(() => process.exit(pendingLimit ? 1 : 128 + SIGNAL_NUMBERS[sig]), 3000); // watchdog (ref'd on purpose)
  if (pendingLimit) {
    process.exit(1);
    return;
  }
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
}

/**
 * The run's time limit ran out: print `err`, run the SIGTERM cleanup handlers (they remove unfinished outputs and
 * call `endAfterInterrupt`, which exits 1), and exit 1 if there were none.
 */
export function endWithTimeLimit(err: S2ChangeError): void {
  process.stderr.write(`s2change: error [${err.code}]: ${err.message}\n`);
  pendingLimit = err;
  process.emit('SIGTERM', 'SIGTERM');
  process.exit(1);
}
