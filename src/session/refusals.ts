/**
 * What a command gets instead of its result: the router's refusal (1290, or a captured write
 * answered OK once journaled), the secondary's own read-only refusal turned into pairgate's 1290,
 * and a statement whose backend was lost (retried once, or an error). Each works on the command's
 * Exchange and the few parts of the session it names; none sees the handler.
 */
import type { Role } from "../backend/connection.js";
import { COM_QUERY } from "../protocol/constants.js";
import { encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { DOWN_MESSAGE, READ_ONLY_MESSAGE } from "../routing/router.js";
import { decodeSql, digest, type SqlDialect } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import { AUDIT_REFUSED_MESSAGE, type AuditGate } from "./audit-gate.js";
import type { SessionHooks } from "./context.js";
import type { Exchange } from "./exchange.js";
import type { Inflight, SessionSlot } from "./slot-types.js";

/**
 * The router refused. In read_only mode an INSERT into one of `audit.captureTables` is journaled
 * and answered OK instead, to be replayed on the primary when it returns.
 */
export async function refuseRouted(
  x: Exchange,
  why: "read_only" | "down",
  audit: AuditGate,
  hooks: Pick<SessionHooks, "writeRejected">,
  slot: Pick<SessionSlot, "status">,
): Promise<void> {
  if (why === "down") {
    x.fail("PAIRGATE_DOWN", DOWN_MESSAGE);
    return;
  }
  // A COM_QUERY's text, an EXECUTE's prepared text (x.sql of a COM_STMT_PREPARE is no statement run).
  const sql = x.command === COM_QUERY ? x.sql : (x.stmt?.sql ?? null);
  const captured = x.command === COM_QUERY ? audit.capture(sql) : null;
  if (captured) {
    x.wait("audit");
    const durable = await captured;
    if (x.closed) return;
    if (!durable) x.fail("PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
    else {
      x.write(framePayload(encodeOk({ affectedRows: 1, statusFlags: slot.status }), 1));
      x.complete();
    }
    return;
  }
  hooks.writeRejected();
  x.fail("PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
  if (audit.enabled)
    audit.post({ operation: "write_rejected", outcome: "refused", digest: sql ? digest(sql) : null });
}

/**
 * The secondary refused the command with a read-only error of its own (its server-side guard, or
 * its `read_only`): the client gets pairgate's 1290, as for a write pairgate refuses itself. The
 * handler then finishes the command as failed.
 */
export function refuseGuarded(
  x: Exchange,
  f: Inflight,
  seq: number,
  audit: AuditGate,
  hooks: Pick<SessionHooks, "writeRejected">,
  serverErrno: number,
  dialect: SqlDialect,
): void {
  f.gate = null;
  f.collect = null;
  hooks.writeRejected();
  x.refuseAt(seq, "PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
  if (audit.enabled) {
    const sql = f.command === COM_QUERY ? decodeSql(f.payload, 1, dialect) : (f.stmt?.sql ?? null);
    audit.post({
      operation: "write_rejected",
      outcome: "refused",
      backend: "secondary",
      digest: sql ? digest(sql) : null,
      detail: { refusedBy: "secondary", serverErrno },
    });
  }
}

/** The backend is gone under `f`: it is retried, answered with an error, or the session closes. */
export async function commandLost(
  x: Exchange,
  f: Inflight,
  role: Role,
  err: Error,
  modeSeen: Mode,
  slot: Pick<SessionSlot, "retry">,
): Promise<void> {
  // The response was complete and waits for its audit event: the gate releases it; nothing is lost.
  const phase = x.phase;
  if (phase.tag === "waiting" && phase.on === "audit") return;
  if (f.forwarded) {
    // Part of the response already reached the client: it cannot be completed or retried.
    x.abandon("backend lost in the middle of a response");
    return;
  }
  if (f.retryable && !f.retried) {
    // An autocommit read that failed before any byte reached the client: retry once, where the
    // topology now sends reads.
    x.wait("backend");
    try {
      await slot.retry(f, role, modeSeen);
      if (!x.closed) x.relaying();
    } catch (e) {
      if (!x.closed) x.failWith(e);
    }
    return;
  }
  const what =
    f.classification && f.classification.kind !== "read"
      ? "this statement may or may not have been applied"
      : "the statement did not complete";
  x.fail(
    "PAIRGATE_STATEMENT_LOST",
    `pairgate lost the connection to the ${role} database (${err.message}); ${what}`,
  );
}
