/**
 * The monitor and the failover state machine.
 *
 * Each backend has its own check loop (a `Probe`, one persistent connection). Check results go
 * through `fall`/`rise` counters into an up/down state per backend; the pair's mode follows from
 * the two states, the primary's `read_only` and planned maintenance:
 *
 *   primary up, writable (read_only=0), no maintenance  → read_write
 *   else secondary up (or the primary up but read-only) → read_only
 *   else                                                → down
 *
 * Speed rules:
 * - A fault's first sign (a failed check, the idle monitor connection dropping, or a live session's
 *   backend error via `reportBackendError`) starts back-to-back re-checks until `fall` is reached or
 *   the server answers, so a crash turns into a transition in milliseconds, not fall × interval.
 * - A down backend is checked every interval; once it answers, the `rise` confirmations follow
 *   `confirmIntervalMs` apart (default min(50, interval)), so the way back is quick too.
 * - `mode` is a plain field: the router reads it per statement.
 *
 * Events: "transition" (Transition), "check" (role, BackendHealth), "reconfigured" (), "backendDown" /
 * "backendUp" (role, cause).
 */
import { EventEmitter } from "node:events";
import { sameEndpoint } from "../config/endpoint.js";
import type { BackendConfig, Config } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { CatchUp, type CatchUpDriver, type CatchUpReport } from "./catch-up.js";
import { SqlCatchUpDriver } from "./catch-up-driver.js";
import { type FenceSeen, fenceReason } from "./fence.js";
import { loadFenceSeen, saveFenceSeen } from "./fence-store.js";
import { covers, parsePosition } from "./gtid.js";
import { isTimeout, Probe, type ProbeLike, type ProbeResult, type ProbeTimeouts } from "./probe.js";
import { losslessVerdict } from "./replication.js";
import type {
  BackendHealth,
  FenceStatus,
  LosslessStatus,
  Mode,
  PairStatus,
  Role,
  Transition,
} from "./types.js";

export type MonitorConfig = Config["monitor"];
export type FailoverConfig = Config["failover"];

const DEFAULT_FAILOVER: FailoverConfig = {
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

const ROLES: readonly Role[] = ["primary", "secondary"];
/** How often a backend that is down is checked (at most; never slower than intervalMs). */
const DOWN_POLL_MS = 100;

interface BackendState {
  role: Role;
  cfg: BackendConfig;
  probe: ProbeLike;
  health: BackendHealth;
  /** Has any check finished yet? The first result decides directly (no rise/fall at start). */
  checked: boolean;
  /** First sign of the current fault (epoch ms), or of the current recovery. */
  signAt: number | null;
  /** Back-to-back re-checks requested (a reported error, a lost connection). */
  urgent: boolean;
  /** A check is running. */
  busy: boolean;
  /** Wakes the loop's sleep early. */
  wake: (() => void) | null;
  /** Configuration generation the running check belongs to. */
  generation: number;
  loop: Promise<void> | null;
  /** What was last said about read_only on this backend (to warn once per change). */
  warnedReadOnly: boolean | null;
  warnedReplication: string | null;
  /** The primary's @@gtid_binlog_pos at its last check, and when that check ended (epoch ms). */
  binlogPos: string | null;
  binlogPosAt: number | null;
  /** When the last successful check began (the secondary's answer is at least that fresh). */
  okCheckStartedAt: number | null;
}

function describeError(err: unknown): string {
  const e = err as { code?: string; errno?: number; message?: string };
  const msg = e?.message ?? String(err);
  if (e?.code && !msg.includes(e.code)) return `${e.code}: ${msg}`;
  return msg;
}

function emptyHealth(role: Role, cfg: BackendConfig, now: number): BackendHealth {
  return {
    role,
    host: cfg.host,
    port: cfg.port,
    up: false,
    readOnly: null,
    serverId: null,
    version: null,
    lastCheckAt: null,
    lastError: null,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    replication: null,
    lastOkAt: null,
    lastCheckMs: null,
    since: now,
    semiSync: null,
    fence: null,
  };
}

export class Topology extends EventEmitter<TopologyEvents> {
  private readonly logger: Logger;
  private monitorCfg: MonitorConfig;
  private readonly confirmIntervalOverride: number | undefined;
  private readonly baseDir: string | undefined;
  private readonly probeFactory: TopologyOptions["probeFactory"];
  private readonly backends: Record<Role, BackendState>;
  private currentMode: Mode = "down";
  private modeSince = Date.now();
  private maintenance = false;
  private maintenanceSince: number | null = null;
  private lastFailover: Transition | null = null;
  private lastFailback: Transition | null = null;
  private running = false;
  private initialDone = false;
  private readyWaiters: Array<() => void> = [];
  private failoverCfg: FailoverConfig;
  private readonly catchUpDriverFactory: TopologyOptions["catchUpDriverFactory"];
  private readonly catchUp: CatchUp;
  private losslessState: LosslessStatus = { lossless: null, reason: "not checked yet", since: Date.now() };
  private fenceSeen: FenceSeen | null = null;
  private fenced: string | null = null;
  private readonly fenceStateFile: string | null;
  /** The epoch seen came from the state file (no server showed it since this start). */
  private fenceRemembered = false;
  /** The primary is back but read_write waits for the secondary to catch up (see failbackWait). */
  private failbackHold: { since: number; waitingFor: string; signAt: number | null; cause: string } | null =
    null;
  /** The lossless verdict's reason last logged, without error details (see updateLossless). */
  private losslessLogKey = "";
  /** Set while markUp of the primary evaluates: the one transition the failback hold applies to. */
  private primaryReturning = false;

  constructor(opts: TopologyOptions) {
    super();
    this.logger = opts.logger.child({ part: "topology" });
    this.monitorCfg = { ...opts.monitor };
    this.confirmIntervalOverride = opts.confirmIntervalMs;
    this.baseDir = opts.baseDir;
    this.probeFactory = opts.probeFactory;
    this.failoverCfg = { ...DEFAULT_FAILOVER, ...opts.failover };
    this.catchUpDriverFactory = opts.catchUpDriverFactory;
    this.fenceStateFile = opts.fenceStateFile ?? null;
    this.rememberFence();
    this.catchUp = new CatchUp(
      (report) => this.onCatchUpEnd(report),
      (err) => this.logger.warn({ err: describeError(err) }, "catch-up: cannot follow the secondary"),
    );
    const now = Date.now();
    const make = (role: Role, cfg: BackendConfig): BackendState => {
      const state: BackendState = {
        role,
        cfg,
        probe: this.newProbe(role, cfg),
        health: emptyHealth(role, cfg, now),
        checked: false,
        signAt: null,
        urgent: false,
        busy: false,
        wake: null,
        generation: 0,
        loop: null,
        warnedReadOnly: null,
        warnedReplication: null,
        binlogPos: null,
        binlogPosAt: null,
        okCheckStartedAt: null,
      };
      return state;
    };
    this.backends = { primary: make("primary", opts.primary), secondary: make("secondary", opts.secondary) };
  }

  /** The pair's mode now. A field read: cheap enough for every statement. */
  get mode(): Mode {
    return this.currentMode;
  }

  /** The backend that serves reads in the current mode (see PairStatus.readRole). */
  get readRole(): Role | null {
    return this.computeReadRole(this.currentMode);
  }

  get inMaintenance(): boolean {
    return this.maintenance;
  }

  isUp(role: Role): boolean {
    return this.backends[role].health.up;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.logger.info(
      {
        primary: this.backends.primary.probe.address,
        secondary: this.backends.secondary.probe.address,
        monitor: this.monitorCfg,
      },
      "monitor started",
    );
    for (const role of ROLES) {
      const b = this.backends[role];
      b.loop = this.loop(b);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.catchUp.close();
    for (const role of ROLES) {
      const b = this.backends[role];
      b.probe.close();
      b.wake?.();
    }
    await Promise.all(ROLES.map((r) => this.backends[r].loop));
    for (const role of ROLES) this.backends[role].loop = null;
    // Re-arm the probes so start() after stop() works.
    for (const role of ROLES) {
      const b = this.backends[role];
      b.probe = this.newProbe(role, b.cfg);
    }
    this.logger.info("monitor stopped");
  }

  /** Resolves once both backends have been checked at least once (the mode means something). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.initialDone) return Promise.resolve();
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new Error(`topology: no first check of both backends within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolvePromise();
      };
      this.readyWaiters.push(done);
    });
  }

  snapshot(): PairStatus {
    const copy = (h: BackendHealth): BackendHealth => ({
      ...h,
      replication: h.replication ? { ...h.replication } : null,
    });
    return {
      mode: this.currentMode,
      maintenance: this.maintenance,
      primary: copy(this.backends.primary.health),
      secondary: copy(this.backends.secondary.health),
      lastFailover: this.lastFailover ? { ...this.lastFailover } : null,
      lastFailback: this.lastFailback ? { ...this.lastFailback } : null,
      since: this.modeSince,
      readRole: this.computeReadRole(this.currentMode),
      lossless: { ...this.losslessState },
      catchUp: this.catchUp.status,
      fence: this.fenceStatus(),
      failbackHold: this.failbackHold
        ? { since: this.failbackHold.since, waitingFor: this.failbackHold.waitingFor }
        : null,
    };
  }

  // --- consistency at failover: the API the session uses ----------------------------------------

  /**
   * May a read go to the secondary now? `true`: yes (the common case: a field read). Otherwise a
   * promise that resolves when the secondary has caught up at this failover or
   * `failover.catchUpTimeoutMs` passed — it never rejects: reads wait, they are not failed.
   * Only meaningful when the read would go to the secondary (`readRole === "secondary"`).
   */
  secondaryReadable(): true | Promise<void> {
    return this.catchUp.readable();
  }

  /**
   * A session acknowledged a commit on the primary: its GTID as the OK packet's session state
   * reported it (MariaDB `last_gtid`, e.g. "0-1-25"; MySQL a GTID set). The catch-up at the next
   * failover waits for it, and names it if the secondary never got it. Cheap (no I/O).
   */
  noteAcknowledged(gtid: string): void {
    if (gtid) this.catchUp.noteAcknowledged(gtid);
  }

  /** The highest GTID per stream acknowledged so far (for status and tests). */
  get acknowledgedPosition(): string {
    return this.catchUp.acknowledged;
  }

  /**
   * The primary is suspect: in service, but a fault's first sign was seen (a failed check, the
   * monitor connection lost, a session's reported error) and the monitor has not decided yet.
   * A login arriving now should wait for `verdict()` instead of failing on the primary.
   */
  get primarySuspect(): boolean {
    const b = this.backends.primary;
    return this.running && b.health.up && (b.signAt !== null || b.urgent || b.health.consecutiveFailures > 0);
  }

  /**
   * Resolves once the primary is no longer suspect — confirmed down (a transition) or answering
   * again — or after `timeoutMs` (default failover.verdictTimeoutMs). Never rejects.
   */
  verdict(timeoutMs = this.failoverCfg.verdictTimeoutMs): Promise<void> {
    if (!this.primarySuspect) return Promise.resolve();
    return new Promise((resolvePromise) => {
      const done = () => {
        clearTimeout(timer);
        this.off("transition", done);
        this.off("check", onCheck);
        resolvePromise();
      };
      const onCheck = () => {
        if (!this.primarySuspect) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on("transition", done);
      this.on("check", onCheck);
    });
  }

  /** New failover settings (a config reload); a catch-up in progress keeps its deadline. */
  setFailoverConfig(cfg: FailoverConfig): void {
    this.failoverCfg = { ...cfg };
  }

  private fenceStatus(): FenceStatus {
    return {
      epochSeen: this.fenceSeen?.epoch ?? 0,
      seenOn: this.fenceSeen?.seenOn ?? null,
      fenced: this.fenced,
      rememberedIn: this.fenceRemembered ? this.fenceStateFile : null,
    };
  }

  /** Keep a newly seen epoch for the next start; a failure leaves it in memory (and says so). */
  private storeFence(seen: FenceSeen): void {
    const file = this.fenceStateFile;
    if (!file) return;
    try {
      saveFenceSeen(file, seen);
    } catch (e) {
      this.logger.error(
        { file, err: describeError(e) },
        "cannot keep the promotion epoch on disk: a restart would forget it until a server shows it again",
      );
    }
  }

  /** Start (or skip) the catch-up as the secondary begins serving reads. */
  private beginCatchUp(): void {
    if (this.failoverCfg.readConsistency === "immediate") {
      this.catchUp.skip();
      return;
    }
    const cfg = this.backends.secondary.cfg;
    const factory =
      this.catchUpDriverFactory ??
      ((c: BackendConfig) => new SqlCatchUpDriver(c, this.monitorCfg.connectTimeoutMs, this.baseDir));
    this.catchUp.begin(() => factory(cfg), this.failoverCfg.catchUpTimeoutMs);
    this.logger.info(
      { timeoutMs: this.failoverCfg.catchUpTimeoutMs, acknowledged: this.catchUp.acknowledged || undefined },
      "reads wait for the secondary to catch up",
    );
  }

  private onCatchUpEnd(report: CatchUpReport): void {
    const s = report.status;
    const fields = {
      state: s.state,
      waitedMs: s.waitedMs,
      received: s.received,
      acknowledged: s.acknowledged,
      applied: s.applied,
      missing: s.missing.length ? s.missing : undefined,
    };
    if (report.acknowledgedMissing.length) {
      this.logger.error(
        { ...fields, acknowledgedMissing: report.acknowledgedMissing },
        `the secondary lacks transactions pairgate acknowledged (${report.acknowledgedMissing.join(", ")}): serving reads anyway`,
      );
    } else if (s.state === "caught_up") this.logger.info(fields, "secondary caught up: reads served");
    else this.logger.warn(fields, `catch-up ${s.state}: ${s.detail}`);
    this.emit("catchUp", report);
  }

  private updateLossless(now: number): void {
    const p = this.backends.primary.health;
    let next: { lossless: boolean | null; reason: string };
    /** What a log line is said for: the verdict and its reason without the changing error text. */
    let logKey: string;
    if (!p.up || p.lastOkAt === null) next = { lossless: null, reason: "the primary is not answering" };
    else if (sameEndpoint(this.backends.primary.cfg, this.backends.secondary.cfg))
      next = {
        lossless: false,
        reason: "one server only (a promoted config): no replica to copy commits to",
      };
    else {
      next = losslessVerdict(p.semiSync);
      // Say why the replica is missing when this pairgate cannot reach it either (a WAN cut): the
      // operator at this site sees the cause, not only the primary's point of view.
      const s = this.backends.secondary;
      if (next.lossless === false && s.checked && !s.health.up) {
        logKey = `${next.reason}; unreachable`;
        next = {
          lossless: false,
          reason: `${next.reason}; the secondary is unreachable from here (${s.probe.address}: ${s.health.lastError ?? "no answer"})`,
        };
      }
    }
    logKey ??= next.reason;
    const cur = this.losslessState;
    if (cur.lossless === next.lossless && cur.reason === next.reason) return;
    const changed = cur.lossless !== next.lossless;
    this.losslessState = { ...next, since: changed ? now : cur.since };
    const sayIt = this.losslessLogKey !== logKey;
    this.losslessLogKey = logKey;
    if (!changed) {
      // A new reason for the same verdict (the secondary became unreachable, or reachable): say it.
      if (next.lossless === false && sayIt)
        this.logger.warn({ reason: next.reason }, "replication is NOT lossless");
      return;
    }
    if (next.lossless === true) this.logger.info({ reason: next.reason }, "replication is lossless");
    else if (next.lossless === false)
      this.logger.warn({ reason: next.reason }, "replication is NOT lossless");
    this.emit("lossless", { ...this.losslessState });
  }

  /** Load the epoch a previous run saw (fence-store.ts). */
  private rememberFence(): void {
    const file = this.fenceStateFile;
    if (!file) return;
    try {
      this.fenceSeen = loadFenceSeen(file);
    } catch (e) {
      this.logger.error(
        { file, err: describeError(e) },
        "the remembered promotion epoch cannot be read; the fence starts from what the servers show",
      );
      return;
    }
    if (this.fenceSeen) {
      this.fenceRemembered = true;
      this.logger.info(
        { epoch: this.fenceSeen.epoch, seenOn: this.fenceSeen.seenOn, file },
        "promotion epoch remembered from an earlier run",
      );
    }
  }

  private updateFence(b: BackendState, now: number): void {
    const mark = b.health.fence;
    let changed = false;
    if (mark && mark.epoch > 0 && (!this.fenceSeen || mark.epoch > this.fenceSeen.epoch)) {
      this.fenceSeen = { ...mark, seenOn: b.probe.address, seenAt: now };
      this.fenceRemembered = false;
      this.logger.info(
        { epoch: mark.epoch, serverId: mark.serverId, promotedAt: mark.promotedAt, seenOn: b.probe.address },
        "promotion epoch seen",
      );
      this.storeFence(this.fenceSeen);
      changed = true;
    } else if (this.fenceRemembered && mark && mark.epoch === this.fenceSeen?.epoch) {
      this.fenceRemembered = false; // a server holds it: no longer only the file's word
      changed = true;
    }
    const p = this.backends.primary;
    let reason = fenceReason(p.health.fence, p.probe.address, this.fenceSeen);
    if (reason && this.fenceRemembered)
      reason += ` (epoch remembered in ${this.fenceStateFile}; if this pair was rebuilt from scratch, delete that file and reload)`;
    if (reason !== this.fenced) {
      this.fenced = reason;
      changed = true;
      if (reason) this.logger.error({ primary: p.probe.address }, reason);
      else this.logger.info({ primary: p.probe.address }, "the primary is no longer fenced");
      if (this.initialDone) this.evaluate(reason ?? "fence lifted: the primary holds the newest epoch", null);
    }
    if (changed) this.emit("fence", this.fenceStatus());
  }

  /**
   * A live session saw an error talking to this backend (refused, reset, timeout). Check it now and
   * keep re-checking back to back until `fall` is reached or it answers.
   */
  reportBackendError(role: Role, err?: unknown): void {
    const b = this.backends[role];
    // Already down: its own checks are running; a flood of reports must not turn into a busy loop.
    if (!this.running || (b.checked && !b.health.up)) return;
    const now = Date.now();
    if (b.health.up && b.signAt === null) b.signAt = now;
    if (!b.urgent) {
      this.logger.debug(
        { role, err: err === undefined ? undefined : describeError(err) },
        "backend error reported",
      );
    }
    b.urgent = true;
    b.wake?.();
  }

  /** The secondary shows GTIDs of its own (a write happened there): say so once per change. */
  private noteLocalGtids(role: Role, before: string[] | undefined, now: string[] | undefined): void {
    if (role !== "secondary") return;
    const was = before?.join(",") ?? "";
    const is = now?.join(",") ?? "";
    if (was === is) return;
    if (is)
      this.logger.error(
        { localGtids: now },
        "the secondary has transactions of its own (GTIDs it did not receive from the primary): something wrote on it",
      );
    else if (was) this.logger.warn("the secondary no longer shows transactions of its own");
  }

  /** Planned maintenance: hold read_only on purpose (the primary may be up). */
  setMaintenance(readOnly: boolean): void {
    if (this.maintenance === readOnly) return;
    this.maintenance = readOnly;
    this.maintenanceSince = readOnly ? Date.now() : null;
    this.logger.warn(
      { maintenance: readOnly },
      readOnly ? "maintenance on: read-only on request" : "maintenance off",
    );
    this.evaluate(readOnly ? "maintenance: read-only on request" : "maintenance ended", null);
  }

  /**
   * A config reload: new addresses or credentials take effect at the next check (the monitor
   * connection is dropped when they change); new timings at once.
   */
  reconfigure(primary: BackendConfig, secondary: BackendConfig, monitor: MonitorConfig): void {
    this.monitorCfg = { ...monitor };
    for (const [role, cfg] of [
      ["primary", primary],
      ["secondary", secondary],
    ] as const) {
      const b = this.backends[role];
      const moved = b.cfg.host !== cfg.host || b.cfg.port !== cfg.port;
      b.cfg = cfg;
      b.probe.reconfigure(cfg, this.monitorCfg);
      if (moved) {
        b.generation++;
        b.health.host = cfg.host;
        b.health.port = cfg.port;
        this.logger.info({ role, host: cfg.host, port: cfg.port }, "backend address changed");
        b.urgent = true;
        b.wake?.();
      }
    }
    this.emit("reconfigured");
  }

  /** Resolves when the mode is (or becomes) `mode`; rejects after `timeoutMs`. */
  waitFor(mode: Mode, timeoutMs: number): Promise<void> {
    if (this.currentMode === mode) return Promise.resolve();
    return new Promise((resolvePromise, reject) => {
      const onTransition = (t: Transition) => {
        if (t.to !== mode) return;
        clearTimeout(timer);
        this.off("transition", onTransition);
        resolvePromise();
      };
      const timer = setTimeout(() => {
        this.off("transition", onTransition);
        reject(new Error(`topology: mode is ${this.currentMode}, not ${mode}, after ${timeoutMs} ms`));
      }, timeoutMs);
      this.on("transition", onTransition);
    });
  }

  // ---------------------------------------------------------------------------------------------

  private newProbe(role: Role, cfg: BackendConfig): ProbeLike {
    const onLost = (err: Error) => this.onConnectionLost(role, err);
    if (this.probeFactory) return this.probeFactory(role, cfg, this.monitorCfg, onLost);
    return new Probe(cfg, this.monitorCfg, onLost, this.baseDir);
  }

  private get confirmIntervalMs(): number {
    return this.confirmIntervalOverride ?? Math.min(50, this.monitorCfg.intervalMs);
  }

  private onConnectionLost(role: Role, err: Error): void {
    if (!this.running) return;
    const b = this.backends[role];
    this.logger.debug({ role, err: describeError(err) }, "monitor connection lost");
    if (b.health.up && b.signAt === null) b.signAt = Date.now();
    b.urgent = true;
    b.wake?.();
  }

  private async loop(b: BackendState): Promise<void> {
    while (this.running) {
      const started = Date.now();
      b.urgent = false;
      await this.runCheck(b);
      if (!this.running) break;
      const h = b.health;
      let delay: number;
      if (b.urgent) delay = 0;
      else if (h.up && h.consecutiveFailures > 0 && b.signAt !== null) {
        // A fault is suspected: confirm it now rather than an interval later.
        delay = 0;
      } else if (!h.up && h.consecutiveSuccesses > 0) delay = this.confirmIntervalMs;
      else {
        // A backend that is down is polled faster (a refused connect costs little), so its return
        // is noticed within DOWN_POLL_MS rather than a whole interval later.
        const every = h.up ? this.monitorCfg.intervalMs : Math.min(this.monitorCfg.intervalMs, DOWN_POLL_MS);
        delay = Math.max(0, every - (Date.now() - started));
      }
      if (delay > 0) await this.sleep(b, delay);
    }
  }

  private sleep(b: BackendState, ms: number): Promise<void> {
    return new Promise((resolvePromise) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        b.wake = null;
        resolvePromise();
      }
      b.wake = done;
    });
  }

  /**
   * Passive health: a count that grows whenever live sessions receive bytes from a backend. A check
   * that timed out while the count grew is inconclusive, not a failure — the server was answering;
   * the check was starved (a busy host, a long GC pause). A silent or dead server grows nothing.
   */
  setActivitySource(count: (role: Role) => number): void {
    this.activity = count;
  }

  private activity: ((role: Role) => number) | null = null;

  private async runCheck(b: BackendState): Promise<void> {
    const generation = b.generation;
    const started = Date.now();
    const activityBefore = this.activity?.(b.role) ?? 0;
    b.busy = true;
    let result: ProbeResult | null = null;
    let error: unknown = null;
    try {
      result = await b.probe.check(b.role === "secondary");
    } catch (err) {
      error = err;
    } finally {
      b.busy = false;
    }
    if (!this.running) return;
    if (generation !== b.generation) {
      // The address changed while this check ran: its answer is about the old server.
      b.urgent = true;
      return;
    }
    const now = Date.now();
    const h = b.health;
    if (!result && h.up && isTimeout(error) && this.activity && this.activity(b.role) !== activityBefore) {
      this.logger.debug(
        { role: b.role, err: describeError(error) },
        "check timed out while sessions were being answered: inconclusive",
      );
      return;
    }
    h.lastCheckAt = now;
    h.lastCheckMs = now - started;
    if (result) {
      b.okCheckStartedAt = started;
      this.onSuccess(b, result, now);
    } else this.onFailure(b, error, started, now);
    this.updateLossless(now);
    // A held failback is decided by checks (the secondary catching up), not by an up/down change.
    if (this.failbackHold && this.initialDone) this.evaluate("the primary answers again", null);
    this.emit("check", b.role, { ...h, replication: h.replication ? { ...h.replication } : null });
    if (!this.initialDone && this.backends.primary.checked && this.backends.secondary.checked) {
      this.initialDone = true;
      this.evaluate("first checks", null);
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w();
    }
  }

  private onSuccess(b: BackendState, r: ProbeResult, now: number): void {
    const h = b.health;
    const firstCheck = !b.checked;
    b.checked = true;
    h.consecutiveFailures = 0;
    h.consecutiveSuccesses++;
    h.lastOkAt = now;
    h.lastError = null;
    const readOnlyChanged = h.readOnly !== r.readOnly;
    h.readOnly = r.readOnly;
    h.serverId = r.serverId;
    h.version = r.version;
    this.noteLocalGtids(b.role, h.replication?.localGtids, r.replication?.localGtids);
    h.replication = r.replication;
    h.semiSync = r.semiSync ?? null;
    h.fence = r.fence ?? null;
    b.binlogPos = r.gtidBinlogPos ?? null;
    b.binlogPosAt = r.gtidBinlogPos == null ? null : now;
    this.updateFence(b, now);
    this.noteReadOnly(b);
    this.noteReplicationError(b, r.replicationError);
    if (h.up) {
      b.signAt = null;
      // read_only flips on the primary change the mode without any up/down change.
      if (readOnlyChanged && b.role === "primary" && this.initialDone) {
        this.evaluate(r.readOnly ? "primary reports read_only=1" : "primary reports read_only=0", now);
      }
      return;
    }
    if (firstCheck) {
      this.markUp(b, now, "first check answered");
      return;
    }
    if (b.signAt === null) b.signAt = now;
    if (h.consecutiveSuccesses >= this.monitorCfg.rise) {
      this.markUp(b, now, `answered ${h.consecutiveSuccesses} checks in a row`);
    }
  }

  private onFailure(b: BackendState, err: unknown, started: number, now: number): void {
    const h = b.health;
    const firstCheck = !b.checked;
    b.checked = true;
    const msg = describeError(err);
    h.lastError = msg;
    h.consecutiveSuccesses = 0;
    h.consecutiveFailures++;
    if (!h.up) {
      if (h.consecutiveFailures === 1 || firstCheck) {
        this.logger.debug({ role: b.role, address: b.probe.address, err: msg }, "backend still down");
      }
      if (firstCheck) this.markDown(b, now, `first check failed: ${msg}`);
      b.signAt = null;
      return;
    }
    // A timeout's first sign is when the unanswered check began.
    if (b.signAt === null) b.signAt = isTimeout(err) ? started : now;
    if (h.consecutiveFailures === 1) {
      this.logger.info({ role: b.role, address: b.probe.address, err: msg }, "backend check failed");
    }
    if (h.consecutiveFailures >= this.monitorCfg.fall) {
      this.markDown(b, now, `${h.consecutiveFailures} failed checks: ${msg}`);
    }
  }

  private markDown(b: BackendState, now: number, why: string): void {
    const h = b.health;
    const wasChecked = h.lastOkAt !== null || h.up;
    h.up = false;
    h.since = now;
    const cause = `${b.role} down (${b.probe.address}): ${why}`;
    if (wasChecked) this.logger.warn({ role: b.role, address: b.probe.address, cause }, "backend down");
    else this.logger.warn({ role: b.role, address: b.probe.address, cause }, "backend unreachable at start");
    this.emit("backendDown", b.role, cause);
    const signAt = b.signAt;
    b.signAt = null;
    if (this.initialDone) this.evaluate(cause, signAt);
  }

  private markUp(b: BackendState, now: number, why: string): void {
    const h = b.health;
    h.up = true;
    h.since = now;
    const cause = `${b.role} up (${b.probe.address}): ${why}`;
    this.logger.info({ role: b.role, address: b.probe.address, cause }, "backend up");
    this.emit("backendUp", b.role, cause);
    const signAt = b.signAt;
    b.signAt = null;
    this.primaryReturning = b.role === "primary";
    try {
      if (this.initialDone) this.evaluate(cause, signAt);
    } finally {
      this.primaryReturning = false;
    }
  }

  private noteReadOnly(b: BackendState): void {
    const ro = b.health.readOnly;
    if (ro === b.warnedReadOnly) return;
    const first = b.warnedReadOnly === null;
    b.warnedReadOnly = ro;
    if (b.role === "secondary") {
      // The same server as the primary (a promoted config): writable as a primary should be.
      if (sameEndpoint(b.cfg, this.backends.primary.cfg)) return;
      if (ro === false) {
        this.logger.warn(
          { role: "secondary", address: b.probe.address },
          "secondary reports read_only=0: it accepts writes from privileged users; pairgate never sends it one, but set read_only=1 there",
        );
      } else if (!first) {
        this.logger.info(
          { role: "secondary", address: b.probe.address },
          "secondary reports read_only=1 again",
        );
      }
    } else if (ro === true) {
      this.logger.warn(
        { role: "primary", address: b.probe.address },
        "primary reports read_only=1: not writable",
      );
    } else if (!first) {
      this.logger.info({ role: "primary", address: b.probe.address }, "primary reports read_only=0 again");
    }
  }

  private noteReplicationError(b: BackendState, err: string | null): void {
    if (err === b.warnedReplication) return;
    b.warnedReplication = err;
    if (err) {
      this.logger.warn(
        { role: b.role, err },
        "cannot read replication status (grant REPLICA MONITOR / REPLICATION CLIENT to the service account)",
      );
    }
  }

  private computeMode(): Mode {
    const p = this.backends.primary.health;
    const s = this.backends.secondary.health;
    if (p.up && p.readOnly === false && !this.maintenance && this.fenced === null) return "read_write";
    if (s.up || p.up) return "read_only";
    return "down";
  }

  private computeReadRole(mode: Mode): Role | null {
    if (mode === "read_write") return "primary";
    if (mode === "down") return null;
    return this.backends.secondary.health.up ? "secondary" : "primary";
  }

  /** Recompute the mode; on a change, record and announce the transition. */
  private evaluate(cause: string, signAt: number | null): void {
    let to = this.computeMode();
    const from = this.currentMode;
    // Only when the primary itself comes back (not at start-up, not at the end of maintenance: the
    // primary was there all along and replication with it).
    if (to === "read_write" && from !== "read_write" && (this.primaryReturning || this.failbackHold)) {
      const held = this.holdFailback(cause, signAt);
      if (held === null) return;
      ({ cause, signAt } = held);
      if (held.hold) to = "read_only";
    } else if (to !== "read_write" && this.failbackHold) {
      this.failbackHold = null;
    }
    if (to === from) return;
    const at = Date.now();
    const kind: Transition["kind"] =
      cause === "first checks"
        ? "startup"
        : from === "read_write"
          ? "failover"
          : to === "read_write"
            ? "failback"
            : "other";
    const t: Transition = {
      from,
      to,
      at,
      cause,
      detectionSeconds: signAt === null ? 0 : Math.max(0, (at - signAt) / 1000),
      kind,
    };
    const readBefore = this.computeReadRole(from);
    this.currentMode = to;
    this.modeSince = at;
    const readAfter = this.computeReadRole(to);
    // Before anyone hears of the transition: a session that sees the new mode sees the catch-up.
    if (readAfter === "secondary" && readBefore !== "secondary") this.beginCatchUp();
    else if (readAfter !== "secondary") this.catchUp.cancel(`reads left the secondary (mode ${to})`);
    if (kind === "failover") this.lastFailover = t;
    if (kind === "failback") this.lastFailback = t;
    const fields = {
      from,
      to,
      kind,
      cause,
      detectionSeconds: t.detectionSeconds,
      readRole: this.computeReadRole(to),
    };
    if (to === "read_write") this.logger.info(fields, `mode ${from} → ${to}`);
    else if (to === "down") this.logger.error(fields, `mode ${from} → ${to}`);
    else this.logger.warn(fields, `mode ${from} → ${to}`);
    this.emit("transition", t);
  }

  /**
   * Why read_write must wait for the secondary, or null. The primary is back (a healed WAN link, a
   * restart): until the secondary has applied what the primary had at its last check, a link that
   * fails again at once would leave this site reading from a secondary staler than what it just
   * wrote. Nothing to wait for when the secondary does not answer, does not replicate, or its
   * replication is stopped or broken (it would never catch up), or the primary's position is unknown.
   */
  private failbackWait(): string | null {
    const p = this.backends.primary;
    const s = this.backends.secondary;
    const want = p.binlogPos;
    if (!want || p.binlogPosAt === null) return null;
    const rep = s.health.replication;
    if (!s.health.up || !rep || sameEndpoint(p.cfg, s.cfg)) return null;
    if (rep.sqlRunning !== "Yes" || rep.ioRunning === "No") return null;
    const asked = `the secondary to apply the primary's ${want}`;
    // Only an answer that began after the primary's position was read can show it applied.
    if (s.okCheckStartedAt === null || s.okCheckStartedAt < p.binlogPosAt)
      return `${asked} (it had ${rep.gtidExecuted || "nothing"})`;
    if (covers(parsePosition(rep.gtidExecuted), parsePosition(want))) return null;
    return `${asked} (it has ${rep.gtidExecuted || "nothing"}, IO thread ${rep.ioRunning})`;
  }

  /**
   * The failback gate of evaluate(): null to stay as is (held, already read_only), else the
   * transition's cause and whether it is held (go to read_only meanwhile: the secondary is up).
   * The hold ends when the secondary caught up, or after failover.catchUpTimeoutMs anyway.
   */
  private holdFailback(
    cause: string,
    signAt: number | null,
  ): { cause: string; signAt: number | null; hold: boolean } | null {
    const now = Date.now();
    const wait = this.failbackWait();
    const hold = this.failbackHold;
    if (wait !== null) {
      if (!hold) {
        this.failbackHold = { since: now, waitingFor: wait, signAt, cause };
        this.logger.info(
          { cause, waitingFor: wait },
          "the primary answers again: read_write once the secondary has caught up",
        );
        return this.currentMode === "read_only" ? null : { cause, signAt, hold: true };
      }
      hold.waitingFor = wait;
      const waited = now - hold.since;
      if (waited < this.failoverCfg.catchUpTimeoutMs)
        return this.currentMode === "read_only" ? null : { cause, signAt, hold: true };
      this.logger.warn(
        { waitedMs: waited, waitingFor: wait },
        "the secondary did not catch up in time: read_write anyway",
      );
      this.failbackHold = null;
      return {
        cause: `${hold.cause}; the secondary had not caught up after ${waited} ms (${wait})`,
        signAt: hold.signAt,
        hold: false,
      };
    }
    if (!hold) return { cause, signAt, hold: false };
    this.failbackHold = null;
    return {
      cause: `${hold.cause}; the secondary caught up in ${now - hold.since} ms`,
      signAt: hold.signAt,
      hold: false,
    };
  }

  /** For the status page: when maintenance began (epoch ms), or null. */
  get maintenanceStartedAt(): number | null {
    return this.maintenanceSince;
  }
}
