/**
 * Statement classification for routing: read / write / transaction control / session state / unknown.
 *
 * It runs for every COM_QUERY and COM_STMT_PREPARE, so it lexes tokens (see `lexer.ts`) and looks at
 * the first few of them; no parse tree is built. The rest of the statement is still lexed, because
 * a `;` outside quotes and comments starts another statement (multi-statements) and because a read
 * can turn out to lock or write late in its text (`... FOR UPDATE`, `... INTO OUTFILE`, `GET_LOCK(...)`).
 *
 * The rule throughout: when in doubt, say "write". A read sent to the primary costs a little load;
 * a write sent to the secondary is an error, or worse, divergence. `unknown` is routed as a write.
 *
 * Kinds of a multi-statement text combine by rank, read < session < transaction < unknown < write:
 * `SELECT 1; UPDATE t ...` is a write, `BEGIN; SELECT ...` is transaction control.
 */
import { isBuiltinName } from "./builtins.js";
import {
  DEFAULT_DIALECT,
  parseSqlMode,
  type SqlDialect,
  unsureDialect,
  withCharset,
  withSqlMode,
} from "./dialect.js";
import { isReserved, K, KF_FUNC, KW_FLAGS, KW_UPPER } from "./keywords.js";
import {
  CH_COMMA,
  CH_DOT,
  CH_EQ,
  CH_LPAREN,
  CH_RPAREN,
  CH_SEMI,
  Lexer,
  TOK_EOF,
  TOK_OP,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_STRING,
  TOK_VAR,
  TOK_WORD,
  unquoteIdent,
} from "./lexer.js";

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

type Pinning = NonNullable<Classification["pinning"]>;

const R_READ = 0;
const R_SESSION = 1;
const R_TXN = 2;
const R_UNKNOWN = 3;
const R_WRITE = 4;
const KIND_OF_RANK: readonly StatementKind[] = ["read", "session", "transaction", "unknown", "write"];
/** Statements inside statements (EXPLAIN ANALYZE WITH ... SELECT) deeper than this are "unknown". */
const MAX_NESTING = 16;

const {
  ALTER,
  ANALYZE,
  AS,
  BACKUP,
  BEGIN,
  BINLOG,
  CACHE,
  CALL,
  CHANGE,
  CHARACTER,
  CHARSET,
  CHECK,
  CHECKSUM,
  CLONE,
  COLLATE,
  COMMIT,
  CREATE,
  DATABASE,
  DEALLOCATE,
  DEFAULT,
  DELETE,
  DESC,
  DESCRIBE,
  DO,
  DROP,
  EVENT,
  EXECUTE,
  EXPLAIN,
  EXPORT,
  EXTENDED,
  FLUSH,
  FOR,
  FORMAT,
  FUNCTION,
  GET,
  GET_LOCK,
  GLOBAL,
  GRANT,
  GROUP_REPLICATION,
  HANDLER,
  HELP,
  IMPORT,
  IN,
  INDEX,
  INSERT,
  INSTALL,
  INSTANCE,
  INTO,
  IS_FREE_LOCK,
  IS_USED_LOCK,
  KILL,
  LAST_INSERT_ID,
  LOAD,
  LOCAL,
  LOCK,
  NAMES,
  NEXT,
  NEXTVAL,
  NO_WRITE_TO_BINLOG,
  NOT,
  ONLY,
  OPTIMIZE,
  PARTITIONS,
  PASSWORD,
  PERSIST,
  PERSIST_ONLY,
  PREPARE,
  PROCEDURE,
  PURGE,
  READ,
  RECURSIVE,
  RELEASE,
  RELEASE_ALL_LOCKS,
  RELEASE_LOCK,
  RENAME,
  REPAIR,
  REPLACE,
  REPLICA,
  RESET,
  RESTART,
  REVOKE,
  ROLE,
  ROLLBACK,
  SAVEPOINT,
  SCHEMA,
  SELECT,
  SESSION,
  SET,
  SETVAL,
  SHARE,
  SHOW,
  SHUTDOWN,
  SLAVE,
  START,
  STATEMENT,
  STOP,
  TABLE,
  TABLES,
  TEMPORARY,
  TO,
  TRANSACTION,
  TRIGGER,
  TRUNCATE,
  UNINSTALL,
  UNLOCK,
  UPDATE,
  USE,
  VALUE,
  VALUES,
  VIEW,
  WITH,
  WORK,
  WRITE,
  XA,
} = K;

/**
 * Classifies one COM_QUERY / COM_STMT_PREPARE text, read as the server of `dialect` reads it (see
 * dialect.ts). Never throws.
 */
export function classify(sql: string, dialect: SqlDialect = DEFAULT_DIALECT): Classification {
  const run = new Run(sql, dialect);
  const lx = run.lx;
  let rank = -1;
  let count = 0;
  let d = dialect;
  lx.next();
  while (lx.type !== TOK_EOF) {
    if (lx.type === TOK_PUNCT && lx.ch === CH_SEMI) {
      lx.next();
      continue;
    }
    count++;
    const before = run.session === undefined ? 0 : run.session.length;
    let r = run.statement();
    if (run.f & F_NEVER_SECONDARY && r < R_WRITE) r = R_WRITE;
    if (r > rank) rank = r;
    if ((run.session !== undefined && run.session.length > before) || run.f & F_MAY_CHANGE_DIALECT) {
      // The server reads the next statement of a multi-statement with the state this one left.
      const next =
        run.f & F_MAY_CHANGE_DIALECT ? unsureDialect(d) : dialectAfterChanges(d, run.session!, before);
      if (next !== d) {
        d = next;
        // An unsure dialect makes the rest of the text uncertain: only if there is a rest.
        if (!d.unsure || !restIsEmpty(sql, lx.pos)) lx.setDialect(d);
      }
    }
  }
  if (lx.uncertain && rank < R_UNKNOWN) rank = R_UNKNOWN;
  const c: Classification = {
    kind: rank < 0 ? "unknown" : KIND_OF_RANK[rank],
    verb: run.verb,
    lockingRead: run.lockingRead,
    multi: count > 1,
  };
  if (run.txn !== undefined) c.txn = run.txn;
  if (run.session !== undefined) c.session = run.session;
  if (run.pinning !== undefined) c.pinning = run.pinning;
  if (lx.uncertain) c.uncertain = true;
  if (run.routines !== undefined) c.routines = run.routines;
  if ((run.f & (F_LIFTED | F_OTHER_UNKNOWN)) === F_LIFTED && rank === R_UNKNOWN && !lx.uncertain)
    c.readExceptRoutines = true;
  if (run.f & F_NEVER_SECONDARY) c.neverSecondary = true;
  if (run.f & F_DYNAMIC) c.dynamic = true;
  if (run.handler !== undefined) c.handler = run.handler;
  if (run.f & F_MAY_CHANGE_DIALECT) c.mayChangeDialect = true;
  return c;
}

/** Run.f bits. */
const F_LIFTED = 1; // some statement was "unknown" only because of its routine calls
const F_OTHER_UNKNOWN = 2; // some statement was "unknown" for another reason
const F_NEVER_SECONDARY = 4;
const F_DYNAMIC = 8;
const F_MAY_CHANGE_DIALECT = 16;
const F_DETECT = 32; // collect routine calls in the current statement
const F_STMT_ROUTINE = 64; // the current statement calls a routine

/** Only whitespace and `;` from `p` to the end. */
function restIsEmpty(s: string, p: number): boolean {
  for (let i = p; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 32 && c !== 59) return false;
  }
  return true;
}

/**
 * Session variables that must never be set on the secondary: they change what the server logs or
 * lift its read-only guard (any value: pairgate does not evaluate expressions).
 */
const GUARD_VARIABLES = new Set([
  "sql_log_bin",
  "transaction_read_only",
  "tx_read_only",
  "skip_replication",
  "pseudo_slave_mode",
  "pseudo_thread_id",
  "gtid_domain_id",
  "gtid_seq_no",
  "gtid_next",
  "server_id",
  "wsrep_on",
  "binlog_format",
  "binlog_row_image",
  "binlog_annotate_row_events",
  "read_only",
  "sql_slave_skip_counter",
]);

/** Is `name` (a lower-cased system variable name) one that must never be set on the secondary? */
export function isGuardVariable(name: string): boolean {
  const c = name.charCodeAt(0);
  // First letters of the guard names: most variables (autocommit, time_zone, ...) stop here.
  if (c !== 115 && c !== 116 && c !== 103 && c !== 98 && c !== 112 && c !== 119 && c !== 114) return false;
  if (GUARD_VARIABLES.has(name)) return true;
  return (c === 103 /* g */ && name.startsWith("gtid_")) || (c === 98 /* b */ && name.startsWith("binlog_"));
}

/**
 * The session's dialect after a statement that succeeded: follows `SET sql_mode`, `SET NAMES`,
 * `SET CHARACTER SET` / `CHARSET` and `SET character_set_client` (session scope, any spelling:
 * `SET @@session.sql_mode := ...`, `SET LOCAL ...`). A value pairgate cannot evaluate (an expression
 * such as `CONCAT(@@sql_mode, ',ANSI_QUOTES')`, a variable, DEFAULT, a `?`), or a statement that may
 * change them unseen (CALL, EXECUTE, a routine call: `mayChangeDialect`), gives an unsure dialect:
 * the session should then read `@@session.sql_mode` and `@@session.character_set_client` back from
 * the server and `makeDialect` from them. `SET STATEMENT ... FOR` changes nothing after it.
 */
export function dialectAfter(d: SqlDialect, c: Classification): SqlDialect {
  if (c.mayChangeDialect) return unsureDialect(d);
  if (c.session === undefined) return d;
  return dialectAfterChanges(d, c.session, 0);
}

function dialectAfterChanges(d: SqlDialect, changes: readonly SessionChange[], from: number): SqlDialect {
  let out = d;
  for (let i = from; i < changes.length; i++) {
    const ch = changes[i];
    if (ch.global) continue;
    if (ch.type === "variable") {
      if (ch.name === "sql_mode") {
        const v = literalValue(ch.value);
        out = v === null ? unsureDialect(out) : withSqlMode(out, v);
        if (v !== null && parseSqlMode(v).unsure) out = unsureDialect(out);
      } else if (ch.name === "character_set_client") {
        const v = literalValue(ch.value);
        out = v === null ? unsureDialect(out) : withCharset(out, v);
      }
    } else if (ch.type === "names" || ch.type === "charset") {
      const v = literalValue(ch.value);
      out = v === null ? unsureDialect(out) : withCharset(out, v);
    }
  }
  return out;
}

/**
 * The value of a SET assignment when it is a constant: a quoted string (no escapes needed for mode or
 * character set names) or a bare word other than DEFAULT; null for anything else.
 */
function literalValue(v: string | undefined): string | null {
  if (v === undefined) return null;
  const t = v.trim();
  const q = t.charCodeAt(0);
  if ((q === 39 || q === 34) && t.length >= 2 && t.charCodeAt(t.length - 1) === q) {
    const inner = t.slice(1, -1);
    if (inner.includes("\\") || inner.includes(String.fromCharCode(q))) return null;
    return inner;
  }
  if (/^[A-Za-z0-9_]+$/.test(t) && t.toLowerCase() !== "default") return t;
  if (q === 96 && /^`[A-Za-z0-9_]+`$/.test(t)) return t.slice(1, -1);
  return null;
}

/** Keyword ids the detector looks at (seeKeyword). */
const KW_SEEN = new Uint8Array(KW_UPPER.length);
for (const k of [K.UPDATE, K.SHARE, K.INTO, K.FOR, K.NEXTVAL]) KW_SEEN[k] = 1;

/** Keyword ids that name a built-in function (or take `(` in the grammar) although not flagged KF_FUNC. */
const KW_BUILTIN: boolean[] = KW_UPPER.map(
  (u, i) => i !== 0 && ((KW_FLAGS[i] & KF_FUNC) !== 0 || isBuiltinName(u.toLowerCase())),
);

/** State of one classify() call: the lexer, what has been found, and the token detector's memory. */
class Run {
  readonly lx: Lexer;
  verb = "";
  private wantVerb = true;
  txn: TxnAction | undefined = undefined;
  session: SessionChange[] | undefined = undefined;
  lockingRead = false;
  pinning: Pinning | undefined = undefined;
  /** Highest rank an in-statement detector found (a lock, INTO, a writing function). */
  private found = R_READ;
  private prevKw = 0;
  private prev2Kw = 0;
  private prevType = TOK_EOF;
  /** Saw `LAST_INSERT_ID(`: with an argument it sets the value (a write), without it reads. */
  private lidOpen = false;
  /** dispatch() calls in this statement. */
  private nesting = 0;
  routines: string[] | undefined = undefined;
  handler: HandlerOp | undefined = undefined;
  /** F_* bits: what the text and the current statement were found to do (one field, a small Run). */
  f = 0;
  /** Tokens seen by the detector, and where the last name, `.`, `)` and qualifier were. */
  private tok = 0;
  private nameTok = -9;
  private nameStart = 0;
  private nameEnd = 0;
  private dotTok = -9;
  private rparenTok = -9;
  private qualTok = -9;
  private qualStart = 0;
  private qualEnd = 0;

  constructor(sql: string, dialect: SqlDialect) {
    this.lx = new Lexer(sql, dialect);
  }

  /** Classifies the statement at the current token; returns with the current token at `;` or EOF. */
  /** Index of the current statement in the text. */
  index = -1;

  statement(): number {
    this.index++;
    this.found = R_READ;
    this.prevKw = this.prev2Kw = 0;
    this.prevType = TOK_EOF;
    this.lidOpen = false;
    this.nesting = 0;
    this.f &= ~(F_DETECT | F_STMT_ROUTINE);
    const base = this.dispatch();
    let r = Math.max(base, this.found);
    if (this.f & F_STMT_ROUTINE) {
      this.f |= F_MAY_CHANGE_DIALECT;
      if (r <= R_SESSION) {
        r = R_UNKNOWN;
        this.f |= F_LIFTED;
      }
    } else if (r === R_UNKNOWN) this.f |= F_OTHER_UNKNOWN;
    return r;
  }

  private addRoutine(name: string): void {
    this.f |= F_STMT_ROUTINE;
    if (this.routines === undefined) this.routines = [name];
    else if (!this.routines.includes(name)) this.routines.push(name);
  }

  /** The name of an identifier token at [start, end): unquoted, lower-cased. */
  private nameAt(start: number, end: number): string {
    const src = this.lx.src;
    return src.charCodeAt(start) === 96
      ? unquoteIdent(src, start, end).toLowerCase()
      : src.slice(start, end).toLowerCase();
  }

  /**
   * At `(` after a word or quoted identifier, in a statement that collects routines: is it a call of
   * a stored function or UDF? Built-ins and grammar words are not; `db.f(` and `` `f`( `` always are;
   * an alias's column list (`AS dt (a, b)`, `(SELECT ...) dt (a, b)`) is not.
   */
  private maybeRoutine(i: number): void {
    const kw = this.prevKw;
    if (this.prev2Kw === AS || this.rparenTok === i - 2) return;
    if (this.dotTok === i - 2) {
      // `db.f(`: qualified names are never built-ins.
      let name = this.nameAt(this.nameStart, this.nameEnd);
      if (this.qualTok === i - 3) name = `${this.nameAt(this.qualStart, this.qualEnd)}.${name}`;
      this.addRoutine(name);
      return;
    }
    if (this.prevType === TOK_QIDENT) {
      this.addRoutine(this.nameAt(this.nameStart, this.nameEnd));
      return;
    }
    if (kw !== 0) {
      if (KW_BUILTIN[kw] || isReserved(kw)) return;
    } else {
      const name = this.nameAt(this.nameStart, this.nameEnd);
      if (isBuiltinName(name)) return;
      this.addRoutine(name);
      return;
    }
    this.addRoutine(KW_UPPER[kw].toLowerCase());
  }

  private pin(p: Pinning): void {
    if (this.pinning === undefined) this.pinning = p;
  }

  private escalate(r: number): void {
    if (r > this.found) this.found = r;
  }

  private addSession(s: SessionChange): void {
    if (this.index > 0) s.statement = this.index;
    if (this.session === undefined) this.session = [s];
    else this.session.push(s);
  }

  /** Skips to the end of the statement without looking. */
  private skip(): void {
    while (!this.lx.atEnd()) this.lx.next();
  }

  /** Lexes to the end of the statement, running the detector on every token; returns `base`. */
  private scan(base: number): number {
    while (!this.lx.atEnd()) {
      this.see();
      this.lx.next();
    }
    return base;
  }

  /**
   * The detector: looks at the current token with two keywords of memory and notes what makes a
   * statement more than it first seemed.
   * - `FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`: a locking read
   *   (https://dev.mysql.com/doc/refman/8.0/en/innodb-locking-reads.html).
   * - `INTO` (`INTO OUTFILE`, `INTO DUMPFILE`, `INTO @var`): the SELECT writes a file or a variable
   *   (https://dev.mysql.com/doc/refman/8.0/en/select-into.html).
   * - `@var := expr`: a SELECT that sets a user variable.
   * - GET_LOCK / RELEASE_LOCK / RELEASE_ALL_LOCKS / IS_FREE_LOCK / IS_USED_LOCK: named locks live in
   *   the primary's connection (https://dev.mysql.com/doc/refman/8.0/en/locking-functions.html).
   * - NEXTVAL / SETVAL / `NEXT VALUE FOR`: MariaDB sequences advance
   *   (https://mariadb.com/kb/en/sequence-functions/); LAST_INSERT_ID(expr) sets the value.
   */
  private see(): void {
    const lx = this.lx;
    const t = lx.type;
    const i = ++this.tok;
    if (this.lidOpen) {
      this.lidOpen = false;
      if (!(t === TOK_PUNCT && lx.ch === CH_RPAREN)) this.escalate(R_WRITE);
    }
    if (t === TOK_WORD) {
      const kw = lx.kw;
      if (KW_SEEN[kw] === 1) this.seeKeyword(kw, i);
      this.nameTok = i;
      this.nameStart = lx.start;
      this.nameEnd = lx.end;
      this.prev2Kw = this.prevKw;
      this.prevKw = kw;
    } else {
      if (t === TOK_PUNCT) {
        const ch = lx.ch;
        if (ch === CH_LPAREN || ch === CH_DOT || ch === CH_RPAREN) this.seePunct(ch, i);
      } else if (t === TOK_QIDENT) {
        this.nameTok = i;
        this.nameStart = lx.start;
        this.nameEnd = lx.end;
      } else if (t === TOK_VAR) {
        if (this.prevKw === INTO) this.pin("user_variable_select");
      } else if (t === TOK_OP && lx.ch === 58 /* := */ && this.prevType === TOK_VAR) {
        this.pin("user_variable_select");
      }
      this.prev2Kw = this.prevKw;
      this.prevKw = 0;
    }
    this.prevType = t;
  }

  /** The detector at one of the keywords of KW_SEEN (token `i`). */
  private seeKeyword(kw: number, i: number): void {
    if (kw === UPDATE || kw === SHARE) {
      if (this.prevKw === FOR || (kw === SHARE && this.prevKw === IN && this.prev2Kw === LOCK)) {
        this.lockingRead = true;
        this.escalate(R_WRITE);
      }
    } else if (kw === INTO) {
      this.escalate(R_WRITE);
    } else if (kw === FOR) {
      if (this.prevKw === VALUE && this.prev2Kw === NEXT) this.escalate(R_WRITE);
    } else if (kw === NEXTVAL && this.dotTok === i - 1) {
      this.escalate(R_WRITE); // MariaDB `seq.nextval`
    }
  }

  /** The detector at `(`, `.` or `)` (token `i`). */
  private seePunct(ch: number, i: number): void {
    if (ch === CH_LPAREN) {
      if (this.prevType === TOK_WORD) this.call(this.prevKw);
      if (this.f & F_DETECT && this.nameTok === i - 1) this.maybeRoutine(i);
    } else if (ch === CH_DOT) {
      this.dotTok = i;
      if (this.nameTok === i - 1) {
        this.qualTok = i - 1;
        this.qualStart = this.nameStart;
        this.qualEnd = this.nameEnd;
      }
    } else this.rparenTok = i;
  }

  /** A function call `fn(` seen by the detector. */
  private call(fn: number): void {
    if (fn === 0) return;
    if (fn === GET_LOCK) {
      this.pin("get_lock");
      this.escalate(R_WRITE);
    } else if (
      fn === RELEASE_LOCK ||
      fn === RELEASE_ALL_LOCKS ||
      fn === IS_FREE_LOCK ||
      fn === IS_USED_LOCK ||
      fn === NEXTVAL ||
      fn === SETVAL
    ) {
      this.escalate(R_WRITE);
    } else if (fn === LAST_INSERT_ID) {
      this.lidOpen = true;
    }
  }

  /** Classifies by the first word; returns the statement's base rank. */
  private dispatch(): number {
    const lx = this.lx;
    // EXPLAIN ANALYZE, ANALYZE, SET STATEMENT ... FOR and WITH classify a statement inside theirs;
    // a text that nests them without end gets "unknown" instead of a stack overflow.
    if (++this.nesting > MAX_NESTING) {
      this.wantVerb = false;
      return this.scan(R_UNKNOWN);
    }
    while (this.lx.isPunct(CH_LPAREN)) {
      // `(SELECT ...) UNION (SELECT ...)`: a parenthesized query expression.
      this.see();
      lx.next();
    }
    if (lx.type !== TOK_WORD) {
      this.wantVerb = false;
      this.skip();
      return R_UNKNOWN;
    }
    const kw = lx.kw;
    if (this.wantVerb) {
      this.wantVerb = false;
      this.verb = kw !== 0 ? KW_UPPER[kw] : lx.text().toUpperCase();
    }
    switch (kw) {
      case SELECT:
      case TABLE: // MySQL 8.0.19 `TABLE t`
      case VALUES: // MySQL 8.0.19 `VALUES ROW(...)`
        this.f |= F_DETECT;
        return this.scan(R_READ);
      case WITH:
        this.f |= F_DETECT;
        return this.withQuery();
      case SHOW:
      case HELP:
      case CHECK:
      case CHECKSUM:
      case GET: // GET DIAGNOSTICS
        this.skip();
        return R_READ;
      case EXPLAIN:
      case DESCRIBE:
      case DESC:
        return this.explain();
      case ANALYZE:
        return this.analyze();
      case SET:
        this.f |= F_DETECT;
        return this.set();
      case USE:
        return this.use();
      case BEGIN:
        return this.begin();
      case START:
        return this.start();
      case COMMIT:
        this.skip();
        this.txn = "commit";
        return R_TXN;
      case ROLLBACK:
        return this.rollback();
      case SAVEPOINT:
        this.skip();
        this.txn = "savepoint";
        return R_TXN;
      case RELEASE:
        lx.next();
        if (!this.lx.isKw(SAVEPOINT)) return this.scan(R_UNKNOWN);
        this.skip();
        this.txn = "release_savepoint";
        return R_TXN;
      case XA:
        this.skip();
        this.txn = "xa";
        return R_TXN;
      case LOCK:
      case UNLOCK:
        lx.next();
        if (!(this.lx.isKw(TABLES) || this.lx.isKw(TABLE) || this.lx.isKw(INSTANCE)))
          return this.scan(R_UNKNOWN);
        this.pin(kw === LOCK ? "lock_tables" : "unlock_tables");
        this.skip();
        return R_WRITE;
      case FLUSH:
        return this.flush();
      case HANDLER:
        // HANDLER t OPEN / READ / CLOSE: a cursor on one connection, so pinning; routed as a write
        // because the handler must be read where it was opened.
        this.pin("handler");
        this.handlerStatement();
        return R_WRITE;
      case BACKUP: // MariaDB BACKUP STAGE / BACKUP LOCK: locks held by this connection
        this.pin("lock_tables");
        this.skip();
        return R_WRITE;
      case CREATE:
      case ALTER:
        return this.ddl(kw === CREATE);
      case DROP:
        lx.next();
        if (this.lx.isKw(TEMPORARY)) this.pin("temporary_table");
        else if (this.lx.isKw(PREPARE)) this.pin("prepare_sql");
        return this.scan(R_WRITE);
      case PREPARE:
      case EXECUTE:
        // What PREPARE ... FROM @var and EXECUTE [IMMEDIATE] run is not in this text.
        this.f |= F_DYNAMIC | F_MAY_CHANGE_DIALECT;
        this.pin("prepare_sql");
        this.skip();
        return R_WRITE;
      case DEALLOCATE:
        // SQL-level prepared statements live in the connection.
        this.pin("prepare_sql");
        this.skip();
        return R_WRITE;
      case CALL:
        return this.callStatement();
      case DO: // DO evaluates expressions for their side effects
        this.f |= F_DETECT;
        return this.scan(R_WRITE);
      case INSERT:
      case REPLACE:
      case UPDATE:
      case DELETE:
      case TRUNCATE:
      case RENAME:
      case GRANT:
      case REVOKE:
      case OPTIMIZE:
      case REPAIR:
      case LOAD:
      case KILL:
      case PURGE:
      case RESET:
      case CHANGE:
      case STOP:
      case INSTALL:
      case UNINSTALL:
      case SHUTDOWN:
      case RESTART:
      case CLONE:
      case IMPORT:
      case CACHE:
      case BINLOG:
        return this.scan(R_WRITE);
      default:
        return this.scan(R_UNKNOWN);
    }
  }

  /** `CALL [db.]p[(args)]`: a procedure may do anything (a write); its name is a routine. */
  private callStatement(): number {
    const lx = this.lx;
    lx.next();
    if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
      let name = this.nameAt(lx.start, lx.end);
      lx.next();
      if (lx.isPunct(CH_DOT)) {
        lx.next();
        if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
          name = `${name}.${this.nameAt(lx.start, lx.end)}`;
          lx.next();
        }
      }
      this.addRoutine(name);
    }
    this.f |= F_DETECT;
    return this.scan(R_WRITE);
  }

  /**
   * HANDLER tbl OPEN [[AS] alias] | HANDLER name READ ... | HANDLER name CLOSE
   * (https://mariadb.com/kb/en/handler-commands/). A READ returns the rows of the table the handle
   * was opened on: the session keeps handle -> table from the OPENs that succeeded.
   */
  private handlerStatement(): void {
    const lx = this.lx;
    lx.next();
    if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) {
      this.skip();
      return;
    }
    let table = this.nameAt(lx.start, lx.end);
    let last = table;
    lx.next();
    if (lx.isPunct(CH_DOT)) {
      lx.next();
      if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
        last = this.nameAt(lx.start, lx.end);
        table = `${table}.${last}`;
        lx.next();
      }
    }
    const kw = lx.type === TOK_WORD ? lx.kw : 0;
    if (kw === K.OPEN) {
      lx.next();
      if (lx.isKw(AS)) lx.next();
      let name = last;
      if (lx.type === TOK_QIDENT || (lx.type === TOK_WORD && (lx.kw === 0 || !isReserved(lx.kw))))
        name = this.nameAt(lx.start, lx.end);
      this.handler = { op: "open", name, table };
    } else if (kw === READ) this.handler = { op: "read", name: table };
    else if (kw === K.CLOSE) this.handler = { op: "close", name: table };
    else this.handler = { op: "other", name: table };
    this.skip();
  }

  /**
   * `WITH [RECURSIVE] name [(cols)] AS (query) [, ...] statement`: the CTE bodies are queries (run
   * through the detector); the kind is that of the statement after them, SELECT or, in MySQL 8.0,
   * UPDATE / DELETE (https://dev.mysql.com/doc/refman/8.0/en/with.html).
   */
  private withQuery(): number {
    const lx = this.lx;
    lx.next();
    if (this.lx.isKw(RECURSIVE)) lx.next();
    for (;;) {
      if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return this.scan(R_UNKNOWN);
      lx.next();
      if (this.lx.isPunct(CH_LPAREN)) this.parens(false);
      if (this.lx.isKw(AS)) lx.next();
      if (!this.lx.isPunct(CH_LPAREN)) return this.scan(R_UNKNOWN);
      this.parens(true);
      if (!this.lx.isPunct(CH_COMMA)) break;
      lx.next();
    }
    return this.dispatch();
  }

  /** At `(`: moves past the matching `)`, through the detector if `detect`. */
  private parens(detect: boolean): void {
    const lx = this.lx;
    let depth = 0;
    while (!this.lx.atEnd()) {
      if (lx.type === TOK_PUNCT) {
        if (lx.ch === CH_LPAREN) depth++;
        else if (lx.ch === CH_RPAREN) depth--;
      }
      if (detect) this.see();
      lx.next();
      if (depth === 0) return;
    }
  }

  /**
   * EXPLAIN / DESCRIBE / DESC (synonyms) only show a plan or a table's columns: a read. EXPLAIN
   * ANALYZE runs the statement (https://dev.mysql.com/doc/refman/8.0/en/explain.html#explain-analyze),
   * so it is classified as that statement.
   */
  private explain(): number {
    const lx = this.lx;
    lx.next();
    let analyze = false;
    for (;;) {
      if (lx.type !== TOK_WORD) break;
      const kw = lx.kw;
      if (kw === ANALYZE) analyze = true;
      else if (kw === FORMAT) {
        lx.next();
        if (this.lx.isPunct(CH_EQ)) lx.next();
      } else if (kw !== EXTENDED && kw !== PARTITIONS) break;
      lx.next();
    }
    if (analyze) return this.dispatch();
    this.skip();
    return R_READ;
  }

  /**
   * ANALYZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t updates index statistics: a write. MariaDB's
   * `ANALYZE [FORMAT=JSON] statement` runs the statement (https://mariadb.com/kb/en/analyze-statement/).
   */
  private analyze(): number {
    const lx = this.lx;
    lx.next();
    const kw = lx.type === TOK_WORD ? lx.kw : 0;
    if (kw === TABLE || kw === TABLES || kw === NO_WRITE_TO_BINLOG || kw === LOCAL) return this.scan(R_WRITE);
    if (kw === FORMAT) {
      lx.next();
      if (this.lx.isPunct(CH_EQ)) lx.next();
      lx.next();
    }
    return this.dispatch();
  }

  /** BEGIN [WORK]; MariaDB's `BEGIN NOT ATOMIC ... END` is a compound statement, not a transaction. */
  private begin(): number {
    const lx = this.lx;
    lx.next();
    if (this.lx.isKw(WORK)) lx.next();
    if (this.lx.atEnd()) {
      this.txn = "begin";
      return R_TXN;
    }
    if (this.lx.isKw(NOT)) return this.compound(true);
    return this.scan(R_UNKNOWN);
  }

  /**
   * START TRANSACTION [WITH CONSISTENT SNAPSHOT | READ ONLY | READ WRITE], ...
   * (https://dev.mysql.com/doc/refman/8.0/en/commit.html); START SLAVE / REPLICA / GROUP_REPLICATION.
   */
  private start(): number {
    const lx = this.lx;
    lx.next();
    if (!this.lx.isKw(TRANSACTION)) {
      if (this.lx.isKw(SLAVE) || this.lx.isKw(REPLICA) || this.lx.isKw(GROUP_REPLICATION))
        return this.scan(R_WRITE);
      return this.scan(R_UNKNOWN);
    }
    let action: TxnAction = "begin";
    let prev = 0;
    lx.next();
    while (!this.lx.atEnd()) {
      const kw = lx.type === TOK_WORD ? lx.kw : 0;
      if (prev === READ) {
        if (kw === ONLY) action = "begin_read_only";
        else if (kw === WRITE) action = "begin_read_write";
      }
      prev = kw;
      lx.next();
    }
    this.txn = action;
    return R_TXN;
  }

  /** ROLLBACK [WORK] [AND [NO] CHAIN] [[NO] RELEASE] | ROLLBACK [WORK] TO [SAVEPOINT] name. */
  private rollback(): number {
    const lx = this.lx;
    let action: TxnAction = "rollback";
    lx.next();
    while (!this.lx.atEnd()) {
      if (this.lx.isKw(TO)) action = "rollback_to_savepoint";
      lx.next();
    }
    this.txn = action;
    return R_TXN;
  }

  /** FLUSH TABLES ... WITH READ LOCK / FOR EXPORT leave this connection holding locks. */
  private flush(): number {
    const lx = this.lx;
    let prev = 0;
    lx.next();
    while (!this.lx.atEnd()) {
      const kw = lx.type === TOK_WORD ? lx.kw : 0;
      if ((kw === LOCK && prev === READ) || (kw === EXPORT && prev === FOR)) this.pin("lock_tables");
      prev = kw;
      lx.next();
    }
    return R_WRITE;
  }

  /**
   * CREATE / ALTER. Notes CREATE TEMPORARY TABLE (the table exists in this connection only). A stored
   * program (PROCEDURE, FUNCTION, TRIGGER, EVENT) may hold a BEGIN ... END body with `;` inside it.
   */
  private ddl(create: boolean): number {
    const lx = this.lx;
    lx.next();
    while (!this.lx.atEnd()) {
      if (lx.type === TOK_WORD) {
        const kw = lx.kw;
        if (kw === TEMPORARY && create) this.pin("temporary_table");
        else if (kw === PROCEDURE || kw === FUNCTION || kw === TRIGGER || kw === EVENT)
          return this.compound(false);
        else if (kw === TABLE || kw === VIEW || kw === INDEX || kw === DATABASE || kw === SCHEMA) break;
      } else if (lx.type === TOK_PUNCT && lx.ch === CH_LPAREN) break;
      lx.next();
    }
    return this.scan(R_WRITE);
  }

  /**
   * A statement that may contain a compound BEGIN ... END body (`begun`: it is one, MariaDB's
   * `BEGIN NOT ATOMIC`). Once BEGIN is seen the rest of the text belongs to it: the `;` inside the
   * body are the body's (the server parses the body as one statement). Nothing in a stored program's
   * body runs now, so the detector is not used; a compound statement runs now, but may do anything.
   */
  private compound(begun: boolean): number {
    const lx = this.lx;
    while (!this.lx.atEnd()) {
      if (begun || this.lx.isKw(BEGIN)) {
        while (lx.type !== TOK_EOF) lx.next();
        break;
      }
      lx.next();
    }
    return R_WRITE;
  }

  /** USE db: the schema is session state. */
  private use(): number {
    const lx = this.lx;
    lx.next();
    if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return this.scan(R_UNKNOWN);
    const value = lx.text();
    const schema = lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : value;
    lx.next();
    this.addSession({ type: "use", schema, value });
    this.skip();
    return R_SESSION;
  }

  /**
   * SET, after https://dev.mysql.com/doc/refman/8.0/en/set-variable.html,
   * /set-names.html, /set-character-set.html and /set-transaction.html:
   * - a comma list of assignments; a GLOBAL / SESSION / LOCAL / PERSIST / PERSIST_ONLY keyword applies
   *   to the assignments after it that have none ("the most recent ... modifier is used"); a
   *   `@@global.` prefix applies to its own variable only;
   * - any global assignment makes the statement a write (the server changes, not the session);
   * - SET TRANSACTION without a scope only shapes the next transaction: transaction control;
   * - SET PASSWORD / SET DEFAULT ROLE are writes; SET ROLE and SET RESOURCE GROUP change session state
   *   this proxy does not replay, so they are "unknown" (primary);
   * - MariaDB's `SET STATEMENT var = v [, ...] FOR statement` is classified as its statement.
   */
  private set(): number {
    const lx = this.lx;
    lx.next();
    if (lx.type === TOK_WORD) {
      const kw = lx.kw;
      if (kw === PASSWORD || kw === DEFAULT) return this.scan(R_WRITE);
      if (kw === ROLE || kw === K.RESOURCE) return this.scan(R_UNKNOWN);
      if (kw === STATEMENT) return this.setStatement();
      if (kw === TRANSACTION) {
        // SET TRANSACTION READ WRITE lifts the server-side read-only session for the next transaction.
        let prev = 0;
        let readWrite = false;
        while (!lx.atEnd()) {
          const k = lx.type === TOK_WORD ? lx.kw : 0;
          if (k === WRITE && prev === READ) readWrite = true;
          prev = k;
          lx.next();
        }
        this.txn = "set_transaction";
        if (readWrite) {
          this.f |= F_NEVER_SECONDARY;
          return R_WRITE;
        }
        return R_TXN;
      }
    }
    let global = false;
    let rank = R_SESSION;
    for (;;) {
      if (lx.type === TOK_WORD) {
        const kw = lx.kw;
        if (kw === GLOBAL || kw === PERSIST || kw === PERSIST_ONLY) {
          global = true;
          lx.next();
        } else if (kw === SESSION || kw === LOCAL) {
          global = false;
          lx.next();
        }
      }
      let change: SessionChange;
      if (this.lx.isKw(TRANSACTION)) {
        lx.next();
        change = { type: "transaction_characteristics" };
        change.value = this.characteristics(change);
        if (global) change.global = true;
      } else if (this.lx.isKw(NAMES)) {
        lx.next();
        if (this.lx.atEnd()) return R_UNKNOWN;
        change = { type: "names", value: lx.text() };
        lx.next();
        if (this.lx.isKw(COLLATE)) {
          lx.next();
          if (this.lx.atEnd()) return R_UNKNOWN;
          change.collation =
            lx.type === TOK_STRING || lx.type === TOK_QIDENT
              ? unquoteIdent(lx.src, lx.start, lx.end)
              : lx.text();
          lx.next();
        }
      } else if (this.lx.isKw(CHARACTER) || this.lx.isKw(CHARSET)) {
        if (lx.kw === CHARACTER) {
          lx.next();
          if (!this.lx.isKw(SET)) return this.scan(R_UNKNOWN);
        }
        lx.next();
        if (this.lx.atEnd()) return R_UNKNOWN;
        change = { type: "charset", value: lx.text() };
        lx.next();
      } else if (lx.type === TOK_VAR) {
        const text = lx.text();
        let g = global;
        if (text.charCodeAt(1) === 64 /* @@ */) {
          let name = text.slice(2);
          const dot = name.indexOf(".");
          if (dot > 0) {
            const scope = name.slice(0, dot).toLowerCase();
            if (scope === "global" || scope === "persist" || scope === "persist_only") {
              g = true;
              name = name.slice(dot + 1);
            } else if (scope === "session" || scope === "local") {
              g = false;
              name = name.slice(dot + 1);
            }
          } else g = false; // `@@var` alone is the session value
          change = { type: "variable", name: unquoteName(name) };
          if (g) change.global = true;
        } else {
          change = { type: "user_variable", name: unquoteName(text.slice(1)) };
        }
        lx.next();
        if (!this.assignment()) return this.scan(R_UNKNOWN);
        change.value = this.valueText(true);
      } else if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
        // A system variable, maybe a component's `component.var`.
        let name = lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : lx.text();
        lx.next();
        while (this.lx.isPunct(46 /* . */)) {
          lx.next();
          if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return this.scan(R_UNKNOWN);
          name += "." + (lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : lx.text());
          lx.next();
        }
        change = { type: "variable", name: name.toLowerCase() };
        if (global) change.global = true;
        if (!this.assignment()) return this.scan(R_UNKNOWN);
        change.value = this.valueText(true);
      } else {
        return this.scan(R_UNKNOWN);
      }
      this.addSession(change);
      if (
        change.global ||
        (change.type === "variable" && change.name !== undefined && isGuardVariable(change.name)) ||
        change.readWrite === true
      ) {
        this.f |= F_NEVER_SECONDARY;
        rank = R_WRITE;
      }
      if (this.lx.isPunct(CH_COMMA)) {
        lx.next();
        continue;
      }
      if (this.lx.atEnd()) return rank;
      return this.scan(R_UNKNOWN);
    }
  }

  /**
   * The characteristics after `SET [GLOBAL|SESSION] TRANSACTION`, to the end of the statement, read
   * as lexer tokens (issue 19): a comment anywhere between READ and WRITE, any case and spacing, executable
   * comments — `READ` then `WRITE` marks `ch.readWrite` (it lifts the secondary's guard). Returns
   * the source text.
   */
  private characteristics(ch: SessionChange): string {
    const lx = this.lx;
    const start = lx.start;
    let end = start;
    let prev = 0;
    while (!lx.atEnd()) {
      const k = lx.type === TOK_WORD ? lx.kw : 0;
      if (k === WRITE && prev === READ) ch.readWrite = true;
      prev = k;
      this.see();
      end = lx.end;
      lx.next();
    }
    return lx.src.slice(start, end);
  }

  /** At `=` or `:=` of a SET assignment: moves past it. */
  private assignment(): boolean {
    const lx = this.lx;
    if ((lx.type === TOK_PUNCT && lx.ch === CH_EQ) || (lx.type === TOK_OP && lx.ch === 58) /* := */) {
      lx.next();
      return true;
    }
    return false;
  }

  /**
   * The source text from the current token to the end of the expression: a `,` outside parentheses
   * (if `commaEnds`), `;` or the end. Comments between tokens are kept, around them dropped.
   */
  private valueText(commaEnds: boolean): string {
    const lx = this.lx;
    const start = lx.start;
    let end = start;
    let depth = 0;
    while (!this.lx.atEnd()) {
      if (lx.type === TOK_PUNCT) {
        if (lx.ch === CH_LPAREN) depth++;
        else if (lx.ch === CH_RPAREN) depth--;
        else if (lx.ch === CH_COMMA && depth === 0 && commaEnds) break;
      }
      this.see();
      end = lx.end;
      lx.next();
    }
    return lx.src.slice(start, end);
  }

  /**
   * MariaDB `SET STATEMENT var = value [, ...] FOR statement` (https://mariadb.com/kb/en/set-statement/):
   * classified as its statement; the values go through the detector (a routine call there runs
   * too) and a guard variable (sql_log_bin, transaction_read_only, ...) keeps it off the secondary.
   * The variables apply while the statement runs: the statement itself was already read with the
   * session's sql_mode, so the dialect does not change.
   */
  private setStatement(): number {
    const lx = this.lx;
    let depth = 0;
    let atName = true;
    lx.next();
    while (!lx.atEnd()) {
      const t = lx.type;
      if (t === TOK_PUNCT) {
        if (lx.ch === CH_LPAREN) depth++;
        else if (lx.ch === CH_RPAREN) depth--;
        else if (lx.ch === CH_COMMA && depth === 0) {
          atName = true;
          this.see();
          lx.next();
          continue;
        }
      } else if (depth === 0 && t === TOK_WORD && lx.kw === FOR) {
        lx.next();
        this.f &= ~F_DETECT;
        return this.dispatch();
      } else if (atName && depth === 0 && (t === TOK_WORD || t === TOK_QIDENT || t === TOK_VAR)) {
        let name = this.nameAt(lx.start, lx.end);
        if (t === TOK_VAR) name = name.slice(name.lastIndexOf("@") + 1);
        const dot = name.lastIndexOf(".");
        if (dot >= 0) name = name.slice(dot + 1);
        if (isGuardVariable(name)) this.f |= F_NEVER_SECONDARY;
      }
      atName = false;
      this.see();
      lx.next();
    }
    return R_UNKNOWN;
  }
}

/** A variable name from `@name`, `@'name'`, `` @`name` ``: unquoted and lower-cased (case-insensitive). */
function unquoteName(s: string): string {
  const q = s.charCodeAt(0);
  if (q === 39 || q === 34 || q === 96) return unquoteIdent(s, 0, s.length).toLowerCase();
  return s.toLowerCase();
}
