/**
 * The classifier's output types: what `classify()` says about a statement text. Separate from the
 * families that fill them in so that callers (routing, session, audit) and every family module
 * import one small file, and the families import each other not at all.
 */
export type StatementKind = "read" | "write" | "transaction" | "session" | "unknown";

export type TxnAction =
  | "begin"
  | "begin_read_only"
  | "begin_read_write"
  | "commit"
  | "rollback"
  | "savepoint"
  | "release_savepoint"
  | "rollback_to_savepoint"
  | "xa"
  | "set_transaction";

/**
 * One change of session state that a backend switch must replay.
 * Forms: `USE db`; `SET NAMES x [COLLATE y]`; `SET CHARACTER SET x`;
 * `SET [SESSION|LOCAL|@@session.|@@] var = expr` (one per assignment of a comma list);
 * `SET [SESSION] TRANSACTION ...`; `SET @uservar = expr`.
 */
export interface SessionChange {
  type: "use" | "names" | "charset" | "variable" | "user_variable" | "transaction_characteristics";
  /** Lower-cased variable name without scope prefix ("sql_mode"); the user variable's name for user_variable. */
  name?: string;
  /**
   * The value's source text exactly as written ("'UTC'", "1", "utf8mb4",
   * "CONCAT(@@sql_mode, ',x')"), for replay as SQL. For `use`, the schema as written (maybe backticked);
   * for transaction_characteristics, the text after TRANSACTION ("ISOLATION LEVEL READ COMMITTED").
   * In a COM_STMT_PREPARE text it may contain `?` placeholders: the value is known only at execute.
   */
  value?: string;
  /** For `use`: the schema name, unquoted. */
  schema?: string;
  /** For `names`: the COLLATE clause's collation, unquoted. */
  collation?: string;
  /** SET GLOBAL / PERSIST / @@global.: changes the server, not the session; the statement is a write. */
  global?: boolean;
  /**
   * transaction_characteristics: a `READ WRITE` characteristic (read from tokens): it lifts the
   * secondary's read-only guard, so the statement never goes there.
   */
  readWrite?: true;
  /**
   * Index (0-based) of the statement of a multi-statement text that makes this change. The server
   * stops at the first statement that fails: apply the changes of the statements before it only
   * (a `USE` that failed changes nothing; one before a failed statement did change the schema).
   */
  statement?: number;
}

export interface Classification {
  kind: StatementKind;
  /** First keyword, upper-cased ("SELECT", "INSERT", "WITH", "SET", ...); "" if none. */
  verb: string;
  /** Transaction control action. In a multi-statement, the last one. */
  txn?: TxnAction;
  /**
   * Session state changes, in order. Also present when the statement is not of kind "session"
   * (SET GLOBAL is a write; `SET @x = NEXTVAL(s)` is a write that also sets @x).
   */
  session?: SessionChange[];
  /** SELECT ... FOR UPDATE / LOCK IN SHARE MODE / FOR SHARE: a read that takes locks (kind "write"). */
  lockingRead: boolean;
  /** More than one statement in the text. Kind is the "worst" of them (any write -> write). */
  multi: boolean;
  /**
   * Session state that cannot be replayed on another server; the session must stay on its backend.
   * "handler" (HANDLER ... OPEN/READ/CLOSE: an open cursor on one connection) is an addition to the
   * original list. In a multi-statement, the first one found.
   */
  pinning?:
    | "lock_tables"
    | "unlock_tables"
    | "get_lock"
    | "temporary_table"
    | "user_variable_select"
    | "prepare_sql"
    | "handler";
  /**
   * The lexer cannot be sure the server reads this text as it did (a versioned executable comment
   * with the server version unknown, a byte whose class depends on a character set pairgate does not
   * walk, a dialect made unknown by an earlier statement). The kind is then at least "unknown".
   */
  uncertain?: true;
  /**
   * Routines the text calls: stored functions or UDFs (`f(...)` not a known built-in, any
   * `db.f(...)`, any quoted `` `f`(...) ``) and procedures (`CALL p`), lower-cased, unquoted,
   * qualified as written. Only collected in statements that could otherwise be reads or session
   * statements (SELECT, WITH, TABLE, VALUES, SET, SET STATEMENT, DO, CALL).
   */
  routines?: string[];
  /**
   * The text would be a read (or session statement) but for the routines it calls, so its kind is
   * "unknown": a routine may write. The session may still send it to the secondary where the
   * server-side read-only session is in force there (a write inside the routine then fails, 1792).
   */
  readExceptRoutines?: true;
  /**
   * Never send this to the secondary, whatever the mode (kind is "write"): it changes the server
   * (SET GLOBAL / PERSIST), what the server logs (sql_log_bin, skip_replication, gtid_*, server_id,
   * pseudo_*), or lifts the read-only guard (transaction_read_only / tx_read_only,
   * SET [SESSION] TRANSACTION READ WRITE). Also in SET STATEMENT ... FOR.
   */
  neverSecondary?: true;
  /** Dynamic SQL (PREPARE, EXECUTE, EXECUTE IMMEDIATE): what runs is not in this text. */
  dynamic?: true;
  /** A HANDLER statement; in a multi-statement, the last one. */
  handler?: HandlerOp;
  /**
   * The text may change the session's lexing rules (sql_mode, character_set_client) in a way
   * `dialectAfter` cannot compute from its text (CALL, EXECUTE, a routine call): `dialectAfter`
   * returns an unsure dialect.
   */
  mayChangeDialect?: true;
}

/** A HANDLER statement (https://mariadb.com/kb/en/handler-commands/). */
export interface HandlerOp {
  op: "open" | "read" | "close" | "other";
  /**
   * The handle's name, lower-cased: for OPEN the alias, else the table's name without schema (the
   * server's rule); for READ / CLOSE the name written.
   */
  name: string;
  /** OPEN: the table as written, lower-cased and unquoted ("schema.table" or "table"). */
  table?: string;
}

export type Pinning = NonNullable<Classification["pinning"]>;
