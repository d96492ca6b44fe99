/**
 * Catch-up before serving: at a failover, reads go to the secondary only once it has applied
 * (1) everything it had received from the primary — its relay log, `Gtid_IO_Pos` — and (2) every
 * transaction pairgate acknowledged to a client (the GTIDs sessions report through
 * `noteAcknowledged`). With semi-synchronous replication active, (2) is inside (1): a commit is
 * acknowledged only once the secondary's relay log has it. When semi-sync had fallen back to
 * asynchronous, (2) can hold transactions the secondary never received: the wait then ends at the
 * timeout, and the gap is reported (log, metric, audit event) — reads are served anyway.
 *
 * Reads never fail here: `readable()` is `true` (serve now) or a promise that always resolves,
 * at the latest `timeoutMs` after the failover.
 *
 * The I/O is a `CatchUpDriver` (one short-lived connection to the secondary); tests pass their own.
 */
import {
  formatGap,
  formatPosition,
  type GtidPosition,
  gapCount,
  mergeGtids,
  missingFrom,
  parsePosition,
  unionPositions,
} from "./gtid.js";
import type { CatchUpStatus } from "./types.js";

export interface CatchUpPositions {
  /** Everything the secondary received (Gtid_IO_Pos / Retrieved_Gtid_Set); "" when not a replica. */
  received: string;
  /** Everything it applied or logged (gtid_slave_pos ∪ gtid_binlog_pos / gtid_executed). */
  applied: string;
}

export interface CatchUpDriver {
  /** A fresh reading of the secondary's positions. */
  positions(): Promise<CatchUpPositions>;
  /** Resolves true once the secondary applied `pos`, false when `timeoutMs` passed first. */
  waitApplied(pos: string, timeoutMs: number): Promise<boolean>;
  /** Release the connection; a wait in progress ends. */
  close(): void;
}

export interface CatchUpReport {
  status: CatchUpStatus;
  /** Transactions acknowledged by pairgate that the secondary lacked (the part worth an alarm). */
  acknowledgedMissing: string[];
}

export function idleCatchUp(): CatchUpStatus {
  return {
    state: "idle",
    startedAt: null,
    endedAt: null,
    waitedMs: null,
    received: "",
    acknowledged: "",
    applied: "",
    missing: [],
    missingCount: 0,
    detail: "no failover since start",
  };
}

export class CatchUp {
  /** Highest acknowledged GTID per stream (domain / source uuid). */
  private readonly acked: GtidPosition = new Map();
  private pending: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private driver: CatchUpDriver | null = null;
  private generation = 0;
  private current: CatchUpStatus = idleCatchUp();

  constructor(
    private readonly onEnd: (report: CatchUpReport) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * A session acknowledged a commit with this GTID (`last_gtid` from the OK packet, or a GTID set).
   * Cheap: a split and a map update; the highest per stream is kept.
   */
  noteAcknowledged(gtid: string): void {
    mergeGtids(this.acked, gtid);
  }

  /** Everything acknowledged so far, as a GTID position. */
  get acknowledged(): string {
    return formatPosition(this.acked);
  }

  get status(): CatchUpStatus {
    return { ...this.current, missing: [...this.current.missing] };
  }

  /** true: serve reads from the secondary now; else a promise that resolves when they may go (never rejects). */
  readable(): true | Promise<void> {
    return this.pending ?? true;
  }

  /** Reads are held (a catch-up in progress). */
  get waiting(): boolean {
    return this.pending !== null;
  }

  /** Reads may go at once (readConsistency immediate): recorded, nothing waited for. */
  skip(): void {
    this.cancel("readConsistency is immediate");
    const now = Date.now();
    this.current = {
      ...idleCatchUp(),
      state: "skipped",
      startedAt: now,
      endedAt: now,
      waitedMs: 0,
      acknowledged: this.acknowledged,
      detail: "failover.readConsistency is immediate: reads served at once",
    };
  }

  /**
   * The secondary starts serving reads: hold them until it has caught up or `timeoutMs` passed.
   * Synchronous up to the promise: `readable()` returns it as soon as this returns.
   */
  begin(makeDriver: () => CatchUpDriver, timeoutMs: number): void {
    this.cancel("a new catch-up began");
    const gen = ++this.generation;
    const startedAt = Date.now();
    const acknowledged = unionPositions(this.acked);
    this.current = {
      ...idleCatchUp(),
      state: "waiting",
      startedAt,
      acknowledged: formatPosition(acknowledged),
      detail: "waiting for the secondary to apply what it received and what pairgate acknowledged",
    };
    this.pending = new Promise<void>((resolve) => {
      this.release = resolve;
    });
    const deadline = startedAt + timeoutMs;
    const timer = setTimeout(() => this.driver?.close(), timeoutMs + 50);
    void this.run(gen, makeDriver, acknowledged, deadline).finally(() => clearTimeout(timer));
  }

  /** The primary is back (or the secondary left service): stop holding reads. */
  cancel(why: string): void {
    if (!this.pending) return;
    this.generation++;
    const now = Date.now();
    this.current = {
      ...this.current,
      state: "cancelled",
      endedAt: now,
      waitedMs: now - (this.current.startedAt ?? now),
      detail: why,
    };
    this.finish();
  }

  close(): void {
    this.cancel("monitor stopped");
  }

  private finish(): void {
    this.driver?.close();
    this.driver = null;
    const release = this.release;
    this.pending = null;
    this.release = null;
    release?.();
  }

  private async run(
    gen: number,
    makeDriver: () => CatchUpDriver,
    acknowledged: GtidPosition,
    deadline: number,
  ): Promise<void> {
    let received: GtidPosition = new Map();
    let applied: GtidPosition = new Map();
    let reached = false;
    let known = false;
    let detail = "";
    try {
      const driver = makeDriver();
      this.driver = driver;
      const first = await driver.positions();
      if (gen !== this.generation) return;
      received = parsePosition(first.received);
      applied = parsePosition(first.applied);
      known = true;
      const target = unionPositions(received, acknowledged);
      this.current.received = formatPosition(received);
      if (missingFrom(target, applied).length === 0) {
        reached = true;
      } else {
        const left = deadline - Date.now();
        if (left > 0) reached = await driver.waitApplied(formatPosition(target), left);
        if (gen !== this.generation) return;
        applied = parsePosition((await driver.positions()).applied);
        if (!reached) reached = missingFrom(target, applied).length === 0;
      }
      detail = reached
        ? "the secondary applied everything it had received and everything pairgate acknowledged"
        : "timed out: reads served anyway";
    } catch (err) {
      if (gen !== this.generation) return;
      this.onError(err);
      detail = `could not follow the secondary's catch-up (${(err as Error)?.message ?? err}): reads served anyway`;
    }
    if (gen !== this.generation) return;
    const now = Date.now();
    const target = unionPositions(received, acknowledged);
    const gaps = known ? missingFrom(target, applied) : [];
    const ackGaps = known ? missingFrom(acknowledged, applied) : [];
    this.current = {
      ...this.current,
      state: reached ? "caught_up" : "timed_out",
      endedAt: now,
      waitedMs: now - (this.current.startedAt ?? now),
      applied: formatPosition(applied),
      missing: gaps.map(formatGap),
      missingCount: gapCount(gaps),
      detail,
    };
    this.finish();
    this.onEnd({ status: this.status, acknowledgedMissing: ackGaps.map(formatGap) });
  }
}
