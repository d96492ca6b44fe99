/**
 * Errors of the replication commands: a stable code for scripts and tests, a message for the
 * operator that says what was found and what to do.
 */
export class ReplicationError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Extra lines printed after the message (e.g. option-file lines to add). */
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = "ReplicationError";
  }
}
