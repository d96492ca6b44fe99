/**
 * The state of one `classify()` call and the token detector that every statement family feeds.
 *
 * `Run` holds the lexer, what has been found so far (verb, transaction action, session changes,
 * pinning, routines, handler, the `f` bits) and the detector's few tokens of memory. The families
 * (reads, transaction, set, ddl, connection; `dispatch.ts` picks one by the first word) are free
 * functions over a `Run`: they move the lexer through their statement and either skip the rest or
 * `scan` it through the detector. The detector lives here, not in a family, because it runs inside
 * all of them: `FOR UPDATE`, `INTO`, `GET_LOCK(`, `NEXTVAL(` and routine calls turn up wherever
 * an expression can stand.
 */
import { isBuiltinName } from "../builtins.js";
import type { SqlDialect } from "../dialect.js";
import { isReserved, K, KF_FUNC, KW_FLAGS, KW_UPPER } from "../keywords.js";
import {
  CH_DOT,
  CH_LPAREN,
  CH_RPAREN,
  Lexer,
  TOK_EOF,
  TOK_OP,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_VAR,
  TOK_WORD,
  unquoteIdent,
} from "../lexer.js";
import { dispatch } from "./dispatch.js";
import { FLAG, RANK } from "./rank.js";
import type { HandlerOp, Pinning, SessionChange, TxnAction } from "./types.js";

const { R_READ, R_SESSION, R_UNKNOWN, R_WRITE } = RANK;
const { F_DETECT, F_LIFTED, F_MAY_CHANGE_DIALECT, F_OTHER_UNKNOWN, F_STMT_ROUTINE } = FLAG;

const {
  AS,
  FOR,
  GET_LOCK,
  IN,
  INTO,
  IS_FREE_LOCK,
  IS_USED_LOCK,
  LAST_INSERT_ID,
  LOCK,
  NEXT,
  NEXTVAL,
  RELEASE_ALL_LOCKS,
  RELEASE_LOCK,
  SETVAL,
  SHARE,
  UPDATE,
  VALUE,
} = K;

/** Keyword ids the detector looks at (seeKeyword). */
const KW_SEEN = new Uint8Array(KW_UPPER.length);
for (const k of [K.UPDATE, K.SHARE, K.INTO, K.FOR, K.NEXTVAL]) KW_SEEN[k] = 1;

/** Keyword ids that name a built-in function (or take `(` in the grammar) although not flagged KF_FUNC. */
const KW_BUILTIN: boolean[] = KW_UPPER.map(
  (u, i) => i !== 0 && ((KW_FLAGS[i] & KF_FUNC) !== 0 || isBuiltinName(u.toLowerCase())),
);

/** State of one classify() call: the lexer, what has been found, and the token detector's memory. */
export class Run {
  readonly lx: Lexer;
  verb = "";
  wantVerb = true;
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
  nesting = 0;
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

  /** Index of the current statement in the text. */
  index = -1;

  /** Classifies the statement at the current token; returns with the current token at `;` or EOF. */
  statement(): number {
    this.index++;
    this.found = R_READ;
    this.prevKw = this.prev2Kw = 0;
    this.prevType = TOK_EOF;
    this.lidOpen = false;
    this.nesting = 0;
    this.f &= ~(F_DETECT | F_STMT_ROUTINE);
    const base = dispatch(this);
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

  addRoutine(name: string): void {
    this.f |= F_STMT_ROUTINE;
    if (this.routines === undefined) this.routines = [name];
    else if (!this.routines.includes(name)) this.routines.push(name);
  }

  /** The name of an identifier token at [start, end): unquoted, lower-cased. */
  nameAt(start: number, end: number): string {
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

  pin(p: Pinning): void {
    if (this.pinning === undefined) this.pinning = p;
  }

  private escalate(r: number): void {
    if (r > this.found) this.found = r;
  }

  addSession(s: SessionChange): void {
    if (this.index > 0) s.statement = this.index;
    if (this.session === undefined) this.session = [s];
    else this.session.push(s);
  }

  /** Skips to the end of the statement without looking. */
  skip(): void {
    while (!this.lx.atEnd()) this.lx.next();
  }

  /** Lexes to the end of the statement, running the detector on every token; returns `base`. */
  scan(base: number): number {
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
  see(): void {
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

  /** At `(`: moves past the matching `)`, through the detector if `detect`. */
  parens(detect: boolean): void {
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
   * Classifies by the first word (`dispatch.ts`); returns the statement's base rank. The families
   * that hold a statement inside theirs (WITH, EXPLAIN ANALYZE, ANALYZE, SET STATEMENT ... FOR)
   * call this for it.
   */
  dispatch(): number {
    return dispatch(this);
  }
}
