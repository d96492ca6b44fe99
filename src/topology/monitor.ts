/**
 * The topology monitor: what the rest of pairgate sees of the pair (`Topology`). It wires the parts
 * that each have one job and carries out what they decide:
 *
 *   check-loop.ts          when each backend is checked (one `Probe` per backend)
 *   machine.ts             what the checks mean: up/down (fall/rise) and the pair's mode, with the
 *                          failback hold — a pure function of observations
 *   fence-watch.ts         the promotion epoch seen and whether the primary is fenced
 *   lossless-watch.ts      whether semi-sync makes the pair lossless now
 *   secondary-catch-up.ts  reads held at a failover until the secondary caught up
 *   health-notes.ts        log lines for what changes no verdict (read_only, local GTIDs, grants)
 *
 * `mode` is a plain field: the router reads it per statement.
 *
 * Events: "transition" (Transition), "check" (role, BackendHealth), "reconfigured" (), "backendDown" /
 * "backendUp" (role, cause), "lossless", "catchUp", "fence".
 */
import { EventEmitter } from "node:events";
import { sameEndpoint } from "../config/endpoint.js";
import type { BackendConfig, Config } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { CheckLoop, type CheckOutcome } from "./check-loop.js";
import { describeError } from "./describe-error.js";
import { FenceWatch } from "./fence-watch.js";
import { HealthNotes } from "./health-notes.js";
import { LosslessWatch } from "./lossless-watch.js";
import {
  type Effect,
  initialState,
  type MachineState,
  type Observation,
  type PairFacts,
  readRoleOf,
  step,
} from "./machine.js";
import { isTimeout, Probe, type ProbeLike, type ProbeTimeouts } from "./probe.js";
import { CatchUp, type CatchUpDriver, type CatchUpReport } from "./secondary-catch-up.js";
import { SqlCatchUpDriver } from "./secondary-catch-up-driver.js";
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

const ROLES: readonly Role[] = ["primary", "secondary"];

/** What the monitor keeps per backend besides its verdict (which is the machine's). */
interface Backend {
  role: Role;
  cfg: BackendConfig;
  checks: CheckLoop;
  /** The published view: the last check's readings, the verdict copied in after each step. */
  health: BackendHealth;
  notes: HealthNotes;
  /** The primary's @@gtid_binlog_pos at its last check, and when that check ended (epoch ms). */
  binlogPos: string | null;
  binlogPosAt: number | null;
  /** When the last successful check began (the secondary's answer is at least that fresh). */
  okCheckStartedAt: number | null;
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

function copyHealth(h: BackendHealth): BackendHealth {
  return { ...h, replication: h.replication ? { ...h.replication } : null };
}

export class Topology extends EventEmitter<TopologyEvents> {
  private readonly logger: Logger;
  private monitorCfg: MonitorConfig;
  private failoverCfg: FailoverConfig;
  private readonly confirmIntervalOverride: number | undefined;
  private readonly baseDir: string | undefined;
  private readonly catchUpDriverFactory: TopologyOptions["catchUpDriverFactory"];
  private readonly backends: Record<Role, Backend>;
  /** The verdicts and the mode: owned by machine.ts, replaced at each step. */
  private machine: MachineState;
  private maintenance = false;
  private maintenanceSince: number | null = null;
  private running = false;
  private readyWaiters: Array<() => void> = [];
  private readonly catchUp: CatchUp;
  private readonly fence: FenceWatch;
  private readonly lossless: LosslessWatch;
  private activity: ((role: Role) => number) | null = null;

  constructor(opts: TopologyOptions) {
    super();
    this.logger = opts.logger.child({ part: "topology" });
    this.monitorCfg = { ...opts.monitor };
    this.confirmIntervalOverride = opts.confirmIntervalMs;
    this.baseDir = opts.baseDir;
    this.failoverCfg = { ...DEFAULT_FAILOVER, ...opts.failover };
    this.catchUpDriverFactory = opts.catchUpDriverFactory;
    this.fence = new FenceWatch(opts.fenceStateFile ?? null, this.logger);
    this.lossless = new LosslessWatch(this.logger);
    this.catchUp = new CatchUp(
      (report) => this.onCatchUpEnd(report),
      (err) => this.logger.warn({ err: describeError(err) }, "catch-up: cannot follow the secondary"),
    );
    const now = Date.now();
    this.machine = initialState(now);
    const make = (role: Role, cfg: BackendConfig): Backend => ({
      role,
      cfg,
      checks: new CheckLoop(cfg, {
        role,
        logger: this.logger,
        newProbe: (c) => {
          const onLost = (err: Error) => this.onConnectionLost(role, err);
          if (opts.probeFactory) return opts.probeFactory(role, c, this.monitorCfg, onLost);
          return new Probe(c, this.monitorCfg, onLost, this.baseDir);
        },
        verdict: () => this.machine[role],
        timing: () => ({ intervalMs: this.monitorCfg.intervalMs, confirmIntervalMs: this.confirmIntervalMs }),
        activity: () => this.activity?.(role) ?? null,
        onCheck: (outcome) => this.onCheck(role, outcome),
      }),
      health: emptyHealth(role, cfg, now),
      notes: new HealthNotes(role, this.logger),
      binlogPos: null,
      binlogPosAt: null,
      okCheckStartedAt: null,
    });
    this.backends = { primary: make("primary", opts.primary), secondary: make("secondary", opts.secondary) };
  }

  /** The pair's mode now. A field read: cheap enough for every statement. */
  get mode(): Mode {
    return this.machine.mode;
  }

  /** The backend that serves reads in the current mode (see PairStatus.readRole). */
  get readRole(): Role | null {
    return readRoleOf(this.machine.mode, this.machine.secondary.up);
  }

  get inMaintenance(): boolean {
    return this.maintenance;
  }

  /** For the status page: when maintenance began (epoch ms), or null. */
  get maintenanceStartedAt(): number | null {
    return this.maintenanceSince;
  }

  isUp(role: Role): boolean {
    return this.machine[role].up;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.logger.info(
      {
        primary: this.backends.primary.checks.address,
        secondary: this.backends.secondary.checks.address,
        monitor: this.monitorCfg,
      },
      "monitor started",
    );
    for (const role of ROLES) this.backends[role].checks.start();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.catchUp.close();
    await Promise.all(ROLES.map((r) => this.backends[r].checks.stop()));
    this.logger.info("monitor stopped");
  }

  /** Resolves once both backends have been checked at least once (the mode means something). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.machine.started) return Promise.resolve();
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
    const m = this.machine;
    return {
      mode: m.mode,
      maintenance: this.maintenance,
      primary: copyHealth(this.backends.primary.health),
      secondary: copyHealth(this.backends.secondary.health),
      lastFailover: m.lastFailover ? { ...m.lastFailover } : null,
      lastFailback: m.lastFailback ? { ...m.lastFailback } : null,
      since: m.modeSince,
      readRole: readRoleOf(m.mode, m.secondary.up),
      lossless: this.lossless.status,
      catchUp: this.catchUp.status,
      fence: this.fence.status,
      failbackHold: m.hold ? { since: m.hold.since, waitingFor: m.hold.waitingFor } : null,
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
    const v = this.machine.primary;
    const urgent = this.backends.primary.checks.urgent;
    return this.running && v.up && (v.signAt !== null || urgent || v.consecutiveFailures > 0);
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

  /**
   * Passive health: a count that grows whenever live sessions receive bytes from a backend. A check
   * that timed out while the count grew is inconclusive, not a failure (check-loop.ts).
   */
  setActivitySource(count: (role: Role) => number): void {
    this.activity = count;
  }

  /**
   * A live session saw an error talking to this backend (refused, reset, timeout). Check it now and
   * keep re-checking back to back until `fall` is reached or it answers.
   */
  reportBackendError(role: Role, err?: unknown): void {
    const b = this.backends[role];
    const v = this.machine[role];
    // Already down: its own checks are running; a flood of reports must not turn into a busy loop.
    if (!this.running || (v.checked && !v.up)) return;
    this.noteSign(role, Date.now());
    if (!b.checks.urgent) {
      this.logger.debug(
        { role, err: err === undefined ? undefined : describeError(err) },
        "backend error reported",
      );
    }
    b.checks.hurry();
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
    this.change(readOnly ? "maintenance: read-only on request" : "maintenance ended");
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
      b.cfg = cfg;
      if (b.checks.reconfigure(cfg, this.monitorCfg)) {
        b.health.host = cfg.host;
        b.health.port = cfg.port;
        this.logger.info({ role, host: cfg.host, port: cfg.port }, "backend address changed");
      }
    }
    this.emit("reconfigured");
  }

  /** Resolves when the mode is (or becomes) `mode`; rejects after `timeoutMs`. */
  waitFor(mode: Mode, timeoutMs: number): Promise<void> {
    if (this.machine.mode === mode) return Promise.resolve();
    return new Promise((resolvePromise, reject) => {
      const onTransition = (t: Transition) => {
        if (t.to !== mode) return;
        clearTimeout(timer);
        this.off("transition", onTransition);
        resolvePromise();
      };
      const timer = setTimeout(() => {
        this.off("transition", onTransition);
        reject(new Error(`topology: mode is ${this.machine.mode}, not ${mode}, after ${timeoutMs} ms`));
      }, timeoutMs);
      this.on("transition", onTransition);
    });
  }

  // --- checks in, effects out -------------------------------------------------------------------

  private get confirmIntervalMs(): number {
    return this.confirmIntervalOverride ?? Math.min(50, this.monitorCfg.intervalMs);
  }

  /** A fault's first sign on a backend in service (its verdict's clock for the detection time). */
  private noteSign(role: Role, now: number): void {
    const v = this.machine[role];
    if (v.up && v.signAt === null) this.machine = { ...this.machine, [role]: { ...v, signAt: now } };
  }

  private onConnectionLost(role: Role, err: Error): void {
    if (!this.running) return;
    this.logger.debug({ role, err: describeError(err) }, "monitor connection lost");
    this.noteSign(role, Date.now());
    this.backends[role].checks.hurry();
  }

  private onCheck(role: Role, { result, error, started, now }: CheckOutcome): void {
    const b = this.backends[role];
    const h = b.health;
    h.lastCheckAt = now;
    h.lastCheckMs = now - started;
    const address = b.checks.address;
    let fenceChanged = false;
    if (result) {
      b.okCheckStartedAt = started;
      h.lastOkAt = now;
      h.lastError = null;
      h.serverId = result.serverId;
      h.version = result.version;
      b.notes.localGtidsAre(result.replication?.localGtids);
      h.replication = result.replication;
      h.semiSync = result.semiSync ?? null;
      h.fence = result.fence ?? null;
      b.binlogPos = result.gtidBinlogPos ?? null;
      b.binlogPosAt = result.gtidBinlogPos == null ? null : now;
      const p = this.backends.primary;
      // The machine re-decides the mode when `fenced` changed (the check step below).
      fenceChanged = this.fence.update(
        h.fence,
        address,
        { mark: p.health.fence, address: p.checks.address },
        now,
      );
      b.notes.readOnlyIs(result.readOnly, address, role === "secondary" && this.sameServer);
      b.notes.replicationErrorIs(result.replicationError);
    } else {
      h.lastError = describeError(error);
    }
    this.apply({
      kind: "check",
      role,
      address,
      at: now,
      started,
      result: result
        ? { ok: true, readOnly: result.readOnly }
        : { ok: false, error: h.lastError ?? "", timeout: isTimeout(error) },
      facts: this.facts(),
    });
    if (fenceChanged) this.emit("fence", this.fence.status);
    const p = this.backends.primary;
    const s = this.backends.secondary;
    const lossless = this.lossless.update(
      {
        primary: p.health,
        secondary: s.health,
        secondaryChecked: this.machine.secondary.checked,
        secondaryAddress: s.checks.address,
        sameServer: this.sameServer,
      },
      now,
    );
    if (lossless) this.emit("lossless", lossless);
    // A held failback is decided by checks (the secondary catching up), not by an up/down change.
    if (this.machine.hold) this.change("the primary answers again");
    this.emit("check", role, copyHealth(h));
    if (!this.machine.started && this.machine.primary.checked && this.machine.secondary.checked) {
      this.apply({ kind: "startup", at: Date.now(), facts: this.facts() });
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w();
    }
  }

  private get sameServer(): boolean {
    return sameEndpoint(this.backends.primary.cfg, this.backends.secondary.cfg);
  }

  private facts(): PairFacts {
    const p = this.backends.primary;
    const s = this.backends.secondary;
    return {
      maintenance: this.maintenance,
      fenced: this.fence.fenced,
      sameServer: this.sameServer,
      primaryBinlogPos: p.binlogPos,
      primaryBinlogPosAt: p.binlogPosAt,
      secondaryReplication: s.health.replication,
      secondaryOkCheckStartedAt: s.okCheckStartedAt,
    };
  }

  /** Something the mode depends on changed: decide again. */
  private change(cause: string): void {
    this.apply({ kind: "change", at: Date.now(), cause, facts: this.facts() });
  }

  /** One machine step: the new state first (what listeners read), then its effects in order. */
  private apply(obs: Observation): void {
    const { state, effects } = step(this.machine, obs, {
      fall: this.monitorCfg.fall,
      rise: this.monitorCfg.rise,
      catchUpTimeoutMs: this.failoverCfg.catchUpTimeoutMs,
    });
    this.machine = state;
    for (const role of ROLES) {
      const v = state[role];
      const h = this.backends[role].health;
      h.up = v.up;
      h.readOnly = v.readOnly;
      h.consecutiveFailures = v.consecutiveFailures;
      h.consecutiveSuccesses = v.consecutiveSuccesses;
      h.since = v.since;
    }
    for (const e of effects) this.effect(e);
  }

  private effect(e: Effect): void {
    switch (e.kind) {
      case "check_failed":
      case "still_down": {
        const fields = { role: e.role, address: this.backends[e.role].checks.address, err: e.error };
        if (e.kind === "still_down") this.logger.debug(fields, "backend still down");
        else this.logger.info(fields, "backend check failed");
        return;
      }
      case "backend_down": {
        const b = this.backends[e.role];
        const fields = { role: e.role, address: b.checks.address, cause: e.cause };
        if (!e.firstCheck || b.health.lastOkAt !== null) this.logger.warn(fields, "backend down");
        else this.logger.warn(fields, "backend unreachable at start");
        this.emit("backendDown", e.role, e.cause);
        return;
      }
      case "backend_up":
        this.logger.info(
          { role: e.role, address: this.backends[e.role].checks.address, cause: e.cause },
          "backend up",
        );
        this.emit("backendUp", e.role, e.cause);
        return;
      case "hold_started":
        this.logger.info(
          { cause: e.cause, waitingFor: e.waitingFor },
          "the primary answers again: read_write once the secondary has caught up",
        );
        return;
      case "hold_timed_out":
        this.logger.warn(
          { waitedMs: e.waitedMs, waitingFor: e.waitingFor },
          "the secondary did not catch up in time: read_write anyway",
        );
        return;
      case "catch_up_begin":
        this.beginCatchUp();
        return;
      case "catch_up_cancel":
        this.catchUp.cancel(e.why);
        return;
      case "transition": {
        const t = e.transition;
        const fields = {
          from: t.from,
          to: t.to,
          kind: t.kind,
          cause: t.cause,
          detectionSeconds: t.detectionSeconds,
          readRole: e.readRole,
        };
        const msg = `mode ${t.from} → ${t.to}`;
        if (t.to === "read_write") this.logger.info(fields, msg);
        else if (t.to === "down") this.logger.error(fields, msg);
        else this.logger.warn(fields, msg);
        this.emit("transition", t);
        return;
      }
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
}
