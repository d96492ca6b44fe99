/**
 * The shape of what the monitor knows about the pair. The router reads `mode`; the admin page,
 * /status, metrics and audit read snapshots and listen to transitions.
 */
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
  /** Seconds since the IO thread last heard from the primary, when the server says (null if unknown). */
  secondsSinceMasterContact: number | null;
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
}

export interface Transition {
  from: Mode;
  to: Mode;
  at: number;
  cause: string;
  /** Time from the fault's (or recovery's) first sign to this transition, in seconds. */
  detectionSeconds: number;
}

export interface PairStatus {
  mode: Mode;
  /** Planned maintenance holds read_only on purpose. */
  maintenance: boolean;
  primary: BackendHealth;
  secondary: BackendHealth;
  lastFailover: Transition | null;
  lastFailback: Transition | null;
  since: number;
}
