/**
 * The last hour for the status page's charts, kept in memory: a ring buffer sampled every
 * `sampleMs` (mode, replication lag, statements per second to each backend) and the mode
 * transitions (failovers and failbacks, exact to the millisecond, so a short outage between two
 * samples still shows). No external service: `GET /history` serves it, the page draws inline SVG.
 */
import type { Mode, Transition } from "../topology/types.js";

export interface HistorySource {
  mode(): Mode;
  /** The secondary's Seconds_Behind_Master now, null when unknown. */
  lagSeconds(): number | null;
  /** Statements relayed to each backend since start. */
  statements(): { primary: number; secondary: number };
}

export interface HistoryTransition {
  at: number;
  from: Mode;
  to: Mode;
  kind: "failover" | "failback" | "other";
  cause: string;
}

/** Columns, one entry per sample, oldest first (compact JSON for the page). */
export interface HistoryDocument {
  now: number;
  sampleMs: number;
  windowMs: number;
  /** When sampling began (before it the page draws nothing). */
  since: number;
  /** The mode when sampling began; `transitions` say every change after. */
  initialMode: Mode;
  t: number[];
  mode: Mode[];
  lag: (number | null)[];
  /** Statements per second over the interval ending at the sample; null for the first sample. */
  primaryPerSecond: (number | null)[];
  secondaryPerSecond: (number | null)[];
  transitions: HistoryTransition[];
}

export interface HistoryOptions {
  sampleMs?: number;
  windowMs?: number;
}

interface Sample {
  t: number;
  mode: Mode;
  lag: number | null;
  p: number | null;
  s: number | null;
}

export class StatusHistory {
  readonly sampleMs: number;
  readonly windowMs: number;
  readonly #source: HistorySource;
  readonly #ring: (Sample | undefined)[];
  #next = 0;
  #count = 0;
  #last: { t: number; primary: number; secondary: number } | null = null;
  #transitions: HistoryTransition[] = [];
  #since = 0;
  #initialMode: Mode = "down";
  #timer: NodeJS.Timeout | null = null;

  constructor(source: HistorySource, opts: HistoryOptions = {}) {
    this.#source = source;
    this.sampleMs = opts.sampleMs ?? 5000;
    this.windowMs = opts.windowMs ?? 3_600_000;
    this.#ring = new Array(Math.ceil(this.windowMs / this.sampleMs) + 1);
  }

  /** Take a first sample now and one every `sampleMs` after (the timer never keeps the process up). */
  start(now = Date.now()): void {
    if (this.#timer) return;
    this.#since = now;
    this.#initialMode = this.#source.mode();
    this.sample(now);
    this.#timer = setInterval(() => this.sample(), this.sampleMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  sample(now = Date.now()): void {
    const totals = this.#source.statements();
    let p: number | null = null;
    let s: number | null = null;
    if (this.#last && now > this.#last.t) {
      const secs = (now - this.#last.t) / 1000;
      p = round2(Math.max(0, totals.primary - this.#last.primary) / secs);
      s = round2(Math.max(0, totals.secondary - this.#last.secondary) / secs);
    }
    this.#last = { t: now, ...totals };
    this.#ring[this.#next] = { t: now, mode: this.#source.mode(), lag: this.#source.lagSeconds(), p, s };
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count = Math.min(this.#count + 1, this.#ring.length);
  }

  /** Wire to the topology's "transition" events. */
  transition(t: Transition): void {
    if (t.kind === "startup") {
      if (this.#transitions.length === 0) this.#initialMode = t.to;
      return;
    }
    this.#transitions.push({ at: t.at, from: t.from, to: t.to, kind: t.kind, cause: t.cause });
    // Keep the window's transitions, and the last one before it (the mode at the window's start).
    const start = Date.now() - this.windowMs;
    while (this.#transitions.length > 1 && this.#transitions[1].at < start) this.#transitions.shift();
    if (this.#transitions.length > 500) this.#transitions.shift();
  }

  document(now = Date.now()): HistoryDocument {
    const doc: HistoryDocument = {
      now,
      sampleMs: this.sampleMs,
      windowMs: this.windowMs,
      since: this.#since,
      initialMode: this.#initialMode,
      t: [],
      mode: [],
      lag: [],
      primaryPerSecond: [],
      secondaryPerSecond: [],
      transitions: this.#transitions.slice(),
    };
    const start = now - this.windowMs;
    for (let i = 0; i < this.#count; i++) {
      const x = this.#ring[(this.#next - this.#count + i + this.#ring.length) % this.#ring.length];
      if (!x || x.t < start) continue;
      doc.t.push(x.t);
      doc.mode.push(x.mode);
      doc.lag.push(x.lag);
      doc.primaryPerSecond.push(x.p);
      doc.secondaryPerSecond.push(x.s);
    }
    return doc;
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
