/**
 * Which tables a statement reads and which it writes, for audit and metrics.
 *
 * A token scan, not a parser: a table name is a word in a table position, which is the word after
 * FROM or JOIN, after a `,` in a FROM list, after INSERT INTO / UPDATE / DELETE FROM and the like.
 * A FROM list lasts until a clause keyword (WHERE, GROUP, ORDER, LIMIT, SET, UNION, ...) or the `)`
 * that closes it; each parenthesis level has its own, so subqueries and derived tables are scanned
 * the same way and their tables are reads. A word after a table name that is not a reserved word is
 * an alias (https://dev.mysql.com/doc/refman/8.0/en/join.html), never reported; CTE names are not
 * tables. Names are lower-cased, unquoted, "schema.table" when qualified, deduplicated, and a table
 * that is written is not repeated in `read`.
 */
import { DEFAULT_DIALECT, type SqlDialect, unsureDialect } from "./dialect.js";
import { isReserved, K } from "./keywords.js";
import {
  CH_COMMA,
  CH_DOT,
  CH_LPAREN,
  CH_RPAREN,
  CH_SEMI,
  CH_STAR,
  identText,
  Lexer,
  TOK_EOF,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_VAR,
  TOK_WORD,
} from "./lexer.js";

export interface TableRefs {
  read: string[];
  written: string[];
  /**
   * The lexer cannot be sure the server reads the text as it did (see Lexer.uncertain): the lists
   * may miss tables. Audit treats the text as unresolved.
   */
  uncertain?: true;
}

const {
  ALTER,
  ANALYZE,
  AS,
  CHECK,
  CHECKSUM,
  CREATE,
  DELAYED,
  DELETE,
  DESC,
  DESCRIBE,
  DROP,
  DUPLICATE,
  EXCEPT,
  EXISTS,
  EXPLAIN,
  EXTENDED,
  FOR,
  FORMAT,
  FROM,
  GROUP,
  HANDLER,
  HAVING,
  HIGH_PRIORITY,
  IF,
  IGNORE,
  INDEX,
  INSERT,
  INTERSECT,
  INTO,
  JOIN,
  KEY,
  LATERAL,
  LIKE,
  LIMIT,
  LOAD,
  LOCAL,
  LOCK,
  LOW_PRIORITY,
  NO_WRITE_TO_BINLOG,
  NOT,
  ON,
  OPTIMIZE,
  ORDER,
  PARTITIONS,
  PROCEDURE,
  QUICK,
  RECURSIVE,
  RENAME,
  REPAIR,
  REPLACE,
  RETURNING,
  SELECT,
  SET,
  SHOW,
  STRAIGHT_JOIN,
  TABLE,
  TABLES,
  TEMPORARY,
  TO,
  TRUNCATE,
  UNION,
  UPDATE,
  USE,
  USING,
  VALUES,
  VIEW,
  WHERE,
  WINDOW,
  WITH,
  WRITE,
} = K;

/** Entry flags. */
const F_WRITTEN = 1;
/** A multi-table DELETE target: may be an alias declared in the table references. */
const F_TARGET = 2;

/**
 * Lists the tables `sql` reads and writes, read as the server of `dialect` reads it. Never throws.
 * A `USE db` in the text qualifies the unqualified names of the statements after it with `db` (the
 * server runs them in that schema; if the USE fails they do not run). Unqualified names before any
 * USE are for the caller to resolve against the session's default schema.
 */
export function tablesOf(sql: string, dialect: SqlDialect = DEFAULT_DIALECT): TableRefs {
  const scan = new TableScan(sql, dialect);
  const lx = scan.lx;
  lx.next();
  while (lx.type !== TOK_EOF) {
    if (lx.type === TOK_PUNCT && lx.ch === CH_SEMI) {
      lx.next();
      continue;
    }
    scan.statement();
  }
  const written = scan.written;
  const read = written.length === 0 ? scan.read : scan.read.filter((t) => !written.includes(t));
  if (lx.uncertain) return { read, written, uncertain: true };
  return { read, written };
}

function addUnique(list: string[], name: string): void {
  if (!list.includes(name)) list.push(name);
}

class TableScan {
  readonly lx: Lexer;
  readonly read: string[] = [];
  readonly written: string[] = [];
  /** Per statement: names found and their F_* flags. */
  private names: string[] = [];
  private flags: number[] = [];
  /** Per statement: alias, table, alias, table, ... */
  private aliases: string[] = [];
  /** Per statement: CTE names. */
  private ctes: string[] = [];
  /** Per statement: report everything as read (plain EXPLAIN runs nothing). */
  private readOnly = false;
  /** dispatch() calls in this statement. */
  private nesting = 0;
  /** The schema of the last `USE` in the text: qualifies the unqualified names after it. */
  private useSchema: string | null = null;
  private readonly dialect: SqlDialect;

  constructor(sql: string, dialect: SqlDialect) {
    this.dialect = dialect;
    this.lx = new Lexer(sql, dialect);
  }

  statement(): void {
    // Guarded: setting `length` is a runtime call even on an empty array.
    if (this.names.length !== 0) this.names.length = this.flags.length = 0;
    if (this.aliases.length !== 0) this.aliases.length = 0;
    if (this.ctes.length !== 0) this.ctes.length = 0;
    this.readOnly = false;
    this.nesting = 0;
    this.dispatch();
    this.skip();
    for (let i = 0; i < this.names.length; i++) {
      let name = this.names[i];
      const f = this.flags[i];
      if (this.ctes.includes(name)) continue;
      if (f & F_TARGET) {
        for (let j = 0; j < this.aliases.length; j += 2) {
          if (this.aliases[j] === name) {
            name = this.aliases[j + 1];
            break;
          }
        }
      }
      if (this.useSchema !== null && !name.includes(".")) name = `${this.useSchema}.${name}`;
      addUnique(f & F_WRITTEN && !this.readOnly ? this.written : this.read, name);
    }
  }

  /** The current token can be a table name: a quoted identifier or a non-reserved word. */
  private isName(): boolean {
    const lx = this.lx;
    return lx.type === TOK_QIDENT || (lx.type === TOK_WORD && (lx.kw === 0 || !isReserved(lx.kw)));
  }

  private skip(): void {
    while (!this.lx.atEnd()) this.lx.next();
  }

  /** Moves past any of the keywords given (0 = none) at the current position; no array per call. */
  private skipKws(a: number, b = 0, c = 0, d = 0, e = 0): void {
    const lx = this.lx;
    while (lx.type === TOK_WORD && lx.kw !== 0) {
      const kw = lx.kw;
      if (kw !== a && kw !== b && kw !== c && kw !== d && kw !== e) return;
      lx.next();
    }
  }

  private dispatch(): void {
    const lx = this.lx;
    // WITH, EXPLAIN and ANALYZE recurse; bound it so no text can overflow the stack.
    if (++this.nesting > 16 || lx.type !== TOK_WORD) {
      this.scan(0, false);
      return;
    }
    switch (lx.kw) {
      case WITH:
        this.withQuery();
        return;
      case INSERT:
      case REPLACE:
        lx.next();
        this.skipKws(LOW_PRIORITY, DELAYED, HIGH_PRIORITY, IGNORE, INTO);
        if (this.isName()) this.tableRef(F_WRITTEN, false);
        this.scan(0, false);
        return;
      case UPDATE:
        lx.next();
        this.skipKws(LOW_PRIORITY, IGNORE);
        this.scan(2, false);
        return;
      case DELETE:
        this.deleteStatement();
        return;
      case CREATE:
        this.create();
        return;
      case ALTER:
        lx.next();
        while (!this.lx.atEnd() && !this.lx.isKw(TABLE) && !this.lx.isKw(VIEW)) lx.next();
        if (this.lx.atEnd()) return;
        if (this.lx.isKw(TABLE)) {
          lx.next();
          this.skipKws(IF, EXISTS);
          if (this.isName()) this.tableRef(F_WRITTEN, false);
          this.alterTableRest();
          return;
        }
        lx.next();
        if (this.isName()) this.tableRef(F_WRITTEN, false);
        this.scan(0, false);
        return;
      case DROP:
        lx.next();
        this.skipKws(TEMPORARY);
        if (this.lx.isKw(INDEX)) {
          this.onTable();
          return;
        }
        if (!(this.lx.isKw(TABLE) || this.lx.isKw(TABLES) || this.lx.isKw(VIEW))) return;
        lx.next();
        this.skipKws(IF, EXISTS);
        this.nameList(F_WRITTEN);
        return;
      case TRUNCATE:
        lx.next();
        this.skipKws(TABLE);
        if (this.isName()) this.tableRef(F_WRITTEN, false);
        return;
      case RENAME:
        lx.next();
        this.skipKws(TABLE, TABLES);
        while (this.isName()) {
          this.tableRef(F_WRITTEN, false);
          if (!this.lx.isKw(TO)) return;
          lx.next();
          if (!this.isName()) return;
          this.tableRef(F_WRITTEN, false);
          if (!this.lx.isPunct(CH_COMMA)) return;
          lx.next();
        }
        return;
      case LOAD:
        // LOAD DATA ... INTO TABLE t ...; LOAD XML ... INTO TABLE t.
        while (!this.lx.atEnd()) {
          if (this.lx.isKw(INTO) && lx.peek() === TOK_WORD && lx.peekKw === TABLE) {
            lx.next();
            lx.next();
            if (this.isName()) this.tableRef(F_WRITTEN, false);
            return;
          }
          lx.next();
        }
        return;
      case OPTIMIZE:
      case REPAIR:
      case ANALYZE:
      case CHECK:
      case CHECKSUM: {
        const role = lx.kw === CHECK || lx.kw === CHECKSUM ? 0 : F_WRITTEN;
        const analyze = lx.kw === ANALYZE;
        lx.next();
        this.skipKws(NO_WRITE_TO_BINLOG, LOCAL);
        if (this.lx.isKw(TABLE) || this.lx.isKw(TABLES)) {
          lx.next();
          this.nameList(role);
        } else if (analyze) {
          // MariaDB ANALYZE [FORMAT=JSON] statement: runs it.
          this.skipOptions();
          this.dispatch();
        }
        return;
      }
      case EXPLAIN:
      case DESCRIBE:
      case DESC: {
        lx.next();
        const kw = lx.kw;
        if (this.isName() && kw !== EXTENDED && kw !== PARTITIONS && kw !== FORMAT) {
          this.tableRef(0, false); // DESCRIBE t
          return;
        }
        if (!this.skipOptions()) this.readOnly = true;
        this.dispatch();
        return;
      }
      case LOCK:
        lx.next();
        if (!(this.lx.isKw(TABLES) || this.lx.isKw(TABLE))) return;
        lx.next();
        this.lockList();
        return;
      case HANDLER:
        // HANDLER t OPEN reads t (its READs are resolved by the caller from the handle name).
        lx.next();
        if (this.isName()) {
          const i = this.names.length;
          this.tableRef(0, false);
          if (!this.lx.isKw(K.OPEN) && this.names.length > i) this.names.length = this.flags.length = i;
        }
        return;
      case USE:
        lx.next();
        if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
          this.useSchema = identText(lx);
          lx.next();
        }
        return;
      case SET:
      case K.CALL:
      case K.EXECUTE:
      case K.PREPARE:
        this.sessionStatement(lx.kw);
        return;
      case SHOW:
        return;
      default:
        this.scan(0, false);
    }
  }

  /**
   * SET, CALL, EXECUTE, PREPARE: no tables here, but the server reads the rest of a multi-statement
   * with the sql_mode and character set they leave. A SET of those, or a CALL / EXECUTE (which may
   * set them unseen), followed by more text makes the rest uncertain.
   */
  private sessionStatement(kw: number): void {
    const lx = this.lx;
    const m = lx.save();
    lx.next();
    this.scan(0, false); // subqueries in values and arguments read tables
    if (kw === K.PREPARE) return;
    // Only a statement followed by more text matters (re-lexed then, to look for what it sets).
    let more = false;
    for (let p = lx.pos; p < lx.src.length; p++) {
      const c = lx.src.charCodeAt(p);
      if (c > 32 && c !== 59) {
        more = true;
        break;
      }
    }
    if (!more) return;
    let changes = kw !== SET;
    if (!changes) {
      lx.restore(m);
      lx.next();
      while (!lx.atEnd()) {
        if (lx.type === TOK_WORD || lx.type === TOK_VAR) {
          const k = lx.kw;
          if (k === K.NAMES || k === K.CHARACTER || k === K.CHARSET) changes = true;
          else if (k === 0) {
            const t = lx.text().toLowerCase();
            if (t.endsWith("sql_mode") || t.endsWith("character_set_client")) changes = true;
          }
        }
        lx.next();
      }
    }
    if (changes) lx.setDialect(unsureDialect(this.dialect));
  }

  /** EXPLAIN / ANALYZE options; returns true if ANALYZE was among them (the statement runs). */
  private skipOptions(): boolean {
    const lx = this.lx;
    let analyze = false;
    while (lx.type === TOK_WORD) {
      const kw = lx.kw;
      if (kw === ANALYZE) analyze = true;
      else if (kw === FORMAT) {
        if (lx.next() === TOK_PUNCT) lx.next(); // `=`
      } else if (kw !== EXTENDED && kw !== PARTITIONS) break;
      lx.next();
    }
    return analyze;
  }

  /** WITH [RECURSIVE] cte [(cols)] AS (query), ... statement */
  private withQuery(): void {
    const lx = this.lx;
    lx.next();
    this.skipKws(RECURSIVE);
    while (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
      this.ctes.push(identText(lx));
      lx.next();
      if (this.lx.isPunct(CH_LPAREN)) this.skipParens();
      this.skipKws(AS);
      if (!this.lx.isPunct(CH_LPAREN)) return;
      lx.next();
      this.scan(0, true);
      if (!this.lx.isPunct(CH_COMMA)) break;
      lx.next();
    }
    this.dispatch();
  }

  /** DELETE, single- and multi-table (https://dev.mysql.com/doc/refman/8.0/en/delete.html). */
  private deleteStatement(): void {
    const lx = this.lx;
    lx.next();
    this.skipKws(LOW_PRIORITY, QUICK, IGNORE);
    if (this.lx.isKw(FROM)) {
      // DELETE FROM t [AS a] WHERE ... | DELETE FROM t1, t2 USING table_references
      lx.next();
      while (this.isName()) {
        this.tableRef(F_WRITTEN | F_TARGET, true);
        if (!this.lx.isPunct(CH_COMMA)) break;
        lx.next();
      }
      if (this.lx.isKw(USING)) {
        lx.next();
        this.scan(1, false);
      } else this.scan(0, false);
      return;
    }
    // DELETE t1, t2.* FROM table_references
    while (this.isName()) {
      this.tableRef(F_WRITTEN | F_TARGET, false);
      if (!this.lx.isPunct(CH_COMMA)) break;
      lx.next();
    }
    if (this.lx.isKw(FROM)) {
      lx.next();
      this.scan(1, false);
    }
  }

  private create(): void {
    const lx = this.lx;
    lx.next();
    while (!this.lx.atEnd()) {
      if (lx.type === TOK_WORD) {
        const kw = lx.kw;
        if (kw === TABLE) {
          lx.next();
          this.skipKws(IF, NOT, EXISTS);
          if (!this.isName()) return;
          this.tableRef(F_WRITTEN, false);
          // CREATE TABLE t LIKE s / CREATE TABLE t (LIKE s)
          if (this.lx.isPunct(CH_LPAREN) && lx.peek() === TOK_WORD && lx.peekKw === LIKE) lx.next();
          if (this.lx.isKw(LIKE)) {
            lx.next();
            if (this.isName()) this.tableRef(0, false);
            return;
          }
          this.scan(0, false); // CREATE TABLE t ... [AS] SELECT ... FROM s
          return;
        }
        if (kw === VIEW) {
          lx.next();
          if (this.isName()) this.tableRef(F_WRITTEN, false);
          this.scan(0, false);
          return;
        }
        if (kw === INDEX) {
          this.onTable();
          return;
        }
        // Stored programs: their bodies do not run now.
        if (kw === PROCEDURE || kw === K.FUNCTION || kw === K.TRIGGER || kw === K.EVENT) return;
      }
      lx.next();
    }
  }

  /**
   * The rest of ALTER TABLE t …: `RENAME [TO|AS] n` (not RENAME COLUMN / INDEX / KEY) and
   * `EXCHANGE PARTITION p WITH TABLE n` write `n` too (it takes t's rows, or t takes its).
   */
  private alterTableRest(): void {
    const lx = this.lx;
    while (!lx.atEnd()) {
      if (lx.isKw(RENAME)) {
        lx.next();
        if (lx.type === TOK_WORD && (lx.kw === K.COLUMN || lx.kw === INDEX || lx.kw === KEY)) continue;
        this.skipKws(TO, AS);
        if (this.isName()) this.tableRef(F_WRITTEN, false);
        continue;
      }
      if (lx.isKw(WITH) && lx.peek() === TOK_WORD && lx.peekKw === TABLE) {
        lx.next();
        lx.next();
        if (this.isName()) this.tableRef(F_WRITTEN, false);
        continue;
      }
      lx.next();
    }
  }

  /** `INDEX i ON t`: the table after ON is written. */
  private onTable(): void {
    const lx = this.lx;
    while (!this.lx.atEnd() && !this.lx.isKw(ON)) lx.next();
    if (this.lx.atEnd()) return;
    lx.next();
    if (this.isName()) this.tableRef(F_WRITTEN, false);
  }

  /** `t1, t2, ...` */
  private nameList(flags: number): void {
    while (this.isName()) {
      this.tableRef(flags, false);
      if (!this.lx.isPunct(CH_COMMA)) return;
      this.lx.next();
    }
  }

  /** LOCK TABLES t [[AS] a] {READ [LOCAL] | [LOW_PRIORITY] WRITE}, ... */
  private lockList(): void {
    const lx = this.lx;
    while (this.isName()) {
      const i = this.names.length;
      this.tableRef(0, true);
      while (!this.lx.atEnd() && !this.lx.isPunct(CH_COMMA)) {
        if (this.lx.isKw(WRITE) && i < this.flags.length) this.flags[i] = F_WRITTEN;
        lx.next();
      }
      if (!this.lx.isPunct(CH_COMMA)) return;
      lx.next();
    }
  }

  /** At `(`: moves past the matching `)`. */
  private skipParens(): void {
    const lx = this.lx;
    let depth = 0;
    while (!this.lx.atEnd()) {
      if (lx.type === TOK_PUNCT) {
        if (lx.ch === CH_LPAREN) depth++;
        else if (lx.ch === CH_RPAREN) depth--;
      }
      lx.next();
      if (depth === 0) return;
    }
  }

  /**
   * At a table name: records `[schema.]table` with `flags` and moves past it and, if `alias`, past
   * `[AS] alias` (`alias` is set in FROM lists, where a name followed by `(` is a table function, not
   * recorded; elsewhere, as in INSERT INTO t (a, b), the `(` opens a column list).
   */
  private tableRef(flags: number, alias: boolean): void {
    const lx = this.lx;
    let name = identText(lx);
    lx.next();
    if (this.lx.isPunct(CH_DOT)) {
      lx.next();
      if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
        name += "." + identText(lx);
        lx.next();
      } else if (this.lx.isPunct(CH_STAR)) lx.next(); // DELETE t.*
    } else if (alias && this.lx.isPunct(CH_LPAREN)) return; // in a FROM list, `name(` is a function
    this.names.push(name);
    this.flags.push(flags);
    if (!alias) return;
    if (this.lx.isKw(AS)) lx.next();
    if (this.isName()) {
      this.aliases.push(identText(lx), name);
      lx.next();
    }
  }

  /**
   * The token scan. `prime` 1 or 2 starts inside a table list (read or written): after USING in
   * DELETE, after UPDATE. `close`: stop after the `)` that closes the current level (a CTE body).
   * Per parenthesis level (bit d of `ctx`) it remembers whether a table list is open there and
   * (bit d of `wctx`) whether its tables are written.
   */
  private scan(prime: number, close: boolean): void {
    const lx = this.lx;
    let depth = 0;
    let ctx = prime !== 0 ? 1 : 0;
    let wctx = prime === 2 ? 1 : 0;
    let expect = prime !== 0;
    let expectW = prime === 2;
    let prevKw = 0;
    while (!this.lx.atEnd()) {
      const t = lx.type;
      const bit = depth < 31 ? 1 << depth : 0;
      if (t === TOK_PUNCT) {
        const c = lx.ch;
        if (c === CH_LPAREN) {
          depth++;
          const nb = depth < 31 ? 1 << depth : 0;
          // In a table position, `(` opens a derived table or nested table references.
          if (expect) {
            ctx |= nb;
            wctx = expectW ? wctx | nb : wctx & ~nb;
          } else {
            ctx &= ~nb;
            wctx &= ~nb;
          }
        } else if (c === CH_RPAREN) {
          ctx &= ~bit;
          wctx &= ~bit;
          expect = false;
          if (--depth < 0) {
            if (close) {
              lx.next();
              return;
            }
            depth = 0;
          }
        } else if (c === CH_COMMA && (ctx & bit) !== 0) {
          expect = true;
          expectW = (wctx & bit) !== 0;
        } else expect = false;
        prevKw = 0;
        lx.next();
        continue;
      }
      if (t !== TOK_WORD && t !== TOK_QIDENT) {
        expect = false;
        prevKw = 0;
        lx.next();
        continue;
      }
      const kw = t === TOK_WORD ? lx.kw : 0;
      if (expect) {
        if (kw === 0 || !isReserved(kw)) {
          this.tableRef(expectW ? F_WRITTEN : 0, true);
          expect = false;
          prevKw = 0;
          continue;
        }
        if (kw === LATERAL) {
          lx.next();
          continue;
        }
        expect = false; // DUAL, SELECT of a derived table, JSON_TABLE, ...
      }
      switch (kw) {
        case FROM:
          ctx |= bit;
          wctx &= ~bit;
          expect = true;
          expectW = false;
          break;
        case JOIN:
        case STRAIGHT_JOIN:
          if (prevKw === FOR) break; // USE INDEX FOR JOIN (...)
          if ((ctx & bit) === 0) {
            ctx |= bit;
            wctx &= ~bit;
          }
          expect = true;
          expectW = (wctx & bit) !== 0;
          break;
        case TABLE: // `TABLE t` (MySQL 8.0.19), also after INSERT ... or UNION
          expect = true;
          expectW = false;
          break;
        case FOR:
          // `FOR SYSTEM_TIME ...` (system-versioned tables) and `USE INDEX FOR JOIN` stay in the
          // table list: `FROM t1 FOR SYSTEM_TIME ALL, t2` reads t2 too.
          if (
            prevKw !== INDEX &&
            prevKw !== KEY &&
            !(lx.peek() === TOK_WORD && lx.peekKw === K.SYSTEM_TIME)
          ) {
            ctx &= ~bit;
            wctx &= ~bit;
          }
          break;
        case ORDER:
        case GROUP:
          if (prevKw === FOR) break; // USE INDEX FOR ORDER BY
          ctx &= ~bit;
          wctx &= ~bit;
          break;
        case SELECT:
        case WHERE:
        case HAVING:
        case LIMIT:
        case WINDOW:
        case UNION:
        case INTERSECT:
        case EXCEPT:
        case INTO:
        case SET:
        case VALUES:
        case RETURNING:
        case DUPLICATE:
        case LOCK:
        case PROCEDURE:
          ctx &= ~bit;
          wctx &= ~bit;
          break;
      }
      prevKw = kw;
      lx.next();
    }
  }
}
