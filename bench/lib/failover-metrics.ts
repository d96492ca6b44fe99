/**
 * The failover bench's figures, computed from the statements the load recorded (failover-load.ts)
 * and the fault's moments, all on the bench clock (ms). Pure functions: no sockets, no servers.
 */
import type { Stmt } from "./failover-load.js";

export interface FaultTimes {
  /** The fault was applied (kill -9 sent / link blackholed). */
  fault: number;
  /** The primary answered again: the restarted server's first accepted login / the link healed. NaN if never. */
  answered: number;
  /** End of the window measured (the load stopped, or the next fault began). */
  end: number;
  /** Now, when the figures are computed: a statement never answered has waited until then. */
  horizon: number;
}

export interface FaultFigures {
  /** Longest stretch without a successful read, from the last success before the fault to `end`. */
  readGapMs: number;
  readsOk: number;
  failedReads: number;
  writesOk: number;
  refused1290: number;
  /** Latency of the 1290 answers: median, 99th percentile and max. */
  refusedP50Ms: number;
  refusedP99Ms: number;
  refusedMaxMs: number;
  otherWriteErrors: number;
  /** From the primary answering to the first successful write (on the primary) sent after that moment; NaN if none. */
  backToWritesMs: number;
  /** Writes sent after the primary answered that still failed (any error), and when the last one was sent. */
  writesFailedAfterAnswer: number;
  lastFailedWriteAfterAnswerMs: number;
  /** The longest any statement sent before `end` waited for its answer (one never answered: until `horizon`). */
  longestUnansweredMs: number;
  /** Statements never answered: still open when the load stopped and its drain ran out. */
  unanswered: number;
  /** The statement that waited longest: kind, sent and answered relative to the fault (ms), outcome. */
  longest: string;
  /** Error messages seen, with counts: failed reads, and write errors other than 1290. */
  readErrors: Map<string, number>;
  writeErrors: Map<string, number>;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** The longest stretch within [from, to] with no time in `ends`, counting from the last one before `from`. */
export function longestGap(ends: readonly number[], from: number, to: number): number {
  const sorted = ends.filter((e) => e <= to).sort((a, b) => a - b);
  let prev = from;
  for (const e of sorted) if (e < from) prev = e;
  let gap = 0;
  for (const e of sorted) {
    if (e < from) continue;
    gap = Math.max(gap, e - prev);
    prev = e;
  }
  return Math.max(gap, to - prev);
}

/**
 * `onPrimary` tells whether a write's sequence number is on the primary: a write that succeeded
 * elsewhere (a secondary that passes read_only) does not count as "back to writes".
 */
export function faultFigures(
  stmts: readonly Stmt[],
  t: FaultTimes,
  onPrimary: (seq: number) => boolean = () => true,
): FaultFigures {
  const f: FaultFigures = {
    readGapMs: 0,
    readsOk: 0,
    failedReads: 0,
    writesOk: 0,
    refused1290: 0,
    refusedP50Ms: Number.NaN,
    refusedP99Ms: Number.NaN,
    refusedMaxMs: Number.NaN,
    otherWriteErrors: 0,
    backToWritesMs: Number.NaN,
    writesFailedAfterAnswer: 0,
    lastFailedWriteAfterAnswerMs: Number.NaN,
    longestUnansweredMs: 0,
    unanswered: 0,
    longest: "",
    readErrors: new Map(),
    writeErrors: new Map(),
  };
  const readEnds: number[] = [];
  const refusedMs: number[] = [];
  let firstWriteBack = Number.POSITIVE_INFINITY;
  let longest: Stmt | null = null;
  const wait = (s: Stmt) => (Number.isNaN(s.end) ? t.horizon : s.end) - s.start;
  for (const s of stmts) {
    if (s.start < t.end && (Number.isNaN(s.end) || s.end >= t.fault) && (!longest || wait(s) > wait(longest)))
      longest = s;
    if (s.start >= t.end) continue;
    if (Number.isNaN(s.end)) {
      // Never answered (yet): it has waited until now.
      if (s.abandoned) f.unanswered++;
      f.longestUnansweredMs = Math.max(f.longestUnansweredMs, t.horizon - s.start);
      continue;
    }
    if (s.end < t.fault) {
      if (s.kind === "read" && s.ok) readEnds.push(s.end);
      continue;
    }
    f.longestUnansweredMs = Math.max(f.longestUnansweredMs, s.end - s.start);
    // Answered after the window: its wait counts above, its outcome belongs to the next window.
    if (s.end > t.end) continue;
    if (s.kind === "read") {
      if (s.ok) {
        f.readsOk++;
        readEnds.push(s.end);
      } else {
        f.failedReads++;
        bump(f.readErrors, s.error);
      }
      continue;
    }
    if (s.ok) f.writesOk++;
    else if (s.errno === 1290) {
      f.refused1290++;
      refusedMs.push(s.end - s.start);
    } else {
      f.otherWriteErrors++;
      bump(f.writeErrors, s.error);
    }
    if (!Number.isNaN(t.answered) && s.start >= t.answered) {
      if (s.ok && onPrimary(s.seq)) firstWriteBack = Math.min(firstWriteBack, s.end);
      else if (!s.ok) {
        f.writesFailedAfterAnswer++;
        const at = s.start - t.answered;
        if (!(at <= f.lastFailedWriteAfterAnswerMs)) f.lastFailedWriteAfterAnswerMs = at;
      }
    }
  }
  f.readGapMs = longestGap(readEnds, t.fault, t.end);
  refusedMs.sort((a, b) => a - b);
  f.refusedP50Ms = percentile(refusedMs, 0.5);
  f.refusedP99Ms = percentile(refusedMs, 0.99);
  f.refusedMaxMs = refusedMs.length ? refusedMs[refusedMs.length - 1]! : Number.NaN;
  if (Number.isFinite(firstWriteBack)) f.backToWritesMs = firstWriteBack - t.answered;
  if (longest) {
    const rel = (x: number) => {
      const d = Math.round(x - t.fault);
      return `${d >= 0 ? "+" : "−"}${Math.abs(d).toLocaleString("en-US")}`;
    };
    f.longest =
      `${longest.kind} sent at fault ${rel(longest.start)} ms, ` +
      (Number.isNaN(longest.end)
        ? "never answered"
        : `answered at ${rel(longest.end)} ms: ${longest.ok ? "ok" : longest.error.slice(0, 90)}`);
  }
  return f;
}

/** Least-squares slope of y over x (per unit of x); NaN with fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}
