/**
 * Audit benchmark (`npx tsx bench/audit.ts`; `--journal-only` skips the real pair):
 *  1. journal throughput with group commit: events/s and fdatasyncs per event for 1, 8 and 64
 *     concurrent appenders, against one write + fdatasync per event;
 *  2. time to deliver 10,000 queued events to a real primary (target ≤ 2 s).
 * Prints figures; no pass/fail.
 */
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Audit, type AuditEventInput } from "../src/audit/index.js";
import { encodeRecord, Journal } from "../src/audit/journal.js";
import { parseConfig } from "../src/config/load.js";
import { tablesOf } from "../src/sql/index.js";

const logger = pino({ level: "warn" });
const DURATION_MS = Number(process.env.BENCH_AUDIT_MS ?? 2000);
const root = process.env.BENCH_AUDIT_DIR ?? tmpdir();

function sampleEvent(i: number): AuditEventInput & Record<string, unknown> {
  return {
    id: "0190b6c4-5d7e-7abc-8def-0123456789ab",
    occurredAt: Date.now(),
    instanceId: "bench",
    site: "bench",
    operation: "password_retrieval",
    outcome: "ok",
    clientAddr: "10.0.0.1:50000",
    dbUser: "pmpuser",
    sessionId: String(i & 63),
    backend: "secondary",
    object: "passtrix.ptrx_passwords",
    objectKey: String(i),
    appUser: "alice",
    digest: "5e8f2a0c4b1d",
  };
}

async function groupCommit(concurrency: number, groupCommitMs: number) {
  const dir = mkdtempSync(join(root, "pairgate-bench-journal-"));
  let syncs = 0;
  const j = await Journal.open({
    dir,
    logger,
    groupCommitMs,
    io: {
      fdatasync: (fd) =>
        new Promise((res, rej) => {
          syncs++;
          fdatasync(fd, (e) => (e ? rej(e) : res()));
        }),
    },
  });
  let n = 0;
  const lat: number[] = [];
  const end = Date.now() + DURATION_MS;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const s = performance.now();
        await j.append(sampleEvent(n++));
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await j.close();
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  return {
    eventsPerSec: Math.round(n / secs),
    fsyncsPerEvent: syncs / n,
    p50ms: lat[Math.floor(lat.length * 0.5)]!,
    p99ms: lat[Math.floor(lat.length * 0.99)]!,
  };
}

async function fsyncPerEvent() {
  const dir = mkdtempSync(join(root, "pairgate-bench-naive-"));
  const fd = openSync(join(dir, "naive.log"), "w");
  let n = 0;
  let pos = 0;
  const end = Date.now() + DURATION_MS;
  const t0 = performance.now();
  while (Date.now() < end) {
    const rec = encodeRecord(Buffer.from(JSON.stringify(sampleEvent(n++))));
    pos += writeSync(fd, rec, 0, rec.length, pos);
    await new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
  }
  const secs = (performance.now() - t0) / 1000;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return Math.round(n / secs);
}

async function delivery() {
  const { startPair } = await import("../test/helpers/pair.js");
  const pair = await startPair();
  try {
    const raw = pair.proxyConfig({
      instanceId: "bench-delivery",
      audit: { journalDir: join(pair.dir, "bench-journal"), deliveryIntervalMs: 60_000 },
    });
    const config = parseConfig(raw, join(pair.dir, "proxy.config.json"));
    const audit = new Audit({ config, logger, tablesOf });
    await audit.start({ isPrimaryUp: () => false });
    // Create the table first so the figure is the steady-state cost of a backlog.
    await audit.deliverNow();
    const queued = 10_000;
    await Promise.all(
      Array.from({ length: queued }, (_, i) => {
        const { id: _id, occurredAt: _t, instanceId: _i, site: _s, ...input } = sampleEvent(i);
        return audit.record(input as AuditEventInput);
      }),
    );
    const t0 = performance.now();
    const { delivered } = await audit.deliverNow();
    const ms = performance.now() - t0;
    await audit.stop();
    const conn = await pair.rootConnection("primary");
    const [rows] = await conn.query(
      "SELECT COUNT(*) AS n FROM passtrix.pairgate_audit WHERE instance_id = 'bench-delivery'",
    );
    await conn.end();
    return {
      queued,
      delivered,
      ms,
      stored: Number((rows as Array<{ n: number }>)[0]!.n),
      batch: config.audit.deliveryBatchSize,
    };
  } finally {
    await pair.stop();
  }
}

console.log(`audit journal bench: ${DURATION_MS} ms per run, journal in ${root}`);
const naive = await fsyncPerEvent();
console.log(`  fsync per event (1 writer, no batching): ${naive} events/s, 1.000 fdatasync/event`);
for (const gc of [2, 0]) {
  for (const c of [1, 8, 64]) {
    const r = await groupCommit(c, gc);
    console.log(
      `  group commit ${gc} ms, ${String(c).padStart(2)} appenders: ${String(r.eventsPerSec).padStart(6)} events/s, ` +
        `${r.fsyncsPerEvent.toFixed(3)} fdatasync/event, append p50 ${r.p50ms.toFixed(2)} ms p99 ${r.p99ms.toFixed(2)} ms`,
    );
  }
}
if (!process.argv.includes("--journal-only")) {
  const d = await delivery();
  console.log(
    `audit delivery: ${d.delivered} of ${d.queued} queued events delivered in ${Math.round(d.ms)} ms ` +
      `(batches of ${d.batch}; ${d.stored} rows stored; target ≤ 2000 ms)`,
  );
}
