/**
 * A client command packet as a typed value (Vitess `go/mysql` and go-mysql's `server/` decode each
 * command before the handler sees it): the `COM_*` byte and the payload checks live here, the
 * session decides what to do with the value. Pure: no session state, no I/O; the client's
 * capabilities are the only context (COM_CHANGE_USER's layout, COM_STMT_BULK_EXECUTE's
 * negotiation).
 *
 * Hot path: the commands a busy session sends most (COM_QUERY, COM_STMT_PREPARE, COM_PING) decode
 * to shared frozen constants — their text is the payload from byte 1, read in the session's dialect
 * by the session (a character-set question this layer cannot answer) — so decoding them allocates
 * nothing. A statement command is one small object of numbers (no subarray of the payload).
 *
 * What is checked is what pairgate itself needs to act on: the statement id of a COM_STMT_*, the
 * connection id of COM_PROCESS_KILL, the fields of COM_CHANGE_USER. Anything else in a payload
 * (an EXECUTE's parameters, COM_FIELD_LIST's table) goes to the server as the client sent it and is
 * the server's to judge.
 * https://mariadb.com/kb/en/0-packet/ (the command phase)
 */
import {
  COM_CHANGE_USER,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PING,
  COM_PROCESS_KILL,
  COM_QUERY,
  COM_QUIT,
  COM_RESET_CONNECTION,
  COM_SET_OPTION,
  COM_STATISTICS,
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  MARIADB_CLIENT_STMT_BULK_OPERATIONS,
} from "./constants.js";
import { type ChangeUser, decodeChangeUser } from "./messages.js";
import { ProtocolError } from "./packet.js";

/** Where the statement text of a COM_QUERY / COM_STMT_PREPARE starts in the payload. */
export const TEXT_AT = 1;

/** The commands that name a prepared statement by its id (payload bytes 1..4). */
export type StatementCommandType = "stmt_execute" | "stmt_bulk_execute" | "stmt_fetch" | "stmt_reset";

export type ClientCommand =
  | { readonly type: "quit" }
  /** The text is payload[TEXT_AT..], in the session's character set. */
  | { readonly type: "query" }
  | { readonly type: "stmt_prepare" }
  | { readonly type: "ping" }
  | { readonly type: "statistics" }
  | { readonly type: "reset_connection" }
  /** The schema name (utf8), as the server reads it: the rest of the payload. */
  | { readonly type: "init_db"; readonly schema: string }
  /** The table name and wildcard follow; the server reads them. */
  | { readonly type: "field_list" }
  /** The option (0: multi-statements on, 1: off); null when the payload is too short to carry it. */
  | { readonly type: "set_option"; readonly option: number | null }
  | { readonly type: "process_kill"; readonly connectionId: number }
  | { readonly type: "change_user"; readonly request: ChangeUser }
  /**
   * `statementId` as sent (0xFFFFFFFF: MariaDB's "the statement prepared last"). For EXECUTE and
   * BULK_EXECUTE, `flags` (cursor type / bulk flags) and `paramsAt` (where the rest starts); a
   * header cut short after the id keeps `truncated` and is relayed for the server to refuse, as a
   * server would.
   */
  | {
      readonly type: StatementCommandType;
      readonly statementId: number;
      readonly flags: number;
      readonly paramsAt: number;
      readonly truncated: boolean;
    }
  /** The data of one parameter (`paramId`) from `dataAt`; never answered. */
  | {
      readonly type: "stmt_send_long_data";
      readonly statementId: number;
      readonly paramId: number;
      readonly dataAt: number;
    }
  /** Never answered. */
  | { readonly type: "stmt_close"; readonly statementId: number }
  /**
   * A known command whose payload lacks what pairgate needs. `message` is the ERR's text;
   * `answer` is false for the commands the protocol never answers (STMT_CLOSE, SEND_LONG_DATA):
   * the server drops those silently, and so does pairgate.
   */
  | {
      readonly type: "malformed";
      readonly command: number;
      readonly message: string;
      readonly answer: boolean;
    }
  /** A command pairgate does not relay (or one not negotiated, or an empty packet); `message` is the ERR's text. */
  | { readonly type: "unknown"; readonly command: number; readonly message: string };

/** What the login negotiated that changes how a command is read. */
export interface CommandCapabilities {
  /** The client's capability flags (COM_CHANGE_USER's layout). */
  capabilities: number;
  /** MariaDB extended capabilities (COM_STMT_BULK_EXECUTE needs its flag). */
  mariadbCapabilities?: number;
}

const QUIT: ClientCommand = Object.freeze({ type: "quit" });
const QUERY: ClientCommand = Object.freeze({ type: "query" });
const PREPARE: ClientCommand = Object.freeze({ type: "stmt_prepare" });
const PING: ClientCommand = Object.freeze({ type: "ping" });
const STATISTICS: ClientCommand = Object.freeze({ type: "statistics" });
const RESET_CONNECTION: ClientCommand = Object.freeze({ type: "reset_connection" });
const FIELD_LIST: ClientCommand = Object.freeze({ type: "field_list" });

function malformed(command: number, what: string, answer = true): ClientCommand {
  return { type: "malformed", command, message: `Malformed communication packet: ${what}`, answer };
}

function unknown(command: number, why: string): ClientCommand {
  return { type: "unknown", command, message: `Unknown command 0x${hex(command)}: ${why}` };
}

function hex(command: number): string {
  return command.toString(16).padStart(2, "0");
}

/**
 * The statement id of a COM_STMT_EXECUTE, as `decodeCommand` reads it, without the object it
 * returns (the busiest command of a prepared-statement client: one object less per execute); -1
 * for any other payload, or one too short to name a statement (then `decodeCommand` says why).
 */
export function executeStatementId(payload: Buffer): number {
  return payload.length >= 5 && payload[0] === COM_STMT_EXECUTE ? payload.readUInt32LE(1) : -1;
}

/** Decode one command packet's payload (sequence id 0, already framed and joined). */
export function decodeCommand(payload: Buffer, caps: CommandCapabilities): ClientCommand {
  if (payload.length === 0) return { type: "unknown", command: -1, message: "Unknown command: empty packet" };
  const command = payload[0]!;
  switch (command) {
    case COM_QUERY:
      return QUERY;
    case COM_STMT_EXECUTE:
      return statementCommand(payload, "stmt_execute");
    case COM_STMT_PREPARE:
      return PREPARE;
    case COM_PING:
      return PING;
    case COM_QUIT:
      return QUIT;
    case COM_STMT_CLOSE:
      if (payload.length < 5) return malformed(command, "statement id missing", false);
      return { type: "stmt_close", statementId: payload.readUInt32LE(1) };
    case COM_STMT_SEND_LONG_DATA:
      if (payload.length < 5) return malformed(command, "statement id missing", false);
      return {
        type: "stmt_send_long_data",
        statementId: payload.readUInt32LE(1),
        // Cut short: the server drops it (no reply either way); pairgate relays what it got.
        paramId: payload.length >= 7 ? payload.readUInt16LE(5) : -1,
        dataAt: Math.min(7, payload.length),
      };
    case COM_STMT_FETCH:
      return statementCommand(payload, "stmt_fetch");
    case COM_STMT_RESET:
      return statementCommand(payload, "stmt_reset");
    case COM_STMT_BULK_EXECUTE:
      // Only for a client that negotiated it (MariaDB's bulk capability); to others an unknown command.
      if (!((caps.mariadbCapabilities ?? 0) & MARIADB_CLIENT_STMT_BULK_OPERATIONS))
        return unknown(command, "bulk operations were not negotiated");
      return statementCommand(payload, "stmt_bulk_execute");
    case COM_INIT_DB:
      return { type: "init_db", schema: payload.toString("utf8", 1) };
    case COM_FIELD_LIST:
      return FIELD_LIST;
    case COM_STATISTICS:
      return STATISTICS;
    case COM_SET_OPTION:
      return { type: "set_option", option: payload.length >= 3 ? payload.readUInt16LE(1) : null };
    case COM_RESET_CONNECTION:
      return RESET_CONNECTION;
    case COM_PROCESS_KILL:
      if (payload.length < 5) return malformed(command, "connection id missing");
      return { type: "process_kill", connectionId: payload.readUInt32LE(1) };
    case COM_CHANGE_USER:
      try {
        return { type: "change_user", request: decodeChangeUser(payload, caps.capabilities) };
      } catch (e) {
        if (e instanceof ProtocolError) return malformed(command, e.message);
        throw e;
      }
    default:
      return unknown(command, "pairgate does not relay this command");
  }
}

/**
 * EXECUTE and BULK_EXECUTE: id (4), flags (1 for EXECUTE, 2 for BULK), then EXECUTE's iteration
 * count (4). FETCH: id, row count (4); RESET: id only — `flags` 0 and `paramsAt` 5 for those.
 */
function statementCommand(payload: Buffer, type: StatementCommandType): ClientCommand {
  const n = payload.length;
  if (n < 5) return malformed(payload[0]!, "statement id missing");
  const statementId = payload.readUInt32LE(1);
  if (type === "stmt_execute")
    return {
      type,
      statementId,
      flags: n >= 6 ? payload[5]! : 0,
      paramsAt: Math.min(n, 10),
      truncated: n < 10,
    };
  if (type === "stmt_bulk_execute")
    return {
      type,
      statementId,
      flags: n >= 7 ? payload.readUInt16LE(5) : 0,
      paramsAt: Math.min(n, 7),
      truncated: n < 7,
    };
  if (type === "stmt_fetch")
    return { type, statementId, flags: 0, paramsAt: Math.min(n, 9), truncated: n < 9 };
  return { type, statementId, flags: 0, paramsAt: 5, truncated: false };
}
