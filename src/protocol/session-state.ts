/**
 * Session state tracking in OK packets — how pairgate learns the GTID of each write it
 * acknowledges, without an extra round trip. Pure functions over one OK payload.
 *
 * Spec: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html and
 * MariaDB's "OK_Packet" page. On a hop that negotiated CLIENT_SESSION_TRACK the OK packet is
 *
 *   header(0x00, or 0xFE ending a result set under DEPRECATE_EOF) affected_rows<lenenc>
 *   last_insert_id<lenenc> status<2> warnings<2>
 *   [info<lenenc string>                     — present when bytes remain]
 *   [session_state_info<lenenc string>       — when status has SERVER_SESSION_STATE_CHANGED]
 *
 * and session_state_info is a run of `type<1> data<lenenc string>`; for
 * SESSION_TRACK_SYSTEM_VARIABLES the data is `name<lenenc string> value<lenenc string>`, for
 * SESSION_TRACK_GTIDS (MySQL only) `encoding<1> gtids<lenenc string>`.
 *
 * MariaDB 10.11 has no `session_track_gtids`; it reports the GTID of the session's last commit as
 * the system variable `last_gtid` once the session adds it to `session_track_system_variables`:
 *
 *   SET SESSION session_track_system_variables = CONCAT(@@session_track_system_variables, ',last_gtid')
 *
 * after which the OK of every committing statement (an autocommit write, COMMIT) carries
 * `last_gtid = 0-1-25`. MySQL 8: `SET SESSION session_track_gtids = OWN_GTID`.
 *
 * Without CLIENT_SESSION_TRACK on the client's side, `info` is the rest of the packet (no length):
 * an OK that carries session state must then be rewritten for the client (`okWithoutSessionState`).
 */
import {
  SERVER_SESSION_STATE_CHANGED,
  SESSION_TRACK_GTIDS,
  SESSION_TRACK_SCHEMA,
  SESSION_TRACK_STATE_CHANGE,
  SESSION_TRACK_SYSTEM_VARIABLES,
} from "./constants.js";
import { PacketReader } from "./packet.js";

export interface SessionStateChanges {
  /** Tracked system variables that changed, in order (name, value). */
  systemVariables: Array<[string, string]>;
  /** New default schema, when it changed. */
  schema: string | null;
  /** MySQL's SESSION_TRACK_GTIDS payload (a GTID set), when present. */
  gtids: string | null;
  /** The state-change tracker (SESSION_TRACK_STATE_CHANGE) reported a change. */
  stateChange?: boolean;
}

interface OkLayout {
  statusFlags: number;
  /** Offset of the first byte after warnings. */
  afterWarnings: number;
  info: Buffer;
  /** Offset of the first byte after `info` (with its length). */
  infoEnd: number;
  /** The session_state_info bytes (without their length), or null. */
  state: Buffer | null;
}

/** Reads an OK payload as a CLIENT_SESSION_TRACK hop sends it. Throws ProtocolError when malformed. */
function readOk(payload: Buffer): OkLayout {
  const r = new PacketReader(payload, 1);
  r.lenenc();
  r.lenenc();
  const statusFlags = r.u16();
  r.skip(2);
  const afterWarnings = r.offset;
  let info: Buffer = Buffer.alloc(0);
  let state: Buffer | null = null;
  let infoEnd = afterWarnings;
  if (r.remaining() > 0) {
    info = r.lenencBytes();
    infoEnd = r.offset;
    if (statusFlags & SERVER_SESSION_STATE_CHANGED && r.remaining() > 0) state = r.lenencBytes();
  }
  return { statusFlags, afterWarnings, info, infoEnd, state };
}

/**
 * The session state changes an OK packet reports, or null when it reports none. `payload` is an OK
 * payload from a hop that negotiated CLIENT_SESSION_TRACK.
 */
export function parseOkSessionState(payload: Buffer): SessionStateChanges | null {
  const ok = readOk(payload);
  if (!ok.state) return null;
  const out: SessionStateChanges = { systemVariables: [], schema: null, gtids: null };
  const r = new PacketReader(ok.state);
  while (r.remaining() > 0) {
    const type = r.u8();
    const data = r.lenencBytes();
    const d = new PacketReader(data);
    if (type === SESSION_TRACK_SYSTEM_VARIABLES) {
      // One entry per variable; MariaDB and MySQL both send name and value as lenenc strings.
      const name = d.lenencString();
      const value = d.remaining() > 0 ? d.lenencString() : "";
      out.systemVariables.push([name, value]);
    } else if (type === SESSION_TRACK_SCHEMA) {
      out.schema = d.lenencString();
    } else if (type === SESSION_TRACK_GTIDS) {
      d.skip(1); // encoding specification: 0 = the GTID set as text
      out.gtids = d.lenencString();
    } else if (type === SESSION_TRACK_STATE_CHANGE) {
      out.stateChange = true;
    }
    // Other types (state change, transaction characteristics/state) are skipped by their length.
  }
  return out;
}

/**
 * The GTID of the transaction this OK acknowledges: MariaDB's tracked `last_gtid` (when not
 * empty) or MySQL's SESSION_TRACK_GTIDS; null when the OK carries neither. Cheap when there is
 * nothing: only the status flags are read.
 */
export function lastGtidFromOk(payload: Buffer): string | null {
  // Fast reject: header + two lenenc + status. Most OKs carry no state change.
  const r = new PacketReader(payload, 1);
  r.lenenc();
  r.lenenc();
  if ((r.u16() & SERVER_SESSION_STATE_CHANGED) === 0) return null;
  const s = parseOkSessionState(payload);
  if (!s) return null;
  let gtid: string | null = s.gtids || null;
  for (const [name, value] of s.systemVariables)
    if (name.toLowerCase() === "last_gtid" && value) gtid = value;
  return gtid;
}

/**
 * The same OK for a client that did not negotiate CLIENT_SESSION_TRACK, as the server would have
 * sent it to that client: the state change flag cleared, the session state dropped, `info` kept as
 * the length-encoded string servers send either way (MariaDB and MySQL store it with its length
 * whatever the client's flags; libmysqlclient / Connector/C read it so — raw text there is
 * "malformed packet", 2027), or left out when empty. Returns `payload` itself when the OK carries
 * no session state.
 */
export function okWithoutSessionState(payload: Buffer): Buffer {
  const ok = readOk(payload);
  if (!(ok.statusFlags & SERVER_SESSION_STATE_CHANGED)) return payload;
  const keep = ok.info.length ? ok.infoEnd : ok.afterWarnings;
  const out = Buffer.from(payload.subarray(0, keep));
  out.writeUInt16LE(ok.statusFlags & ~SERVER_SESSION_STATE_CHANGED, ok.afterWarnings - 4);
  return out;
}

/**
 * The chunk that ends a response, whose last `payloadLength` bytes are the payload of its final OK
 * (0x00, or 0xFE ending a result set) with the 4-byte header just before: the same chunk with that
 * OK as `okWithoutSessionState` makes it, header length rewritten, sequence id kept. Returns
 * `chunk` itself when the OK is not wholly inside it or there is nothing to change. Throws
 * ProtocolError when the OK is malformed.
 */
export function withFinalOkWithoutSessionState(chunk: Buffer, payloadLength: number): Buffer {
  const n = chunk.length;
  const h = n - payloadLength - 4;
  if (h < 0) return chunk;
  const payload = chunk.subarray(n - payloadLength);
  if (payload[0] !== 0x00 && payload[0] !== 0xfe) return chunk;
  const stripped = okWithoutSessionState(payload);
  if (stripped === payload) return chunk;
  const out = Buffer.allocUnsafe(h + 4 + stripped.length);
  chunk.copy(out, 0, 0, h);
  out[h] = stripped.length & 0xff;
  out[h + 1] = (stripped.length >> 8) & 0xff;
  out[h + 2] = (stripped.length >> 16) & 0xff;
  out[h + 3] = chunk[h + 3];
  stripped.copy(out, h + 4);
  return out;
}

const LAST_GTID = Buffer.from("last_gtid");

/** Where the lenenc integer at `pos` ends (-1 when out of bounds or 0xFB/0xFF); its value in `lenValue`. */
let lenValue = 0;
function lenencEnd(b: Buffer, pos: number, end: number): number {
  if (pos >= end) return -1;
  const f = b[pos];
  if (f < 0xfb) {
    lenValue = f;
    return pos + 1;
  }
  if (f === 0xfc) {
    if (pos + 3 > end) return -1;
    lenValue = b[pos + 1] | (b[pos + 2] << 8);
    return pos + 3;
  }
  if (f === 0xfd) {
    if (pos + 4 > end) return -1;
    lenValue = b[pos + 1] | (b[pos + 2] << 8) | (b[pos + 3] << 16);
    return pos + 4;
  }
  if (f === 0xfe) {
    if (pos + 9 > end) return -1;
    lenValue = b.readUInt32LE(pos + 1) + b.readUInt32LE(pos + 5) * 2 ** 32;
    return pos + 9;
  }
  return -1;
}

/**
 * What `readFinalOk` found: the GTID the OK acknowledges (or null), the chunk to relay, and the
 * session state it reports — tracked system variables as flat name, value pairs (names lower-cased;
 * the array is reused, read it before the next call), the new schema, and whether the state-change
 * tracker (SESSION_TRACK_STATE_CHANGE) said the session changed.
 */
export const finalOkState = {
  gtid: null as string | null,
  chunk: Buffer.alloc(0),
  vars: [] as string[],
  schema: null as string | null,
  stateChange: false,
};

/**
 * One pass over the final OK of a response that ends `chunk` (its payload the last `payloadLength`
 * bytes): `finalOkState.gtid` = MariaDB's tracked last_gtid / MySQL's GTIDs, `finalOkState.chunk`
 * = the chunk with that OK without session state. Returns false when the layout is not the expected
 * one (the caller then uses the general functions, which throw on malformed packets).
 */
export function readFinalOk(chunk: Buffer, payloadLength: number): boolean {
  const n = chunk.length;
  const h = n - payloadLength - 4;
  if (h < 0) return false;
  const start = h + 4;
  const first = chunk[start];
  if (first !== 0x00 && first !== 0xfe) return false;
  let p = lenencEnd(chunk, start + 1, n);
  if (p < 0) return false;
  p = lenencEnd(chunk, p, n);
  if (p < 0 || p + 4 > n) return false;
  const status = chunk[p] | (chunk[p + 1] << 8);
  const afterWarnings = p + 4;
  if (!(status & SERVER_SESSION_STATE_CHANGED) || afterWarnings === n) return false;
  p = lenencEnd(chunk, afterWarnings, n);
  if (p < 0 || p + lenValue > n) return false;
  const infoStart = p;
  const infoEnd = p + lenValue;
  let gtid: string | null = null;
  const vars = finalOkState.vars;
  vars.length = 0;
  let schema: string | null = null;
  let stateChange = false;
  if (infoEnd < n) {
    p = lenencEnd(chunk, infoEnd, n);
    if (p < 0 || p + lenValue !== n) return false;
    while (p < n) {
      const type = chunk[p];
      p = lenencEnd(chunk, p + 1, n);
      if (p < 0 || p + lenValue > n) return false;
      const dataEnd = p + lenValue;
      if (type === 0) {
        let q = lenencEnd(chunk, p, dataEnd);
        if (q < 0 || q + lenValue > dataEnd) return false;
        const isGtid = lenValue === 9 && chunk.compare(LAST_GTID, 0, 9, q, q + 9) === 0;
        const name = isGtid ? "last_gtid" : chunk.toString("utf8", q, q + lenValue).toLowerCase();
        q += lenValue;
        let value = "";
        if (q < dataEnd) {
          q = lenencEnd(chunk, q, dataEnd);
          if (q < 0 || q + lenValue > dataEnd) return false;
          if (lenValue > 0) value = chunk.toString(isGtid ? "latin1" : "utf8", q, q + lenValue);
        }
        if (isGtid) {
          if (value) gtid = value;
        } else vars.push(name, value);
      } else if (type === 1) {
        const q = lenencEnd(chunk, p, dataEnd);
        if (q < 0 || q + lenValue > dataEnd) return false;
        schema = chunk.toString("utf8", q, q + lenValue);
      } else if (type === 2) {
        stateChange = true;
      } else if (type === 3) {
        const q = lenencEnd(chunk, p + 1, dataEnd);
        if (q < 0 || q + lenValue > dataEnd) return false;
        if (lenValue > 0 && gtid === null) gtid = chunk.toString("latin1", q, q + lenValue);
      }
      p = dataEnd;
    }
  }
  // As okWithoutSessionState: info kept with its length (left out when empty), state dropped.
  const keep = infoEnd > infoStart ? infoEnd : afterWarnings;
  const payloadOut = keep - start;
  const out = Buffer.allocUnsafe(keep);
  chunk.copy(out, 0, 0, keep);
  out[h] = payloadOut & 0xff;
  out[h + 1] = (payloadOut >> 8) & 0xff;
  out[h + 2] = (payloadOut >> 16) & 0xff;
  const s = afterWarnings - 4;
  out[s + 1] = chunk[s + 1] & ~(SERVER_SESSION_STATE_CHANGED >> 8);
  finalOkState.gtid = gtid;
  finalOkState.chunk = out;
  finalOkState.schema = schema;
  finalOkState.stateChange = stateChange;
  return true;
}
