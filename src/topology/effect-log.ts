/**
 * The log line each effect of the machine (machine.ts) gets: the monitor's account of what it
 * decided, at the level an operator needs (a backend down is a warning, the pair down an error).
 */
import type { Logger } from "../observability/logger.js";
import type { Effect } from "./machine.js";
import type { Role } from "./types.js";

/** `address`: the backend's host:port; `hadAnswered`: it answered a check once (lastOkAt set). */
export function logEffect(
  logger: Logger,
  e: Effect,
  address: (role: Role) => string,
  hadAnswered: (role: Role) => boolean,
): void {
  switch (e.kind) {
    case "check_failed":
      logger.info({ role: e.role, address: address(e.role), err: e.error }, "backend check failed");
      return;
    case "still_down":
      logger.debug({ role: e.role, address: address(e.role), err: e.error }, "backend still down");
      return;
    case "backend_down": {
      const fields = { role: e.role, address: address(e.role), cause: e.cause };
      if (!e.firstCheck || hadAnswered(e.role)) logger.warn(fields, "backend down");
      else logger.warn(fields, "backend unreachable at start");
      return;
    }
    case "backend_up":
      logger.info({ role: e.role, address: address(e.role), cause: e.cause }, "backend up");
      return;
    case "hold_started":
      logger.info(
        { cause: e.cause, waitingFor: e.waitingFor },
        "the primary answers again: read_write once the secondary has caught up",
      );
      return;
    case "hold_timed_out":
      logger.warn(
        { waitedMs: e.waitedMs, waitingFor: e.waitingFor },
        "the secondary did not catch up in time: read_write anyway",
      );
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
      if (t.to === "read_write") logger.info(fields, msg);
      else if (t.to === "down") logger.error(fields, msg);
      else logger.warn(fields, msg);
      return;
    }
    case "catch_up_begin":
    case "catch_up_cancel":
      return; // the catch-up says itself what it does (catch-up-runner.ts)
  }
}
