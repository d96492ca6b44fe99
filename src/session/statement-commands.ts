/**
 * A COM_STMT_* command (EXECUTE, BULK_EXECUTE, FETCH, RESET, SEND_LONG_DATA, CLOSE) read against
 * the session's prepared statements: an unknown id refused (never answered for CLOSE and
 * SEND_LONG_DATA, as the protocol says), CLOSE done at once, the others given their response kind
 * and routing class from what the statement was prepared as — nothing is re-read at EXECUTE
 * (issue 19: a statement keeps the dialect it was prepared under).
 */
import {
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_SEND_LONG_DATA,
} from "../protocol/constants.js";
import { preparedClassOf, type ReadProofOptions } from "../routing/router.js";
import type { Exchange } from "./exchange.js";
import { type StatementMap, statementResponseKind } from "./prepared-statements.js";
import type { PreparedStatement } from "./replay-state.js";

export interface StatementCommandParts {
  statements: StatementMap;
  slot: { closeStatement(stmt: PreparedStatement): void };
  /** How far a read that calls routines can be proven a read here (the session's dialect now). */
  reading: { readProof(): ReadProofOptions | undefined };
}

/** Read `x` (naming `statementId`): true when it goes on to be routed, false when it was answered here. */
export function readStatementCommand(
  x: Exchange,
  statementId: number,
  parts: StatementCommandParts,
): boolean {
  const command = x.command;
  const stmt = parts.statements.lookup(statementId);
  if (!stmt) {
    if (command !== COM_STMT_CLOSE && command !== COM_STMT_SEND_LONG_DATA)
      x.fail("PAIRGATE_UNKNOWN_STATEMENT", parts.statements.unknown(statementId, command));
    else x.complete();
    return false;
  }
  if (command === COM_STMT_CLOSE) {
    parts.statements.forget(stmt);
    parts.slot.closeStatement(stmt);
    x.complete();
    return false;
  }
  x.stmt = stmt;
  x.kind = statementResponseKind(command);
  x.statement =
    command !== COM_STMT_EXECUTE && command !== COM_STMT_BULK_EXECUTE // bulk: routed, refused and audited like EXECUTE
      ? "none"
      : stmt.readExceptRoutines
        ? preparedClassOf(stmt.kind, stmt.lockingRead, true, parts.reading.readProof())
        : preparedClassOf(stmt.kind, stmt.lockingRead);
  return true;
}
