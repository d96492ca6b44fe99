/**
 * Reads that need more than their first word: WITH (common table expressions), EXPLAIN / DESCRIBE
 * and ANALYZE. (SELECT, TABLE, VALUES, SHOW and the like are settled in `dispatch.ts` by the first
 * word and the detector.) A family of its own because each of these can hold another statement and
 * takes that statement's kind: `EXPLAIN ANALYZE UPDATE ...` runs the UPDATE, `WITH ... DELETE` is a
 * delete. They are the classifier's only recursion (`run.dispatch()`, bounded by MAX_NESTING).
 */
import { K } from "../keywords.js";
import { CH_COMMA, CH_EQ, CH_LPAREN, TOK_QIDENT, TOK_WORD } from "../lexer.js";
import { RANK } from "./rank.js";
import type { Run } from "./run.js";

const { R_READ, R_UNKNOWN, R_WRITE } = RANK;

const { ANALYZE, AS, EXTENDED, FORMAT, LOCAL, NO_WRITE_TO_BINLOG, PARTITIONS, RECURSIVE, TABLE, TABLES } = K;

/**
 * `WITH [RECURSIVE] name [(cols)] AS (query) [, ...] statement`: the CTE bodies are queries (run
 * through the detector); the kind is that of the statement after them, SELECT or, in MySQL 8.0,
 * UPDATE / DELETE (https://dev.mysql.com/doc/refman/8.0/en/with.html).
 */
export function withQuery(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.isKw(RECURSIVE)) lx.next();
  for (;;) {
    if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return run.scan(R_UNKNOWN);
    lx.next();
    if (lx.isPunct(CH_LPAREN)) run.parens(false);
    if (lx.isKw(AS)) lx.next();
    if (!lx.isPunct(CH_LPAREN)) return run.scan(R_UNKNOWN);
    run.parens(true);
    if (!lx.isPunct(CH_COMMA)) break;
    lx.next();
  }
  return run.dispatch();
}

/**
 * EXPLAIN / DESCRIBE / DESC (synonyms) only show a plan or a table's columns: a read. EXPLAIN
 * ANALYZE runs the statement (https://dev.mysql.com/doc/refman/8.0/en/explain.html#explain-analyze),
 * so it is classified as that statement.
 */
export function explain(run: Run): number {
  const lx = run.lx;
  lx.next();
  let analyze = false;
  for (;;) {
    if (lx.type !== TOK_WORD) break;
    const kw = lx.kw;
    if (kw === ANALYZE) analyze = true;
    else if (kw === FORMAT) {
      lx.next();
      if (lx.isPunct(CH_EQ)) lx.next();
    } else if (kw !== EXTENDED && kw !== PARTITIONS) break;
    lx.next();
  }
  if (analyze) return run.dispatch();
  run.skip();
  return R_READ;
}

/**
 * ANALYZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t updates index statistics: a write. MariaDB's
 * `ANALYZE [FORMAT=JSON] statement` runs the statement (https://mariadb.com/kb/en/analyze-statement/).
 */
export function analyze(run: Run): number {
  const lx = run.lx;
  lx.next();
  const kw = lx.type === TOK_WORD ? lx.kw : 0;
  if (kw === TABLE || kw === TABLES || kw === NO_WRITE_TO_BINLOG || kw === LOCAL) return run.scan(R_WRITE);
  if (kw === FORMAT) {
    lx.next();
    if (lx.isPunct(CH_EQ)) lx.next();
    lx.next();
  }
  return run.dispatch();
}
