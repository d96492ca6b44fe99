/**
 * Statements whose effect lives in this connection, or is not in the text at all: LOCK / UNLOCK
 * TABLES, FLUSH ... WITH READ LOCK, BACKUP STAGE / LOCK, HANDLER cursors, SQL-level prepared
 * statements (PREPARE / EXECUTE / DEALLOCATE) and CALL. They are one family because they are what
 * pins a session to its backend (`Classification.pinning`) or makes its dialect unsure: the router
 * cannot replay them elsewhere, so they are all routed as writes.
 */
import { isReserved, K } from "../keywords.js";
import { CH_DOT, TOK_QIDENT, TOK_WORD } from "../lexer.js";
import { FLAG, RANK } from "./rank.js";
import type { Run } from "./run.js";

const { R_UNKNOWN, R_WRITE } = RANK;
const { F_DETECT, F_DYNAMIC, F_MAY_CHANGE_DIALECT } = FLAG;

const { AS, EXPORT, FOR, INSTANCE, LOCK, READ, TABLE, TABLES } = K;

/** LOCK / UNLOCK TABLE[S] | INSTANCE (`lock`: LOCK): table locks held by this connection. */
export function lockTables(run: Run, lock: boolean): number {
  const lx = run.lx;
  lx.next();
  if (!(lx.isKw(TABLES) || lx.isKw(TABLE) || lx.isKw(INSTANCE))) return run.scan(R_UNKNOWN);
  run.pin(lock ? "lock_tables" : "unlock_tables");
  run.skip();
  return R_WRITE;
}

/** FLUSH TABLES ... WITH READ LOCK / FOR EXPORT leave this connection holding locks. */
export function flush(run: Run): number {
  const lx = run.lx;
  let prev = 0;
  lx.next();
  while (!lx.atEnd()) {
    const kw = lx.type === TOK_WORD ? lx.kw : 0;
    if ((kw === LOCK && prev === READ) || (kw === EXPORT && prev === FOR)) run.pin("lock_tables");
    prev = kw;
    lx.next();
  }
  return R_WRITE;
}

/** MariaDB BACKUP STAGE / BACKUP LOCK: locks held by this connection. */
export function backup(run: Run): number {
  run.pin("lock_tables");
  run.skip();
  return R_WRITE;
}

/** PREPARE / EXECUTE [IMMEDIATE]: what PREPARE ... FROM @var and EXECUTE run is not in this text. */
export function dynamicSql(run: Run): number {
  run.f |= F_DYNAMIC | F_MAY_CHANGE_DIALECT;
  run.pin("prepare_sql");
  run.skip();
  return R_WRITE;
}

/** DEALLOCATE PREPARE: SQL-level prepared statements live in the connection. */
export function deallocate(run: Run): number {
  run.pin("prepare_sql");
  run.skip();
  return R_WRITE;
}

/** `CALL [db.]p[(args)]`: a procedure may do anything (a write); its name is a routine. */
export function callStatement(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
    let name = run.nameAt(lx.start, lx.end);
    lx.next();
    if (lx.isPunct(CH_DOT)) {
      lx.next();
      if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
        name = `${name}.${run.nameAt(lx.start, lx.end)}`;
        lx.next();
      }
    }
    run.addRoutine(name);
  }
  run.f |= F_DETECT;
  return run.scan(R_WRITE);
}

/**
 * HANDLER tbl OPEN [[AS] alias] | HANDLER name READ ... | HANDLER name CLOSE
 * (https://mariadb.com/kb/en/handler-commands/): a cursor on one connection, so pinning; routed as
 * a write because the handler must be read where it was opened. A READ returns the rows of the
 * table the handle was opened on: the session keeps handle -> table from the OPENs that succeeded.
 */
export function handlerStatement(run: Run): number {
  run.pin("handler");
  const lx = run.lx;
  lx.next();
  if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) {
    run.skip();
    return R_WRITE;
  }
  let table = run.nameAt(lx.start, lx.end);
  let last = table;
  lx.next();
  if (lx.isPunct(CH_DOT)) {
    lx.next();
    if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
      last = run.nameAt(lx.start, lx.end);
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
      name = run.nameAt(lx.start, lx.end);
    run.handler = { op: "open", name, table };
  } else if (kw === READ) run.handler = { op: "read", name: table };
  else if (kw === K.CLOSE) run.handler = { op: "close", name: table };
  else run.handler = { op: "other", name: table };
  run.skip();
  return R_WRITE;
}
