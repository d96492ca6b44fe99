/**
 * The session's prepared statements under pairgate's own ids. A client keeps the id it was given
 * for the life of the session, whatever backend serves it; the backend's id (valid on one backend
 * connection, its "generation") is swapped in on the way out.
 */
import {
  COM_STMT_BULK_EXECUTE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_RESET,
} from "../protocol/constants.js";
import { frameWithStatementId, patchStatementId, setPrepareOkStatementId } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import type { PreparedStatement, SessionState } from "../routing/session-state.js";
import type { Classification } from "../sql/index.js";

/** MariaDB (10.2+): statement id 0xFFFFFFFF means "the statement prepared last" (the mariadb connector pipelines PREPARE and EXECUTE). */
const LAST_PREPARED = 0xffffffff;

export class StatementMap {
  /** The client id of the statement prepared last (0: none, e.g. after a failed PREPARE). */
  private lastPrepared = 0;

  constructor(private state: () => SessionState) {}

  /** The statement a COM_STMT_* payload names (its id at bytes 1..4), or null. */
  lookup(payload: Buffer): PreparedStatement | null {
    return this.state().statements.get(this.clientIdOf(payload)) ?? null;
  }

  /** The client id a COM_STMT_* payload names, "the last prepared" resolved. */
  clientIdOf(payload: Buffer): number {
    const sent = payload.readUInt32LE(1);
    return sent === LAST_PREPARED ? this.lastPrepared : sent;
  }

  /** The server's message for a statement id it does not know. */
  unknown(payload: Buffer, command: number): string {
    const name =
      command === COM_STMT_EXECUTE
        ? "mysqld_stmt_execute"
        : command === COM_STMT_BULK_EXECUTE
          ? "mysqld_stmt_bulk_execute"
          : command === COM_STMT_FETCH
            ? "mysqld_stmt_fetch"
            : "mysqld_stmt_reset";
    return `Unknown prepared statement handler (${this.clientIdOf(payload)}) given to ${name}`;
  }

  forget(stmt: PreparedStatement): void {
    this.state().statements.delete(stmt.clientId);
  }

  /**
   * A PREPARE succeeded on the backend of `generation`: register it under a new client id and
   * write that id into the framed PREPARE_OK `reply`.
   */
  prepared(
    reply: Buffer,
    sql: string,
    c: Classification,
    backend: { statementId: number; params: number; columns: number },
    generation: number,
  ): void {
    const state = this.state();
    const clientId = state.newStatementId();
    this.lastPrepared = clientId;
    state.statements.set(clientId, {
      clientId,
      sql,
      kind: c.kind,
      lockingRead: c.lockingRead,
      readExceptRoutines: c.readExceptRoutines === true,
      params: backend.params,
      columns: backend.columns,
      backendId: backend.statementId,
      backendGeneration: generation,
    });
    setPrepareOkStatementId(reply, clientId);
  }

  /** A PREPARE failed: "the statement prepared last" names none. */
  prepareFailed(): void {
    this.lastPrepared = 0;
  }
}

/** How the response to a COM_STMT_* command is shaped; null when it has none (SEND_LONG_DATA, CLOSE). */
export function statementResponseKind(command: number): ResponseKind | null {
  if (command === COM_STMT_EXECUTE || command === COM_STMT_BULK_EXECUTE) return ResponseKind.Execute;
  if (command === COM_STMT_FETCH) return ResponseKind.Fetch;
  if (command === COM_STMT_RESET) return ResponseKind.Single;
  return null;
}

/**
 * The command as the backend must see it: a plain command as the client framed it (`raw`, sequence
 * id 0, checked on arrival), a statement command with the backend's statement id — written into the
 * client's own packet in place when it came as one (the read chunk is the session's and never
 * reused; the statement was looked up before, and a retry reframes from the payload with the id of
 * its own backend), else into a framed copy.
 */
export function frameForBackend(payload: Buffer, raw: Buffer | null, stmt: PreparedStatement | null): Buffer {
  if (stmt)
    return raw ? patchStatementId(raw, stmt.backendId) : frameWithStatementId(payload, stmt.backendId);
  return raw ?? framePayload(payload, 0);
}
