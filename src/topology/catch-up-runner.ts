/**
 * Runs the secondary's catch-up at a failover (secondary-catch-up.ts holds the wait itself): starts
 * it with a connection to the secondary when reads move there — or skips it when
 * `failover.readConsistency` is `immediate` — and says how it ended.
 */
import type { BackendConfig, Config } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { describeError } from "./describe-error.js";
import { CatchUp, type CatchUpDriver, type CatchUpReport } from "./secondary-catch-up.js";
import { SqlCatchUpDriver } from "./secondary-catch-up-driver.js";

export class CatchUpRunner {
  readonly catchUp: CatchUp;

  /**
   * @param driverFactory a connection to the secondary (tests pass a stand-in)
   * @param onEnd hears how each catch-up ended
   */
  constructor(
    private readonly logger: Logger,
    private readonly driverFactory: (secondary: BackendConfig) => CatchUpDriver,
    onEnd: (report: CatchUpReport) => void,
  ) {
    this.catchUp = new CatchUp(
      (report) => {
        this.report(report);
        onEnd(report);
      },
      (err) => this.logger.warn({ err: describeError(err) }, "catch-up: cannot follow the secondary"),
    );
  }

  /** The default driver: SQL over one connection with the service account. */
  static sqlDriver(connectTimeoutMs: () => number, baseDir?: string): (c: BackendConfig) => CatchUpDriver {
    return (c) => new SqlCatchUpDriver(c, connectTimeoutMs(), baseDir);
  }

  /** Start (or skip) the catch-up as the secondary begins serving reads. */
  begin(secondary: BackendConfig, failover: Config["failover"]): void {
    if (failover.readConsistency === "immediate") {
      this.catchUp.skip();
      return;
    }
    this.catchUp.begin(() => this.driverFactory(secondary), failover.catchUpTimeoutMs);
    this.logger.info(
      { timeoutMs: failover.catchUpTimeoutMs, acknowledged: this.catchUp.acknowledged || undefined },
      "reads wait for the secondary to catch up",
    );
  }

  private report(report: CatchUpReport): void {
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
  }
}
