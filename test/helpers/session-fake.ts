/**
 * A SessionHandler in-process, with no server: the real CommandLoop on a fake client socket, the
 * real StatementMap, AuditGate and StatementContext, and a fake backend slot (`FakeSlot`) whose
 * every answer the test decides — connect now or later or never, respond, lose the backend. What
 * the client receives is read back as packets (`replies`).
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { Role } from "../../src/backend/connection.js";
import type { Logger } from "../../src/observability/logger.js";
import { nativePasswordToken } from "../../src/protocol/auth.js";
import {
  CLIENT_CONNECT_WITH_DB,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_IN_TRANS,
} from "../../src/protocol/constants.js";
import type { Packet } from "../../src/protocol/framer.js";
import { encodeOk } from "../../src/protocol/messages.js";
import { framePayload } from "../../src/protocol/packet.js";
import { AuditGate, type AuditInput, type SessionAudit } from "../../src/session/audit-gate.js";
import { CommandLoop } from "../../src/session/command-loop.js";
import type { SessionContext } from "../../src/session/context.js";
import { SessionHandler } from "../../src/session/handler.js";
import { SessionIdentity } from "../../src/session/identity.js";
import type { KillRegistry } from "../../src/session/kill.js";
import { StatementMap } from "../../src/session/prepared-statements.js";
import type { PreparedStatement } from "../../src/session/replay-state.js";
import { ConnectionDialect, type Probed } from "../../src/session/session-dialect.js";
import type { Inflight, SessionSlot, SlotEvents, SlotResponse } from "../../src/session/slot-types.js";
import { DEFAULT_DIALECT, type SqlDialect } from "../../src/sql/index.js";
import type { Mode } from "../../src/topology/types.js";

export class FakeSocket extends EventEmitter {
  written: Buffer[] = [];
  destroyed = false;
  ended = false;
  encrypted = true;
  private paused = true;
  remoteAddress = "127.0.0.1";
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b));
    return true;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  isPaused(): boolean {
    return this.paused;
  }
  setNoDelay(): this {
    return this;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

export const quietLog = {
  warn() {},
  info() {},
  debug() {},
  error() {},
  child() {
    return quietLog;
  },
} as unknown as Logger;

/** A promise the test settles. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** Let every pending promise callback and immediate run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** What the fake slot's backend answers. */
export type SlotCall =
  | { op: "send"; f: Inflight; role: Role; framed: Buffer }
  | { op: "sendOnly" }
  | { op: "ensure"; role: Role; stmt: PreparedStatement | null }
  | { op: "retry"; lost: Role }
  | { op: "finish"; status: number; failed: boolean }
  | { op: "closeStatement"; id: number }
  | { op: "login" }
  | { op: "reset" }
  | { op: "drop" }
  | { op: "guardLost" }
  | { op: "readDialect" };

/** A connection whose probe read a sure dialect. */
function newConnectionDialect(): ConnectionDialect {
  const d = new ConnectionDialect("10.11.6-MariaDB");
  d.adopt({ dialect: DEFAULT_DIALECT, sqlMode: "STRICT_TRANS_TABLES", charsetClient: "utf8mb4" });
  return d;
}

export class FakeSlot implements SessionSlot {
  connected: Role | null = "primary";
  connectionId: number | null = 100;
  status = SERVER_STATUS_AUTOCOMMIT;
  loginStatus = SERVER_STATUS_AUTOCOMMIT;
  generation = 1;
  sentAt = 0;
  scanner: { -readonly [K in keyof SlotResponse]: SlotResponse[K] } = {
    status: 0,
    failed: false,
    prepared: null,
    errno: 0,
  };
  connectionDialect = newConnectionDialect();
  /** What the server answers when the dialect is read back (sure by default). */
  readBack: Probed = { dialect: DEFAULT_DIALECT, sqlMode: "ANSI_QUOTES", charsetClient: "utf8mb4" };
  tracking = true;
  events!: SlotEvents;
  calls: SlotCall[] = [];
  inflight: Inflight | null = null;
  /** Answers to `ensure`, one per call; none left: connect at once. */
  ensureAnswers: Deferred<void>[] = [];
  /** Answers to `retry`, one per call; none left: succeed at once. */
  retryAnswers: Deferred<void>[] = [];
  /** What `finish` returns for the next call (follow-up work), or null. */
  finishWork: Promise<void> | null = null;

  constructor(private out: { write(b: Buffer): boolean }) {}

  get role(): Role | null {
    return this.connected;
  }
  get inTransaction(): boolean {
    return (this.status & SERVER_STATUS_IN_TRANS) !== 0;
  }
  serves(role: Role, stmt: PreparedStatement | null): boolean {
    return this.connected === role && (!stmt || stmt.backendGeneration === this.generation);
  }
  async ensure(role: Role, stmt: PreparedStatement | null): Promise<void> {
    this.calls.push({ op: "ensure", role, stmt });
    const answer = this.ensureAnswers.shift();
    if (answer) await answer.promise;
    if (this.connected !== role) {
      this.connected = role;
      this.generation++;
      this.connectionDialect = newConnectionDialect();
    }
    if (stmt) stmt.backendGeneration = this.generation;
  }
  send(f: Inflight, framed: Buffer | readonly Buffer[]): void {
    this.inflight = f;
    this.sentAt = performance.now();
    this.calls.push({
      op: "send",
      f,
      role: f.role,
      framed: Buffer.isBuffer(framed) ? framed : Buffer.concat(framed),
    });
  }
  sendOnly(): void {
    this.calls.push({ op: "sendOnly" });
  }
  relayInfile(p: Packet): boolean {
    return p.payload.length === 0;
  }
  finish(status: number, _f: Inflight | null, failed: boolean): Promise<void> | null {
    if (status !== 0) this.status = status;
    this.inflight = null;
    this.calls.push({ op: "finish", status, failed });
    const w = this.finishWork;
    this.finishWork = null;
    return w;
  }
  async retry(f: Inflight, lost: Role): Promise<void> {
    this.calls.push({ op: "retry", lost });
    const answer = this.retryAnswers.shift();
    if (answer) await answer.promise;
    f.retried = true;
    f.forwarded = false;
    f.role = lost === "primary" ? "secondary" : "primary";
    this.connected = f.role;
    this.send(f, Buffer.from(f.payload));
  }
  async login(): Promise<Role> {
    this.calls.push({ op: "login" });
    this.connected = "primary";
    return "primary";
  }
  async readDialect(): Promise<SqlDialect> {
    this.calls.push({ op: "readDialect" });
    // A handler that asks again and again would loop forever: fail it here instead (the test counts).
    if (this.calls.filter((c) => c.op === "readDialect").length > 5) throw new Error("asked too often");
    this.connectionDialect.adopt(this.readBack);
    return this.connectionDialect.dialect;
  }
  closeStatement(stmt: PreparedStatement): void {
    this.calls.push({ op: "closeStatement", id: stmt.clientId });
  }
  clientDrained(): void {}
  guardLost(): void {
    this.calls.push({ op: "guardLost" });
  }
  reset(status: number): void {
    this.status = status;
    this.calls.push({ op: "reset" });
  }
  drop(): void {
    this.calls.push({ op: "drop" });
    this.connected = null;
  }

  /** The command the slot is relaying (the last `send`). */
  sent(): Inflight[] {
    return this.calls.flatMap((c) => (c.op === "send" ? [c.f] : []));
  }

  /**
   * The backend answers the command in flight with `chunk` (one chunk, the whole response), as
   * BackendSlot.onData does: held when the handler collects, dropped when it discards, else
   * forwarded; then `completed`.
   */
  respond(
    chunk: Buffer,
    o: { status?: number; failed?: boolean; errno?: number; prepared?: SlotResponse["prepared"] } = {},
  ): void {
    const f = this.inflight;
    if (!f) throw new Error("nothing in flight");
    this.scanner.status = o.status ?? SERVER_STATUS_AUTOCOMMIT;
    this.scanner.failed = o.failed ?? false;
    this.scanner.errno = o.errno ?? 0;
    this.scanner.prepared = o.prepared ?? null;
    if (f.collect) f.collect.push(chunk);
    else if (!f.discard) {
      f.forwarded = true;
      this.out.write(chunk);
    }
    this.events.completed(f);
  }

  /** The backend is lost under the command in flight (or between commands). */
  lose(err = new Error("the backend closed the connection"), modeSeen: Mode = "read_write"): void {
    const role = this.connected ?? "primary";
    const wasInTransaction = this.inTransaction;
    this.connected = null;
    this.status &= ~SERVER_STATUS_IN_TRANS;
    const f = this.inflight;
    this.inflight = null;
    this.events.lost(f, role, err, wasInTransaction, modeSeen);
  }
}

/** An audit trail that audits statements naming `secret` and captures INSERTs into `orders`. */
export class FakeAudit implements SessionAudit {
  refuseOnJournalFailure = true;
  records: Deferred<unknown>[] = [];
  posted: AuditInput[] = [];
  matchStatement(sql: string) {
    return /secret/i.test(sql) ? { operation: "read", object: "shop.secret" } : null;
  }
  captureTable(sql: string): string | null {
    return /insert into orders/i.test(sql) ? "shop.orders" : null;
  }
  record(): Promise<unknown> {
    const d = deferred<unknown>();
    this.records.push(d);
    return d.promise;
  }
  post(e: AuditInput): void {
    this.posted.push(e);
  }
}

export interface Options {
  mode?: Mode;
  readRole?: Role;
  audit?: FakeAudit | null;
  maxPreparedStatements?: number;
  /** What ctx.secondaryReadable answers. */
  secondaryReadable?: () => true | Promise<void>;
  users?: Map<string, string>;
  sessions?: KillRegistry;
}

export interface Harness {
  h: SessionHandler;
  slot: FakeSlot;
  loop: CommandLoop;
  socket: FakeSocket;
  who: SessionIdentity;
  ctx: SessionContext & { settled: number; rejected: number; queries: number };
  audit: FakeAudit | null;
  scramble: Buffer;
  /** The topology's mode from now on. */
  setMode(m: Mode): void;
  /** Send one command packet (sequence id 0) from the client. */
  send(payload: Buffer | string): void;
  /** The packets the client received since the last call. */
  replies(): Reply[];
}

export interface Reply {
  seq: number;
  /** "ok", "err", or "data" for anything else. */
  type: "ok" | "err" | "data";
  errno: number;
  message: string;
  payload: Buffer;
}

export function parsePackets(bytes: Buffer): Reply[] {
  const out: Reply[] = [];
  for (let at = 0; at + 4 <= bytes.length; ) {
    const len = bytes.readUIntLE(at, 3);
    const seq = bytes[at + 3]!;
    const payload = bytes.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    const first = payload[0];
    if (first === 0xff)
      out.push({
        seq,
        type: "err",
        errno: payload.readUInt16LE(1),
        message: payload.toString("utf8", 9),
        payload,
      });
    else if (first === 0x00 && len >= 7) out.push({ seq, type: "ok", errno: 0, message: "", payload });
    else out.push({ seq, type: "data", errno: 0, message: "", payload });
  }
  return out;
}

/** An OK for a backend response (sequence id 1). */
export function okChunk(status = SERVER_STATUS_AUTOCOMMIT): Buffer {
  return framePayload(encodeOk({ statusFlags: status }), 1);
}

/** A response of rows (any bytes the client gets as they are), then an OK. */
export function rowsChunk(): Buffer {
  return Buffer.concat([framePayload(Buffer.from([1]), 1), framePayload(Buffer.from("row"), 2), okChunk()]);
}

export const GOOD_PASSWORD = "s3cret";

export function harness(o: Options = {}): Harness {
  const socket = new FakeSocket();
  let mode: Mode = o.mode ?? "read_write";
  const ctx = {
    settled: 0,
    rejected: 0,
    queries: 0,
    mode: () => mode,
    readRole: () => o.readRole ?? "secondary",
    isUp: () => true,
    activity: { primary: 0, secondary: 0 },
    target: () => {
      throw new Error("no backend in a unit test");
    },
    reportBackendError() {},
    settle: async () => {
      ctx.settled++;
    },
    connectTimeoutMs: 100,
    hooks: {
      query: () => {
        ctx.queries++;
      },
      writeRejected: () => {
        ctx.rejected++;
      },
      authFailure() {},
      backendConnections() {},
    },
    secondaryReadable: o.secondaryReadable,
    logger: quietLog,
    users: o.users ?? new Map([["app", GOOD_PASSWORD]]),
    accounts: null,
    authPlugin: () => "mysql_native_password" as const,
    sha2Cache: new Set<string>(),
    audit: o.audit ?? null,
    maxLexedStatement: 1 << 20,
    maxPreparedStatements: o.maxPreparedStatements ?? 1024,
    sessions: o.sessions,
    maxAllowedPacket: 16 << 20,
    netReadTimeoutMs: 5000,
  } as unknown as Harness["ctx"];
  const scramble = Buffer.alloc(20, 3);
  const who = new SessionIdentity(7, "127.0.0.1");
  who.loggedIn({
    username: "app",
    password: GOOD_PASSWORD,
    capabilities: CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB,
    database: "shop",
    collation: 45,
    connectAttrs: null,
    scramble,
    mariadbCapabilities: 0,
  });
  const loop = new CommandLoop(socket as unknown as Socket, ctx, quietLog);
  const slot = new FakeSlot(loop);
  const audit = new AuditGate(o.audit ?? null, {
    id: 7,
    remoteAddress: "127.0.0.1",
    get username() {
      return who.username;
    },
    get schema() {
      return who.state.schema;
    },
  });
  const h = new SessionHandler(ctx, loop, slot, who, new StatementMap(who), audit, () => true, quietLog);
  slot.events = h;
  loop.bind(h);
  loop.to("logged_in");
  loop.start(socket as unknown as Socket, true);
  let read = 0;
  return {
    h,
    slot,
    loop,
    socket,
    who,
    ctx,
    audit: o.audit ?? null,
    scramble,
    setMode(m) {
      mode = m;
    },
    send(payload) {
      const p =
        typeof payload === "string" ? Buffer.concat([Buffer.from([3]), Buffer.from(payload)]) : payload;
      socket.emit("data", framePayload(p, 0));
    },
    replies() {
      const fresh = Buffer.concat(socket.written.slice(read));
      read = socket.written.length;
      return parsePackets(fresh);
    },
  };
}

/** A COM_CHANGE_USER payload for `user` with a native-password token over `scramble`. */
export function changeUserPayload(user: string, password: string, scramble: Buffer, database = ""): Buffer {
  const token = nativePasswordToken(password, scramble);
  return Buffer.concat([
    Buffer.from([0x11]),
    Buffer.from(`${user}\0`),
    Buffer.from([token.length]),
    token,
    Buffer.from(`${database}\0`),
    Buffer.from([45, 0]),
    Buffer.from("mysql_native_password\0"),
  ]);
}
