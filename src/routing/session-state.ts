/**
 * The session state a client has set, kept so that it can be replayed on another backend
 * (after a failover, a failback, a reload that moved a backend, or a lost backend connection).
 *
 * Transaction state is not guessed from SQL: it comes from the server status flags of each response.
 */
import { type Classification, isGuardVariable, type SessionChange } from "../sql/index.js";

export interface PreparedStatement {
  /** The id the client knows; stable for the life of the session whatever backend serves it. */
  clientId: number;
  sql: string;
  kind: Classification["kind"];
  lockingRead: boolean;
  /** A read but for the stored routines it calls (Classification.readExceptRoutines). */
  readExceptRoutines: boolean;
  params: number;
  columns: number;
  /** Backend statement id on the backend connection of a given generation. */
  backendId: number;
  backendGeneration: number;
}

export class SessionState {
  schema: string | null;
  collation: number;
  /** SET NAMES / SET CHARACTER SET, replayed as written ("utf8mb4 COLLATE utf8mb4_bin"). */
  names: string | null = null;
  charset: string | null = null;
  /** Lower-cased session variable → value text as written. Includes autocommit and isolation. */
  readonly variables = new Map<string, string>();
  /** `SET SESSION TRANSACTION ...` characteristics (isolation level, access mode), replayed verbatim. */
  transactionCharacteristics: string[] = [];
  /** User variables set with a literal value: `@name` → value text. */
  readonly userVariables = new Map<string, string>();
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

  /** Record the effects of a statement that succeeded. */
  apply(c: Classification): void {
    if (c.pinning) {
      if (c.pinning === "unlock_tables") {
        if (this.pinnedBy === "LOCK TABLES") this.pinnedBy = null;
      } else {
        this.pinnedBy ??= pinningReason(c.pinning);
      }
    }
    if (!c.session) return;
    for (const ch of c.session) this.applyChange(ch);
  }

  private applyChange(ch: SessionChange): void {
    switch (ch.type) {
      case "use":
        if (ch.schema) this.schema = ch.schema;
        return;
      case "names":
        this.names = ch.collation ? `${ch.value} COLLATE ${ch.collation}` : (ch.value ?? null);
        this.charset = null;
        return;
      case "charset":
        this.charset = ch.value ?? null;
        this.names = null;
        return;
      case "variable":
        if (ch.global || !ch.name) return;
        this.variables.set(ch.name, ch.value ?? "DEFAULT");
        return;
      case "transaction_characteristics":
        if (ch.global || !ch.value) return;
        this.transactionCharacteristics.push(ch.value);
        return;
      case "user_variable":
        if (!ch.name) return;
        if (ch.value !== undefined && isLiteral(ch.value)) this.userVariables.set(ch.name, ch.value);
        else this.pinnedBy ??= `user variable @${ch.name} set from an expression`;
        return;
    }
  }

  /** COM_RESET_CONNECTION / COM_CHANGE_USER: the server forgets everything but the schema. */
  reset(schema: string | null = this.schema): void {
    this.schema = schema;
    this.names = null;
    this.charset = null;
    this.variables.clear();
    this.transactionCharacteristics = [];
    this.userVariables.clear();
    this.pinnedBy = null;
    this.statements.clear();
  }

  /**
   * Statements that recreate this state on a fresh backend connection (which already has the
   * schema and the handshake collation). Autocommit is passed in: it comes from status flags.
   * `guarded` (a connection to the secondary): guard variables (sql_log_bin, tx_read_only, ...) and
   * READ WRITE characteristics are not replayed — the server-side read-only guard stays.
   */
  replayStatements(autocommit: boolean, guarded = false): string[] {
    const out: string[] = [];
    if (this.names) out.push(`SET NAMES ${this.names}`);
    if (this.charset) out.push(`SET CHARACTER SET ${this.charset}`);
    const assignments: string[] = [];
    for (const [name, value] of this.variables) {
      if (name === "autocommit") continue;
      if (guarded && isGuardVariable(name)) continue;
      assignments.push(`@@session.${name} = ${value}`);
    }
    assignments.push(`@@session.autocommit = ${autocommit ? 1 : 0}`);
    for (const [name, value] of this.userVariables) assignments.push(`@${name} = ${value}`);
    out.push(`SET ${assignments.join(", ")}`);
    for (const t of this.transactionCharacteristics) {
      if (guarded && /\bwrite\b/i.test(t)) continue;
      out.push(`SET SESSION TRANSACTION ${t}`);
    }
    return out;
  }
}

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

const LITERAL =
  /^\s*(?:-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|NULL|TRUE|FALSE|0x[0-9a-f]+|x'[0-9a-f]*')\s*$/i;

function isLiteral(v: string): boolean {
  return LITERAL.test(v);
}
