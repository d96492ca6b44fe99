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
import type { Packet } from "../protocol/framer.js";
import { frameWithStatementId, patchStatementId, setPrepareOkStatementId } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import type { Classification, SqlDialect } from "../sql/index.js";
import type { PreparedStatement, SessionState } from "./replay-state.js";

/** What a statement keeps of the dialect it was prepared under (issue 19). */
export interface PreparedDialect {
  /** The PREPARE's text as the client sent it. */
  sqlBytes: Buffer;
  dialect: SqlDialect;
  sqlMode: string | null;
  charsetClient: string | null;
}

/** MariaDB (10.2+): statement id 0xFFFFFFFF means "the statement prepared last" (the mariadb connector pipelines PREPARE and EXECUTE). */
const LAST_PREPARED = 0xffffffff;

export class StatementMap {
  /** The client id of the statement prepared last (0: none, e.g. after a failed PREPARE). */
  private lastPrepared = 0;

  /** `session.state`: the state of the session now (COM_CHANGE_USER starts a new one). */
  constructor(private readonly session: { readonly state: SessionState }) {}

  private state(): SessionState {
    return this.session.state;
  }

  /** The statement a COM_STMT_* command names (its id as sent: protocol/command.ts), or null. */
  lookup(sent: number): PreparedStatement | null {
    return this.state().statements.get(this.clientIdOf(sent)) ?? null;
  }

  /** The client id a COM_STMT_* command names, "the last prepared" resolved. */
  clientIdOf(sent: number): number {
    return sent === LAST_PREPARED ? this.lastPrepared : sent;
  }

  /** The server's message for a statement id it does not know. */
  unknown(sent: number, command: number): string {
    const name =
      command === COM_STMT_EXECUTE
        ? "mysqld_stmt_execute"
        : command === COM_STMT_BULK_EXECUTE
          ? "mysqld_stmt_bulk_execute"
          : command === COM_STMT_FETCH
            ? "mysqld_stmt_fetch"
            : "mysqld_stmt_reset";
    return `Unknown prepared statement handler (${this.clientIdOf(sent)}) given to ${name}`;
  }

  /**
   * The session may not prepare another statement (`maxPreparedStatements` open): the message for
   * its ERR 1461, else null. Checked before the PREPARE reaches the server, whose own limit
   * (max_prepared_stmt_count) is global: one session reaching it would fail every other's prepares.
   */
  refusePrepare(max: number): string | null {
    const open = this.state().statements.size;
    if (open < max) return null;
    return (
      `Can't create more than ${max} prepared statements in one session (pairgate's maxPreparedStatements; ` +
      `${open} are open): close the statements the application no longer uses (COM_STMT_CLOSE, ` +
      "e.g. mysql2's unprepare or a driver's statement cache size) or ask the operators to raise maxPreparedStatements"
    );
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
    dialect: PreparedDialect,
  ): void {
    const state = this.state();
    const clientId = state.newStatementId();
    this.lastPrepared = clientId;
    state.statements.set(clientId, {
      clientId,
      sql,
      sqlBytes: dialect.sqlBytes,
      kind: c.kind,
      lockingRead: c.lockingRead,
      readExceptRoutines: c.readExceptRoutines === true,
      classification: c,
      dialect: dialect.dialect,
      sqlMode: dialect.sqlMode,
      charsetClient: dialect.charsetClient,
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
 * its own backend), else into a framed copy. A plain command the client split (over 16 MiB) is its
 * own wire packets, the same bytes a reframing would produce.
 */
export function frameForBackend(
  p: Pick<Packet, "payload" | "raw" | "rawParts">,
  stmt: PreparedStatement | null,
): Buffer | readonly Buffer[] {
  if (stmt)
    return p.raw ? patchStatementId(p.raw, stmt.backendId) : frameWithStatementId(p.payload, stmt.backendId);
  // A command split over 16 MiB packets goes out as the client's own packets: no joined or framed copy.
  return p.raw ?? p.rawParts ?? framePayload(p.payload, 0);
}
