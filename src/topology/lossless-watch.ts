/**
 * Lossless watch: is the pair lossless now (semi-synchronous replication active on the primary,
 * server-status.ts `losslessVerdict`)? Decided again after every check; a change of verdict is logged
 * and returned for the monitor to emit, a new reason for the same verdict only logged — once per
 * reason, leaving out the changing error text.
 */
import type { Logger } from "../observability/logger.js";
import { losslessVerdict } from "./server-status.js";
import type { BackendHealth, LosslessStatus } from "./types.js";

export interface LosslessInputs {
  primary: BackendHealth;
  secondary: BackendHealth;
  /** Has the secondary been checked at all (unreachable means something only then)? */
  secondaryChecked: boolean;
  secondaryAddress: string;
  /** The secondary is the primary's server (a promoted config). */
  sameServer: boolean;
}

export class LosslessWatch {
  private state: LosslessStatus = { lossless: null, reason: "not checked yet", since: Date.now() };
  /** The reason last logged, without error details. */
  private logKey = "";

  constructor(private readonly logger: Logger) {}

  get status(): LosslessStatus {
    return { ...this.state };
  }

  /** Decide again; returns the new status when the verdict changed (to emit), else null. */
  update(i: LosslessInputs, now: number): LosslessStatus | null {
    const p = i.primary;
    let next: { lossless: boolean | null; reason: string };
    /** What a log line is said for: the verdict and its reason without the changing error text. */
    let logKey: string | undefined;
    if (!p.up || p.lastOkAt === null) next = { lossless: null, reason: "the primary is not answering" };
    else if (i.sameServer)
      next = {
        lossless: false,
        reason: "one server only (a promoted config): no replica to copy commits to",
      };
    else {
      next = losslessVerdict(p.semiSync);
      // Say why the replica is missing when this pairgate cannot reach it either (a WAN cut): the
      // operator at this site sees the cause, not only the primary's point of view.
      if (next.lossless === false && i.secondaryChecked && !i.secondary.up) {
        logKey = `${next.reason}; unreachable`;
        next = {
          lossless: false,
          reason: `${next.reason}; the secondary is unreachable from here (${i.secondaryAddress}: ${i.secondary.lastError ?? "no answer"})`,
        };
      }
    }
    logKey ??= next.reason;
    const cur = this.state;
    if (cur.lossless === next.lossless && cur.reason === next.reason) return null;
    const changed = cur.lossless !== next.lossless;
    this.state = { ...next, since: changed ? now : cur.since };
    const sayIt = this.logKey !== logKey;
    this.logKey = logKey;
    if (!changed) {
      // A new reason for the same verdict (the secondary became unreachable, or reachable): say it.
      if (next.lossless === false && sayIt)
        this.logger.warn({ reason: next.reason }, "replication is NOT lossless");
      return null;
    }
    if (next.lossless === true) this.logger.info({ reason: next.reason }, "replication is lossless");
    else if (next.lossless === false)
      this.logger.warn({ reason: next.reason }, "replication is NOT lossless");
    return { ...this.state };
  }
}
