/**
 * A tiny raw MySQL client for tests that need bytes no driver sends: cursors (COM_STMT_FETCH),
 * COM_FIELD_LIST, COM_STATISTICS, unknown command bytes, broken packets. Written from the protocol
 * documentation and deliberately independent of `src/` (it must not share a bug with pairgate).
 *
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
 */
import { createHash } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export const CAP = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  LOCAL_FILES: 0x80,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/** What the raw client asks for by default: a classic 4.1 client (EOF packets, no attributes). */
export const DEFAULT_CAPS =
  CAP.LONG_PASSWORD |
  CAP.LONG_FLAG |
  CAP.CONNECT_WITH_DB |
  CAP.PROTOCOL_41 |
  CAP.TRANSACTIONS |
  CAP.SECURE_CONNECTION |
  CAP.MULTI_STATEMENTS |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.PLUGIN_AUTH |
  CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA;

export const SERVER_STATUS_CURSOR_EXISTS = 0x40;
export const SERVER_STATUS_LAST_ROW_SENT = 0x80;

export interface RawPacket {
  seq: number;
  payload: Buffer;
}

export interface ErrInfo {
  code: number;
  sqlState: string;
  message: string;
}

/** Thrown (or returned) for an ERR packet. */
export class RawServerError extends Error {
  constructor(
    readonly code: number,
    readonly sqlState: string,
    message: string,
    readonly seq: number,
  ) {
    super(message);
    this.name = "RawServerError";
  }
}

export class ConnectionClosed extends Error {
  constructor(readonly bytesPending: number) {
    super("the server closed the connection");
    this.name = "ConnectionClosed";
  }
}

export class ReadTimeout extends Error {
  constructor(ms: number) {
    super(`no packet within ${ms} ms`);
    this.name = "ReadTimeout";
  }
}

export function isErr(p: RawPacket): boolean {
  return p.payload[0] === 0xff;
}

export function parseErr(p: RawPacket): ErrInfo {
  const b = p.payload;
  const code = b.readUInt16LE(1);
  if (b[3] === 0x23) {
    return { code, sqlState: b.toString("latin1", 4, 9), message: b.toString("utf8", 9) };
  }
  return { code, sqlState: "", message: b.toString("utf8", 3) };
}

export function errOf(p: RawPacket): RawServerError {
  const e = parseErr(p);
  return new RawServerError(e.code, e.sqlState, e.message, p.seq);
}

/** One framed packet (payload < 16 MiB). */
export function frame(seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq & 0xff;
  out.set(payload, 4);
  return out;
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha1");
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

export function nativeToken(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const s1 = sha1(Buffer.from(password));
  const s2 = sha1(s1);
  const s3 = sha1(scramble.subarray(0, 20), s2);
  return Buffer.from(s1.map((b, i) => b ^ s3[i]));
}

export function sha2Token(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const p1 = sha256(Buffer.from(password));
  const p2 = sha256(p1);
  const p3 = sha256(p2, scramble.subarray(0, 20));
  return Buffer.from(p1.map((b, i) => b ^ p3[i]));
}

export interface Greeting {
  serverVersion: string;
  connectionId: number;
  scramble: Buffer;
  capabilities: number;
  plugin: string;
}

export function parseGreeting(payload: Buffer): Greeting {
  let o = 1;
  const vEnd = payload.indexOf(0, o);
  const serverVersion = payload.toString("latin1", o, vEnd);
  o = vEnd + 1;
  const connectionId = payload.readUInt32LE(o);
  o += 4;
  const s1 = payload.subarray(o, o + 8);
  o += 9;
  let caps = payload.readUInt16LE(o);
  o += 2 + 1 + 2; // lower caps, charset, status
  caps |= payload.readUInt16LE(o) << 16;
  o += 2;
  const authLen = payload[o];
  o += 1 + 10;
  const n2 = Math.max(13, authLen - 8);
  const s2 = payload.subarray(o, o + n2 - 1); // without the trailing NUL
  o += n2;
  const pEnd = payload.indexOf(0, o);
  const plugin = payload.toString("latin1", o, pEnd < 0 ? payload.length : pEnd);
  return { serverVersion, connectionId, scramble: Buffer.concat([s1, s2]), capabilities: caps >>> 0, plugin };
}

export interface HandshakeResponseFields {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  plugin?: string;
  collation?: number;
}

export function handshakeResponse(f: HandshakeResponseFields): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(32);
  head.writeUInt32LE(f.capabilities >>> 0, 0);
  head.writeUInt32LE(1 << 30, 4);
  head[8] = f.collation ?? 45;
  parts.push(head, Buffer.from(`${f.user}\0`));
  // Length-encoded (PLUGIN_AUTH_LENENC_CLIENT_DATA) or one length byte: the same for tokens < 251 bytes.
  parts.push(Buffer.from([f.authResponse.length]), f.authResponse);
  if (f.capabilities & CAP.CONNECT_WITH_DB) parts.push(Buffer.from(`${f.database ?? ""}\0`));
  if (f.capabilities & CAP.PLUGIN_AUTH) parts.push(Buffer.from(`${f.plugin ?? "mysql_native_password"}\0`));
  return Buffer.concat(parts);
}

export function sslRequest(capabilities: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE((capabilities | CAP.SSL) >>> 0, 0);
  b.writeUInt32LE(1 << 30, 4);
  b[8] = 45;
  return b;
}

/** A socket with a packet reader on top. */
export class RawConnection {
  socket: Socket;
  greeting: Greeting | null = null;
  capabilities = 0;
  closed = false;
  /** Bytes of AuthMoreData the server sent during login (caching_sha2: 0x03 fast, 0x04 full). */
  authMoreData: number[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(s: Socket): void {
    s.on("data", this.onData);
    s.on("close", this.onClose);
    s.on("error", () => {});
  }

  private onData = (c: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    this.waiter?.();
  };

  private onClose = () => {
    this.closed = true;
    this.waiter?.();
  };

  static connect(port: number, host = "127.0.0.1", timeoutMs = 5000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host, port, noDelay: true });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.removeAllListeners("error");
        resolve(new RawConnection(s));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /** Bytes received and not yet read as packets. */
  get pending(): number {
    return this.buf.length;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  send(seq: number, payload: Uint8Array): void {
    this.write(frame(seq, payload));
  }

  /** The next whole packet; rejects with ConnectionClosed or ReadTimeout. */
  async read(timeoutMs = 10_000): Promise<RawPacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const p = { seq: this.buf[3], payload: Buffer.from(this.buf.subarray(4, 4 + len)) };
          this.buf = this.buf.subarray(4 + len);
          return p;
        }
      }
      if (this.closed) throw new ConnectionClosed(this.buf.length);
      const left = deadline - Date.now();
      if (left <= 0) throw new ReadTimeout(timeoutMs);
      await this.wake(left);
    }
  }

  /** Resolves when the server has closed the connection (or rejects after `timeoutMs`). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the server did not close the connection within ${timeoutMs} ms`);
      await this.wake(left);
    }
  }

  /** Resolves on the next data or close, or after `ms`, whichever comes first. */
  private wake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve();
      }, ms);
      this.waiter = () => {
        clearTimeout(t);
        this.waiter = null;
        resolve();
      };
    });
  }

  async readGreeting(timeoutMs = 10_000): Promise<Greeting> {
    const p = await this.read(timeoutMs);
    if (isErr(p)) throw errOf(p);
    this.greeting = parseGreeting(p.payload);
    return this.greeting;
  }

  /**
   * Log in. `plugin` picks the token sent in the handshake response; auth switch to
   * mysql_native_password and caching_sha2's AuthMoreData are followed. With `tls`, an SSLRequest
   * and a TLS upgrade come first.
   */
  async login(opts: {
    user: string;
    password: string;
    database?: string;
    capabilities?: number;
    plugin?: "mysql_native_password" | "caching_sha2_password";
    tls?: { ca: Buffer | string };
    /** The handshake's collation id (the session's character set from the first byte); 45 by default. */
    collation?: number;
  }): Promise<void> {
    const g = this.greeting ?? (await this.readGreeting());
    let caps = (opts.capabilities ?? DEFAULT_CAPS) & (g.capabilities | CAP.SSL);
    if (!opts.database) caps &= ~CAP.CONNECT_WITH_DB;
    let seq = 1;
    if (opts.tls) {
      caps |= CAP.SSL;
      this.send(seq++, sslRequest(caps));
      await this.upgrade(opts.tls.ca);
    }
    this.capabilities = caps;
    const plugin = opts.plugin ?? "mysql_native_password";
    const token =
      plugin === "caching_sha2_password"
        ? sha2Token(opts.password, g.scramble)
        : nativeToken(opts.password, g.scramble);
    this.send(
      seq++,
      handshakeResponse({
        capabilities: caps,
        user: opts.user,
        authResponse: token,
        database: opts.database,
        plugin,
        collation: opts.collation,
      }),
    );
    for (;;) {
      const p = await this.read();
      const h = p.payload[0];
      if (h === 0x00) return;
      if (h === 0xff) throw errOf(p);
      if (h === 0xfe) {
        // Auth switch: plugin name, then data.
        const nul = p.payload.indexOf(0, 1);
        const name = p.payload.toString("latin1", 1, nul);
        let data = p.payload.subarray(nul + 1);
        if (data.length && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
        const answer =
          name === "caching_sha2_password"
            ? sha2Token(opts.password, data)
            : nativeToken(opts.password, data);
        this.send(p.seq + 1, answer);
        continue;
      }
      if (h === 0x01) {
        this.authMoreData.push(p.payload[1]);
        if (p.payload[1] === 0x03) continue;
        if (p.payload[1] === 0x04) {
          if (!opts.tls) throw new Error("server asked for full authentication without TLS");
          this.send(p.seq + 1, Buffer.from(`${opts.password}\0`));
          continue;
        }
      }
      throw new Error(`unexpected login packet 0x${h.toString(16)}`);
    }
  }

  private upgrade(ca: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.off("data", this.onData);
      this.socket.off("close", this.onClose);
      const s = tlsConnect({ socket: this.socket, ca, servername: undefined, host: "127.0.0.1" });
      s.once("secureConnect", () => {
        s.removeAllListeners("error");
        this.socket = s;
        this.attach(s);
        resolve();
      });
      s.once("error", reject);
    });
  }

  /** Send a command (sequence id 0) and return its first response packet. */
  async command(payload: Uint8Array, timeoutMs?: number): Promise<RawPacket> {
    this.send(0, payload);
    return this.read(timeoutMs);
  }

  /** A command whose answer is OK, ERR or a result set: the whole response, rows as raw payloads. */
  async query(payload: Uint8Array, timeoutMs?: number): Promise<ResultSet> {
    const first = await this.command(payload, timeoutMs);
    return this.readResult(first, timeoutMs);
  }

  async readResult(first: RawPacket, timeoutMs?: number): Promise<ResultSet> {
    const h = first.payload[0];
    if (h === 0xff) throw errOf(first);
    if (h === 0x00) return { columns: 0, rows: [], status: okStatus(first.payload), cursor: false };
    const columns = lenencAt(first.payload, 0);
    for (let i = 0; i < columns; i++) await this.read(timeoutMs);
    const deprecateEof = (this.capabilities & CAP.DEPRECATE_EOF) !== 0;
    let cursor = false;
    if (!deprecateEof) {
      const eof = await this.read(timeoutMs);
      if (eof.payload[0] !== 0xfe) throw new Error("expected EOF after the column definitions");
      const status = eof.payload.readUInt16LE(3);
      if (status & SERVER_STATUS_CURSOR_EXISTS) return { columns, rows: [], status, cursor: true };
    }
    const rest = await this.readRows(timeoutMs);
    cursor = (rest.status & SERVER_STATUS_CURSOR_EXISTS) !== 0 && rest.rows.length === 0;
    return { columns, ...rest, cursor };
  }

  /** Rows until the EOF (or 0xFE OK); an ERR is thrown. */
  async readRows(timeoutMs?: number): Promise<{ rows: Buffer[]; status: number }> {
    const rows: Buffer[] = [];
    const deprecateEof = (this.capabilities & CAP.DEPRECATE_EOF) !== 0;
    for (;;) {
      const p = await this.read(timeoutMs);
      if (p.payload[0] === 0xff) throw errOf(p);
      if (p.payload[0] === 0xfe && p.payload.length < 0xffffff) {
        const status = deprecateEof ? okStatus(p.payload) : p.payload.readUInt16LE(3);
        return { rows, status };
      }
      rows.push(p.payload);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ResultSet {
  columns: number;
  rows: Buffer[];
  status: number;
  /** COM_STMT_EXECUTE opened a cursor: rows come with COM_STMT_FETCH. */
  cursor: boolean;
}

export function lenencAt(b: Buffer, off: number): number {
  const v = b[off];
  if (v < 0xfb) return v;
  if (v === 0xfc) return b.readUInt16LE(off + 1);
  if (v === 0xfd) return b.readUIntLE(off + 1, 3);
  return Number(b.readBigUInt64LE(off + 1));
}

function lenencSize(b: Buffer, off: number): number {
  const v = b[off];
  return v < 0xfb ? 1 : v === 0xfc ? 3 : v === 0xfd ? 4 : 9;
}

export function okStatus(payload: Buffer): number {
  let o = 1;
  o += lenencSize(payload, o);
  o += lenencSize(payload, o);
  return payload.readUInt16LE(o);
}

/** Text-protocol row values (lenenc strings, NULL as null). */
export function textRow(payload: Buffer): (string | null)[] {
  const out: (string | null)[] = [];
  let o = 0;
  while (o < payload.length) {
    if (payload[o] === 0xfb) {
      out.push(null);
      o++;
      continue;
    }
    const n = lenencAt(payload, o);
    o += lenencSize(payload, o);
    out.push(payload.toString("utf8", o, o + n));
    o += n;
  }
  return out;
}

// ---------------------------------------------------------------- command payloads

export function comQuery(sql: string): Buffer {
  return Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]);
}

export function comPrepare(sql: string): Buffer {
  return Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]);
}

/** COM_STMT_EXECUTE without parameters. flags: 0x00 no cursor, 0x01 CURSOR_TYPE_READ_ONLY. */
export function comExecute(statementId: number, flags = 0): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x17;
  b.writeUInt32LE(statementId, 1);
  b[5] = flags;
  b.writeUInt32LE(1, 6); // iteration count
  return b;
}

export function comFetch(statementId: number, rows: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0x1c;
  b.writeUInt32LE(statementId, 1);
  b.writeUInt32LE(rows, 5);
  return b;
}

export function comStmtClose(statementId: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0x19;
  b.writeUInt32LE(statementId, 1);
  return b;
}

export function comFieldList(table: string, wildcard = ""): Buffer {
  return Buffer.concat([Buffer.from([0x04]), Buffer.from(`${table}\0${wildcard}`)]);
}

/** Read a COM_STMT_PREPARE response: statement id, parameter and column counts. */
export async function readPrepareOk(
  c: RawConnection,
  first: RawPacket,
): Promise<{ statementId: number; params: number; columns: number }> {
  if (isErr(first)) throw errOf(first);
  const p = first.payload;
  const statementId = p.readUInt32LE(1);
  const columns = p.readUInt16LE(5);
  const params = p.readUInt16LE(7);
  const deprecateEof = (c.capabilities & CAP.DEPRECATE_EOF) !== 0;
  for (let i = 0; i < params; i++) await c.read();
  if (params > 0 && !deprecateEof) await c.read();
  for (let i = 0; i < columns; i++) await c.read();
  if (columns > 0 && !deprecateEof) await c.read();
  return { statementId, params, columns };
}

/** Connect and log in as `user`; the usual start of a raw test. */
export async function rawLogin(
  port: number,
  opts: Parameters<RawConnection["login"]>[0],
): Promise<RawConnection> {
  const c = await RawConnection.connect(port);
  try {
    await c.login(opts);
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}
