/**
 * The session state that follows a session to another backend (after a failover, a failback, a
 * reload that moved a backend, or a lost backend connection), and the SQL that recreates it there.
 *
 * Never SQL built from client text (issue 19): what is kept comes from the SERVER — system
 * variables and the schema from the session tracking data of its OK packets (`track`), user
 * variables read back with `SELECT` (`setUserVariables`) — and is written back only as literals
 * through src/sql/quote.ts. Expressions are never kept, so never evaluated again elsewhere. One entry
 * per name (a map, not a list per statement), each value and the user variables bounded: what
 * cannot be kept makes the next move fail cleanly for this session (`notCarried`).
 *
 * Transaction state is not guessed from SQL: it comes from the server status flags of each response.
 */
import type { Classification, SqlDialect } from "../sql/index.js";
import { isGuardVariable } from "../sql/index.js";
import { isNumberText, NotALiteral, quoteIdentifier, quoteNumber, quoteString } from "../sql/quote.js";

export interface PreparedStatement {
  /** The id the client knows; stable for the life of the session whatever backend serves it. */
  clientId: number;
  sql: string;
  /** The text as the client sent it (its own character set): what a re-prepare sends. */
  sqlBytes: Buffer;
  kind: Classification["kind"];
  lockingRead: boolean;
  /** A read but for the stored routines it calls (Classification.readExceptRoutines). */
  readExceptRoutines: boolean;
  /**
   * The classification made once, at prepare, under `dialect` (issue 19): routing and the audit
   * decision at EXECUTE use it; the text is never read again under a later dialect.
   */
  classification: Classification;
  dialect: SqlDialect;
  /**
   * The server's `sql_mode` and `character_set_client` when it was prepared (null: not known): a
   * re-prepare on another backend runs under the same, or the statement is refused.
   */
  sqlMode: string | null;
  charsetClient: string | null;
  params: number;
  columns: number;
  /** Backend statement id on the backend connection of a given generation. */
  backendId: number;
  backendGeneration: number;
}

/** Limits on what one session keeps for replay (config: maxUserVariables, maxUserVariableBytes). */
export interface ReplayLimits {
  maxUserVariables: number;
  maxUserVariableBytes: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = Object.freeze({
  maxUserVariables: 64,
  maxUserVariableBytes: 1024 * 1024,
});

/** A tracked system variable's value longer than this is not kept: the session cannot move. */
const MAX_VARIABLE_VALUE = 64 * 1024;
/** All tracked values together: beyond this the session cannot move (bounded per session). */
const MAX_VARIABLE_BYTES = 256 * 1024;

/**
 * Tracked variables that are not replayed: the tracking itself, what the server computes
 * (`last_gtid`, `in_transaction`, counters), and autocommit (taken from the status flags).
 */
const NOT_REPLAYED = new Set([
  "autocommit",
  "last_gtid",
  "in_transaction",
  "warning_count",
  "error_count",
  "session_track_system_variables",
  "session_track_schema",
  "session_track_state_change",
  "session_track_transaction_info",
  "session_track_gtids",
  "timestamp",
  "rand_seed1",
  "rand_seed2",
  "insert_id",
  "last_insert_id",
  "identity",
]);

/**
 * Replayed last, in this order: `SET character_set_connection` resets collation_connection, and the
 * user variables before them went out under pairgate's own `SET NAMES utf8mb4`.
 */
const CHARSET_ORDER = [
  "character_set_client",
  "character_set_connection",
  "collation_connection",
  "character_set_results",
];

/** Variables whose tracked empty value means NULL (the server reports NULL as ""). */
const NULLABLE = new Set(["character_set_results"]);

export class SessionState {
  schema: string | null;
  collation: number;
  /** System variables the server reported changed (session tracking): name → value as reported. */
  readonly variables = new Map<string, string>();
  private variableBytes = 0;
  /** User variables read back from the server: name → the literal that recreates the value. */
  readonly userVariables = new Map<string, string>();
  /** Why the session state cannot be carried to another backend (null: it can). */
  notCarried: string | null = null;
  /** Why the user variables cannot be carried (set by each read back, cleared by the next good one). */
  userVariablesProblem: string | null = null;
  /** Why this session cannot move to another backend (LOCK TABLES, GET_LOCK, temporary tables, ...). */
  pinnedBy: string | null = null;
  readonly statements = new Map<number, PreparedStatement>();
  private nextStatementId = 1;

  constructor(schema: string | null, collation: number) {
    this.schema = schema;
    this.collation = collation;
  }

  newStatementId(): number {
    return this.nextStatementId++;
  }

  /** What keeps the session on its backend, if anything: a pin, or state that cannot be carried. */
  get unmovable(): string | null {
    return this.pinnedBy ?? this.notCarried ?? this.userVariablesProblem;
  }

  /** Record the effects of a statement that succeeded: only what pins the session; state is tracked. */
  apply(c: Classification): void {
    if (!c.pinning) return;
    if (c.pinning === "unlock_tables") {
      if (this.pinnedBy === "LOCK TABLES") this.pinnedBy = null;
    } else if (c.pinning !== "user_variable_select") {
      // A user variable set in a query is read back from the server like any other (not a pin).
      this.pinnedBy ??= pinningReason(c.pinning);
    }
  }

  /** A system variable the server reported changed (session tracking in an OK packet). */
  track(name: string, value: string): void {
    const n = name.toLowerCase();
    if (NOT_REPLAYED.has(n)) return;
    const old = this.variables.get(n);
    if (old !== undefined) this.variableBytes -= n.length + old.length;
    // Deduplicated by name: the map holds one value per variable, whatever the statements were.
    this.variables.delete(n); // re-inserted last: replayed in the order last set
    if (
      value.length > MAX_VARIABLE_VALUE ||
      this.variableBytes + n.length + value.length > MAX_VARIABLE_BYTES
    ) {
      this.notCarried ??= `session variables longer than pairgate carries (${n})`;
      return;
    }
    this.variables.set(n, value);
    this.variableBytes += n.length + value.length;
  }

  /**
   * The session's variables as read back from the server in full (after a change pairgate could
   * not read from an OK): every session value that differs from the global one, but guard variables.
   */
  resync(changed: ReadonlyArray<[string, string]>): void {
    this.variables.clear();
    this.variableBytes = 0;
    for (const [name, value] of changed) if (!isGuardVariable(name.toLowerCase())) this.track(name, value);
  }

  /** The schema the server reported (session tracking). */
  trackSchema(schema: string): void {
    this.schema = schema.length > 0 ? schema : null;
  }

  /**
   * The session's user variables as read back from the server: name → literal, or the reason they
   * cannot be carried (too many, too big, a value that is not a literal). Replaces what was kept.
   */
  setUserVariables(vars: Map<string, string> | null, problem: string | null): void {
    this.userVariables.clear();
    this.userVariablesProblem = problem;
    if (vars) for (const [k, v] of vars) this.userVariables.set(k, v);
  }

  /** COM_RESET_CONNECTION / COM_CHANGE_USER: the server forgets everything but the schema. */
  reset(schema: string | null = this.schema): void {
    this.schema = schema;
    this.variables.clear();
    this.variableBytes = 0;
    this.userVariables.clear();
    this.userVariablesProblem = null;
    this.notCarried = null;
    this.pinnedBy = null;
    this.statements.clear();
  }

  /**
   * The statements that recreate this state on a fresh backend connection (which already has the
   * schema and the handshake collation), every name and value written through quote.ts. Autocommit
   * is passed in: it comes from the status flags. `guarded` (a connection to the secondary): guard
   * variables (sql_log_bin, tx_read_only, transaction_read_only, ...) are never set there — the
   * server-side read-only guard, set before the replay, stays. Throws NotALiteral when a value
   * cannot be written as a literal (the move then fails for this session).
   */
  replayStatements(autocommit: boolean, guarded = false): string[] {
    const out: string[] = [];
    if (this.userVariables.size > 0) {
      // Identifiers are written as UTF-8: read under utf8mb4 whatever the session's client charset
      // (set again below from the tracked values, or as the handshake left it: `restoreCharset`).
      out.push("SET NAMES utf8mb4");
      const assignments: string[] = [];
      for (const [name, literal] of this.userVariables)
        assignments.push(`@${quoteIdentifier(name)} = ${literal}`);
      out.push(`SET ${assignments.join(", ")}`);
    }
    const assignments: string[] = [];
    for (const [name, value] of this.variables) {
      if (CHARSET_ORDER.includes(name)) continue;
      if (guarded && isGuardVariable(name)) continue;
      assignments.push(`SESSION ${quoteIdentifier(name)} = ${literalFor(name, value)}`);
    }
    assignments.push(`SESSION ${quoteIdentifier("autocommit")} = ${autocommit ? 1 : 0}`);
    out.push(`SET ${assignments.join(", ")}`);
    return out;
  }

  /**
   * The character set variables to set last: the tracked ones, else (after pairgate's own
   * `SET NAMES utf8mb4`) the values the new connection had from its handshake (`baseline`).
   */
  charsetStatement(baseline: Record<string, string | null> | null): string | null {
    const assignments: string[] = [];
    for (const name of CHARSET_ORDER) {
      const tracked = this.variables.get(name);
      const value = tracked ?? (this.userVariables.size > 0 && baseline ? baseline[name] : undefined);
      if (value === undefined) continue;
      const literal = value === null ? "NULL" : literalFor(name, value);
      assignments.push(`SESSION ${quoteIdentifier(name)} = ${literal}`);
    }
    return assignments.length ? `SET ${assignments.join(", ")}` : null;
  }
}

/** A tracked value as the literal that sets it again: a number as printed, NULL, or a string. */
function literalFor(name: string, value: string): string {
  if (value === "" && NULLABLE.has(name)) return "NULL";
  if (isNumberText(value)) return quoteNumber(value);
  return quoteString(value);
}

export { NotALiteral };

function pinningReason(p: NonNullable<Classification["pinning"]>): string {
  switch (p) {
    case "lock_tables":
      return "LOCK TABLES";
    case "get_lock":
      return "GET_LOCK()";
    case "temporary_table":
      return "a temporary table";
    case "user_variable_select":
      return "a user variable assigned in a query";
    case "prepare_sql":
      return "an SQL-level PREPARE";
    default:
      return p;
  }
}
