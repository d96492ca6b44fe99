/**
 * Probe scheduling: one check loop per backend, over its `Probe` (one persistent connection). It
 * decides when the next check runs and hands each result to the monitor; what a result means is
 * the machine's business (machine.ts).
 *
 * Speed rules:
 * - A fault's first sign (a failed check, the idle monitor connection dropping, or a live session's
 *   backend error) makes the next checks back to back until `fall` is reached or the server
 *   answers, so a crash turns into a transition in milliseconds, not fall × interval.
 * - A down backend is checked every DOWN_POLL_MS (at most intervalMs); once it answers, the `rise`
 *   confirmations follow `confirmIntervalMs` apart, so the way back is quick too.
 * - A check that timed out while live sessions were being answered by that backend (passive
 *   health: `activity`) is inconclusive, not a failure: the server answered, the check was starved.
 */
import type { BackendConfig } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { describeError } from "./describe-error.js";
import type { BackendVerdict } from "./machine.js";
import { isTimeout, type ProbeLike, type ProbeResult } from "./probe.js";
import type { Role } from "./types.js";

/** How often a backend that is down is checked (at most; never slower than intervalMs). */
const DOWN_POLL_MS = 100;

/** One check's outcome: a result, or the error it failed with. */
export interface CheckOutcome {
  result: ProbeResult | null;
  error: unknown;
  /** When the check began and ended (epoch ms). */
  started: number;
  now: number;
}

export interface CheckLoopDeps {
  role: Role;
  logger: Logger;
  /** A fresh probe for `cfg`, its lost-connection callback wired to `connectionLost`. */
  newProbe(cfg: BackendConfig): ProbeLike;
  /** The backend's verdict now: the next check's delay depends on it. */
  verdict(): BackendVerdict;
  timing(): { intervalMs: number; confirmIntervalMs: number };
  /** Bytes live sessions received from this backend so far; null without a source. */
  activity(): number | null;
  /** A conclusive check ended. */
  onCheck(outcome: CheckOutcome): void;
}

export class CheckLoop {
  probe: ProbeLike;
  /** Back-to-back re-checks requested (a reported error, a lost connection). */
  urgent = false;
  private running = false;
  /** Wakes the loop's sleep early. */
  private wake: (() => void) | null = null;
  /** Configuration generation the running check belongs to. */
  private generation = 0;
  private loop: Promise<void> | null = null;

  constructor(
    private cfg: BackendConfig,
    private readonly deps: CheckLoopDeps,
  ) {
    this.probe = deps.newProbe(cfg);
  }

  get address(): string {
    return this.probe.address;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.probe.close();
    this.wake?.();
    await this.loop;
    this.loop = null;
    // Re-arm the probe so start() after stop() works.
    this.probe = this.deps.newProbe(this.cfg);
  }

  /** Check now and back to back until the verdict settles (a fault's first sign). */
  hurry(): void {
    this.urgent = true;
    this.wake?.();
  }

  /** New settings; a new address drops the check in flight (its answer is about the old server). */
  reconfigure(cfg: BackendConfig, timeouts: { connectTimeoutMs: number; queryTimeoutMs: number }): boolean {
    const moved = this.cfg.host !== cfg.host || this.cfg.port !== cfg.port;
    this.cfg = cfg;
    this.probe.reconfigure(cfg, timeouts);
    if (moved) {
      this.generation++;
      this.hurry();
    }
    return moved;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      this.urgent = false;
      await this.check();
      if (!this.running) break;
      const v = this.deps.verdict();
      const { intervalMs, confirmIntervalMs } = this.deps.timing();
      let delay: number;
      if (this.urgent) delay = 0;
      else if (v.up && v.consecutiveFailures > 0 && v.signAt !== null) {
        // A fault is suspected: confirm it now rather than an interval later.
        delay = 0;
      } else if (!v.up && v.consecutiveSuccesses > 0) delay = confirmIntervalMs;
      else {
        // A backend that is down is polled faster (a refused connect costs little), so its return
        // is noticed within DOWN_POLL_MS rather than a whole interval later.
        const every = v.up ? intervalMs : Math.min(intervalMs, DOWN_POLL_MS);
        delay = Math.max(0, every - (Date.now() - started));
      }
      if (delay > 0) await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolvePromise) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolvePromise();
      };
      timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async check(): Promise<void> {
    const generation = this.generation;
    const started = Date.now();
    const activityBefore = this.deps.activity() ?? 0;
    let result: ProbeResult | null = null;
    let error: unknown = null;
    try {
      result = await this.probe.check(this.deps.role === "secondary");
    } catch (err) {
      error = err;
    }
    if (!this.running) return;
    if (generation !== this.generation) {
      // The address changed while this check ran: its answer is about the old server.
      this.urgent = true;
      return;
    }
    if (!result && this.deps.verdict().up && isTimeout(error)) {
      const activity = this.deps.activity();
      if (activity !== null && activity !== activityBefore) {
        this.deps.logger.debug(
          { role: this.deps.role, err: describeError(error) },
          "check timed out while sessions were being answered: inconclusive",
        );
        return;
      }
    }
    this.deps.onCheck({ result, error, started, now: Date.now() });
  }
}
