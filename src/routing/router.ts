/**
 * Per-statement routing decisions. Pure: reads the pair's mode and the statement's class, never a socket.
 *
 * The rule that matters most: a write never goes to the secondary. In read_only mode anything the
 * classifier cannot prove to be a read is refused with ER_OPTION_PREVENTS_STATEMENT (1290).
 */
import type { Role } from "../backend/connection.js";
import type { Classification } from "../sql/index.js";
import type { Mode } from "../topology/types.js";

export type Decision = { readonly to: Role } | { readonly refuse: "read_only" | "down" | "transaction_lost" };

// Decisions are shared constants: routing allocates nothing per statement.
const TO_PRIMARY: Decision = Object.freeze({ to: "primary" });
const TO_SECONDARY: Decision = Object.freeze({ to: "secondary" });
const REFUSE_READ_ONLY: Decision = Object.freeze({ refuse: "read_only" });
const REFUSE_DOWN: Decision = Object.freeze({ refuse: "down" });
const to = (role: Role): Decision => (role === "primary" ? TO_PRIMARY : TO_SECONDARY);

export interface ReadProofOptions {
  /**
   * The secondary session runs with the server-side read-only guard (`SET SESSION TRANSACTION READ
   * ONLY` / `tx_read_only=1`, confirmed): a statement that is a read but for the stored routines it
   * calls (`Classification.readExceptRoutines`) may go there, a write inside the routine fails
   * with 1792. Never lifts `neverSecondary` or anything uncertain.
   */
  serverReadOnly?: boolean;
}

/**
 * Is this statement safe to run on the secondary? Only what is provably a read: the classifier
 * fails safe (routine calls, dynamic SQL, text it cannot read as the server does are "unknown";
 * guard variables, SET GLOBAL and SET TRANSACTION READ WRITE are writes with `neverSecondary`).
 */
export function isProvableRead(c: Classification, opts?: ReadProofOptions): boolean {
  if (c.neverSecondary || c.uncertain) return false;
  if (c.kind === "read") return !c.lockingRead;
  if (c.kind === "session") return true; // SET/USE change session state only (SET GLOBAL is classified a write)
  if (c.kind === "transaction") return c.txn !== "begin_read_write" && c.txn !== "xa";
  if (c.kind === "unknown" && c.readExceptRoutines && opts?.serverReadOnly === true) return !c.lockingRead;
  return false;
}

/**
 * Where a statement goes in a mode. In read_only, reads go to `readRole`: the secondary, or the
 * primary when it answers but is not writable (read_only=1, planned maintenance) and the secondary is down.
 */
export function route(mode: Mode, c: Classification, readRole: Role = "secondary"): Decision {
  if (mode === "read_write") return TO_PRIMARY;
  if (mode === "down") return REFUSE_DOWN;
  return isProvableRead(c) ? to(readRole) : REFUSE_READ_ONLY;
}

/** A prepared statement's execution: the statement kind was classified at prepare time. */
export function routeKind(
  mode: Mode,
  kind: Classification["kind"],
  lockingRead: boolean,
  readRole: Role = "secondary",
): Decision {
  if (mode === "read_write") return TO_PRIMARY;
  if (mode === "down") return REFUSE_DOWN;
  return kind === "read" && !lockingRead ? to(readRole) : REFUSE_READ_ONLY;
}

/** Role that serves commands with no statement (PING, INIT_DB, FIELD_LIST, STATISTICS ...). */
export function routeAny(mode: Mode, readRole: Role = "secondary"): Decision {
  if (mode === "read_write") return TO_PRIMARY;
  if (mode === "read_only") return to(readRole);
  return REFUSE_DOWN;
}

export const READ_ONLY_MESSAGE =
  "pairgate: the primary database is unavailable, so the service is read-only for now; " +
  "this statement changes data (or could not be proven to be a read) and was not run. Retry when the primary is back.";

export const DOWN_MESSAGE =
  "pairgate: neither the primary nor the secondary database can be reached; no statement can run now. " +
  "Check the database servers and the network between pairgate and them.";

export const TRANSACTION_LOST_MESSAGE =
  "pairgate: the server that held your transaction became unavailable, so the transaction is gone and was " +
  "rolled back there; nothing was retried elsewhere. Start the transaction again (the service may be read-only).";
