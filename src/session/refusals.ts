/**
 * What a command gets instead of its result: the router's refusal (1290, or a captured write
 * answered OK once journaled), the secondary's own read-only refusal turned into pairgate's 1290,
 * and a statement whose backend was lost (retried once, or an error). Called by the SessionHandler.
 */
import type { Role } from "../backend/connection.js";
import { COM_QUERY } from "../protocol/constants.js";
import { encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { DOWN_MESSAGE, READ_ONLY_MESSAGE } from "../routing/router.js";
import { decodeSql, digest } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import { AUDIT_REFUSED_MESSAGE } from "./audit-gate.js";
import type { Command, SessionHandler } from "./handler.js";
import type { Inflight } from "./slot-types.js";

/**
 * The router refused. In read_only mode an INSERT into one of `audit.captureTables` is journaled
 * and answered OK instead, to be replayed on the primary when it returns.
 */
export function refuseRouted(h: SessionHandler, cmd: Command, why: "read_only" | "down"): void {
  const loop = h.loop;
  if (why === "down") {
    loop.refuse(1, "PAIRGATE_DOWN", DOWN_MESSAGE);
    return;
  }
  const sql = cmd.sql ?? cmd.stmt?.sql ?? null;
  const captured = cmd.command === COM_QUERY ? h.audit.capture(sql) : null;
  if (captured) {
    loop.to("wait_audit");
    void captured.then((durable) => {
      if (loop.closed) return;
      if (durable) loop.write(framePayload(encodeOk({ affectedRows: 1, statusFlags: h.slot.status }), 1));
      else loop.refuse(1, "PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
      loop.to("done");
      loop.pump();
    });
    return;
  }
  h.ctx.hooks.writeRejected();
  loop.refuse(1, "PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
  if (h.audit.enabled)
    h.audit.post({ operation: "write_rejected", outcome: "refused", digest: sql ? digest(sql) : null });
}

/**
 * The secondary refused the command with a read-only error of its own (its server-side guard, or
 * its `read_only`): the client gets pairgate's 1290, as for a write pairgate refuses itself. The
 * handler then finishes the command as failed.
 */
export function refuseGuarded(h: SessionHandler, f: Inflight, seq: number): void {
  f.gate = null;
  f.collect = null;
  h.ctx.hooks.writeRejected();
  h.loop.refuseAt(seq, "PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
  if (h.audit.enabled) {
    const sql = f.command === COM_QUERY ? decodeSql(f.payload, 1, h.reading.dialect) : (f.stmt?.sql ?? null);
    h.audit.post({
      operation: "write_rejected",
      outcome: "refused",
      backend: "secondary",
      digest: sql ? digest(sql) : null,
      detail: { refusedBy: "secondary", serverErrno: h.slot.scanner.errno },
    });
  }
}

/** The backend is gone under `f`: it is retried, answered with an error, or the session closes. */
export function commandLost(h: SessionHandler, f: Inflight, role: Role, err: Error, modeSeen: Mode): void {
  const loop = h.loop;
  // The response was complete and waits for its audit event: the gate releases it; nothing is lost.
  if (loop.phase.tag === "waiting" && loop.phase.on === "audit") return;
  if (f.forwarded) {
    // Part of the response already reached the client: it cannot be completed or retried.
    h.close("backend lost in the middle of a response");
    return;
  }
  if (f.retryable && !f.retried) {
    // An autocommit read that failed before any byte reached the client: retry once, where the
    // topology now sends reads.
    loop.to("wait_backend");
    h.slot.retry(f, role, modeSeen).then(
      () => {
        if (!loop.closed) loop.to("sent");
      },
      (e: Error) => {
        if (loop.closed) return;
        loop.to("done");
        loop.sendError(1, e);
        loop.pump();
      },
    );
    return;
  }
  const what =
    f.classification && f.classification.kind !== "read"
      ? "this statement may or may not have been applied"
      : "the statement did not complete";
  const message = `pairgate lost the connection to the ${role} database (${err.message}); ${what}`;
  loop.refuse(1, "PAIRGATE_STATEMENT_LOST", message);
  loop.to("done");
  loop.pump();
}
