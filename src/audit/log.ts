/**
 * The audit log: one JSON line per audit event (written to a pino destination), in its own file, apart from the operational
 * log on stdout. Buffered (the journal, not this file, is the durable record), written once per
 * turn of the event loop; flushed on close.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type DestinationStream, pino } from "pino";
import type { AuditEvent } from "./event.js";

export interface AuditLog {
  /** `journal`: whether the event reached the journal ("ok") or not ("failed"). */
  write(event: AuditEvent, journal: "ok" | "failed" | "disabled"): void;
  close(): Promise<void>;
}

export function createAuditLog(file: string, onError: (e: Error) => void = () => {}): AuditLog {
  mkdirSync(dirname(file), { recursive: true });
  // Written every 32 KiB (one thread-pool hand-off per ~60 events instead of per ~8), and at least every second.
  const dest = pino.destination({
    dest: file,
    sync: false,
    mkdir: true,
    minLength: 32 * 1024,
    maxWrite: 64 * 1024,
    periodicFlush: 1000,
  });
  // A failed write (disk full, permissions) must neither crash the proxy (an unhandled 'error')
  // nor hang it: sonic-boom's exit-time flushSync retries a non-EAGAIN error forever. The journal,
  // not this file, is the durable record, so a broken audit log is reported and then dropped.
  let broken = false;
  dest.on("error", (e: Error) => {
    if (broken) return;
    broken = true;
    onError(e);
    try {
      dest.destroy();
    } catch {
      // already closed
    }
  });
  const log = auditLogTo(
    dest,
    () =>
      new Promise<void>((resolve) => {
        // end() waits for the file to open, writes what is buffered, then closes.
        const t = setTimeout(resolve, 2000);
        dest.once("close", () => {
          clearTimeout(t);
          resolve();
        });
        dest.once("error", () => {
          clearTimeout(t);
          resolve();
        });
        if (broken) resolve();
        else dest.end();
      }),
  );
  return {
    write(event, journal) {
      if (!broken) log.write(event, journal);
    },
    close: () => log.close(),
  };
}

/**
 * An audit log writing to any pino destination (tests pass a stream). Lines are made and written
 * once per turn of the event loop, all of that turn's events in one write: a group commit settles
 * a batch of events at once, and their statements' results go out before the lines are made (the
 * log is not the durable record; the journal is). One destination write per batch instead of one
 * per event (each cost sonic-boom a length scan of its whole buffer and, every few lines, a
 * write hand-off to the threadpool).
 */
export function auditLogTo(
  dest: DestinationStream,
  onClose: () => Promise<void> | void = () => {},
): AuditLog {
  let closed = false;
  let events: AuditEvent[] = [];
  let outcomes: Array<"ok" | "failed" | "disabled"> = [];
  let scheduled: NodeJS.Immediate | null = null;
  const flush = () => {
    scheduled = null;
    if (events.length === 0) return;
    let text = "";
    for (let i = 0; i < events.length; i++) text += `${auditLogLine(events[i]!, outcomes[i]!)}\n`;
    events = [];
    outcomes = [];
    dest.write(text);
  };
  return {
    write(event, journal) {
      if (closed) return;
      events.push(event);
      outcomes.push(journal);
      scheduled ??= setImmediate(flush);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (scheduled) clearImmediate(scheduled);
      flush();
      await onClose();
    },
  };
}

/**
 * One audit log line, in the shape pino wrote it (level, time, the event's members with the time
 * as ISO text, sql and detail last, journal, msg), made with one JSON.stringify: pino's serializer
 * took each member apart (its _asJson was the largest single cost of an audited statement).
 */
export function auditLogLine(event: AuditEvent, journal: "ok" | "failed" | "disabled"): string {
  const e = event;
  // One literal of a fixed shape (members left undefined are not written): the order pino wrote,
  // the event's own (completeEvent's, then the chain the journal adds).
  return JSON.stringify({
    level: "info",
    time: new Date().toISOString(),
    id: e.id,
    occurredAt: new Date(e.occurredAt).toISOString(),
    instanceId: e.instanceId,
    site: e.site,
    operation: e.operation,
    outcome: e.outcome,
    clientAddr: e.clientAddr,
    dbUser: e.dbUser,
    sessionId: e.sessionId,
    backend: e.backend,
    object: e.object,
    objectKey: e.objectKey,
    appUser: e.appUser,
    digest: e.digest,
    durationMs: e.durationMs,
    schema: e.schema,
    chain: e.chain,
    sql: e.sql,
    detail: e.detail,
    journal,
    msg: `audit ${e.operation}`,
  });
}
