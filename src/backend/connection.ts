/**
 * A connection from pairgate to one backend server: the client side of the protocol.
 *
 * `BackendConnection.open` does the handshake and authentication (as the same user the client
 * logged in as, with the password pairgate knows or the SHA1(password) the client's login
 * yielded) with capability flags compatible with the client's, so the command phase can be
 * relayed byte for byte. After that the session owns the socket's data events;
 * `runQuery`/`prepare` are for pairgate's own statements (state replay), used only while no
 * client command is in flight.
 */
import { constants as cryptoConstants, publicEncrypt } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { ReadChannel } from "../net/read-channel.js";
import { lastSocketError, ownErrors } from "../net/socket-errors.js";
import { WriteChannel } from "../net/write-channel.js";
import {
  CACHING_SHA2_PASSWORD,
  CLEAR_PASSWORD,
  type Credential,
  cachingSha2Token,
  NATIVE_PASSWORD,
  nativePasswordToken,
  nativeTokenFromStage1,
  SHA2_FAST_AUTH_SUCCESS,
  SHA2_PERFORM_FULL_AUTH,
  SHA2_REQUEST_PUBLIC_KEY,
} from "../protocol/auth.js";
import {
  CLIENT_CONNECT_ATTRS,
  CLIENT_CONNECT_WITH_DB,
  CLIENT_LONG_PASSWORD,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SSL,
  COM_QUERY,
  COM_QUIT,
  COM_STMT_CLOSE,
  COM_STMT_PREPARE,
  ERR_HEADER,
  OK_HEADER,
} from "../protocol/constants.js";
import { type ErrorCode, PairgateError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import {
  decodeAuthSwitch,
  decodeErrAsError,
  decodeHandshakeV10,
  encodeHandshakeResponse,
  encodeSslRequest,
  type HandshakeV10,
  okStatusAt,
  ServerError,
} from "../protocol/messages.js";
import { framePayload, PacketReader, PacketWriter, ProtocolError } from "../protocol/packet.js";
import { PacketQueue } from "../protocol/packet-queue.js";
import { ResponseKind, ResponseScanner } from "../protocol/response-scanner.js";

export type Role = "primary" | "secondary";

export interface BackendTarget {
  role: Role;
  host: string;
  port: number;
  tls?: { ca?: string; rejectUnauthorized: boolean };
}

export interface BackendLogin {
  username: string;
  /** The password, or SHA1(password) for an account read from the servers (mysql_native_password only). */
  password: Credential;
  database: string | null;
  collation: number;
  /** Capabilities the client negotiated with pairgate: the backend gets the same where it can. */
  capabilities: number;
  connectAttrs: Buffer | null;
  /** MariaDB extended capabilities the client negotiated with pairgate (bulk, extended metadata). */
  mariadbCapabilities?: number;
}

type BackendErrorCode = Extract<ErrorCode, `PAIRGATE_BACKEND_${string}`>;

/** A backend could not be reached, was lost, or asks for what pairgate cannot do. */
export class BackendError extends PairgateError {
  constructor(
    message: string,
    code: BackendErrorCode,
    readonly role: Role,
  ) {
    super(code, message);
  }
}

const MAX_BACKEND_PACKET = 1 << 30;

/** What a server's greeting announced that pairgate's own greeting repeats (issue 20). */
export interface ServerGreeting {
  collation: number;
  statusFlags: number;
  capabilities: number;
  mariadbCapabilities: number;
}

/** The last greeting each server (host:port) sent, from any login of this process. */
const greetings = new Map<string, ServerGreeting>();

/** The greeting `target` sent at the last login to it, or null before the first. */
export function serverGreetingOf(target: { host: string; port: number }): ServerGreeting | null {
  return greetings.get(`${target.host}:${target.port}`) ?? null;
}

export class BackendConnection {
  /** Only this class and the session's backend slot (through the methods below) touch the socket. */
  private readonly socket: Socket;
  private readonly channel: ReadChannel;
  /** Commands relayed to this backend go out through this (straight to the handle when idle). */
  private readonly out: WriteChannel;
  readonly role: Role;
  readonly serverVersion: string;
  readonly connectionId: number;
  /** Negotiated capabilities on this hop (what the scanner must assume). */
  readonly capabilities: number;
  /** Status flags from the last OK we saw during open/replay. */
  status: number;
  closed = false;

  private constructor(
    socket: Socket,
    channel: ReadChannel,
    role: Role,
    hs: HandshakeV10,
    caps: number,
    status: number,
  ) {
    this.socket = socket;
    this.channel = channel;
    this.out = new WriteChannel(socket);
    this.role = role;
    this.serverVersion = hs.serverVersion;
    this.connectionId = hs.connectionId;
    this.capabilities = caps;
    this.status = status;
    ownErrors(socket);
    socket.once("close", () => {
      this.closed = true;
    });
  }

  /** Connect, handshake and log in. Rejects with BackendError (network) or ServerError (refused login). */
  static async open(
    target: BackendTarget,
    login: BackendLogin,
    connectTimeoutMs: number,
  ): Promise<BackendConnection> {
    // TLS wraps the socket's handle, so only a plain connection reads with `onread`.
    const plainChannel = target.tls ? null : new ReadChannel();
    const socket = await connectSocket(target, connectTimeoutMs, plainChannel);
    const reader = new HandshakeReader(socket, target.role, plainChannel);
    const timer = setTimeout(() => {
      reader.fail(
        new BackendError(
          `${target.role} ${target.host}:${target.port} did not finish the handshake in ${connectTimeoutMs} ms`,
          "PAIRGATE_BACKEND_TIMEOUT",
          target.role,
        ),
      );
      socket.destroy();
    }, connectTimeoutMs);
    try {
      const result = await handshake(socket, reader, target, login);
      clearTimeout(timer);
      const { collation, statusFlags, capabilities, mariadbCapabilities } = result.hs;
      greetings.set(`${target.host}:${target.port}`, {
        collation,
        statusFlags,
        capabilities,
        mariadbCapabilities,
      });
      reader.detach();
      result.socket.setNoDelay(true);
      result.socket.setKeepAlive(true, 10_000);
      const channel = plainChannel ?? ReadChannel.fromDataEvents(result.socket);
      return new BackendConnection(
        result.socket,
        channel,
        target.role,
        result.hs,
        result.caps,
        result.status,
      );
    } catch (e) {
      clearTimeout(timer);
      reader.detach();
      socket.destroy();
      throw e;
    }
  }

  /** Run one of pairgate's own statements (session replay). The session must not relay meanwhile. */
  async runQuery(sql: string): Promise<void> {
    await this.ownQuery(sql);
  }

  /**
   * Run one of pairgate's own queries and return its first row as text (null for SQL NULL), or
   * null when it returned no row. Same rule as `runQuery`: the session must not relay meanwhile.
   */
  async queryRow(sql: string): Promise<(string | null)[] | null> {
    return firstTextRow(await this.ownQuery(sql));
  }

  /** Every row of one of pairgate's own queries, values as utf8 text (null for SQL NULL). */
  async queryRows(sql: string): Promise<(string | null)[][]> {
    return textRows(await this.ownQuery(sql));
  }

  /** One of pairgate's own statements: its whole reply, or the server's error thrown. */
  private async ownQuery(sql: string): Promise<Buffer> {
    const payload = new PacketWriter(sql.length + 1).u8(COM_QUERY).string(sql).payload();
    const scanner = new ResponseScanner();
    scanner.begin(ResponseKind.Query, this.capabilities);
    const reply = await this.exchange(payload, scanner);
    if (scanner.failed) throw firstErr(reply);
    this.status = scanner.status;
    return reply;
  }

  /** Prepare a statement here (moving a session's statements to this backend). */
  async prepare(sql: string | Buffer): Promise<{ statementId: number; params: number; columns: number }> {
    const payload =
      typeof sql === "string"
        ? new PacketWriter(sql.length + 1).u8(COM_STMT_PREPARE).string(sql).payload()
        : Buffer.concat([Buffer.from([COM_STMT_PREPARE]), sql]);
    const scanner = new ResponseScanner();
    scanner.begin(ResponseKind.Prepare, this.capabilities);
    const reply = await this.exchange(payload, scanner);
    if (scanner.failed || !scanner.prepared) throw firstErr(reply);
    return scanner.prepared;
  }

  /**
   * Hand the command phase to a relay: every chunk read goes to `onData` (the chunk may be kept;
   * see ReadChannel's buffer lifetime rule), a close to `onClose`.
   */
  attach(
    onData: (chunk: Buffer) => void,
    onClose: () => void,
    onError: (e: NodeJS.ErrnoException) => void,
  ): void {
    this.channel.handler = onData;
    this.socket.on("close", onClose);
    this.socket.on("error", onError);
  }

  /** Undo `attach`; later errors are swallowed (the connection is being let go). */
  detach(onClose: () => void, onError: (e: NodeJS.ErrnoException) => void): void {
    this.channel.handler = noop;
    this.socket.off("close", onClose);
    this.socket.off("error", onError);
    this.socket.on("error", noop);
  }

  /**
   * Send bytes already framed (straight to the socket's handle when nothing is queued; see
   * WriteChannel). The buffer must not be changed afterwards. False: the kernel did not take all
   * of it and the socket's buffer is past its high-water mark.
   */
  write(framed: Buffer): boolean {
    return this.out.write(framed);
  }

  /** Backpressure: stop reading while the client cannot take more. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (this.socket.isPaused()) this.socket.resume();
  }

  closeStatement(statementId: number): void {
    if (this.closed) return;
    this.socket.write(framePayload(new PacketWriter(5).u8(COM_STMT_CLOSE).u32(statementId).payload(), 0));
  }

  private exchange(payload: Buffer, scanner: ResponseScanner): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      // A connection already closed sends no 'close' any more: waiting for one would hang.
      if (this.closed || this.socket.destroyed) {
        reject(new BackendError(`${this.role} closed the connection`, "PAIRGATE_BACKEND_LOST", this.role));
        return;
      }
      const chunks: Buffer[] = [];
      const previous = this.channel.handler;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        if (scanner.feed(chunk)) {
          cleanup();
          resolve(Buffer.concat(chunks));
        }
      };
      const onClose = () => {
        cleanup();
        const why = lastSocketError(this.socket);
        reject(
          new BackendError(
            `${this.role} closed the connection${why ? ` (${why.code ?? why.message})` : ""}`,
            "PAIRGATE_BACKEND_LOST",
            this.role,
          ),
        );
      };
      const cleanup = () => {
        this.channel.handler = previous;
        this.socket.off("close", onClose);
      };
      this.channel.handler = onData;
      this.socket.on("close", onClose);
      this.socket.write(framePayload(payload, 0));
    });
  }

  /** Polite close: COM_QUIT, then end. */
  quit(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end(framePayload(Buffer.from([COM_QUIT]), 0));
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

const noop = (): void => {};

/** The first row of a text result set (whole response in `reply`), values as utf8 text. */
function firstTextRow(reply: Buffer): (string | null)[] | null {
  const packets: Buffer[] = [];
  for (let off = 0; off + 4 <= reply.length; ) {
    const len = reply[off] | (reply[off + 1] << 8) | (reply[off + 2] << 16);
    packets.push(reply.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (packets.length === 0 || packets[0][0] === 0x00) return null;
  const columns = packets[0][0];
  let i = 1 + columns;
  const isEof = (p: Buffer | undefined) => p !== undefined && p[0] === 0xfe && p.length < 9;
  if (isEof(packets[i])) i++; // without CLIENT_DEPRECATE_EOF
  const row = packets[i];
  if (!row || isEof(row) || row[0] === 0xff) return null;
  const out: (string | null)[] = [];
  let p = 0;
  for (let c = 0; c < columns && p < row.length; c++) {
    let len = row[p];
    if (len === 0xfb) {
      out.push(null);
      p++;
      continue;
    }
    if (len === 0xfc) {
      len = row[p + 1] | (row[p + 2] << 8);
      p += 3;
    } else if (len === 0xfd) {
      len = row[p + 1] | (row[p + 2] << 8) | (row[p + 3] << 16);
      p += 4;
    } else p++;
    out.push(row.toString("utf8", p, p + len));
    p += len;
  }
  return out;
}

/** Every row of a text result set (whole response in `reply`), values as utf8 text. */
function textRows(reply: Buffer): (string | null)[][] {
  const packets: Buffer[] = [];
  for (let off = 0; off + 4 <= reply.length; ) {
    const len = reply[off] | (reply[off + 1] << 8) | (reply[off + 2] << 16);
    packets.push(reply.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (packets.length === 0 || packets[0][0] === 0x00) return [];
  const r0 = new PacketReader(packets[0]);
  const columns = Number(r0.lenenc());
  const isEof = (p: Buffer | undefined) => p !== undefined && p[0] === 0xfe && p.length < 9;
  let i = 1 + columns;
  if (isEof(packets[i])) i++; // without CLIENT_DEPRECATE_EOF
  const rows: (string | null)[][] = [];
  for (; i < packets.length; i++) {
    const row = packets[i];
    if (isEof(row) || row[0] === 0xff) break;
    const r = new PacketReader(row);
    const out: (string | null)[] = [];
    for (let c = 0; c < columns; c++) {
      if (row[r.offset] === 0xfb) {
        r.skip(1);
        out.push(null);
      } else out.push(r.lenencBytes().toString("utf8"));
    }
    rows.push(out);
  }
  return rows;
}

function firstErr(reply: Buffer): Error {
  // The reply's last ERR packet: for our single statements it is the first packet.
  let i = 0;
  while (i + 4 <= reply.length) {
    const len = reply.readUIntLE(i, 3);
    if (reply[i + 4] === ERR_HEADER) return decodeErrAsError(reply.subarray(i + 4, i + 4 + len));
    i += 4 + len;
  }
  return new ProtocolError("backend answered with an unexpected packet");
}

function connectSocket(
  target: BackendTarget,
  timeoutMs: number,
  channel: ReadChannel | null,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host: target.host,
      port: target.port,
      noDelay: true,
      ...(channel ? { onread: channel.onread } : {}),
    });
    ownErrors(socket); // for its whole life: the listeners below come and go
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new BackendError(
          `could not connect to ${target.role} ${target.host}:${target.port} within ${timeoutMs} ms`,
          "PAIRGATE_BACKEND_TIMEOUT",
          target.role,
        ),
      );
    }, timeoutMs);
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new BackendError(
          `could not connect to ${target.role} ${target.host}:${target.port}: ${e.code ?? e.message}`,
          "PAIRGATE_BACKEND_UNREACHABLE",
          target.role,
        ),
      );
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

/** Feeds a PacketQueue from a socket during login; detached once the command phase begins. */
class HandshakeReader {
  private queue = new PacketQueue(MAX_BACKEND_PACKET);
  private socket: Socket;

  constructor(
    socket: Socket,
    private role: Role,
    private channel: ReadChannel | null,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Listen on a socket: through the `onread` channel while it is the plain one, else 'data' (TLS). */
  attach(socket: Socket): void {
    const viaChannel = this.channel !== null && socket === this.socket && !this.attachedOnce;
    this.attachedOnce = true;
    this.socket = socket;
    if (viaChannel) this.channel!.handler = this.onData;
    else socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
  }

  detach(): void {
    if (this.channel) this.channel.handler = () => {};
    this.socket.off("data", this.onData);
    this.socket.off("close", this.onClose);
    this.socket.off("error", this.onError);
  }

  private attachedOnce = false;

  next(): Promise<Packet> {
    return this.queue.next();
  }

  fail(e: Error): void {
    this.queue.fail(e);
  }

  private onData = (chunk: Buffer) => this.queue.push(chunk);
  private onClose = () =>
    this.fail(
      new BackendError(`${this.role} closed the connection during login`, "PAIRGATE_BACKEND_LOST", this.role),
    );
  private onError = (e: NodeJS.ErrnoException) =>
    this.fail(new BackendError(`${this.role}: ${e.code ?? e.message}`, "PAIRGATE_BACKEND_ERROR", this.role));
}

function authToken(plugin: string, credential: Credential, scramble: Buffer, secure: boolean): Buffer {
  if (typeof credential !== "string") {
    // SHA1(password) answers mysql_native_password and nothing else.
    if (plugin === NATIVE_PASSWORD) return nativeTokenFromStage1(credential.nativeStage1, scramble);
    throw new BackendError(
      `the backend asks for authentication plugin ${plugin}; for an account read from the servers pairgate holds only its mysql_native_password hash`,
      "PAIRGATE_BACKEND_AUTH_PLUGIN",
      "primary",
    );
  }
  if (plugin === NATIVE_PASSWORD) return nativePasswordToken(credential, scramble);
  if (plugin === CACHING_SHA2_PASSWORD) return cachingSha2Token(credential, scramble);
  if (plugin === CLEAR_PASSWORD && secure) return Buffer.from(`${credential}\0`, "utf8");
  throw new BackendError(
    `the backend asks for authentication plugin ${plugin}, which pairgate does not support${plugin === CLEAR_PASSWORD ? " without TLS" : ""}`,
    "PAIRGATE_BACKEND_AUTH_PLUGIN",
    "primary",
  );
}

/** The cleartext password the caching_sha2 full authentication sends; an error for a hash. */
function cleartext(credential: Credential): string {
  if (typeof credential === "string") return credential;
  throw new BackendError(
    "the backend asks for caching_sha2_password full authentication; for an account read from the servers pairgate holds only its mysql_native_password hash",
    "PAIRGATE_BACKEND_AUTH_PLUGIN",
    "primary",
  );
}

async function handshake(
  plain: Socket,
  reader: HandshakeReader,
  target: BackendTarget,
  login: BackendLogin,
): Promise<{ socket: Socket; hs: HandshakeV10; caps: number; status: number }> {
  const first = await reader.next();
  if (first.payload[0] === ERR_HEADER) throw decodeErrAsError(first.payload);
  const hs = decodeHandshakeV10(first.payload);
  const required = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
  let caps = (login.capabilities | required) & hs.capabilities;
  caps &= ~CLIENT_SSL;
  if (login.database) caps |= CLIENT_CONNECT_WITH_DB & hs.capabilities;
  else caps &= ~CLIENT_CONNECT_WITH_DB;
  if (!login.connectAttrs) caps &= ~CLIENT_CONNECT_ATTRS;
  let seq = first.seq + 1;
  let socket: Socket = plain;
  let secure = false;
  if (target.tls) {
    if (!(hs.capabilities & CLIENT_SSL)) {
      throw new BackendError(
        `${target.role} does not offer TLS but the config asks for it`,
        "PAIRGATE_BACKEND_NO_TLS",
        target.role,
      );
    }
    plain.write(framePayload(encodeSslRequest(caps, MAX_BACKEND_PACKET, login.collation), seq++));
    reader.detach();
    socket = await upgradeTls(plain, target);
    reader.attach(socket);
    caps |= CLIENT_SSL;
    secure = true;
  }
  let plugin = hs.authPlugin;
  let scramble = hs.scramble;
  let token: Buffer;
  try {
    token = authToken(plugin, login.password, scramble, secure);
  } catch {
    plugin = NATIVE_PASSWORD;
    token = authToken(NATIVE_PASSWORD, login.password, scramble, secure);
  }
  socket.write(
    framePayload(
      encodeHandshakeResponse({
        capabilities: caps,
        maxPacketSize: MAX_BACKEND_PACKET,
        collation: login.collation,
        username: login.username,
        authResponse: token,
        database: login.database,
        authPlugin: plugin,
        connectAttrs: login.connectAttrs,
        // Read by a MariaDB server only when bit 0 (CLIENT_MYSQL) is clear, as a MariaDB client sends it.
        mariadbCapabilities:
          caps & CLIENT_LONG_PASSWORD ? 0 : (login.mariadbCapabilities ?? 0) & hs.mariadbCapabilities,
      }),
      seq++,
    ),
  );
  for (;;) {
    const p = await reader.next();
    seq = p.seq + 1;
    const h = p.payload[0];
    if (h === OK_HEADER) {
      const status = okStatusAt(p.payload);
      return { socket, hs, caps, status };
    }
    if (h === ERR_HEADER) throw decodeErrAsError(p.payload);
    if (h === 0xfe) {
      const sw = decodeAuthSwitch(p.payload);
      plugin = sw.plugin;
      scramble = sw.data.length >= 20 ? sw.data : scramble;
      socket.write(framePayload(authToken(plugin, login.password, scramble, secure), seq++));
      continue;
    }
    if (h === 0x01 && plugin === CACHING_SHA2_PASSWORD) {
      const what = p.payload[1];
      if (what === SHA2_FAST_AUTH_SUCCESS) continue; // the OK follows
      if (what === SHA2_PERFORM_FULL_AUTH) {
        if (secure) {
          socket.write(framePayload(Buffer.from(`${cleartext(login.password)}\0`, "utf8"), seq++));
        } else {
          socket.write(framePayload(Buffer.from([SHA2_REQUEST_PUBLIC_KEY]), seq++));
        }
        continue;
      }
      // AuthMoreData carrying the server's RSA public key.
      const key = p.payload.subarray(1).toString("latin1");
      const clear = Buffer.from(`${cleartext(login.password)}\0`, "utf8");
      for (let i = 0; i < clear.length; i++) clear[i] ^= scramble[i % scramble.length];
      const encrypted = publicEncrypt({ key, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING }, clear);
      socket.write(framePayload(encrypted, seq++));
      continue;
    }
    throw new ProtocolError(`unexpected packet 0x${h.toString(16)} during login to ${target.role}`);
  }
}

function upgradeTls(socket: Socket, target: BackendTarget): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      socket,
      servername: /^[\d.]+$|:/.test(target.host) ? undefined : target.host,
      ca: target.tls?.ca ? readFileSync(target.tls.ca) : undefined,
      rejectUnauthorized: target.tls?.rejectUnauthorized ?? true,
      // The lab certificate names 127.0.0.1/localhost; an IP needs checkServerIdentity's default.
    });
    ownErrors(s, socket);
    const onError = (e: Error) =>
      reject(
        new BackendError(`TLS to ${target.role} failed: ${e.message}`, "PAIRGATE_BACKEND_TLS", target.role),
      );
    s.once("error", onError);
    s.once("secureConnect", () => {
      s.off("error", onError);
      resolve(s);
    });
  });
}

export { ServerError };
