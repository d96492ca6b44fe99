/**
 * `node --import tsx test/helpers/journal-crash-child.ts DIR [dsync]`: appends chained audit events
 * to a journal in DIR from 16 concurrent appenders, two syncs in flight at most, and prints `ack N`
 * for every append that resolved (a client would have seen its result). By default each fdatasync
 * (real) is held back a random 0–4 ms so that several are in flight at once, printing `overlap K`
 * whenever K were in flight together; with `dsync` the journal's own calls, as in production (the
 * write on the event loop, the fdatasync in the thread pool).
 * Runs until killed (test/unit/audit-journal-crash.test.ts kills it with SIGKILL).
 */
import { fdatasync } from "node:fs";
import { pino } from "pino";
import { ChainWriter } from "../../src/audit/chain.js";
import { hashedValues } from "../../src/audit/delivery.js";
import type { AuditEvent } from "../../src/audit/event.js";
import { Journal } from "../../src/audit/journal.js";

const dir = process.argv[2]!;
const production = process.argv[3] === "dsync";
let inFlight = 0;
let maxSeen = 0;
const journal = await Journal.open<AuditEvent>({
  dir,
  logger: pino({ level: "silent" }),
  groupCommitMs: 0,
  maxSyncsInFlight: 2,
  sealer: new ChainWriter({ dir, key: null, rowValues: hashedValues }),
  io: production
    ? undefined
    : {
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
