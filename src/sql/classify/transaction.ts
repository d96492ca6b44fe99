/**
 * Transaction control: BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT,
 * XA. A family of its own because these set `Classification.txn`, which the session's transaction
 * tracking reads, and because their keywords are shared with statements that are not transaction
 * control at all: `BEGIN NOT ATOMIC` (a compound statement, `ddl.ts`), `START SLAVE`, `RELEASE`
 * other than SAVEPOINT. (`SET TRANSACTION` is read by `set.ts`, with the other SET forms.)
 */
import { K } from "../keywords.js";
import { TOK_WORD } from "../lexer.js";
import { compound } from "./ddl.js";
import { RANK } from "./rank.js";
import type { Run } from "./run.js";
import type { TxnAction } from "./types.js";

const { R_TXN, R_UNKNOWN, R_WRITE } = RANK;

const { GROUP_REPLICATION, NOT, ONLY, READ, REPLICA, SAVEPOINT, SLAVE, TO, TRANSACTION, WORK, WRITE } = K;

/** COMMIT, SAVEPOINT, XA: the first word says it all (`action`). */
export function txnWord(run: Run, action: TxnAction): number {
  run.skip();
  run.txn = action;
  return R_TXN;
}

/** RELEASE SAVEPOINT name; any other RELEASE is not known here. */
export function release(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (!lx.isKw(SAVEPOINT)) return run.scan(R_UNKNOWN);
  run.skip();
  run.txn = "release_savepoint";
  return R_TXN;
}

/** BEGIN [WORK]; MariaDB's `BEGIN NOT ATOMIC ... END` is a compound statement, not a transaction. */
export function begin(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (lx.isKw(WORK)) lx.next();
  if (lx.atEnd()) {
    run.txn = "begin";
    return R_TXN;
  }
  if (lx.isKw(NOT)) return compound(run, true);
  return run.scan(R_UNKNOWN);
}

/**
 * START TRANSACTION [WITH CONSISTENT SNAPSHOT | READ ONLY | READ WRITE], ...
 * (https://dev.mysql.com/doc/refman/8.0/en/commit.html); START SLAVE / REPLICA / GROUP_REPLICATION.
 */
export function start(run: Run): number {
  const lx = run.lx;
  lx.next();
  if (!lx.isKw(TRANSACTION)) {
    if (lx.isKw(SLAVE) || lx.isKw(REPLICA) || lx.isKw(GROUP_REPLICATION)) return run.scan(R_WRITE);
    return run.scan(R_UNKNOWN);
  }
  let action: TxnAction = "begin";
  let prev = 0;
  lx.next();
  while (!lx.atEnd()) {
    const kw = lx.type === TOK_WORD ? lx.kw : 0;
    if (prev === READ) {
      if (kw === ONLY) action = "begin_read_only";
      else if (kw === WRITE) action = "begin_read_write";
    }
    prev = kw;
    lx.next();
  }
  run.txn = action;
  return R_TXN;
}

/** ROLLBACK [WORK] [AND [NO] CHAIN] [[NO] RELEASE] | ROLLBACK [WORK] TO [SAVEPOINT] name. */
export function rollback(run: Run): number {
  const lx = run.lx;
  let action: TxnAction = "rollback";
  lx.next();
  while (!lx.atEnd()) {
    if (lx.isKw(TO)) action = "rollback_to_savepoint";
    lx.next();
  }
  run.txn = action;
  return R_TXN;
}
