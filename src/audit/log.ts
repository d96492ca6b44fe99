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
  /**
   * `journal`: whether the event reached the journal ("ok") or not ("failed"). `json`: the event's
   * JSON.stringify made before the chain was set (the journal's record), reused for the line.
   */
  write(event: AuditEvent, journal: "ok" | "failed" | "disabled", json?: string): void;
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
    write(event, journal, json) {
      if (!broken) log.write(event, journal, json);
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
  let jsons: Array<string | undefined> = [];
  let scheduled: NodeJS.Immediate | null = null;
  const flush = () => {
    scheduled = null;
    if (events.length === 0) return;
    // The lines of one write share its moment.
    const time = new Date().toISOString();
    let text = "";
    for (let i = 0; i < events.length; i++)
      text += `${auditLogLine(events[i]!, outcomes[i]!, jsons[i], time)}\n`;
    events = [];
    outcomes = [];
    jsons = [];
    dest.write(text);
  };
  return {
    write(event, journal, json) {
      if (closed) return;
      events.push(event);
      outcomes.push(journal);
      jsons.push(json);
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
 *
 * With `json` (the event's own JSON.stringify, made for the journal before the chain was set) and
 * no sql or detail (whose place differs between the two orders), the line is that text's members
 * instanceId … schema between the line's head and the chain: the event serialised once. The
 * result is the same text either way (a test compares them on random events).
 */
export function auditLogLine(
  event: AuditEvent,
  journal: "ok" | "failed" | "disabled",
  json?: string,
  time: string = new Date().toISOString(),
): string {
  const e = event;
  if (json !== undefined && e.sql === undefined && e.detail === undefined) {
    // completeEvent's order: id, occurredAt, then instanceId first of the members copied as they are.
    const from = json.indexOf(',"instanceId":');
    if (from > 0 && json.charCodeAt(json.length - 1) === 0x7d) {
      const chain = e.chain
        ? `,"chain":{"id":${JSON.stringify(e.chain.id)},"seq":${e.chain.seq},"prev":${JSON.stringify(e.chain.prev)},"hash":${JSON.stringify(e.chain.hash)},"alg":${JSON.stringify(e.chain.alg)}}`
        : "";
      return `{"level":"info","time":"${time}","id":${JSON.stringify(e.id)},"occurredAt":"${isoOf(e.occurredAt)}"${json.slice(from, -1)}${chain},"journal":"${journal}","msg":${msgOf(e.operation)}}`;
    }
  }
  // One literal of a fixed shape (members left undefined are not written): the order pino wrote,
  // the event's own (completeEvent's, then the chain the journal adds).
  return JSON.stringify({
    level: "info",
    time,
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

/** The ISO text of the last millisecond asked for (a batch's events share it mostly). */
let isoMs = Number.NaN;
let isoText = "";
function isoOf(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** `"audit <operation>"` as JSON, per operation (a handful of names). */
const msgs = new Map<string, string>();
function msgOf(operation: string): string {
  let m = msgs.get(operation);
  if (m === undefined) {
    m = JSON.stringify(`audit ${operation}`);
    if (msgs.size < 256) msgs.set(operation, m);
  }
  return m;
}
