/**
 * `node --import tsx test/helpers/journal-crash-child.ts DIR`: appends chained audit events to a
 * journal in DIR from 16 concurrent appenders, with each fdatasync (real) held back a random
 * 0–4 ms so that several are in flight at once, and prints `ack N` for every append that resolved
 * (a client would have seen its result) and `overlap K` whenever K syncs were in flight together.
 * Runs until killed (test/unit/audit-journal-crash.test.ts kills it with SIGKILL).
 */
import { fdatasync } from "node:fs";
import { pino } from "pino";
import { ChainWriter } from "../../src/audit/chain.js";
import { hashedValues } from "../../src/audit/delivery.js";
import type { AuditEvent } from "../../src/audit/event.js";
import { Journal } from "../../src/audit/journal.js";

const dir = process.argv[2]!;
let inFlight = 0;
let maxSeen = 0;
const journal = await Journal.open<AuditEvent>({
  dir,
  logger: pino({ level: "silent" }),
  groupCommitMs: 0,
  maxSyncsInFlight: 2,
  sealer: new ChainWriter({ dir, key: null, rowValues: hashedValues }),
  io: {
    fdatasync: (fd) =>
      new Promise<void>((resolve, reject) => {
        inFlight++;
        if (inFlight > maxSeen) {
          maxSeen = inFlight;
          process.stdout.write(`overlap ${inFlight}\n`);
        }
        setTimeout(
          () =>
            fdatasync(fd, (e) => {
              inFlight--;
              if (e) reject(e);
              else resolve();
            }),
          Math.random() * 4,
        );
      }),
  },
});
let n = 0;
function event(k: number): AuditEvent {
  return {
    id: `0190b6c4-5d7e-7abc-8def-${String(k).padStart(12, "0")}`,
    occurredAt: 1_700_000_000_000 + k,
    instanceId: "crash",
    site: "a",
    operation: "password_retrieval",
    outcome: "ok",
    clientAddr: "127.0.0.1:5000",
    dbUser: "u",
    sessionId: String(k % 16),
    backend: "primary",
    object: "s.t",
    objectKey: String(k),
    appUser: null,
    digest: "d",
  };
}
await Promise.all(
  Array.from({ length: 16 }, async () => {
    for (;;) {
      const k = n++;
      await journal.append(event(k));
      process.stdout.write(`ack ${k}\n`);
      if (k % 3 === 0) await new Promise((r) => setImmediate(r));
    }
  }),
);
