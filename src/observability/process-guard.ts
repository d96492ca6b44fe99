/**
 * The last line of "no unhandled error" (issue 20): an error that escaped every owner (an 'error'
 * event nobody listened to, a promise nobody awaited) is logged with its stack and counted
 * (pairgate_unhandled_errors_total, alert PairgateUnhandledError) instead of ending the process —
 * which would end every session and the failover service with it. Each such error is a bug to fix
 * at its owner; the guard keeps the other sessions alive meanwhile.
 *
 * Installed by `pairgate start` only (a library user or a test runner keeps its own policy).
 */
import type { Logger } from "./logger.js";

export type EscapedKind = "exception" | "rejection";

/** At most this many escaped errors are logged per minute (a loop of them must not flood the log). */
const LOG_PER_MINUTE = 20;

export function installProcessGuard(logger: Logger, count: (kind: EscapedKind) => void): () => void {
  let windowStart = 0;
  let logged = 0;
  const escaped = (kind: EscapedKind, e: unknown) => {
    count(kind);
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      logged = 0;
    }
    if (logged++ >= LOG_PER_MINUTE) return;
    const err = e instanceof Error ? e : new Error(String(e));
    logger.error(
      { kind, err: { message: err.message, code: (err as NodeJS.ErrnoException).code, stack: err.stack } },
      "unhandled error caught by the process guard (a bug: please report it); sessions continue",
    );
  };
  const onException = (e: Error) => escaped("exception", e);
  const onRejection = (e: unknown) => escaped("rejection", e);
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
