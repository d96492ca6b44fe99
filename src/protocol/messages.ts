/**
 * Encoders and decoders for the messages pairgate speaks itself: one small function per message.
 * Everything else (result sets, prepared statement responses) is relayed without decoding.
 */
import {
  CLIENT_CONNECT_ATTRS,
  CLIENT_CONNECT_WITH_DB,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SSL,
  EOF_HEADER,
  ERR_HEADER,
  OK_HEADER,
} from "./constants.js";
import { ServerError } from "./errors.js";
import { framePayload, PacketReader, PacketWriter, ProtocolError } from "./packet.js";

/** https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html */
export interface HandshakeV10 {
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** 20 bytes of scramble (auth-plugin-data parts 1 and 2, without the trailing NUL). */
  scramble: Buffer;
  capabilities: number;
  collation: number;
  statusFlags: number;
  authPlugin: string;
  /** MariaDB's extended capabilities, in the reserved bytes when CLIENT_LONG_PASSWORD (CLIENT_MYSQL) is off. */
  mariadbCapabilities: number;
}

export function encodeHandshakeV10(h: HandshakeV10): Buffer {
  const w = new PacketWriter(128);
  w.u8(10).nulString(h.serverVersion).u32(h.connectionId);
  w.bytes(h.scramble.subarray(0, 8)).u8(0);
  w.u16(h.capabilities & 0xffff)
    .u8(h.collation)
    .u16(h.statusFlags)
    .u16((h.capabilities >>> 16) & 0xffff);
  w.u8(h.scramble.length + 1);
  w.zeros(6).u32(h.mariadbCapabilities);
  w.bytes(h.scramble.subarray(8)).u8(0);
  w.nulString(h.authPlugin);
  return w.payload();
}

export function decodeHandshakeV10(payload: Buffer): HandshakeV10 {
  const r = new PacketReader(payload);
  const protocolVersion = r.u8();
  if (protocolVersion === ERR_HEADER) throw decodeErrAsError(payload);
  if (protocolVersion !== 10)
    throw new ProtocolError(`unsupported handshake protocol version ${protocolVersion}`);
  const serverVersion = r.nulString();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  const collation = r.remaining() > 0 ? r.u8() : 0;
  const statusFlags = r.remaining() >= 2 ? r.u16() : 0;
  capabilities |= (r.remaining() >= 2 ? r.u16() : 0) << 16;
  capabilities >>>= 0;
  const authDataLen = r.remaining() > 0 ? r.u8() : 0;
  r.skip(Math.min(6, r.remaining()));
  const mariadbCapabilities = r.remaining() >= 4 ? r.u32() : 0;
  let part2: Buffer = Buffer.alloc(0);
  if (capabilities & CLIENT_SECURE_CONNECTION) {
    const n = Math.max(13, authDataLen - 8);
    part2 = r.bytes(Math.min(n, r.remaining()));
    if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
  }
  const authPlugin =
    capabilities & CLIENT_PLUGIN_AUTH && r.remaining() > 0 ? r.nulOrRest() : "mysql_native_password";
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    scramble: Buffer.concat([part1, part2]),
    capabilities,
    collation,
    statusFlags,
    authPlugin,
    mariadbCapabilities,
  };
}

/** The client's answer: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html */
export interface HandshakeResponse {
  capabilities: number;
  maxPacketSize: number;
  collation: number;
  username: string;
  authResponse: Buffer;
  database: string | null;
  authPlugin: string | null;
  /** The raw connect-attributes block (length-prefixed), relayed to the backend as sent. */
  connectAttrs: Buffer | null;
  mariadbCapabilities: number;
}

/** An SSLRequest is the first 32 bytes of a handshake response with CLIENT_SSL set. */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === 32 && (payload.readUInt32LE(0) & CLIENT_SSL) !== 0;
}

export function decodeHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PacketReader(payload);
  const capabilities = r.u32();
  if (!(capabilities & CLIENT_PROTOCOL_41)) {
    throw new ProtocolError("clients older than protocol 4.1 are not supported", "PAIRGATE_OLD_CLIENT");
  }
  const maxPacketSize = r.u32();
  const collation = r.u8();
  r.skip(19);
  const mariadbCapabilities = r.u32();
  const username = r.nulString();
  let authResponse: Buffer;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & CLIENT_SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.nulBytes();
  let database: string | null = null;
  if (capabilities & CLIENT_CONNECT_WITH_DB && r.remaining() > 0) database = r.nulOrRest();
  let authPlugin: string | null = null;
  if (capabilities & CLIENT_PLUGIN_AUTH && r.remaining() > 0) authPlugin = r.nulOrRest();
  let connectAttrs: Buffer | null = null;
  if (capabilities & CLIENT_CONNECT_ATTRS && r.remaining() > 0) {
    const start = r.offset;
    const len = r.lenenc();
    r.skip(len);
    connectAttrs = payload.subarray(start, r.offset);
  }
  return {
    capabilities,
    maxPacketSize,
    collation,
    username,
    authResponse,
    database: database === "" ? null : database,
    authPlugin,
    connectAttrs,
    mariadbCapabilities,
  };
}

export function encodeHandshakeResponse(h: HandshakeResponse): Buffer {
  const w = new PacketWriter(128);
  w.u32(h.capabilities).u32(h.maxPacketSize).u8(h.collation).zeros(19).u32(h.mariadbCapabilities);
  w.nulString(h.username);
  if (h.capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(h.authResponse);
  else w.u8(h.authResponse.length).bytes(h.authResponse);
  if (h.capabilities & CLIENT_CONNECT_WITH_DB) w.nulString(h.database ?? "");
  if (h.capabilities & CLIENT_PLUGIN_AUTH) w.nulString(h.authPlugin ?? "mysql_native_password");
  if (h.capabilities & CLIENT_CONNECT_ATTRS) w.bytes(h.connectAttrs ?? Buffer.from([0]));
  return w.payload();
}

export function encodeSslRequest(capabilities: number, maxPacketSize: number, collation: number): Buffer {
  return new PacketWriter(32)
    .u32(capabilities | CLIENT_SSL)
    .u32(maxPacketSize)
    .u8(collation)
    .zeros(23)
    .payload();
}

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  statusFlags: number;
  warnings: number;
  info: string;
}

export function encodeOk(ok: Partial<OkPacket> & { statusFlags: number }, header = OK_HEADER): Buffer {
  const w = new PacketWriter(16);
  w.u8(header)
    .lenenc(ok.affectedRows ?? 0)
    .lenenc(ok.lastInsertId ?? 0)
    .u16(ok.statusFlags)
    .u16(ok.warnings ?? 0);
  if (ok.info) w.string(ok.info);
  return w.payload();
}

/**
 * Status flags of an OK packet whose header byte (0x00, or 0xFE when it ends a result set under
 * CLIENT_DEPRECATE_EOF) is at `off`: the one OK-status reader (response scanner, backend login).
 * Looks at at most 1 + 9 + 9 + 2 bytes; a packet too short for them reads as 0.
 */
export function okStatusAt(b: Uint8Array, off = 0, end = b.length): number {
  let p = off + 1;
  p += lenencSizeAt(b, p);
  p += lenencSizeAt(b, p);
  return p + 2 <= end ? b[p] | (b[p + 1] << 8) : 0;
}

/** Bytes taken by the length-encoded integer at `off` (1, 3, 4 or 9). */
export function lenencSizeAt(b: Uint8Array, off: number): number {
  const v = b[off];
  return v < 0xfb ? 1 : v === 0xfc ? 3 : v === 0xfd ? 4 : 9;
}

/**
 * The length-encoded integer at `off` (0xFC: 2 bytes, 0xFD: 3, 0xFE: 8). An 8-byte value above
 * 2^53 is not exact as a JS number; counts and lengths never come near that.
 */
export function lenencAt(b: Buffer, off: number): number {
  const v = b[off];
  if (v < 0xfb) return v;
  if (v === 0xfc) return b.readUInt16LE(off + 1);
  if (v === 0xfd) return b.readUIntLE(off + 1, 3);
  return b.readUInt32LE(off + 1) + b.readUInt32LE(off + 5) * 0x1_0000_0000;
}

/** Status flags of a classic EOF packet: 0xFE, warnings(2), status(2). */
export function eofStatusFlags(payload: Buffer): number {
  return payload.length >= 5 ? payload.readUInt16LE(3) : 0;
}

export function encodeEof(statusFlags: number, warnings = 0): Buffer {
  return new PacketWriter(5).u8(EOF_HEADER).u16(warnings).u16(statusFlags).payload();
}

export interface ErrPacket {
  code: number;
  sqlState: string;
  message: string;
}

export function encodeErr(e: ErrPacket): Buffer {
  return new PacketWriter(16 + e.message.length)
    .u8(ERR_HEADER)
    .u16(e.code)
    .string("#")
    .string(e.sqlState.padEnd(5, "0").slice(0, 5))
    .string(e.message)
    .payload();
}

export function decodeErr(payload: Buffer): ErrPacket {
  const r = new PacketReader(payload, 1);
  const code = r.u16();
  let sqlState = "HY000";
  if (r.remaining() > 0 && payload[r.offset] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString("latin1");
  }
  return { code, sqlState, message: r.restString() };
}

export function decodeErrAsError(payload: Buffer): ServerError {
  const e = decodeErr(payload);
  return new ServerError(e.code, e.sqlState, e.message);
}

/** AuthSwitchRequest: 0xFE, plugin name NUL, plugin data. */
export function encodeAuthSwitch(plugin: string, data: Buffer): Buffer {
  return new PacketWriter(64).u8(0xfe).nulString(plugin).bytes(data).payload();
}

export function decodeAuthSwitch(payload: Buffer): { plugin: string; data: Buffer } {
  const r = new PacketReader(payload, 1);
  if (r.remaining() === 0) return { plugin: "mysql_old_password", data: Buffer.alloc(0) };
  const plugin = r.nulOrRest();
  let data = r.restBytes();
  if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
  return { plugin, data };
}

/**
 * COM_CHANGE_USER: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html
 * Its fields follow the capabilities negotiated at login. Throws ProtocolError when cut short.
 */
export interface ChangeUser {
  username: string;
  authResponse: Buffer;
  /** "" when the client names none. */
  database: string;
  /** The character set byte, or null when the packet ends before it. */
  collation: number | null;
  authPlugin: string | null;
  connectAttrs: Buffer | null;
}

export function decodeChangeUser(payload: Buffer, capabilities: number): ChangeUser {
  const r = new PacketReader(payload, 1);
  const username = r.nulString();
  let authResponse: Buffer;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & CLIENT_SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.nulBytes();
  const database = r.remaining() > 0 ? r.nulOrRest() : "";
  const collation = r.remaining() >= 2 ? r.u16() & 0xff : null;
  const authPlugin = capabilities & CLIENT_PLUGIN_AUTH && r.remaining() > 0 ? r.nulOrRest() : null;
  let connectAttrs: Buffer | null = null;
  if (capabilities & CLIENT_CONNECT_ATTRS && r.remaining() > 0) {
    const start = r.offset;
    r.skip(r.lenenc());
    connectAttrs = payload.subarray(start, r.offset);
  }
  return { username, authResponse, database, collation, authPlugin, connectAttrs };
}

/**
 * A COM_STMT_* payload framed for the backend with the statement id (bytes 1..4) replaced: the
 * client's id becomes the backend's. Copies: the client's payload may still be needed as sent.
 */
export function frameWithStatementId(payload: Buffer, statementId: number): Buffer {
  const framed = framePayload(payload, 0);
  framed.writeUInt32LE(statementId >>> 0, 5); // header(4) + command(1)
  return framed;
}

/**
 * Put `statementId` into a COM_STMT_* packet as received (header + payload, one packet) in place,
 * and return it: the relay then forwards the client's own bytes with no copy. The caller must own
 * `raw` (a read-channel chunk, never reused by later reads) and must not need the client's id in it
 * afterwards.
 */
export function patchStatementId(raw: Buffer, statementId: number): Buffer {
  if (raw.length >= 9) raw.writeUInt32LE(statementId >>> 0, 5); // header(4) + command(1)
  return raw;
}

/** Replace the statement id of a framed COM_STMT_PREPARE_OK (the reply's first packet) in place. */
export function setPrepareOkStatementId(framedReply: Buffer, statementId: number): void {
  framedReply.writeUInt32LE(statementId >>> 0, 5); // header(4) + 0x00
}

export { ServerError };

export function encodeAuthMoreData(data: Buffer): Buffer {
  return new PacketWriter(data.length + 1).u8(0x01).bytes(data).payload();
}
