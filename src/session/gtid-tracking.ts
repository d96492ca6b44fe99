/**
 * Session state tracking on every backend connection (issues 12 and 19): each connection asks the
 * server to report, in its OK packets, the GTID of every commit (primary: pairgate notes it as
 * acknowledged), every system variable a statement changed, the new schema and whether the session
 * changed otherwise. pairgate keeps what the server reported (the session state a move replays, the
 * dialect, the secondary's guard) and strips it from the OK before the client sees it (pairgate does
 * not offer CLIENT_SESSION_TRACK to clients).
 */
import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import type { ResponseScanner } from "../protocol/response-scanner.js";
import {
  finalOkState,
  lastGtidFromOk,
  parseOkSessionState,
  readFinalOk,
  withFinalOkWithoutSessionState,
} from "../protocol/session-state.js";
import type { SlotContext } from "./slot-types.js";

/**
 * Track every system variable (`*`: MariaDB includes `last_gtid`, the GTID of each commit; MySQL 8
 * reports its own GTIDs), the schema and state changes. Only OKs of statements that change session
 * state (SET, USE, commits) carry any: the others pass untouched.
 */
export function trackingStatement(serverVersion: string): string {
  return /mariadb/i.test(serverVersion)
    ? "SET SESSION session_track_system_variables = '*', session_track_schema = ON, session_track_state_change = ON"
    : "SET SESSION session_track_gtids = OWN_GTID, session_track_system_variables = '*', session_track_schema = ON, session_track_state_change = ON";
}

/** Where the session state an OK reported goes (the backend slot). */
export interface TrackSink {
  /** Tracked system variables as flat name, value pairs (names lower-cased), the schema, state change. */
  tracked(vars: readonly string[], schema: string | null, stateChange: boolean): void;
  /** The OK carried session state pairgate could not read (split across chunks, malformed). */
  unseen(): void;
}

/**
 * The chunk that ends a response whose final OK carries session state: note the GTID it
 * acknowledges and return the chunk with that OK rewritten as the client negotiated it (pairgate
 * never offers CLIENT_SESSION_TRACK). The final OK ends the chunk; when it was split across
 * chunks (its head already forwarded) it is relayed as the server sent it — clients read `info`
 * by its length and ignore the rest.
 */
export function stateChanged(
  role: Role,
  chunk: Buffer,
  scanner: ResponseScanner,
  ctx: SlotContext,
  sink: TrackSink,
  log: Logger,
): Buffer {
  const len = scanner.lastPacketLength;
  if (scanner.failed) return chunk;
  if (chunk.length < len + 4) {
    sink.unseen();
    return chunk;
  }
  if (readFinalOk(chunk, len)) {
    if (role === "primary" && finalOkState.gtid) ctx.noteAcknowledged?.(finalOkState.gtid);
    sink.tracked(finalOkState.vars, finalOkState.schema, finalOkState.stateChange);
    return finalOkState.chunk;
  }
  try {
    const payload = chunk.subarray(chunk.length - len);
    if (role === "primary") {
      const gtid = lastGtidFromOk(payload);
      if (gtid) ctx.noteAcknowledged?.(gtid);
    }
    const s = parseOkSessionState(payload);
    if (s) {
      const vars: string[] = [];
      for (const [name, value] of s.systemVariables)
        if (name.toLowerCase() !== "last_gtid") vars.push(name.toLowerCase(), value);
      sink.tracked(vars, s.schema, s.stateChange === true);
    }
    return withFinalOkWithoutSessionState(chunk, len);
  } catch (e) {
    log.debug({ err: (e as Error).message }, "unreadable session state in an OK packet");
    sink.unseen();
    return chunk;
  }
}
