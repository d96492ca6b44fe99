/**
 * The audit log: one JSON line per audit event (written to a pino destination), in its own file, apart from the operational
 * log on stdout. Buffered (the journal, not this file, is the durable record); flushed on close.
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
  const dest = pino.destination({ dest: file, sync: false, mkdir: true, minLength: 4096 });
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

/** An audit log writing to any pino destination (tests pass a stream). */
export function auditLogTo(
  dest: DestinationStream,
  onClose: () => Promise<void> | void = () => {},
): AuditLog {
  let closed = false;
  return {
    write(event, journal) {
      if (closed) return;
      dest.write(`${auditLogLine(event, journal)}\n`);
    },
    async close() {
      if (closed) return;
      closed = true;
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
  const line: Record<string, unknown> = { level: "info", time: new Date().toISOString() };
  for (const k in event) {
    if (k === "sql" || k === "detail") continue;
    const v = (event as unknown as Record<string, unknown>)[k];
    if (v !== undefined) line[k] = v;
  }
  line.occurredAt = new Date(event.occurredAt).toISOString();
  if (event.sql !== undefined) line.sql = event.sql;
  if (event.detail !== undefined) line.detail = event.detail;
  line.journal = journal;
  line.msg = `audit ${event.operation}`;
  return JSON.stringify(line);
}
