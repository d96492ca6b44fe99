/**
 * Catch-up before serving (issue 12): at a failover the topology holds reads bound for the
 * secondary until it applied what it received (or what pairgate acknowledged). The SessionHandler
 * asks here before a statement goes to the secondary.
 */
import type { Command, SessionHandler } from "./handler.js";

/**
 * The secondary has not applied yet all it received (or all pairgate acknowledged) at this
 * failover: hold the command until it has, or the topology's catch-up timeout passed (the promise
 * never rejects), then decide again. The statement waits; it is never failed for it. Returns
 * false — serve now — in the common case, after one call that reads a field.
 */
export function waitForCatchUp(h: SessionHandler, cmd: Command, retried: boolean): boolean {
  const readable = h.ctx.secondaryReadable?.();
  if (readable === undefined || readable === true) return false;
  h.loop.to("wait_backend");
  void readable.then(() => {
    if (h.loop.closed) return;
    h.loop.to("done");
    h.dispatch(cmd, retried);
    h.loop.pump();
  });
  return true;
}
