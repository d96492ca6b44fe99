/**
 * Session state statements: USE and every form of SET (variables, NAMES, CHARACTER SET,
 * TRANSACTION characteristics, user variables, MariaDB's SET STATEMENT ... FOR). A family of its
 * own because it is the one that produces `Classification.session`, the changes a backend switch
 * replays, and decides which assignments must never reach the secondary (global scope, the guard
 * variables, `READ WRITE`): its rules are about scope and values, not about the statement's verb.
 */
import { K } from "../keywords.js";
import {
  CH_COMMA,
  CH_EQ,
  CH_LPAREN,
  CH_RPAREN,
  TOK_OP,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_STRING,
  TOK_VAR,
  TOK_WORD,
  unquoteIdent,
} from "../lexer.js";
import { FLAG, RANK } from "./rank.js";
import type { Run } from "./run.js";
import type { SessionChange } from "./types.js";

const { R_SESSION, R_TXN, R_UNKNOWN, R_WRITE } = RANK;
const { F_DETECT, F_NEVER_SECONDARY } = FLAG;

const {
  CHARACTER,
  CHARSET,
  COLLATE,
  DEFAULT,
  FOR,
  GLOBAL,
  LOCAL,
  NAMES,
  PASSWORD,
  PERSIST,
  PERSIST_ONLY,
  READ,
  ROLE,
  SESSION,
  SET,
  STATEMENT,
  TRANSACTION,
  WRITE,
} = K;

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

/** USE db: the schema is session state. */
export function use(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return run.scan(R_UNKNOWN);
  const value = lx.text();
  const schema = lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : value;
  lx.next();
  run.addSession({ type: "use", schema, value });
  run.skip();
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
export function set(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.type === TOK_WORD) {
    const kw = lx.kw;
    if (kw === PASSWORD || kw === DEFAULT) return run.scan(R_WRITE);
    if (kw === ROLE || kw === K.RESOURCE) return run.scan(R_UNKNOWN);
    if (kw === STATEMENT) return setStatement(run);
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
      run.txn = "set_transaction";
      if (readWrite) {
        run.f |= F_NEVER_SECONDARY;
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
    if (lx.isKw(TRANSACTION)) {
      lx.next();
      change = { type: "transaction_characteristics" };
      change.value = characteristics(run, change);
      if (global) change.global = true;
    } else if (lx.isKw(NAMES)) {
      lx.next();
      if (lx.atEnd()) return R_UNKNOWN;
      change = { type: "names", value: lx.text() };
      lx.next();
      if (lx.isKw(COLLATE)) {
        lx.next();
        if (lx.atEnd()) return R_UNKNOWN;
        change.collation =
          lx.type === TOK_STRING || lx.type === TOK_QIDENT
            ? unquoteIdent(lx.src, lx.start, lx.end)
            : lx.text();
        lx.next();
      }
    } else if (lx.isKw(CHARACTER) || lx.isKw(CHARSET)) {
      if (lx.kw === CHARACTER) {
        lx.next();
        if (!lx.isKw(SET)) return run.scan(R_UNKNOWN);
      }
      lx.next();
      if (lx.atEnd()) return R_UNKNOWN;
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
      if (!assignment(run)) return run.scan(R_UNKNOWN);
      change.value = valueText(run, true);
    } else if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
      // A system variable, maybe a component's `component.var`.
      let name = lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : lx.text();
      lx.next();
      while (lx.isPunct(46 /* . */)) {
        lx.next();
        if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return run.scan(R_UNKNOWN);
        name += "." + (lx.type === TOK_QIDENT ? unquoteIdent(lx.src, lx.start, lx.end) : lx.text());
        lx.next();
      }
      change = { type: "variable", name: name.toLowerCase() };
      if (global) change.global = true;
      if (!assignment(run)) return run.scan(R_UNKNOWN);
      change.value = valueText(run, true);
    } else {
      return run.scan(R_UNKNOWN);
    }
    run.addSession(change);
    if (
      change.global ||
      (change.type === "variable" && change.name !== undefined && isGuardVariable(change.name)) ||
      change.readWrite === true
    ) {
      run.f |= F_NEVER_SECONDARY;
      rank = R_WRITE;
    }
    if (lx.isPunct(CH_COMMA)) {
      lx.next();
      continue;
    }
    if (lx.atEnd()) return rank;
    return run.scan(R_UNKNOWN);
  }
}

/**
 * The characteristics after `SET [GLOBAL|SESSION] TRANSACTION`, to the end of the statement, read
 * as lexer tokens (issue 19): a comment anywhere between READ and WRITE, any case and spacing, executable
 * comments — `READ` then `WRITE` marks `ch.readWrite` (it lifts the secondary's guard). Returns
 * the source text.
 */
function characteristics(run: Run, ch: SessionChange): string {
  const lx = run.lx;
  const start = lx.start;
  let end = start;
  let prev = 0;
  while (!lx.atEnd()) {
    const k = lx.type === TOK_WORD ? lx.kw : 0;
    if (k === WRITE && prev === READ) ch.readWrite = true;
    prev = k;
    run.see();
    end = lx.end;
    lx.next();
  }
  return lx.src.slice(start, end);
}

/** At `=` or `:=` of a SET assignment: moves past it. */
function assignment(run: Run): boolean {
  const lx = run.lx;
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
function valueText(run: Run, commaEnds: boolean): string {
  const lx = run.lx;
  const start = lx.start;
  let end = start;
  let depth = 0;
  while (!lx.atEnd()) {
    if (lx.type === TOK_PUNCT) {
      if (lx.ch === CH_LPAREN) depth++;
      else if (lx.ch === CH_RPAREN) depth--;
      else if (lx.ch === CH_COMMA && depth === 0 && commaEnds) break;
    }
    run.see();
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
function setStatement(run: Run): number {
  const lx = run.lx;
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
        run.see();
        lx.next();
        continue;
      }
    } else if (depth === 0 && t === TOK_WORD && lx.kw === FOR) {
      lx.next();
      run.f &= ~F_DETECT;
      return run.dispatch();
    } else if (atName && depth === 0 && (t === TOK_WORD || t === TOK_QIDENT || t === TOK_VAR)) {
      let name = run.nameAt(lx.start, lx.end);
      if (t === TOK_VAR) name = name.slice(name.lastIndexOf("@") + 1);
      const dot = name.lastIndexOf(".");
      if (dot >= 0) name = name.slice(dot + 1);
      if (isGuardVariable(name)) run.f |= F_NEVER_SECONDARY;
    }
    atName = false;
    run.see();
    lx.next();
  }
  return R_UNKNOWN;
}

/** A variable name from `@name`, `@'name'`, `` @`name` ``: unquoted and lower-cased (case-insensitive). */
function unquoteName(s: string): string {
  const q = s.charCodeAt(0);
  if (q === 39 || q === 34 || q === 96) return unquoteIdent(s, 0, s.length).toLowerCase();
  return s.toLowerCase();
}
