/**
 * The types the backend slot shares with its owner and the proxy: the command in flight, the
 * session's identity on the backend, what the slot needs from the proxy, what it reports.
 */
import type { BackendTarget, Role } from "../backend/connection.js";
import type { Credential } from "../protocol/auth.js";
import type { ResponseKind } from "../protocol/response-scanner.js";
import type { PreparedStatement, ReplayLimits, SessionState } from "../routing/session-state.js";
import type { Classification } from "../sql/index.js";
import type { Mode } from "../topology/types.js";

/** The command whose response the slot is relaying. */
export interface Inflight {
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

/** Who the session is on the backend: the login it replays on every new connection. */
export interface SlotIdentity {
  username: string;
  /** The password, or SHA1(password) for an account read from the servers (see protocol/auth.ts). */
  password: Credential;
  capabilities: number;
  connectAttrs: Buffer | null;
  state: SessionState;
  /** MariaDB extended capabilities the client negotiated (bulk, extended metadata); absent: none. */
  mariadbCapabilities?: number;
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
