/**
 * Where each command goes: one pure function, `route`, with every rule in one place. It reads the
 * pair's mode, where the session is and what the statement is; never a socket, never a clock.
 *
 * The rule that matters most: a write never goes to the secondary. In read_only mode anything the
 * classifier cannot prove to be a read is refused with ER_OPTION_PREVENTS_STATEMENT (1290).
 */
import type { Role } from "../backend/connection.js";
import type { Classification } from "../sql/index.js";
import type { Mode } from "../topology/types.js";

/**
 * What a command is, as far as routing cares. The session computes it once per command
 * (`statementClassOf`, `preparedClassOf`, or a constant for commands without SQL).
 * - read: a non-locking read; runs on the secondary and may be retried there once, outside a transaction.
 * - harmless: changes only session or transaction state (SET, USE, BEGIN, COMMIT ...); may run on the secondary.
 * - write: anything not provably a read; never runs on the secondary.
 * - none: a command without a statement (INIT_DB, FIELD_LIST, PREPARE, STMT_FETCH ...).
 * - probe: PING, STATISTICS: no statement, safe to retry.
 */
export type StatementClass = "read" | "harmless" | "write" | "none" | "probe";

export interface RouteInput {
  mode: Mode;
  /** Where reads go in read_only mode (the secondary; the primary when it answers but is read-only). */
  readRole: Role;
  /** The backend serving the session now, if any. */
  current: Role | null;
  /** The server said a transaction is open (SERVER_STATUS_IN_TRANS). */
  inTransaction: boolean;
  statement: StatementClass;
}

/**
 * `to`: the backend to run on; `retryable`: when that backend is lost before any byte of the
 * response reached the client, the command may run once more where the topology then sends reads.
 */
export type Decision =
  | { readonly to: Role; readonly retryable: boolean }
  | { readonly refuse: "read_only" | "down"; readonly retryable: false };

// Decisions are shared frozen constants: routing allocates nothing per statement.
const TO_PRIMARY: Decision = Object.freeze({ to: "primary", retryable: false });
const TO_PRIMARY_RETRYABLE: Decision = Object.freeze({ to: "primary", retryable: true });
const TO_SECONDARY: Decision = Object.freeze({ to: "secondary", retryable: false });
const TO_SECONDARY_RETRYABLE: Decision = Object.freeze({ to: "secondary", retryable: true });
const REFUSE_READ_ONLY: Decision = Object.freeze({ refuse: "read_only", retryable: false });
const REFUSE_DOWN: Decision = Object.freeze({ refuse: "down", retryable: false });

function to(role: Role, retryable: boolean): Decision {
  if (role === "primary") return retryable ? TO_PRIMARY_RETRYABLE : TO_PRIMARY;
  return retryable ? TO_SECONDARY_RETRYABLE : TO_SECONDARY;
}

/** Every routing rule, in order. */
export function route(i: RouteInput): Decision {
  const s = i.statement;
  // 1. A transaction stays where it began: one opened on the secondary (in read-only mode) keeps
  //    reading there and has its writes refused, even after the primary returns.
  if (i.inTransaction && i.current === "secondary") return s === "write" ? REFUSE_READ_ONLY : TO_SECONDARY;
  // 2. Outside a transaction only reads and probes are worth a retry elsewhere.
  const retryable = !i.inTransaction && (s === "read" || s === "probe");
  // 3. The primary serves everything while it can.
  if (i.mode === "read_write") return to("primary", retryable);
  // 4. Nothing can serve.
  if (i.mode === "down") return REFUSE_DOWN;
  // 5. read_only: what cannot be proven a read is refused (1290); the rest goes to the read role.
  return s === "write" ? REFUSE_READ_ONLY : to(i.readRole, retryable);
}

/**
 * Where a session without a statement goes (login, COM_CHANGE_USER): `route` for a command
 * without SQL on a session that has no backend yet.
 */
export function routeLogin(mode: Mode, readRole: Role): Decision {
  return route({ mode, readRole, current: null, inTransaction: false, statement: "none" });
}

/**
 * Where a retryable command runs again after `lost` failed under it, or null: never on the primary
 * that just failed while the pair is not read/write (it is on its way out).
 */
export function retryTarget(mode: Mode, readRole: Role, lost: Role): Role | null {
  const d = routeLogin(mode, readRole);
  if (!("to" in d)) return null;
  if (d.to === lost && lost === "primary" && mode !== "read_write") return null;
  return d.to;
}

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
 * A COM_QUERY's class, from the classifier's reading of it. Only what is provably a read (or only
 * session/transaction state) may run on the secondary: the classifier fails safe (routine calls,
 * dynamic SQL, text it cannot read as the server does are "unknown"; guard variables, SET GLOBAL
 * and SET TRANSACTION READ WRITE carry `neverSecondary`).
 */
export function statementClassOf(c: Classification, opts?: ReadProofOptions): StatementClass {
  if (c.neverSecondary || c.uncertain) return "write";
  if (c.kind === "read") return c.lockingRead ? "write" : "read";
  if (c.kind === "session") return "harmless"; // SET/USE change session state only (SET GLOBAL is classified a write)
  if (c.kind === "transaction") return c.txn !== "begin_read_write" && c.txn !== "xa" ? "harmless" : "write";
  if (c.kind === "unknown" && c.readExceptRoutines && opts?.serverReadOnly === true)
    return c.lockingRead ? "write" : "read";
  return "write";
}

/** Is this statement safe to run on the secondary? */
export function isProvableRead(c: Classification, opts?: ReadProofOptions): boolean {
  return statementClassOf(c, opts) !== "write";
}

/**
 * A COM_STMT_EXECUTE's class: the statement was classified at prepare time. Plain reads run on the
 * secondary; a read but for the stored routines it calls only under the server-side read-only
 * guard (`opts.serverReadOnly`), as `statementClassOf` decides for the same text.
 */
export function preparedClassOf(
  kind: Classification["kind"],
  lockingRead: boolean,
  readExceptRoutines = false,
  opts?: ReadProofOptions,
): StatementClass {
  if (lockingRead) return "write";
  if (kind === "read") return "read";
  return kind === "unknown" && readExceptRoutines && opts?.serverReadOnly === true ? "read" : "write";
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
