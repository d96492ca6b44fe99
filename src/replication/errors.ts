/**
 * Errors of the replication commands: a stable code for scripts and tests, a message for the
 * operator that says what was found and what to do.
 */
import { type ErrorCode, PairgateError } from "../protocol/errors.js";
export class ReplicationError extends PairgateError {
  constructor(
    code: ErrorCode & (`PAIRGATE_REPL_${string}` | `PAIRGATE_PROMOTE_${string}`),
    message: string,
    /** Extra lines printed after the message (e.g. option-file lines to add). */
    readonly details: string[] = [],
  ) {
    super(code, message);
  }
}
