/**
 * The types the backend slot shares with its owner and the proxy: the command in flight, the
 * session's identity on the backend, what the slot needs from the proxy, what it reports.
 */
import type { RoutineReach } from "../audit/routine-reach.js";
import type { BackendTarget, Role } from "../backend/connection.js";
import type { Credential } from "../protocol/auth.js";
import { PairgateError, ServerError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import type { ResponseKind } from "../protocol/response-scanner.js";
import type { Classification, SqlDialect } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import type { PreparedStatement, ReplayLimits, SessionState } from "./replay-state.js";
import type { ConnectionDialect } from "./session-dialect.js";

/** The command whose response the slot is relaying. */
export interface Inflight {
  command: number;
  kind: ResponseKind;
  role: Role;
  /** The client's command payload, kept to resend when a read is retried on another backend. */
  payload: Buffer;
  stmt: PreparedStatement | null;
  classification: Classification | null;
  /** Bytes of the response already forwarded: after the first one, no retry is possible. */
  forwarded: boolean;
  /**
   * Responses held back instead of streamed: a prepare's (its statement id is rewritten) and an
   * audited statement's (released only once its audit event is durable).
   */
  collect: Buffer[] | null;
  /**
   * An audited statement whose event is not durable yet: resolves true when it is, false when the
   * result must be refused. Null once settled (the held chunks then went out, or were dropped).
   */
  gate: Promise<boolean> | null;
  /** Bytes held in `collect` for the gate: past AUDIT_HOLD_BYTES the backend is paused until it settles. */
  held: number;
  /** The gate refused the result: the rest of the response is read and dropped, the client gets an ERR. */
  discard: boolean;
  prepareSql: string | null;
  /** The router said: may run once more elsewhere if the backend is lost before any byte went out. */
  retryable: boolean;
  retried: boolean;
}

/** Who the session is on the backend: the login it replays on every new connection (identity.ts owns it). */
export interface SlotIdentity {
  readonly username: string;
  /** The password, or SHA1(password) for an account read from the servers (see protocol/auth.ts). */
  readonly password: Credential;
  readonly capabilities: number;
  readonly connectAttrs: Buffer | null;
  readonly state: SessionState;
  /** MariaDB extended capabilities the client negotiated (bulk, extended metadata); absent: none. */
  readonly mariadbCapabilities?: number;
}

/** What the slot needs from the proxy (a part of SessionContext). */
export interface SlotContext {
  mode(): Mode;
  readRole(): Role;
  isUp(role: Role): boolean;
  activity: Record<Role, number>;
  target(role: Role): BackendTarget;
  reportBackendError(role: Role, err: Error): void;
  settle(ms: number, role: Role, modeSeen: Mode): Promise<void>;
  connectTimeoutMs: number;
  hooks: { backendConnections(role: Role, delta: number): void; writeRejected(): void };
  /**
   * Seam: statements to run on every new connection to `role` after the state replay (for example
   * `SET SESSION TRANSACTION READ ONLY` on the secondary). None when absent.
   */
  sessionSetup?(role: Role): readonly string[];
  /**
   * Consistency at failover (issue 12). `true` (serve now: a field read) or a promise that resolves
   * — never rejects — once the secondary caught up or the topology's catch-up timeout passed. Asked
   * before a statement runs on the secondary. Absent: always serve.
   */
  secondaryReadable?(): true | Promise<void>;
  /** The GTID of a commit the primary acknowledged through this session (no I/O). */
  noteAcknowledged?(gtid: string): void;
  /** Resolves once the topology decided about a suspect primary (bounded, never rejects). */
  verdict?(): Promise<void>;
  /** Bounds on the user variables a session carries to another backend (defaults when absent). */
  replayLimits?: ReplayLimits;
  /** Tables with triggers and views that reach a routine (issue 19); absent: not looked for (tests). */
  routineReach?: RoutineReach;
}

/** What the slot tells its owner (the SessionHandler). */
export interface SlotEvents {
  /** The response to the command in flight is complete; the scanner holds its status. */
  completed(f: Inflight): void;
  /** The server asked for the client's LOCAL INFILE data. */
  infileRequested(): void;
  /**
   * The secondary refused the command itself with a read-only error (the server-side guard, see
   * secondary-guard.ts) and nothing of the response reached the client: `seq` is its ERR's sequence id.
   */
  guardRefused(f: Inflight, seq: number): void;
  /** The backend is gone; `f` is the command that was in flight on it, if any. */
  lost(f: Inflight | null, role: Role, err: Error, wasInTransaction: boolean, modeSeen: Mode): void;
}

/** What the handler reads of the response just relayed (the slot's ResponseScanner). */
export interface SlotResponse {
  /** Status flags of the response's last OK/EOF (0: none seen). */
  readonly status: number;
  /** The response ended with an ERR. */
  readonly failed: boolean;
  /** A PREPARE's OK: the backend's statement id and counts (null for other responses). */
  readonly prepared: { statementId: number; params: number; columns: number } | null;
  /** The ERR's error number (0 when none). */
  readonly errno: number;
}

/**
 * The backend side of a session as the handler sees it (BackendSlot is the one implementation; a
 * unit test's fake is another): the connection serving the session, what it reports, and the
 * operations the handler asks of it. The handler never reaches past this.
 */
export interface SessionSlot {
  /** The role of the connection serving the session now, or null when it has none. */
  readonly role: Role | null;
  /** The id of that backend connection (KILL maps to it), or null. */
  readonly connectionId: number | null;
  readonly inTransaction: boolean;
  /** Status flags of the last response (an OK pairgate makes up carries them). */
  readonly status: number;
  /** The last status the backend reported at login or replay (the OK after login). */
  readonly loginStatus: number;
  /** Bumped on each new connection: a prepared statement knows on which one its backend id is valid. */
  readonly generation: number;
  /**
   * `performance.now()` when the command in flight was last sent (a retry sends it again): its
   * query time. A field of the slot, not of each Inflight — a double in a fresh object is one more
   * heap number per query; stored here it is overwritten in place.
   */
  readonly sentAt: number;
  /** The response just relayed. */
  readonly scanner: SlotResponse;
  /** The dialect of the connection serving the session (its one owner; a new connection, a new object). */
  readonly connectionDialect: ConnectionDialect;
  /** The connection reports session state (the server's word decides the dialect). */
  readonly tracking: boolean;
  /** Where the slot reports; set once, right after the handler is built. */
  events: SlotEvents;

  /** The fast path's test: connected to `role`, with `stmt` (if any) prepared on this connection. */
  serves(role: Role, stmt: PreparedStatement | null): boolean;
  /** Make `role` the session's backend: connect or move (state replayed), re-prepare `stmt`. */
  ensure(role: Role, stmt: PreparedStatement | null): Promise<void>;
  /** Send a command whose response the slot relays (then `events.completed`). */
  send(f: Inflight, framed: Buffer | readonly Buffer[]): void;
  /** Send a command that has no response (COM_STMT_SEND_LONG_DATA). */
  sendOnly(framed: Buffer | readonly Buffer[]): void;
  /** One packet of LOCAL INFILE data; true when it was the last (the empty one). */
  relayInfile(p: Packet): boolean;
  /** The command is finished with: take its status; a promise (never rejects) while follow-up work runs. */
  finish(status: number, f: Inflight | null, failed: boolean): Promise<void> | null;
  /** After the backend was lost under `f`: the verdict, then `f` again where reads go now. */
  retry(f: Inflight, lost: Role, modeSeen: Mode): Promise<void>;
  /** Open the session's first connection (login, COM_CHANGE_USER). */
  login(): Promise<Role>;
  /** Read the session's dialect back from the backend (between commands only). */
  readDialect(): Promise<SqlDialect>;
  closeStatement(stmt: PreparedStatement): void;
  /** The client can take more: resume reading the backend. */
  clientDrained(): void;
  /** COM_RESET_CONNECTION cleared the secondary's guard: set it again before the next command. */
  guardLost(): void;
  /** A new session identity (COM_CHANGE_USER): the next connection logs in as it. */
  reset(status: number): void;
  /** Let the backend go: `polite` with COM_QUIT, else at once. */
  drop(polite: boolean): void;
}

/**
 * Could `ensure` succeed once the topology has a verdict (the backend could not be reached), or
 * is the answer final (the server refused, the session is pinned, its transaction is lost)?
 */
export function worthAnotherTry(e: Error): boolean {
  if (e instanceof ServerError) return false;
  return !(
    e instanceof PairgateError &&
    (e.code === "PAIRGATE_SESSION_PINNED" || e.code === "PAIRGATE_TRANSACTION_LOST")
  );
}
