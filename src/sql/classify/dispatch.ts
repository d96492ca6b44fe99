/**
 * The first word of a statement picks its family. This module is only that table: each case either
 * hands the statement to its family's module (reads, transaction, set, ddl, connection) or, for the
 * statements whose kind the first word settles, skips or scans the rest here. Separate from `run.ts`
 * so that the state and detector do not import every family, and from the families so that one
 * place lists every verb pairgate knows (anything else is "unknown", routed as a write).
 */
import { K, KW_UPPER } from "../keywords.js";
import { CH_LPAREN, TOK_WORD } from "../lexer.js";
import {
  backup,
  callStatement,
  deallocate,
  dynamicSql,
  flush,
  handlerStatement,
  lockTables,
} from "./connection.js";
import { ddl, drop } from "./ddl.js";
import { FLAG, MAX_NESTING, RANK } from "./rank.js";
import { analyze, explain, withQuery } from "./reads.js";
import type { Run } from "./run.js";
import { set, use } from "./set.js";
import { begin, release, rollback, start, txnWord } from "./transaction.js";

const { R_READ, R_UNKNOWN, R_WRITE } = RANK;
const { F_DETECT } = FLAG;

const {
  ALTER,
  ANALYZE,
  BACKUP,
  BEGIN,
  BINLOG,
  CACHE,
  CALL,
  CHANGE,
  CHECK,
  CHECKSUM,
  CLONE,
  COMMIT,
  CREATE,
  DEALLOCATE,
  DELETE,
  DESC,
  DESCRIBE,
  DO,
  DROP,
  EXECUTE,
  EXPLAIN,
  FLUSH,
  GET,
  GRANT,
  HANDLER,
  HELP,
  IMPORT,
  INSERT,
  INSTALL,
  KILL,
  LOAD,
  LOCK,
  OPTIMIZE,
  PREPARE,
  PURGE,
  RELEASE,
  RENAME,
  REPAIR,
  REPLACE,
  RESET,
  RESTART,
  REVOKE,
  ROLLBACK,
  SAVEPOINT,
  SELECT,
  SET,
  SHOW,
  SHUTDOWN,
  START,
  STOP,
  TABLE,
  TRUNCATE,
  UNINSTALL,
  UNLOCK,
  UPDATE,
  USE,
  VALUES,
  WITH,
  XA,
} = K;

/** Classifies the statement at the current token by its first word; returns its base rank. */
export function dispatch(run: Run): number {
  const lx = run.lx;
  // EXPLAIN ANALYZE, ANALYZE, SET STATEMENT ... FOR and WITH classify a statement inside theirs;
  // a text that nests them without end gets "unknown" instead of a stack overflow.
  if (++run.nesting > MAX_NESTING) {
    run.wantVerb = false;
    return run.scan(R_UNKNOWN);
  }
  while (lx.isPunct(CH_LPAREN)) {
    // `(SELECT ...) UNION (SELECT ...)`: a parenthesized query expression.
    run.see();
    lx.next();
  }
  if (lx.type !== TOK_WORD) {
    run.wantVerb = false;
    run.skip();
    return R_UNKNOWN;
  }
  const kw = lx.kw;
  if (run.wantVerb) {
    run.wantVerb = false;
    run.verb = kw !== 0 ? KW_UPPER[kw] : lx.text().toUpperCase();
  }
  switch (kw) {
    case SELECT:
    case TABLE: // MySQL 8.0.19 `TABLE t`
    case VALUES: // MySQL 8.0.19 `VALUES ROW(...)`
      run.f |= F_DETECT;
      return run.scan(R_READ);
    case WITH:
      run.f |= F_DETECT;
      return withQuery(run);
    case SHOW:
    case HELP:
    case CHECK:
    case CHECKSUM:
    case GET: // GET DIAGNOSTICS
      run.skip();
      return R_READ;
    case EXPLAIN:
    case DESCRIBE:
    case DESC:
      return explain(run);
    case ANALYZE:
      return analyze(run);
    case SET:
      run.f |= F_DETECT;
      return set(run);
    case USE:
      return use(run);
    case BEGIN:
      return begin(run);
    case START:
      return start(run);
    case COMMIT:
      return txnWord(run, "commit");
    case ROLLBACK:
      return rollback(run);
    case SAVEPOINT:
      return txnWord(run, "savepoint");
    case RELEASE:
      return release(run);
    case XA:
      return txnWord(run, "xa");
    case LOCK:
    case UNLOCK:
      return lockTables(run, kw === LOCK);
    case FLUSH:
      return flush(run);
    case HANDLER:
      return handlerStatement(run);
    case BACKUP:
      return backup(run);
    case CREATE:
    case ALTER:
      return ddl(run, kw === CREATE);
    case DROP:
      return drop(run);
    case PREPARE:
    case EXECUTE:
      return dynamicSql(run);
    case DEALLOCATE:
      return deallocate(run);
    case CALL:
      return callStatement(run);
    case DO: // DO evaluates expressions for their side effects
      run.f |= F_DETECT;
      return run.scan(R_WRITE);
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
      // DML, account and replication administration, KILL, plugins, server life: writes whatever
      // follows the verb; the detector still sees their expressions (`INSERT ... SELECT GET_LOCK(`).
      return run.scan(R_WRITE);
    default:
      return run.scan(R_UNKNOWN);
  }
}
