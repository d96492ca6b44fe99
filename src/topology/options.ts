/**
 * What a `Topology` is built from (the config's monitor and failover sections, the backends, test
 * stand-ins) and the events it emits.
 */
import type { BackendConfig, Config } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import type { ProbeLike, ProbeTimeouts } from "./probe.js";
import type { CatchUpDriver, CatchUpReport } from "./secondary-catch-up.js";
import type { BackendHealth, FenceStatus, LosslessStatus, Role, Transition } from "./types.js";

export type MonitorConfig = Config["monitor"];
export type FailoverConfig = Config["failover"];

export const DEFAULT_FAILOVER: FailoverConfig = {
  readConsistency: "caught_up",
  catchUpTimeoutMs: 5000,
  verdictTimeoutMs: 2000,
};

export interface TopologyOptions {
  primary: BackendConfig;
  secondary: BackendConfig;
  monitor: MonitorConfig;
  /** Catch-up at a failover (default: caught_up, 5 s). */
  failover?: FailoverConfig;
  /** The root logger: the monitor binds `part: "topology"` itself. */
  logger: Logger;
  /** Spacing of the `rise` confirmation checks once a down backend answers. Default min(50, intervalMs). */
  confirmIntervalMs?: number;
  /** Relative TLS file paths resolve against this folder (the config's). */
  baseDir?: string;
  /**
   * Where the highest promotion epoch seen is kept across restarts (fence-store.ts); none: in
   * memory only (tests).
   */
  fenceStateFile?: string;
  /** Tests: stand-in probes. `onLost` must be called when an idle connection dies. */
  probeFactory?: (
    role: Role,
    cfg: BackendConfig,
    timeouts: ProbeTimeouts,
    onLost: (err: Error) => void,
  ) => ProbeLike;
  /** Tests: a stand-in for the catch-up's connection to the secondary. */
  catchUpDriverFactory?: (secondary: BackendConfig) => CatchUpDriver;
}

export interface TopologyEvents {
  transition: [Transition];
  check: [Role, BackendHealth];
  reconfigured: [];
  backendDown: [Role, string];
  backendUp: [Role, string];
  /** The pair became lossless or stopped being so (semi-sync active or not on the primary). */
  lossless: [LosslessStatus];
  /** A failover's catch-up ended (caught up, timed out). */
  catchUp: [CatchUpReport];
  /** The fence changed: a newer promotion epoch seen, or the primary fenced / unfenced. */
  fence: [FenceStatus];
}
