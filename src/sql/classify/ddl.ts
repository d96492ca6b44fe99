/**
 * DDL: CREATE / ALTER / DROP, and the compound statements they can hold. A family of its own
 * because it is the one place where a `;` may not end the statement: a stored program's
 * BEGIN ... END body (and MariaDB's `BEGIN NOT ATOMIC`, which `transaction.ts` hands here) is one
 * statement to the server, so the rest of the text is taken whole. It also notes what DDL leaves in
 * the connection: a TEMPORARY table, a dropped SQL-level prepared statement.
 */
import { K } from "../keywords.js";
import { CH_LPAREN, TOK_EOF, TOK_PUNCT, TOK_WORD } from "../lexer.js";
import { RANK } from "./rank.js";
import type { Run } from "./run.js";

const { R_WRITE } = RANK;

const {
  BEGIN,
  DATABASE,
  EVENT,
  FUNCTION,
  INDEX,
  PREPARE,
  PROCEDURE,
  SCHEMA,
  TABLE,
  TEMPORARY,
  TRIGGER,
  VIEW,
} = K;

/**
 * CREATE / ALTER. Notes CREATE TEMPORARY TABLE (the table exists in this connection only). A stored
 * program (PROCEDURE, FUNCTION, TRIGGER, EVENT) may hold a BEGIN ... END body with `;` inside it.
 */
export function ddl(run: Run, create: boolean): number {
  const lx = run.lx;
  lx.next();
  while (!lx.atEnd()) {
    if (lx.type === TOK_WORD) {
      const kw = lx.kw;
      if (kw === TEMPORARY && create) run.pin("temporary_table");
      else if (kw === PROCEDURE || kw === FUNCTION || kw === TRIGGER || kw === EVENT)
        return compound(run, false);
      else if (kw === TABLE || kw === VIEW || kw === INDEX || kw === DATABASE || kw === SCHEMA) break;
    } else if (lx.type === TOK_PUNCT && lx.ch === CH_LPAREN) break;
    lx.next();
  }
  return run.scan(R_WRITE);
}

/** DROP [TEMPORARY] ...; DROP PREPARE (MariaDB's DEALLOCATE) drops connection state too. */
export function drop(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.isKw(TEMPORARY)) run.pin("temporary_table");
  else if (lx.isKw(PREPARE)) run.pin("prepare_sql");
  return run.scan(R_WRITE);
}

/**
 * A statement that may contain a compound BEGIN ... END body (`begun`: it is one, MariaDB's
 * `BEGIN NOT ATOMIC`). Once BEGIN is seen the rest of the text belongs to it: the `;` inside the
 * body are the body's (the server parses the body as one statement). Nothing in a stored program's
 * body runs now, so the detector is not used; a compound statement runs now, but may do anything.
 */
export function compound(run: Run, begun: boolean): number {
  const lx = run.lx;
  while (!lx.atEnd()) {
    if (begun || lx.isKw(BEGIN)) {
      while (lx.type !== TOK_EOF) lx.next();
      break;
    }
    lx.next();
  }
  return R_WRITE;
}
