/**
 * Where a session goes when its backend could not be reached or was lost: wait once for the
 * topology's verdict, then route again — a login lands on the secondary instead of failing, a read
 * lost before any byte reached the client runs again where reads go now.
 */
import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import { PairgateError } from "../protocol/errors.js";
import { DOWN_MESSAGE, retryTarget, routeLogin } from "../routing/router.js";
import type { Mode } from "../topology/types.js";
import { frameForBackend } from "./prepared-statements.js";
import type { PreparedStatement } from "./replay-state.js";
import { type Inflight, type SlotContext, worthAnotherTry } from "./slot-types.js";

/** What rerouting needs of the backend slot. */
export interface RerouteSlot {
  readonly ctx: SlotContext;
  readonly log: Logger;
  /** The client left: stop. */
  closed(): boolean;
  open(role: Role, replay: boolean): Promise<void>;
  ensure(role: Role, stmt: PreparedStatement | null): Promise<void>;
  send(f: Inflight, framed: Buffer | readonly Buffer[]): void;
}

/**
 * After the backend was lost under a retryable command: wait for the topology's verdict, then run
 * the command again where reads go now. Rejects when nothing can run it.
 */
export async function retryElsewhere(
  slot: RerouteSlot,
  f: Inflight,
  lost: Role,
  modeSeen: Mode,
): Promise<void> {
  await slot.ctx.settle(slot.ctx.connectTimeoutMs * 2, lost, modeSeen);
  if (slot.closed()) throw new Error("session closed");
  const to = retryTarget(slot.ctx.mode(), slot.ctx.readRole(), lost);
  if (!to)
    throw new PairgateError(
      "PAIRGATE_STATEMENT_LOST",
      `pairgate lost the ${lost} database while running this statement and no other server can run it`,
    );
  if (to === "secondary") await slot.ctx.secondaryReadable?.();
  if (slot.closed()) throw new Error("session closed");
  await slot.ensure(to, f.stmt);
  f.role = to;
  f.retried = true;
  f.forwarded = false;
  if (f.collect) {
    f.collect = [];
    f.held = 0;
  }
  slot.send(f, frameForBackend({ payload: f.payload, raw: null, rawParts: null }, f.stmt));
}

/**
 * Open the session's first connection (login, COM_CHANGE_USER) where the router sends a session
 * without a statement. When the primary cannot be reached — a crash the monitor has not seen yet
 * (a connection 12 ms after a kill -9 is refused) — the error is reported to the topology, the
 * session waits for its verdict and routes again, once: it lands on the secondary instead of
 * failing. Rejects with PAIRGATE_DOWN when nothing serves, else with the open's error.
 */
export async function loginSomewhere(slot: RerouteSlot): Promise<Role> {
  for (let attempt = 0; ; attempt++) {
    const modeSeen = slot.ctx.mode();
    const d = routeLogin(modeSeen, slot.ctx.readRole());
    if ("refuse" in d) throw new PairgateError("PAIRGATE_DOWN", DOWN_MESSAGE);
    try {
      await slot.open(d.to, false);
      return d.to;
    } catch (e) {
      // `open` reported the error to the topology already.
      if (attempt > 0 || d.to !== "primary" || !worthAnotherTry(e as Error) || slot.closed()) throw e;
      slot.log.debug({ err: (e as Error).message }, "primary unreachable at login: waiting for the verdict");
      if (slot.ctx.verdict) await slot.ctx.verdict();
      else await slot.ctx.settle(slot.ctx.connectTimeoutMs * 2, "primary", modeSeen);
      if (slot.closed()) throw e;
    }
  }
}
