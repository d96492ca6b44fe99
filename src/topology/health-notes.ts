/**
 * What a check shows that is worth a log line but changes no verdict: a secondary that accepts
 * writes (read_only=0) or a primary that does not, replication status the service account cannot
 * read, GTIDs the secondary made itself (something wrote on it). Each is said once per change.
 */
import type { Logger } from "../observability/logger.js";
import type { Role } from "./types.js";

export class HealthNotes {
  private readOnly: boolean | null = null;
  private replicationError: string | null = null;
  private localGtids = "";

  /**
   * @param role the backend these notes are about
   * @param logger the monitor's logger
   */
  constructor(
    private readonly role: Role,
    private readonly logger: Logger,
  ) {}

  /** read_only as the check read it. `samePrimary`: the secondary is the primary's server (a promoted config). */
  readOnlyIs(ro: boolean | null, address: string, samePrimary: boolean): void {
    if (ro === this.readOnly) return;
    const first = this.readOnly === null;
    this.readOnly = ro;
    if (this.role === "secondary") {
      // The same server as the primary (a promoted config): writable as a primary should be.
      if (samePrimary) return;
      if (ro === false) {
        this.logger.warn(
          { role: "secondary", address },
          "secondary reports read_only=0: it accepts writes from privileged users; pairgate never sends it one, but set read_only=1 there",
        );
      } else if (!first) {
        this.logger.info({ role: "secondary", address }, "secondary reports read_only=1 again");
      }
    } else if (ro === true) {
      this.logger.warn({ role: "primary", address }, "primary reports read_only=1: not writable");
    } else if (!first) {
      this.logger.info({ role: "primary", address }, "primary reports read_only=0 again");
    }
  }

  /** Why replication status could not be read (null: it could). */
  replicationErrorIs(err: string | null): void {
    if (err === this.replicationError) return;
    this.replicationError = err;
    if (err) {
      this.logger.warn(
        { role: this.role, err },
        "cannot read replication status (grant REPLICA MONITOR / REPLICATION CLIENT to the service account)",
      );
    }
  }

  /** The secondary shows GTIDs of its own (a write happened there). */
  localGtidsAre(gtids: string[] | undefined): void {
    if (this.role !== "secondary") return;
    const is = gtids?.join(",") ?? "";
    const was = this.localGtids;
    if (was === is) return;
    this.localGtids = is;
    if (is)
      this.logger.error(
        { localGtids: gtids },
        "the secondary has transactions of its own (GTIDs it did not receive from the primary): something wrote on it",
      );
    else if (was) this.logger.warn("the secondary no longer shows transactions of its own");
  }
}
