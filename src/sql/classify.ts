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
 * This module is the entry: `classify()` walks the statements of a text and combines their kinds;
 * each statement is read by the family its first word picks (classify/dispatch.ts):
 *   classify/reads.ts        WITH, EXPLAIN / DESCRIBE, ANALYZE (statements holding statements)
 *   classify/transaction.ts  BEGIN, START, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, XA
 *   classify/set.ts          USE, SET in all its forms, SET STATEMENT ... FOR; the guard variables
 *   classify/ddl.ts          CREATE / ALTER / DROP and compound BEGIN ... END bodies
 *   classify/connection.ts   LOCK / UNLOCK, FLUSH, BACKUP, HANDLER, PREPARE / EXECUTE, CALL
 *   classify/run.ts          the state of one call and the token detector all families feed
 *   classify/dialect-after.ts the dialect a statement leaves the session in
 * SELECT / TABLE / VALUES / SHOW, DML and the administrative verbs are settled in dispatch.ts.
 *
 * Kinds of a multi-statement text combine by rank, read < session < transaction < unknown < write:
 * `SELECT 1; UPDATE t ...` is a write, `BEGIN; SELECT ...` is transaction control.
 */

import { dialectAfterChanges } from "./classify/dialect-after.js";
import { FLAG, KIND_OF_RANK, RANK } from "./classify/rank.js";
import { Run } from "./classify/run.js";
import type { Classification } from "./classify/types.js";
import { DEFAULT_DIALECT, type SqlDialect, unsureDialect } from "./dialect.js";
import { CH_SEMI, TOK_EOF, TOK_PUNCT } from "./lexer.js";

export { dialectAfter } from "./classify/dialect-after.js";
export { isGuardVariable } from "./classify/set.js";
export type {
  Classification,
  HandlerOp,
  SessionChange,
  StatementKind,
  TxnAction,
} from "./classify/types.js";

const { R_UNKNOWN, R_WRITE } = RANK;
const { F_DYNAMIC, F_LIFTED, F_MAY_CHANGE_DIALECT, F_NEVER_SECONDARY, F_OTHER_UNKNOWN } = FLAG;

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

/** Only whitespace and `;` from `p` to the end. */
function restIsEmpty(s: string, p: number): boolean {
  for (let i = p; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 32 && c !== 59) return false;
  }
  return true;
}
