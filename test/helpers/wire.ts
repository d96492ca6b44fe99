/**
 * An independent, deliberately simple MySQL wire builder for tests (after node-postgres'
 * pg-protocol test buffers). Everything is built byte by byte into plain number arrays, straight
 * from the protocol documentation, so the expectations never share a bug with `src/protocol`:
 * this file must not import anything from `src/`.
 *
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
 * https://mariadb.com/kb/en/clientserver-protocol/
 */

export type Bytes = number[];

/** The longest payload a single packet carries; a payload this long continues in the next packet. */
export const MAX_PAYLOAD = 0xffffff;

// ---------------------------------------------------------------- integers and strings

export function int1(v: number): Bytes {
  return [v & 0xff];
}

export function int2(v: number): Bytes {
  return [v & 0xff, (v >>> 8) & 0xff];
}

export function int3(v: number): Bytes {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff];
}

export function int4(v: number): Bytes {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** 8-byte little-endian integer, for values up to 2^53. */
export function int8(v: number): Bytes {
  const lo = v % 0x100000000;
  const hi = Math.floor(v / 0x100000000);
  return [...int4(lo), ...int4(hi)];
}

/** Length-encoded integer: < 251 in one byte, then 0xFC + 2, 0xFD + 3, 0xFE + 8 bytes. */
export function lenenc(v: number): Bytes {
  if (v < 251) return [v];
  if (v < 0x10000) return [0xfc, ...int2(v)];
  if (v < 0x1000000) return [0xfd, ...int3(v)];
  return [0xfe, ...int8(v)];
}

const utf8 = new TextEncoder();

/** A string's UTF-8 bytes, no terminator. */
export function str(s: string): Bytes {
  return Array.from(utf8.encode(s));
}

/** A NUL-terminated string. */
export function nulStr(s: string): Bytes {
  return [...str(s), 0];
}

/** A length-encoded string (or byte array). */
export function lenencStr(s: string | Bytes): Bytes {
  const b = typeof s === "string" ? str(s) : s;
  return [...lenenc(b.length), ...b];
}

/** Bytes from a hex string; whitespace is ignored so captures can be laid out in lines. */
export function hex(h: string): Bytes {
  const clean = h.replace(/\s+/g, "");
  const out: Bytes = [];
  for (let i = 0; i < clean.length; i += 2) out.push(Number.parseInt(clean.slice(i, i + 2), 16));
  return out;
}

export function repeat(byte: number, n: number): Bytes {
  return new Array<number>(n).fill(byte);
}

// ---------------------------------------------------------------- packets

/** One packet: 3-byte length, sequence id, payload. Only for payloads shorter than 0xFFFFFF. */
export function packet(seq: number, payload: Bytes): Bytes {
  if (payload.length >= MAX_PAYLOAD)
    throw new Error("wire.packet: use bigPackets for payloads of 0xFFFFFF or more");
  return [...int3(payload.length), seq & 0xff, ...payload];
}

/** Consecutive packets with sequence ids counting up from `firstSeq` (1 for a server's response). */
export function packets(payloads: Bytes[], firstSeq = 1): Bytes {
  const out: Bytes = [];
  let seq = firstSeq;
  for (const p of payloads) {
    for (const b of packet(seq++, p)) out.push(b);
  }
  return out;
}

/**
 * A payload of any length cut into 0xFFFFFF-byte packets; the last packet is shorter, and empty
 * when the length is a multiple of 0xFFFFFF. Returns the packets as buffers (header + payload
 * slice each) and the next sequence id. Kept as buffers because 16 MiB arrays of numbers are slow.
 */
export function bigPackets(payload: Uint8Array, firstSeq: number): { bytes: Buffer; nextSeq: number } {
  const parts: Buffer[] = [];
  let seq = firstSeq;
  let off = 0;
  for (;;) {
    const n = Math.min(MAX_PAYLOAD, payload.length - off);
    parts.push(Buffer.from([...int3(n), seq & 0xff]));
    parts.push(Buffer.from(payload.buffer, payload.byteOffset + off, n));
    seq++;
    off += n;
    if (n < MAX_PAYLOAD) break;
  }
  return { bytes: Buffer.concat(parts), nextSeq: seq };
}

// ---------------------------------------------------------------- server messages (payloads)

export interface OkFields {
  /** 0x00 for OK; 0xFE for the OK that ends a result set under CLIENT_DEPRECATE_EOF. */
  header?: number;
  affectedRows?: number;
  lastInsertId?: number;
  status: number;
  warnings?: number;
  info?: string;
}

/** OK_Packet as sent without CLIENT_SESSION_TRACK: info is string<EOF>. */
export function okPayload(f: OkFields): Bytes {
  return [
    f.header ?? 0x00,
    ...lenenc(f.affectedRows ?? 0),
    ...lenenc(f.lastInsertId ?? 0),
    ...int2(f.status),
    ...int2(f.warnings ?? 0),
    ...str(f.info ?? ""),
  ];
}

/** EOF_Packet (protocol 4.1): 0xFE, warnings, status. */
export function eofPayload(status: number, warnings = 0): Bytes {
  return [0xfe, ...int2(warnings), ...int2(status)];
}

/** ERR_Packet (protocol 4.1): 0xFF, code, '#', SQLSTATE, message. */
export function errPayload(code: number, sqlState: string, message: string): Bytes {
  return [0xff, ...int2(code), 0x23, ...str(sqlState), ...str(message)];
}

/** LOCAL INFILE request: 0xFB and the file name (string<EOF>). */
export function localInfilePayload(filename: string): Bytes {
  return [0xfb, ...str(filename)];
}

export interface ColumnFields {
  name: string;
  schema?: string;
  table?: string;
  /** Column type: 0x03 LONG, 0x08 LONGLONG, 0xFD VAR_STRING ... */
  type?: number;
  charset?: number;
  length?: number;
  flags?: number;
  decimals?: number;
}

/** ColumnDefinition41. */
export function columnDefPayload(c: ColumnFields): Bytes {
  return [
    ...lenencStr("def"),
    ...lenencStr(c.schema ?? ""),
    ...lenencStr(c.table ?? ""),
    ...lenencStr(c.table ?? ""),
    ...lenencStr(c.name),
    ...lenencStr(c.name),
    0x0c,
    ...int2(c.charset ?? 45),
    ...int4(c.length ?? 1020),
    c.type ?? 0xfd,
    ...int2(c.flags ?? 0),
    c.decimals ?? 0,
    0,
    0,
  ];
}

/** A text-protocol row: each value a length-encoded string, NULL as 0xFB. */
export function textRowPayload(values: (string | Bytes | null)[]): Bytes {
  const out: Bytes = [];
  for (const v of values) {
    if (v === null) out.push(0xfb);
    else for (const b of lenencStr(v)) out.push(b);
  }
  return out;
}

/** A binary-protocol row of LONGLONG values: 0x00, NULL bitmap (offset 2), the non-NULL values. */
export function binaryRowPayload(values: (number | null)[]): Bytes {
  const bitmap = repeat(0, Math.floor((values.length + 7 + 2) / 8));
  const data: Bytes = [];
  values.forEach((v, i) => {
    if (v === null) bitmap[Math.floor((i + 2) / 8)] |= 1 << ((i + 2) % 8);
    else data.push(...int8(v));
  });
  return [0x00, ...bitmap, ...data];
}

/** COM_STMT_PREPARE_OK. */
export function prepareOkPayload(statementId: number, columns: number, params: number, warnings = 0): Bytes {
  return [0x00, ...int4(statementId), ...int2(columns), ...int2(params), 0x00, ...int2(warnings)];
}

// ---------------------------------------------------------------- whole responses (payload lists)

export interface ResultSetFields {
  columns: string[];
  /** Text rows (string values) or binary rows (numbers, LONGLONG columns). */
  rows: (string | null)[][] | (number | null)[][];
  binary?: boolean;
  deprecateEof: boolean;
  /** Status in the terminator (EOF, or OK with header 0xFE under CLIENT_DEPRECATE_EOF). */
  status: number;
  /** Status in the EOF after the column definitions (classic protocol only); defaults to `status`. */
  columnsEofStatus?: number;
}

/** column count, column definitions, [EOF], rows, EOF or 0xFE-OK. */
export function resultSetPayloads(r: ResultSetFields): Bytes[] {
  const out: Bytes[] = [lenenc(r.columns.length)];
  for (const name of r.columns) {
    out.push(columnDefPayload(r.binary ? { name, type: 0x08, charset: 63, length: 20 } : { name }));
  }
  if (!r.deprecateEof) out.push(eofPayload(r.columnsEofStatus ?? r.status));
  for (const row of r.rows) {
    out.push(
      r.binary ? binaryRowPayload(row as (number | null)[]) : textRowPayload(row as (string | null)[]),
    );
  }
  out.push(terminatorPayload(r.deprecateEof, r.status));
  return out;
}

/** The packet that ends rows: a classic EOF, or under CLIENT_DEPRECATE_EOF an OK with header 0xFE. */
export function terminatorPayload(deprecateEof: boolean, status: number, warnings = 0): Bytes {
  return deprecateEof ? okPayload({ header: 0xfe, status, warnings }) : eofPayload(status, warnings);
}

/** COM_STMT_PREPARE response: PREPARE_OK, parameter definitions [EOF], column definitions [EOF]. */
export function prepareResponsePayloads(
  statementId: number,
  params: number,
  columns: number,
  deprecateEof: boolean,
): Bytes[] {
  const out: Bytes[] = [prepareOkPayload(statementId, columns, params)];
  for (let i = 0; i < params; i++)
    out.push(columnDefPayload({ name: "?", type: 0xfd, charset: 63, length: 0 }));
  if (params > 0 && !deprecateEof) out.push(eofPayload(0x0002));
  for (let i = 0; i < columns; i++) out.push(columnDefPayload({ name: `c${i}`, table: "t", schema: "db" }));
  if (columns > 0 && !deprecateEof) out.push(eofPayload(0x0002));
  return out;
}

// ---------------------------------------------------------------- cutting a stream into chunks

/**
 * Every way the tests feed a byte stream: whole; in two chunks cut at every split point (or only
 * at `points` when given); byte by byte when `byteByByte`. Each chunk is a fresh copy, so a test
 * may scribble over a chunk once it has been fed (a reader that kept a reference would notice);
 * `views: true` hands out views of one copy instead, for streams of many megabytes.
 */
export function* chunkings(
  bytes: Uint8Array | Bytes,
  opts: { points?: number[]; byteByByte?: boolean; views?: boolean } = {},
): Generator<{ label: string; chunks: Buffer[] }> {
  const all = Buffer.from(bytes as Uint8Array);
  const cut = (from: number, to: number) =>
    opts.views ? all.subarray(from, to) : Buffer.from(all.subarray(from, to));
  yield { label: "whole", chunks: [cut(0, all.length)] };
  const points = opts.points ?? Array.from({ length: all.length - 1 }, (_, i) => i + 1);
  for (const p of points) {
    if (p <= 0 || p >= all.length) continue;
    yield { label: `cut at ${p}`, chunks: [cut(0, p), cut(p, all.length)] };
  }
  if (opts.byteByByte) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i++) chunks.push(Buffer.from([all[i]]));
    yield { label: "byte by byte", chunks };
  }
}

/** Points around each given offset (offset - 1, offset, offset + 1), for streams too big to cut everywhere. */
export function around(...offsets: number[]): number[] {
  const out = new Set<number>();
  for (const o of offsets) for (const d of [-1, 0, 1]) out.add(o + d);
  return [...out].sort((a, b) => a - b);
}
