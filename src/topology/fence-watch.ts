/**
 * The monitor's side of the split-brain fence (fence.ts): the highest promotion epoch seen on
 * either server (or remembered from an earlier run, fence-store.ts), and whether the primary is
 * fenced because its own epoch is older. Each successful check hands in the mark it read; `fenced`
 * goes to the machine (machine.ts) with that check, which re-decides the mode when it changed.
 */
import type { Logger } from "../observability/logger.js";
import { describeError } from "./describe-error.js";
import { type FenceMark, type FenceSeen, fenceReason } from "./fence.js";
import { loadFenceSeen, saveFenceSeen } from "./fence-store.js";
import type { FenceStatus } from "./types.js";

export class FenceWatch {
  private seen: FenceSeen | null = null;
  /** Why the primary is fenced, or null. */
  fenced: string | null = null;
  /** The epoch seen came from the state file (no server showed it since this start). */
  private remembered = false;

  /**
   * @param file where the highest epoch seen is kept across restarts; null: in memory only (tests).
   */
  constructor(
    private readonly file: string | null,
    private readonly logger: Logger,
  ) {
    this.remember();
  }

  get status(): FenceStatus {
    return {
      epochSeen: this.seen?.epoch ?? 0,
      seenOn: this.seen?.seenOn ?? null,
      fenced: this.fenced,
      rememberedIn: this.remembered ? this.file : null,
    };
  }

  /**
   * A check of a server read `mark` (null: not read). `primary` is the primary's mark as last read
   * and its address: it is fenced when older than the highest epoch seen. Returns whether the
   * status changed (emit "fence"); `fenced` is what the machine decides the mode on.
   */
  update(
    mark: FenceMark | null,
    seenOn: string,
    primary: { mark: FenceMark | null; address: string },
    now: number,
  ): boolean {
    let changed = false;
    if (mark && mark.epoch > 0 && (!this.seen || mark.epoch > this.seen.epoch)) {
      this.seen = { ...mark, seenOn, seenAt: now };
      this.remembered = false;
      this.logger.info(
        { epoch: mark.epoch, serverId: mark.serverId, promotedAt: mark.promotedAt, seenOn },
        "promotion epoch seen",
      );
      this.store(this.seen);
      changed = true;
    } else if (this.remembered && mark && mark.epoch === this.seen?.epoch) {
      this.remembered = false; // a server holds it: no longer only the file's word
      changed = true;
    }
    let reason = fenceReason(primary.mark, primary.address, this.seen);
    if (reason && this.remembered)
      reason += ` (epoch remembered in ${this.file}; if this pair was rebuilt from scratch, delete that file and reload)`;
    if (reason !== this.fenced) {
      this.fenced = reason;
      changed = true;
      if (reason) this.logger.error({ primary: primary.address }, reason);
      else this.logger.info({ primary: primary.address }, "the primary is no longer fenced");
    }
    return changed;
  }

  /** Load the epoch a previous run saw (fence-store.ts). */
  private remember(): void {
    const file = this.file;
    if (!file) return;
    try {
      this.seen = loadFenceSeen(file);
    } catch (e) {
      this.logger.error(
        { file, err: describeError(e) },
        "the remembered promotion epoch cannot be read; the fence starts from what the servers show",
      );
      return;
    }
    if (this.seen) {
      this.remembered = true;
      this.logger.info(
        { epoch: this.seen.epoch, seenOn: this.seen.seenOn, file },
        "promotion epoch remembered from an earlier run",
      );
    }
  }

  /** Keep a newly seen epoch for the next start; a failure leaves it in memory (and says so). */
  private store(seen: FenceSeen): void {
    const file = this.file;
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
}
