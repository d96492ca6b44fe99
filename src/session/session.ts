/**
 * One client session: login, then the command loop that relays each command to the backend the
 * router picks and streams the response back.
 *
 * Hot-path rules (see DESIGN.md "Speed"): response bytes are forwarded in the chunks the backend
 * socket delivered; only headers and the packets that end a response are looked at (ResponseScanner);
 * nothing per packet is allocated; backpressure pauses the backend while the client is slow.
 *
 * Concurrency rule: one command in flight per session. Commands a client pipelines wait in `queue`.
 */
import type { Socket } from "node:net";
import { BackendConnection, type BackendTarget, type Role } from "../backend/connection.js";
import { adoptSocket, ReadChannel } from "../net/read-channel.js";
import { WriteChannel } from "../net/write-channel.js";
import type { Logger } from "../observability/logger.js";
import { NATIVE_PASSWORD, newScramble, verifyToken } from "../protocol/auth.js";
import {
  CLIENT_CONNECT_WITH_DB,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_SECURE_CONNECTION,
  COM_CHANGE_USER,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PING,
  COM_QUERY,
  COM_QUIT,
  COM_RESET_CONNECTION,
  COM_SET_OPTION,
  COM_STATISTICS,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  ER_ACCESS_DENIED_ERROR,
  ER_CONNECTION_KILLED,
  ER_NET_PACKET_TOO_LARGE,
  ER_NET_PACKETS_OUT_OF_ORDER,
  ER_NET_READ_INTERRUPTED,
  ER_OPTION_PREVENTS_STATEMENT,
  ER_UNKNOWN_COM_ERROR,
  ER_UNKNOWN_STMT_HANDLER,
  SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_IN_TRANS,
} from "../protocol/constants.js";
import { type Packet, PacketFramer } from "../protocol/framer.js";
import { encodeAuthSwitch, encodeErr, encodeOk, ServerError } from "../protocol/messages.js";
import {
  framePayload,
  frameStatementCommand,
  PacketReader,
  ProtocolError,
  patchStatementId,
} from "../protocol/packet.js";
import { ResponseKind, ResponseScanner } from "../protocol/response-scanner.js";
import {
  type Decision,
  DOWN_MESSAGE,
  isProvableRead,
  READ_ONLY_MESSAGE,
  route,
  routeAny,
  routeKind,
  TRANSACTION_LOST_MESSAGE,
} from "../routing/router.js";
import { type PreparedStatement, SessionState } from "../routing/session-state.js";
import { type Classification, classify, digest } from "../sql/index.js";
import type { Mode } from "../topology/types.js";

/** What a session needs from the rest of the proxy; built once by proxy.ts. */
export interface SessionContext {
  logger: Logger;
  /** Current mode of the pair, read per statement. */
  mode(): Mode;
  /** The backend that serves reads in read_only mode. */
  readRole(): Role;
  /** Is this backend up, as the monitor sees it? */
  isUp(role: Role): boolean;
  /** Chunks received from each backend by all sessions: the monitor's passive health signal. */
  activity: Record<Role, number>;
  /** Backend address as configured now (reload may change it). */
  target(role: Role): BackendTarget;
  /** A live session saw a backend fail: check it now. */
  reportBackendError(role: Role, err: Error): void;
  /**
   * After `role` failed for this session: resolves when the topology has a verdict (a transition, or
   * a finished check of `role`), at once if the mode already differs from `modeSeen`, else after `ms`.
   */
  settle(ms: number, role: Role, modeSeen: Mode): Promise<void>;
  users: ReadonlyMap<string, string>;
  connectTimeoutMs: number;
  maxAllowedPacket: number;
  /** How long a client may stall in the middle of a packet (the server's net_read_timeout). */
  netReadTimeoutMs: number;
  hooks: SessionHooks;
  /** The audit trail, when enabled. */
  audit: SessionAudit | null;
}

/** What a session asks of the audit trail (src/audit's Audit fits). */
export interface SessionAudit {
  matchStatement(
    sql: string,
    defaultSchema: string | null,
  ): { operation: string; object: string; key?: string; appUser?: string } | null;
  captureTable(sql: string, defaultSchema: string | null): string | null;
  /** Resolves once the event is durable; rejects when it cannot be. */
  record(event: AuditInput): Promise<unknown>;
  /** Fire and forget (events that hold no result back). */
  post(event: AuditInput): void;
  readonly refuseOnJournalFailure: boolean;
}

export interface AuditInput {
  operation: string;
  outcome?: "ok" | "error" | "refused";
  clientAddr?: string | null;
  dbUser?: string | null;
  sessionId?: string | null;
  backend?: Role | null;
  object?: string | null;
  objectKey?: string | null;
  appUser?: string | null;
  digest?: string | null;
  durationMs?: number;
  sql?: string;
  schema?: string | null;
  detail?: Record<string, unknown>;
}

/** Counters and timings; implemented by observability, called with plain numbers only. */
export interface SessionHooks {
  query(role: Role, kind: Classification["kind"], seconds: number): void;
  writeRejected(): void;
  authFailure(): void;
  backendConnections(role: Role, delta: number): void;
}

/** One client command, as parsed for routing. */
interface Command {
  p: Packet;
  command: number;
  /** How the response is shaped; null when the command has none (COM_STMT_SEND_LONG_DATA). */
  kind: ResponseKind | null;
  /** The statement's class, for COM_QUERY. */
  c: Classification | null;
  /** The prepared statement a COM_STMT_* command names. */
  stmt: PreparedStatement | null;
  /** The text of a COM_STMT_PREPARE. */
  prepareSql: string | null;
  /** The statement text of a COM_QUERY. */
  sql: string | null;
}

interface Inflight {
  command: number;
  kind: ResponseKind;
  role: Role;
  /** The client's command payload, kept to resend when a read is retried on another backend. */
  payload: Buffer;
  stmt: PreparedStatement | null;
  classification: Classification | null;
  startedAt: number;
  /** Bytes of the response already forwarded: after the first one, no retry is possible. */
  forwarded: boolean;
  /**
   * Responses held back instead of streamed: a prepare's (its statement id is rewritten) and an
   * audited statement's (released only once its audit event is durable).
   */
  collect: Buffer[] | null;
  /** An audited statement: resolves true when its event is durable, false when it must be refused. */
  gate: Promise<boolean> | null;
  prepareSql: string | null;
  /** The statement ran in autocommit mode outside a transaction: a safe retry candidate. */
  retryable: boolean;
  retried: boolean;
}

const EMPTY_OK_STATUS = SERVER_STATUS_AUTOCOMMIT;

export class ClientSession {
  readonly id: number;
  readonly client: Socket;
  readonly remoteAddress: string;
  readonly startedAt = Date.now();
  username = "";
  private password = "";
  private capabilities = 0;
  private connectAttrs: Buffer | null = null;
  private state!: SessionState;
  private backend: BackendConnection | null = null;
  private backendGeneration = 0;
  private framer: PacketFramer;
  private queue: Packet[] = [];
  private inflight: Inflight | null = null;
  private scanner = new ResponseScanner();
  /** Relayed responses go out through this (set in begin(), once the client socket is final). */
  private clientOut!: WriteChannel;
  private status = EMPTY_OK_STATUS;
  private transactionLost = false;
  private infile = false;
  private closing = false;
  /** The client talks TLS: its writes may hold on to the chunks given to them. */
  private clientTls = false;
  private draining = false;
  /** A backend to leave once the current statement/transaction ends (config reload moved it). */
  private moveWhenIdle: Role | null = null;
  /** The client id of the statement prepared last: MariaDB clients execute it as id 0xFFFFFFFF. */
  private lastPrepared = 0;
  private connecting = false;
  /** Armed while a client packet is incomplete: see SessionContext.netReadTimeoutMs. */
  private readTimer: NodeJS.Timeout | null = null;
  /** COM_CHANGE_USER waits for the client's auth switch answer here. */
  private packetWaiter: { resolve(p: Packet): void; reject(e: Error): void } | null = null;
  private log: Logger;

  constructor(
    id: number,
    client: Socket,
    private ctx: SessionContext,
  ) {
    this.id = id;
    this.client = client;
    this.remoteAddress = client.remoteAddress?.replace(/^::ffff:/, "") ?? "unknown";
    this.framer = new PacketFramer(ctx.maxAllowedPacket);
    this.log = ctx.logger.child({ session: id, client: this.remoteAddress });
  }

  get inTransaction(): boolean {
    return (this.status & SERVER_STATUS_IN_TRANS) !== 0;
  }

  get backendRole(): Role | null {
    return this.backend && !this.backend.closed ? this.backend.role : null;
  }

  /**
   * Start the command phase after a successful login: open the backend, answer the client.
   * `client` may be the TLS socket that replaced the plain one during login.
   */
  async begin(
    client: Socket,
    login: {
      username: string;
      password: string;
      capabilities: number;
      database: string | null;
      collation: number;
      connectAttrs: Buffer | null;
    },
    okSeq: number,
  ): Promise<boolean> {
    (this as { client: Socket }).client = client;
    this.clientTls = "encrypted" in client && (client as { encrypted?: boolean }).encrypted === true;
    this.username = login.username;
    this.password = login.password;
    this.capabilities = login.capabilities;
    this.connectAttrs = login.connectAttrs;
    this.state = new SessionState(
      login.capabilities & CLIENT_CONNECT_WITH_DB ? login.database : null,
      login.collation,
    );
    this.log = this.log.child({ user: login.username });
    const decision = routeAny(this.ctx.mode(), this.ctx.readRole());
    if ("refuse" in decision) {
      this.sendError(okSeq, 2003, "HY000", DOWN_MESSAGE);
      this.close("no backend serves");
      return false;
    }
    try {
      await this.openBackend(decision.to, false);
    } catch (e) {
      const err = e instanceof ServerError ? e : null;
      if (err) this.sendError(okSeq, err.errno, err.sqlState, err.message);
      else
        this.sendError(
          okSeq,
          2003,
          "HY000",
          `pairgate could not reach the ${decision.to} database: ${(e as Error).message}`,
        );
      this.close("backend login failed");
      return false;
    }
    this.clientOut = new WriteChannel(client);
    client.on("drain", this.onClientDrain);
    client.on("error", this.onClientError);
    client.on("close", this.onClientClose);
    client.setNoDelay(true);
    this.client.write(
      framePayload(encodeOk({ statusFlags: this.backend?.status || EMPTY_OK_STATUS }), okSeq),
    );
    // Only now read commands (the login left the socket paused). A plain client is read through
    // a channel (no stream machinery per read); a TLS one with 'data' events.
    const channel = this.clientTls ? null : new ReadChannel("adaptive");
    if (channel) channel.handler = this.onClientData;
    if (!channel || !adoptSocket(client, channel)) {
      client.on("data", this.onClientData);
      client.resume();
    }
    this.audit({ operation: "login", outcome: "ok", backend: this.backendRole });
    return true;
  }

  /** The pair changed mode: a statement in flight on a backend that left service is answered now. */
  onModeChange(mode: Mode): void {
    const f = this.inflight;
    // Planned maintenance leaves the primary up: what runs there may finish.
    if (!f || !this.backend || f.role === "secondary" || mode === "read_write" || this.ctx.isUp("primary"))
      return;
    this.log.debug({ mode }, "primary left service with a statement in flight");
    this.backendLost(new Error(`the primary left service (mode ${mode})`));
  }

  /** The config moved this backend: leave it at the next statement boundary (never mid-transaction). */
  backendMoved(role: Role): void {
    if (this.backendRole !== role) return;
    if (!this.inflight && !this.inTransaction) this.dropBackend(true);
    else this.moveWhenIdle = role;
  }

  /**
   * Graceful shutdown: let the statement in flight finish, then close. Commands the client sends
   * meanwhile get ER_SERVER_SHUTDOWN.
   */
  drain(): void {
    this.draining = true;
    if (!this.inflight && !this.connecting) this.close("shutdown");
  }

  close(reason?: string): void {
    if (this.closing) return;
    this.closing = true;
    if (reason) this.log.debug({ reason }, "session closing");
    this.dropBackend(true);
    this.client.end();
    setTimeout(() => this.client.destroy(), 2000).unref();
  }

  // ---------------------------------------------------------------- client side

  private onClientData = (chunk: Buffer): void => {
    let packets: Packet[];
    try {
      packets = this.framer.push(chunk);
    } catch (e) {
      this.sendError(0, ER_NET_PACKET_TOO_LARGE, "08S01", (e as Error).message);
      this.close("packet too large");
      return;
    }
    // Rarely true (a packet split across reads): only then is the stall timer touched.
    if (this.framer.buffered() > 0) this.awaitRestOfPacket();
    else if (this.readTimer) this.clearReadTimer();
    if (this.infile) {
      for (const p of packets) this.relayInfilePacket(p);
      return;
    }
    for (const p of packets) this.queue.push(p);
    const waiter = this.packetWaiter;
    if (waiter && this.queue.length > 0) {
      this.packetWaiter = null;
      waiter.resolve(this.queue.shift()!);
    }
    if (this.queue.length > 64 && !this.client.isPaused()) this.client.pause();
    this.pump();
  };

  private awaitRestOfPacket(): void {
    if (this.readTimer) {
      this.readTimer.refresh();
      return;
    }
    const ms = this.ctx.netReadTimeoutMs;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      if (this.closing || this.framer.buffered() === 0) return;
      this.sendError(
        1,
        ER_NET_READ_INTERRUPTED,
        "08S01",
        `Got timeout reading communication packets: pairgate waited ${ms} ms for the rest of a packet (netReadTimeoutMs)`,
      );
      this.close("client stalled in the middle of a packet");
    }, ms);
    this.readTimer.unref();
  }

  private clearReadTimer(): void {
    clearTimeout(this.readTimer!);
    this.readTimer = null;
  }

  private onClientDrain = (): void => {
    if (this.backend?.socket.isPaused()) this.backend.socket.resume();
  };

  private onClientError = (e: Error): void => {
    this.log.debug({ err: e.message }, "client socket error");
  };

  private onClientClose = (): void => {
    if (this.state)
      this.audit({
        operation: "logout",
        outcome: "ok",
        backend: this.backendRole,
        durationMs: Date.now() - this.startedAt,
      });
    this.closing = true;
    if (this.readTimer) this.clearReadTimer();
    this.packetWaiter?.reject(new Error("client left during COM_CHANGE_USER"));
    this.packetWaiter = null;
    this.dropBackend(true);
  };

  private pump(): void {
    if (this.draining && !this.inflight && !this.connecting) {
      if (this.queue.length > 0)
        this.sendError(1, ER_SERVER_SHUTDOWN, "08S01", "pairgate is shutting down; reconnect to continue");
      this.close("shutdown");
      return;
    }
    while (!this.inflight && !this.connecting && !this.closing && this.queue.length > 0) {
      const p = this.queue.shift()!;
      this.handleCommand(p);
    }
    if (this.queue.length < 16 && this.client.isPaused()) this.client.resume();
  }

  private handleCommand(p: Packet): void {
    if (p.seq !== 0) {
      this.sendError(
        p.lastSeq + 1,
        ER_NET_PACKETS_OUT_OF_ORDER,
        "08S01",
        "Got packets out of order (pairgate expected a new command with sequence id 0)",
      );
      this.close("packets out of order");
      return;
    }
    const payload = p.payload;
    if (payload.length === 0) {
      this.sendError(1, ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command: empty packet");
      return;
    }
    const command = payload[0];
    switch (command) {
      case COM_QUIT:
        this.close();
        return;
      case COM_QUERY: {
        const sql = payload.toString("utf8", 1);
        this.dispatch({
          p,
          command,
          kind: ResponseKind.Query,
          c: classify(sql),
          stmt: null,
          prepareSql: null,
          sql,
        });
        return;
      }
      case COM_STMT_PREPARE: {
        const sql = payload.toString("utf8", 1);
        this.dispatch({
          p,
          command,
          kind: ResponseKind.Prepare,
          c: null,
          stmt: null,
          prepareSql: sql,
          sql: null,
        });
        return;
      }
      case COM_STMT_EXECUTE:
      case COM_STMT_FETCH:
      case COM_STMT_SEND_LONG_DATA:
      case COM_STMT_RESET:
      case COM_STMT_CLOSE:
        this.statementCommand(p, command);
        return;
      case COM_INIT_DB:
      case COM_PING:
      case COM_FIELD_LIST:
      case COM_STATISTICS:
      case COM_SET_OPTION:
      case COM_RESET_CONNECTION: {
        const kind = command === COM_FIELD_LIST ? ResponseKind.FieldList : ResponseKind.Single;
        this.dispatch({ p, command, kind, c: null, stmt: null, prepareSql: null, sql: null });
        return;
      }
      case COM_CHANGE_USER:
        void this.changeUser(p);
        return;
      default:
        this.sendError(
          1,
          ER_UNKNOWN_COM_ERROR,
          "08S01",
          `Unknown command 0x${command.toString(16).padStart(2, "0")}: pairgate does not relay this command`,
        );
    }
  }

  /**
   * Where a command goes now. A transaction stays where it began: one opened on the secondary (in
   * read-only mode) keeps reading there and has its writes refused even after the primary returns.
   */
  private decide(cmd: Command): Decision {
    const mode = this.ctx.mode();
    const current = this.backendRole;
    const c = cmd.c;
    if (this.inTransaction && current === "secondary") {
      if (cmd.command === COM_QUERY)
        return isProvableRead(c!) ? { to: "secondary" } : { refuse: "read_only" };
      if (cmd.command === COM_STMT_EXECUTE) {
        return cmd.stmt!.kind === "read" && !cmd.stmt!.lockingRead
          ? { to: "secondary" }
          : { refuse: "read_only" };
      }
      return { to: "secondary" };
    }
    const readRole = this.ctx.readRole();
    if (cmd.command === COM_QUERY) return route(mode, c!, readRole);
    if (cmd.command === COM_STMT_EXECUTE)
      return routeKind(mode, cmd.stmt!.kind, cmd.stmt!.lockingRead, readRole);
    // Commands that run no statement stay on the session's backend while it still serves.
    const d = routeAny(mode, readRole);
    if (current && "to" in d && (current === d.to || (current === "primary" && mode === "read_write")))
      return { to: current };
    return d;
  }

  private statementCommand(p: Packet, command: number): void {
    const payload = p.payload;
    if (payload.length < 5) {
      if (command !== COM_STMT_CLOSE && command !== COM_STMT_SEND_LONG_DATA) {
        this.sendError(1, 1835, "HY000", "Malformed communication packet: statement id missing");
      }
      return;
    }
    // MariaDB (10.2+): statement id 0xFFFFFFFF means "the statement prepared last"; the mariadb
    // connector pipelines PREPARE and EXECUTE with it.
    const sent = payload.readUInt32LE(1);
    const clientId = sent === 0xffffffff ? this.lastPrepared : sent;
    const stmt = this.state.statements.get(clientId);
    if (!stmt) {
      if (command === COM_STMT_CLOSE || command === COM_STMT_SEND_LONG_DATA) return; // no response expected
      const name =
        command === COM_STMT_EXECUTE
          ? "mysqld_stmt_execute"
          : command === COM_STMT_FETCH
            ? "mysqld_stmt_fetch"
            : "mysqld_stmt_reset";
      this.sendError(
        1,
        ER_UNKNOWN_STMT_HANDLER,
        "HY000",
        `Unknown prepared statement handler (${clientId}) given to ${name}`,
      );
      return;
    }
    if (command === COM_STMT_CLOSE) {
      this.state.statements.delete(clientId);
      if (this.backend && stmt.backendGeneration === this.backendGeneration)
        this.backend.closeStatement(stmt.backendId);
      return;
    }
    const kind =
      command === COM_STMT_EXECUTE
        ? ResponseKind.Execute
        : command === COM_STMT_FETCH
          ? ResponseKind.Fetch
          : command === COM_STMT_RESET
            ? ResponseKind.Single
            : null;
    this.dispatch({ p, command, kind, c: null, stmt, prepareSql: null, sql: null });
  }

  /**
   * Send a command to the backend the router picks, connecting or moving first when needed. When the
   * backend cannot be reached, wait for the topology's verdict once and decide again: a read then
   * goes to the secondary, a write gets 1290 — not a connection error.
   */
  private dispatch(cmd: Command, retried = false): void {
    if (this.transactionLost) {
      this.transactionLost = false;
      this.sendError(1, ER_CONNECTION_KILLED, "70100", TRANSACTION_LOST_MESSAGE);
      return;
    }
    const modeSeen = this.ctx.mode();
    const decision = this.decide(cmd);
    if ("refuse" in decision) {
      if (decision.refuse === "read_only") this.refuseWrite(cmd);
      else this.sendError(1, 2003, "HY000", DOWN_MESSAGE);
      return;
    }
    const role = decision.to;
    const backend = this.backend;
    const stmt = cmd.stmt;
    if (
      backend &&
      !backend.closed &&
      backend.role === role &&
      (!stmt || stmt.backendGeneration === this.backendGeneration)
    ) {
      this.send(cmd, role);
      return;
    }
    // Slow path: connect, move the session, or re-prepare a statement on this backend.
    this.connecting = true;
    this.ensureBackend(role, stmt).then(
      () => {
        this.connecting = false;
        if (this.closing) return;
        this.send(cmd, role);
        this.pump();
      },
      (e: Error) => {
        if (this.closing) return;
        if (!retried && !(e instanceof ServerError) && !(e instanceof PinnedError)) {
          void this.ctx.settle(this.ctx.connectTimeoutMs * 2, role, modeSeen).then(() => {
            this.connecting = false;
            if (this.closing) return;
            this.dispatch(cmd, true);
            this.pump();
          });
          return;
        }
        this.connecting = false;
        if (e instanceof ServerError) this.sendError(1, e.errno, e.sqlState, e.message);
        else this.sendError(1, 2003, "HY000", (e as Error).message);
        if (e instanceof PinnedError) this.close(e.message);
        this.pump();
      },
    );
  }

  private send(cmd: Command, role: Role): void {
    const { p, command, kind, stmt } = cmd;
    const c = cmd.c;
    const backend = this.backend!;
    // A plain command goes out as the client framed it (sequence id 0, checked on arrival).
    // A COM_STMT_* packet gets the backend's statement id in place (the chunk is ours; a retry
    // reframes from the payload with the id of its own backend).
    const raw = p.raw
      ? stmt
        ? patchStatementId(p.raw, stmt.backendId)
        : p.raw
      : frameForBackend(p.payload, stmt);
    if (kind === null) {
      backend.out.write(raw); // COM_STMT_SEND_LONG_DATA: no response
      return;
    }
    const wasInTxn = this.inTransaction;
    const gate = this.auditGate(cmd, role);
    this.inflight = {
      command,
      kind,
      role,
      payload: p.payload,
      stmt,
      classification: c,
      startedAt: performance.now(),
      forwarded: false,
      collect: kind === ResponseKind.Prepare || gate ? [] : null,
      gate,
      prepareSql: cmd.prepareSql,
      retryable:
        !wasInTxn &&
        (c
          ? c.kind === "read" && !c.lockingRead
          : command === COM_PING ||
            command === COM_STATISTICS ||
            (stmt !== null && stmt.kind === "read" && command === COM_STMT_EXECUTE)),
      retried: false,
    };
    this.scanner.begin(kind, backend.capabilities);
    backend.out.write(raw);
  }

  // ---------------------------------------------------------------- audit

  /** The fields every audit event of this session carries. */
  private auditBase(): AuditInput {
    return {
      operation: "",
      clientAddr: this.remoteAddress,
      dbUser: this.username,
      sessionId: String(this.id),
      schema: this.state?.schema ?? null,
    };
  }

  audit(event: Partial<AuditInput> & { operation: string }): void {
    this.ctx.audit?.post({ ...this.auditBase(), ...event });
  }

  /**
   * Start recording an audited statement's event (a password retrieval, per the config's rules)
   * alongside running it; the result is released when the event is durable.
   */
  private auditGate(cmd: Command, role: Role): Promise<boolean> | null {
    const audit = this.ctx.audit;
    if (!audit) return null;
    const sql = cmd.command === COM_QUERY ? cmd.sql : cmd.command === COM_STMT_EXECUTE ? cmd.stmt!.sql : null;
    if (sql === null) return null;
    const m = audit.matchStatement(sql, this.state.schema);
    if (!m) return null;
    return audit
      .record({
        ...this.auditBase(),
        operation: m.operation,
        outcome: "ok",
        backend: role,
        object: m.object,
        objectKey: m.key ?? null,
        appUser: m.appUser ?? null,
        digest: digest(sql),
      })
      .then(
        () => true,
        () => !audit.refuseOnJournalFailure,
      );
  }

  /**
   * Read-only mode refused a write. An INSERT into one of `audit.captureTables` is journaled and
   * answered OK instead, to be replayed on the primary when it returns.
   */
  private refuseWrite(cmd: Command): void {
    const audit = this.ctx.audit;
    const sql = cmd.sql ?? cmd.stmt?.sql ?? null;
    const table =
      audit && cmd.command === COM_QUERY && sql ? audit.captureTable(sql, this.state.schema) : null;
    if (audit && table && sql) {
      this.connecting = true;
      void audit
        .record({
          ...this.auditBase(),
          operation: "captured_write",
          outcome: "ok",
          backend: null,
          object: table,
          sql,
          digest: digest(sql),
        })
        .then(
          () => this.client.write(framePayload(encodeOk({ affectedRows: 1, statusFlags: this.status }), 1)),
          () => this.sendError(1, ER_ERROR_ON_WRITE, "HY000", AUDIT_REFUSED_MESSAGE),
        )
        .finally(() => {
          this.connecting = false;
          this.pump();
        });
      return;
    }
    this.ctx.hooks.writeRejected();
    this.sendError(1, ER_OPTION_PREVENTS_STATEMENT, "HY000", READ_ONLY_MESSAGE);
    if (audit)
      this.audit({ operation: "write_rejected", outcome: "refused", digest: sql ? digest(sql) : null });
  }

  // ---------------------------------------------------------------- backend side

  private onBackendData = (chunk: Buffer): void => {
    const f = this.inflight;
    if (!f) {
      // Unsolicited (e.g. the server's "connection killed" before it closes): the close handles it.
      return;
    }
    const done = this.scanner.feed(chunk);
    this.ctx.activity[f.role]++;
    if (f.collect) f.collect.push(chunk);
    else {
      f.forwarded = true;
      if (!this.clientOut.write(chunk)) this.backend!.socket.pause();
    }
    if (this.scanner.awaitingClientData) {
      this.infile = true;
      return;
    }
    if (done) this.complete(f);
  };

  private relayInfilePacket(p: Packet): void {
    this.backend?.socket.write(p.raw ?? framePayload(p.payload, p.seq));
    if (p.payload.length === 0) {
      this.infile = false;
      this.scanner.clientDataSent();
    }
  }

  private complete(f: Inflight): void {
    const s = this.scanner;
    if (f.gate) {
      // Hold the result until the audit event is durable; nothing else runs on this session meanwhile.
      const status = s.status;
      const failed = s.failed;
      const gate = f.gate;
      f.gate = null;
      void gate.then((durable) => {
        if (this.closing) return;
        if (durable) this.client.write(Buffer.concat(f.collect!));
        else this.sendError(1, ER_ERROR_ON_WRITE, "HY000", AUDIT_REFUSED_MESSAGE);
        f.collect = null;
        this.finishComplete(f, status, failed || !durable);
      });
      return;
    }
    if (f.collect) this.finishPrepare(f, Buffer.concat(f.collect));
    this.finishComplete(f, s.status, s.failed);
  }

  private finishComplete(f: Inflight, status: number, failed: boolean): void {
    if (status !== 0) this.status = status;
    if (!failed) {
      if (f.classification) this.state.apply(f.classification);
      else if (f.command === COM_INIT_DB) this.state.schema = f.payload.toString("utf8", 1);
      if (f.command === COM_RESET_CONNECTION) this.state.reset();
    }
    this.inflight = null;
    if (this.moveWhenIdle && !this.inTransaction) {
      this.moveWhenIdle = null;
      this.dropBackend(true);
    }
    this.ctx.hooks.query(f.role, f.classification?.kind ?? "read", (performance.now() - f.startedAt) / 1000);
    if (this.queue.length > 0 || this.draining) this.pump();
  }

  /** Give the client a stable statement id of pairgate's, not the backend's. */
  private finishPrepare(f: Inflight, reply: Buffer): void {
    const prepared = this.scanner.prepared;
    if (prepared && !this.scanner.failed) {
      const clientId = this.state.newStatementId();
      this.lastPrepared = clientId;
      const c = classify(f.prepareSql ?? "");
      this.state.statements.set(clientId, {
        clientId,
        sql: f.prepareSql ?? "",
        kind: c.kind,
        lockingRead: c.lockingRead,
        params: prepared.params,
        columns: prepared.columns,
        backendId: prepared.statementId,
        backendGeneration: this.backendGeneration,
      });
      reply.writeUInt32LE(clientId, 5); // header(4) + 0x00
    } else this.lastPrepared = 0; // a failed PREPARE: "the last statement" names none
    f.forwarded = true;
    this.client.write(reply);
  }

  private onBackendClose = (): void => {
    if (this.closing) return;
    this.backendLost(new Error("the backend closed the connection"));
  };

  private onBackendError = (e: NodeJS.ErrnoException): void => {
    this.log.debug({ err: e.code ?? e.message }, "backend socket error");
  };

  /** The backend serving this session is gone (crash, reset, or it left service). */
  private backendLost(err: Error): void {
    const backend = this.backend;
    if (!backend) return;
    const role = backend.role;
    const modeSeen = this.ctx.mode();
    this.dropBackend(false);
    this.ctx.reportBackendError(role, err);
    const f = this.inflight;
    if (this.inTransaction) {
      this.status &= ~SERVER_STATUS_IN_TRANS;
      if (!f) this.transactionLost = true;
    }
    if (!f) return;
    this.inflight = null;
    this.infile = false;
    if (f.forwarded) {
      // Part of the response already reached the client: it cannot be completed or retried.
      this.close("backend lost in the middle of a response");
      return;
    }
    if (f.retryable && !f.retried) {
      // An autocommit read that failed before any byte reached the client: retry once, where the
      // topology now sends reads.
      this.connecting = true;
      void this.ctx.settle(this.ctx.connectTimeoutMs * 2, role, modeSeen).then(() => {
        this.connecting = false;
        if (this.closing) return;
        const d = routeAny(this.ctx.mode(), this.ctx.readRole());
        if ("to" in d && !(d.to === role && this.ctx.mode() !== "read_write" && role === "primary")) {
          this.retry(f, d.to);
        } else {
          this.sendError(
            1,
            ER_CONNECTION_KILLED,
            "70100",
            `pairgate lost the ${role} database while running this statement and no other server can run it`,
          );
          this.pump();
        }
      });
      return;
    }
    const what =
      f.classification && f.classification.kind !== "read"
        ? "this statement may or may not have been applied"
        : "the statement did not complete";
    this.sendError(
      1,
      ER_CONNECTION_KILLED,
      "70100",
      `pairgate lost the connection to the ${role} database (${err.message}); ${what}`,
    );
    this.pump();
  }

  private retry(f: Inflight, role: Role): void {
    this.connecting = true;
    this.ensureBackend(role, f.stmt).then(
      () => {
        this.connecting = false;
        if (this.closing) return;
        this.inflight = { ...f, role, retried: true, startedAt: performance.now(), forwarded: false };
        if (f.collect) this.inflight.collect = [];
        this.scanner.begin(f.kind, this.backend!.capabilities);
        this.backend!.socket.write(frameForBackend(f.payload, f.stmt));
      },
      (e: Error) => {
        this.connecting = false;
        if (this.closing) return;
        this.sendError(
          1,
          e instanceof ServerError ? e.errno : 2003,
          e instanceof ServerError ? e.sqlState : "HY000",
          e.message,
        );
        this.pump();
      },
    );
  }

  /** Make `role` the session's backend: connect, replay the session state, re-prepare `stmt`. */
  private async ensureBackend(role: Role, stmt: PreparedStatement | null): Promise<void> {
    if (!this.backend || this.backend.closed || this.backend.role !== role) {
      if (this.backend && !this.backend.closed && this.inTransaction) {
        // Never move a transaction; the router only asks when the old backend left service.
        this.dropBackend(true);
        this.status &= ~SERVER_STATUS_IN_TRANS;
        throw new ServerError(ER_CONNECTION_KILLED, "70100", TRANSACTION_LOST_MESSAGE);
      }
      if (this.state.pinnedBy && this.backendGeneration > 0) {
        throw new PinnedError(
          `pairgate must move this session to the ${role} database, but it holds ${this.state.pinnedBy}, which cannot be moved; the session is closed. Reconnect to continue.`,
        );
      }
      await this.openBackend(role, this.backendGeneration > 0);
    }
    if (stmt && stmt.backendGeneration !== this.backendGeneration) await this.reprepare(stmt);
  }

  private async reprepare(stmt: PreparedStatement): Promise<void> {
    const r = await this.backend!.prepare(stmt.sql);
    stmt.backendId = r.statementId;
    stmt.backendGeneration = this.backendGeneration;
  }

  private async openBackend(role: Role, replay: boolean): Promise<void> {
    this.dropBackend(true);
    const target = this.ctx.target(role);
    let backend: BackendConnection;
    try {
      backend = await BackendConnection.open(
        target,
        {
          username: this.username,
          password: this.password,
          database: this.state.schema,
          collation: this.state.collation,
          capabilities: this.capabilities,
          connectAttrs: this.connectAttrs,
        },
        this.ctx.connectTimeoutMs,
      );
    } catch (e) {
      if (!(e instanceof ServerError)) this.ctx.reportBackendError(role, e as Error);
      throw e;
    }
    if (this.closing) {
      backend.destroy();
      throw new Error("session closed");
    }
    if (replay) {
      const autocommit = (this.status & SERVER_STATUS_AUTOCOMMIT) !== 0;
      for (const sql of this.state.replayStatements(autocommit)) await backend.runQuery(sql);
    }
    this.backend = backend;
    this.backendGeneration++;
    this.ctx.hooks.backendConnections(role, 1);
    backend.channel.handler = this.onBackendData;
    backend.socket.on("close", this.onBackendClose);
    backend.socket.on("error", this.onBackendError);
    this.status =
      (this.status & ~SERVER_STATUS_IN_TRANS) |
      (backend.status & SERVER_STATUS_AUTOCOMMIT ? SERVER_STATUS_AUTOCOMMIT : 0);
    if (replay) this.log.info({ to: role }, "session moved to another backend, state replayed");
  }

  private dropBackend(polite: boolean): void {
    const b = this.backend;
    if (!b) return;
    this.backend = null;
    b.channel.handler = () => {};
    b.socket.off("close", this.onBackendClose);
    b.socket.off("error", this.onBackendError);
    b.socket.on("error", () => {});
    this.ctx.hooks.backendConnections(b.role, -1);
    if (polite) b.quit();
    else b.destroy();
  }

  // ---------------------------------------------------------------- COM_CHANGE_USER

  private async changeUser(p: Packet): Promise<void> {
    this.connecting = true;
    let replySeq = 1; // the answer to the command itself, until the auth switch moves it on
    try {
      const r = new PacketReader(p.payload, 1);
      const username = r.nulString();
      if (this.capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) r.lenencBytes();
      else if (this.capabilities & CLIENT_SECURE_CONNECTION) r.bytes(r.u8());
      else r.nulBytes();
      const database = r.remaining() > 0 ? r.nulOrRest() : "";
      const collation = r.remaining() >= 2 ? r.u16() & 0xff : this.state.collation;
      // Whatever the client used, ask again with a fresh scramble we know.
      const scramble = newScramble();
      this.client.write(
        framePayload(encodeAuthSwitch(NATIVE_PASSWORD, Buffer.concat([scramble, Buffer.from([0])])), 1),
      );
      const answer = await this.nextClientPacket();
      replySeq = answer.seq + 1;
      const password = this.ctx.users.get(username);
      if (password === undefined || !verifyToken(NATIVE_PASSWORD, password, scramble, answer.payload)) {
        this.ctx.hooks.authFailure();
        this.sendError(
          answer.seq + 1,
          ER_ACCESS_DENIED_ERROR,
          "28000",
          `Access denied for user '${username}'@'${this.remoteAddress}' (using password: ${answer.payload.length > 0 ? "YES" : "NO"})`,
        );
        this.close("change user denied");
        return;
      }
      this.username = username;
      this.password = password;
      this.state = new SessionState(database || null, collation);
      this.status = EMPTY_OK_STATUS;
      const d = routeAny(this.ctx.mode(), this.ctx.readRole());
      if ("refuse" in d) throw new Error(DOWN_MESSAGE);
      await this.openBackend(d.to, false);
      this.client.write(framePayload(encodeOk({ statusFlags: this.status }), answer.seq + 1));
    } catch (e) {
      const err = e as Error & { errno?: number; sqlState?: string };
      if (e instanceof ProtocolError)
        this.sendError(replySeq, 1835, "HY000", `Malformed communication packet: ${err.message}`);
      else this.sendError(replySeq, err.errno ?? 2003, err.sqlState ?? "HY000", err.message);
    } finally {
      this.connecting = false;
      this.pump();
    }
  }

  /** The next packet from the client, taken out of the command flow (auth switch answers). */
  private nextClientPacket(): Promise<Packet> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    if (this.closing) return Promise.reject(new Error("client left during COM_CHANGE_USER"));
    // onClientData queues packets (pump is held by `connecting`) and hands the first one here.
    return new Promise((resolve, reject) => {
      this.packetWaiter = { resolve, reject };
    });
  }

  // ---------------------------------------------------------------- helpers

  private sendError(seq: number, code: number, sqlState: string, message: string): void {
    if (this.client.destroyed) return;
    this.client.write(framePayload(encodeErr({ code, sqlState, message }), seq));
  }
}

/** The command as the backend must see it: the client's statement id replaced by the backend's. */
function frameForBackend(payload: Buffer, stmt: PreparedStatement | null): Buffer {
  return stmt ? frameStatementCommand(payload, stmt.backendId) : framePayload(payload, 0);
}

const ER_ERROR_ON_WRITE = 3;
const ER_SERVER_SHUTDOWN = 1053;
const AUDIT_REFUSED_MESSAGE =
  "pairgate could not record this statement's audit event on local disk (journal unwritable: disk full or permissions), " +
  "so it was refused rather than served unaudited (audit.onJournalFailure = refuse). Operators: free space in audit.journalDir.";

class PinnedError extends Error {
  readonly code = "PAIRGATE_SESSION_PINNED";
}
