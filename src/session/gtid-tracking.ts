/**
 * GTID tracking on the primary (issue 12): each connection there asks the server to report the
 * GTID of every commit in its OK (session state tracking), pairgate notes that GTID as
 * acknowledged, and strips the session state from the OK before the client sees it.
 */
import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import type { ResponseScanner } from "../protocol/response-scanner.js";
import {
  finalOkState,
  lastGtidFromOk,
  readFinalOk,
  withFinalOkWithoutSessionState,
} from "../protocol/session-state.js";
import type { SlotContext } from "./slot-types.js";

/**
 * Track the GTID of each commit on this connection, and nothing else: MariaDB reports `last_gtid`
 * as a tracked system variable, MySQL 8 its own GTIDs. The schema and the default variables are
 * not tracked: fewer OKs carry state (only commits'), so fewer are rewritten for the client.
 */
export function trackGtidStatement(serverVersion: string): string {
  return /mariadb/i.test(serverVersion)
    ? "SET SESSION session_track_system_variables = 'last_gtid', session_track_schema = OFF, session_track_state_change = OFF"
    : "SET SESSION session_track_gtids = OWN_GTID, session_track_system_variables = '', session_track_schema = OFF, session_track_state_change = OFF";
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
  log: Logger,
): Buffer {
  const len = scanner.lastPacketLength;
  if (chunk.length < len + 4 || scanner.failed) return chunk;
  if (readFinalOk(chunk, len)) {
    if (role === "primary" && finalOkState.gtid) ctx.noteAcknowledged?.(finalOkState.gtid);
    return finalOkState.chunk;
  }
  try {
    if (role === "primary") {
      const gtid = lastGtidFromOk(chunk.subarray(chunk.length - len));
      if (gtid) ctx.noteAcknowledged?.(gtid);
    }
    return withFinalOkWithoutSessionState(chunk, len);
  } catch (e) {
    log.debug({ err: (e as Error).message }, "unreadable session state in an OK packet");
    return chunk;
  }
}
