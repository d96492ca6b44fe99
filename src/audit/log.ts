/**
 * The audit log: one JSON line per audit event (pino), in its own file, apart from the operational
 * log on stdout. Buffered (the journal, not this file, is the durable record); flushed on close.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type DestinationStream, type Logger, pino } from "pino";
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
  const logger: Logger = pino(
    {
      base: null,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  let closed = false;
  return {
    write(event, journal) {
      if (closed) return;
      const { sql, detail, ...rest } = event;
      logger.info(
        {
          ...rest,
          occurredAt: new Date(event.occurredAt).toISOString(),
          ...(sql !== undefined ? { sql } : {}),
          ...(detail !== undefined ? { detail } : {}),
          journal,
        },
        `audit ${event.operation}`,
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await onClose();
    },
  };
}
