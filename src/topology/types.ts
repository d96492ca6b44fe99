/**
 * The shape of what the monitor knows about the pair. The router reads `mode`; the admin page,
 * /status, metrics and audit read snapshots and listen to transitions.
 */
import type { FenceMark } from "./fence.js";
import type { SemiSyncStatus } from "./server-status.js";

export type Role = "primary" | "secondary";

/** read_write: the primary serves everything. read_only: reads on the secondary, writes refused (1290). down: nothing serves. */
export type Mode = "read_write" | "read_only" | "down";

export interface ReplicationStatus {
  ioRunning: string; // "Yes" | "No" | "Connecting"
  sqlRunning: string;
  secondsBehind: number | null;
  lastIoError: string;
  lastSqlError: string;
  sslAllowed: boolean;
  /** Gtid_IO_Pos (MariaDB) or Retrieved_Gtid_Set (MySQL). */
  gtidIoPos: string;
  /** gtid_slave_pos / Executed_Gtid_Set. */
  gtidExecuted: string;
  /**
   * GTIDs the secondary has of its own (in its `@@gtid_binlog_pos`, not received from the
   * primary): something wrote on it. MariaDB only; absent when not read.
   */
  localGtids?: string[];
  /** Seconds since the IO thread last heard from the primary, when the server says (null if unknown). */
  secondsSinceMasterContact: number | null;
  /** Slave_IO_State / Replica_IO_State in words ("Waiting for master to send event", "Reconnecting …"). */
  ioState: string;
  /** The primary the replica is configured to follow (Master_Host / Source_Host). */
  sourceHost: string;
  sourcePort: number | null;
}

export interface BackendHealth {
  role: Role;
  host: string;
  port: number;
  /** After fall/rise: is this backend considered up? */
  up: boolean;
  readOnly: boolean | null;
  serverId: number | null;
  version: string | null;
  lastCheckAt: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  replication: ReplicationStatus | null;
  /** When the last successful check finished (epoch ms). */
  lastOkAt: number | null;
  /** How long the last check took, in milliseconds. */
  lastCheckMs: number | null;
  /** The up/down state last changed (epoch ms). */
  since: number;
  /** Semi-synchronous replication on this server (null: none, or not read yet). */
  semiSync: SemiSyncStatus | null;
  /** Its promotion fence mark (epoch 0: none); null when unreadable or not read yet. */
  fence: FenceMark | null;
}

/** Is a commit acknowledged by the primary now also on the secondary (semi-sync active)? */
export interface LosslessStatus {
  /** true: semi-sync active (AFTER_SYNC); false: asynchronous now; null: unknown (primary not answering). */
  lossless: boolean | null;
  reason: string;
  /** This verdict holds since (epoch ms). */
  since: number;
}

/** The catch-up of the secondary at the last failover (see Topology.secondaryReadable). */
export interface CatchUpStatus {
  /** idle: no failover yet; waiting: reads wait; caught_up; timed_out: served anyway; cancelled: the primary came back; skipped: readConsistency immediate. */
  state: "idle" | "waiting" | "caught_up" | "timed_out" | "cancelled" | "skipped";
  startedAt: number | null;
  endedAt: number | null;
  /** How long reads waited (ms), once ended. */
  waitedMs: number | null;
  /** What the secondary had received when the catch-up began (Gtid_IO_Pos). */
  received: string;
  /** What pairgate had acknowledged (GTIDs reported by sessions). */
  acknowledged: string;
  /** What the secondary had applied when the catch-up ended. */
  applied: string;
  /** Acknowledged (or received) transactions the secondary lacked when reads were let through: GTID ranges. */
  missing: string[];
  /** How many transactions those ranges hold (at most). */
  missingCount: number;
  /** Why the catch-up ended as it did, in words. */
  detail: string;
}

/** The split-brain fence (see fence.ts). */
export interface FenceStatus {
  /** The highest promotion epoch seen on either server since start (0: none). */
  epochSeen: number;
  seenOn: string | null;
  /** Why the primary gets no writes, or null. */
  fenced: string | null;
  /** The epoch seen comes only from this state file so far (no server showed it since start), else null. */
  rememberedIn: string | null;
}

export interface Transition {
  from: Mode;
  to: Mode;
  at: number;
  cause: string;
  /** Time from the fault's (or recovery's) first sign to this transition, in seconds. */
  detectionSeconds: number;
  /** failover: read_write left; failback: read_write regained; startup: the first checks decided; other: read_only ↔ down. */
  kind: "failover" | "failback" | "startup" | "other";
}

export interface PairStatus {
  mode: Mode;
  /** Planned maintenance holds read_only on purpose. */
  maintenance: boolean;
  primary: BackendHealth;
  secondary: BackendHealth;
  lastFailover: Transition | null;
  lastFailback: Transition | null;
  /** The mode holds since (epoch ms). */
  since: number;
  /** Which backend serves reads now: the primary in read_write, the secondary (or, when only the
   * primary answers but is read-only or in maintenance, the primary) in read_only, null when down. */
  readRole: Role | null;
  lossless: LosslessStatus;
  catchUp: CatchUpStatus;
  fence: FenceStatus;
  /**
   * The primary answers again but the pair stays read_only until the secondary has applied what
   * the primary has (so a link that fails again right away finds it caught up); null when not held.
   */
  failbackHold?: { since: number; waitingFor: string } | null;
}
