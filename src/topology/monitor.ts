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
 *   readings.ts            what a backend's checks read: the published BackendHealth
 *   catch-up-runner.ts     starts the catch-up when reads move to the secondary, reports its end
 *   effect-log.ts          the log line of each decision;  waits.ts: the promises handed out
 *
 * `mode` is a plain field: the router reads it per statement.
 *
 * Events: "transition" (Transition), "check" (role, BackendHealth), "reconfigured" (), "backendDown" /
 * "backendUp" (role, cause), "lossless", "catchUp", "fence".
 */
import { EventEmitter } from "node:events";
import { sameEndpoint } from "../config/endpoint.js";
import type { BackendConfig } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { CatchUpRunner } from "./catch-up-runner.js";
import { CheckLoop, type CheckOutcome } from "./check-loop.js";
import { describeError } from "./describe-error.js";
import { logEffect } from "./effect-log.js";
import { FenceWatch } from "./fence-watch.js";
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
import {
  DEFAULT_FAILOVER,
  type FailoverConfig,
  type MonitorConfig,
  type TopologyEvents,
  type TopologyOptions,
} from "./options.js";
import { isTimeout, Probe } from "./probe.js";
import { BackendReadings } from "./readings.js";
import type { Mode, PairStatus, Role } from "./types.js";
import { ReadyGate, untilMode, untilNotSuspect } from "./waits.js";

export type { FailoverConfig, MonitorConfig, TopologyEvents, TopologyOptions } from "./options.js";

const ROLES: readonly Role[] = ["primary", "secondary"];

/** What the monitor keeps per backend besides its verdict (which is the machine's). */
interface Backend {
  cfg: BackendConfig;
  checks: CheckLoop;
  readings: BackendReadings;
}

export class Topology extends EventEmitter<TopologyEvents> {
  private readonly logger: Logger;
  private monitorCfg: MonitorConfig;
  private failoverCfg: FailoverConfig;
  private readonly confirmIntervalOverride: number | undefined;
  private readonly backends: Record<Role, Backend>;
  /** The verdicts and the mode: owned by machine.ts, replaced at each step. */
  private machine: MachineState;
  private maintenance = false;
  private maintenanceSince: number | null = null;
  private running = false;
  private readonly readyGate = new ReadyGate();
  private readonly catchUps: CatchUpRunner;
  private readonly fence: FenceWatch;
  private readonly lossless: LosslessWatch;
  private activity: ((role: Role) => number) | null = null;

  constructor(opts: TopologyOptions) {
    super();
    this.logger = opts.logger.child({ part: "topology" });
    this.monitorCfg = { ...opts.monitor };
    this.confirmIntervalOverride = opts.confirmIntervalMs;
    this.failoverCfg = { ...DEFAULT_FAILOVER, ...opts.failover };
    this.fence = new FenceWatch(opts.fenceStateFile ?? null, this.logger);
    this.lossless = new LosslessWatch(this.logger);
    this.catchUps = new CatchUpRunner(
      this.logger,
      opts.catchUpDriverFactory ??
        CatchUpRunner.sqlDriver(() => this.monitorCfg.connectTimeoutMs, opts.baseDir),
      (report) => this.emit("catchUp", report),
    );
    const now = Date.now();
    this.machine = initialState(now);
    const make = (role: Role, cfg: BackendConfig): Backend => ({
      cfg,
      checks: new CheckLoop(cfg, {
        role,
        logger: this.logger,
        newProbe: (c) => {
          const onLost = (err: Error) => this.onConnectionLost(role, err);
          if (opts.probeFactory) return opts.probeFactory(role, c, this.monitorCfg, onLost);
          return new Probe(c, this.monitorCfg, onLost, opts.baseDir);
        },
        verdict: () => this.machine[role],
        timing: () => ({ intervalMs: this.monitorCfg.intervalMs, confirmIntervalMs: this.confirmIntervalMs }),
        activity: () => this.activity?.(role) ?? null,
        onCheck: (outcome) => this.onCheck(role, outcome),
      }),
      readings: new BackendReadings(role, cfg, this.logger, now),
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
    this.catchUps.catchUp.close();
    await Promise.all(ROLES.map((r) => this.backends[r].checks.stop()));
    this.logger.info("monitor stopped");
  }

  /** Resolves once both backends have been checked at least once (the mode means something). */
  ready(timeoutMs = 10_000): Promise<void> {
    return this.machine.started ? Promise.resolve() : this.readyGate.wait(timeoutMs);
  }

  snapshot(): PairStatus {
    const m = this.machine;
    return {
      mode: m.mode,
      maintenance: this.maintenance,
      primary: this.backends.primary.readings.snapshot(),
      secondary: this.backends.secondary.readings.snapshot(),
      lastFailover: m.lastFailover ? { ...m.lastFailover } : null,
      lastFailback: m.lastFailback ? { ...m.lastFailback } : null,
      since: m.modeSince,
      readRole: readRoleOf(m.mode, m.secondary.up),
      lossless: this.lossless.status,
      catchUp: this.catchUps.catchUp.status,
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
    return this.catchUps.catchUp.readable();
  }

  /**
   * A session acknowledged a commit on the primary: its GTID as the OK packet's session state
   * reported it (MariaDB `last_gtid`, e.g. "0-1-25"; MySQL a GTID set). The catch-up at the next
   * failover waits for it, and names it if the secondary never got it. Cheap (no I/O).
   */
  noteAcknowledged(gtid: string): void {
    if (gtid) this.catchUps.catchUp.noteAcknowledged(gtid);
  }

  /** The highest GTID per stream acknowledged so far (for status and tests). */
  get acknowledgedPosition(): string {
    return this.catchUps.catchUp.acknowledged;
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
    return untilNotSuspect(this, () => this.primarySuspect, timeoutMs);
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
        b.readings.movedTo(cfg);
        this.logger.info({ role, host: cfg.host, port: cfg.port }, "backend address changed");
      }
    }
    this.emit("reconfigured");
  }

  /** Resolves when the mode is (or becomes) `mode`; rejects after `timeoutMs`. */
  waitFor(mode: Mode, timeoutMs: number): Promise<void> {
    return untilMode(this, () => this.machine.mode, mode, timeoutMs);
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
    const address = b.checks.address;
    let fenceChanged = false;
    let check: Observation & { kind: "check" };
    const base = { kind: "check", role, address, at: now, started } as const;
    if (result) {
      b.readings.answered(result, started, now, address, role === "secondary" && this.sameServer);
      const p = this.backends.primary;
      // The machine re-decides the mode when `fenced` changed (the check step below).
      fenceChanged = this.fence.update(
        result.fence ?? null,
        address,
        { mark: p.readings.health.fence, address: p.checks.address },
        now,
      );
      check = { ...base, result: { ok: true, readOnly: result.readOnly }, facts: this.facts() };
    } else {
      const msg = b.readings.failed(error, started, now);
      check = { ...base, result: { ok: false, error: msg, timeout: isTimeout(error) }, facts: this.facts() };
    }
    this.apply(check);
    if (fenceChanged) this.emit("fence", this.fence.status);
    const p = this.backends.primary;
    const s = this.backends.secondary;
    const lossless = this.lossless.update(
      {
        primary: p.readings.health,
        secondary: s.readings.health,
        secondaryChecked: this.machine.secondary.checked,
        secondaryAddress: s.checks.address,
        sameServer: this.sameServer,
      },
      now,
    );
    if (lossless) this.emit("lossless", lossless);
    // A held failback is decided by checks (the secondary catching up), not by an up/down change.
    if (this.machine.hold) this.change("the primary answers again");
    this.emit("check", role, b.readings.snapshot());
    if (!this.machine.started && this.machine.primary.checked && this.machine.secondary.checked) {
      this.apply({ kind: "startup", at: Date.now(), facts: this.facts() });
      this.readyGate.open();
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
      primaryBinlogPos: p.readings.binlogPos,
      primaryBinlogPosAt: p.readings.binlogPosAt,
      secondaryReplication: s.readings.health.replication,
      secondaryOkCheckStartedAt: s.readings.okCheckStartedAt,
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
    for (const role of ROLES) this.backends[role].readings.judged(state[role]);
    for (const e of effects) {
      logEffect(
        this.logger,
        e,
        (role) => this.backends[role].checks.address,
        (role) => this.backends[role].readings.health.lastOkAt !== null,
      );
      this.effect(e);
    }
  }

  /** What an effect does besides its log line (effect-log.ts). */
  private effect(e: Effect): void {
    if (e.kind === "backend_down") this.emit("backendDown", e.role, e.cause);
    else if (e.kind === "backend_up") this.emit("backendUp", e.role, e.cause);
    else if (e.kind === "catch_up_begin") this.catchUps.begin(this.backends.secondary.cfg, this.failoverCfg);
    else if (e.kind === "catch_up_cancel") this.catchUps.catchUp.cancel(e.why);
    else if (e.kind === "transition") this.emit("transition", e.transition);
  }
}
