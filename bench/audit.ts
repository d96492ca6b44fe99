/**
 * Audit benchmark (`npx tsx bench/audit.ts`; `--journal-only` skips the real pair):
 *  1. journal throughput with group commit: events/s and fdatasyncs per event for 1, 8 and 64
 *     concurrent appenders, against one write + fdatasync per event — without the hash chain, with
 *     it (SHA-256) and with it keyed (HMAC-SHA-256); and the chain's CPU cost per event alone;
 *  2. time to deliver 10,000 queued events to a real primary (target ≤ 2 s);
 *  3. `pairgate audit verify`'s rate: a table of BENCH_VERIFY_ROWS (default 1,000,000) chained rows
 *     generated on a real primary, streamed and checked (events/s, and the process's peak heap, to
 *     show it is not loaded whole).
 * Prints figures; no pass/fail.
 */
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { type ChainKey, ChainWriter, chainHash, GENESIS, makeChainKey } from "../src/audit/chain.js";
import { auditTableDdl, eventRow, hashedValues } from "../src/audit/delivery.js";
import type { AuditEvent } from "../src/audit/event.js";
import { Audit, type AuditEventInput } from "../src/audit/index.js";
import { encodeRecord, Journal } from "../src/audit/journal.js";
import { runVerify } from "../src/audit/verify-run.js";
import { parseConfig } from "../src/config/load.js";
import { tablesOf } from "../src/sql/index.js";
import { benchArgs } from "./lib/args.js";

// Parsed first: --help or a bad option stops before any work.
const journalOnly = benchArgs(import.meta.url, { "journal-only": { type: "boolean", default: false } })
  .values["journal-only"];

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

type Chaining = "none" | "sha256" | "hmac";
/** eventRow's columns, in its order. */
const COLUMN_LIST =
  "id, occurred_at, operation, outcome, db_user, client_addr, backend, object, object_key, app_user, digest, session_id, instance_id, site, duration_ms, detail, chain_id, chain_seq, chain_prev, chain_hash, chain_alg";
const KEY = makeChainKey(Buffer.from("bench-key-0123456789abcdef-0123456789"));

async function groupCommit(concurrency: number, groupCommitMs: number, chaining: Chaining = "none") {
  const dir = mkdtempSync(join(root, "pairgate-bench-journal-"));
  let syncs = 0;
  const sealer =
    chaining === "none"
      ? undefined
      : new ChainWriter({ dir, key: chaining === "hmac" ? KEY : null, rowValues: hashedValues });
  const j = await Journal.open<AuditEvent>({
    dir,
    logger,
    groupCommitMs,
    sealer,
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
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const s = performance.now();
        await j.append(sampleEvent(n++) as unknown as AuditEvent);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await j.close();
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  return {
    eventsPerSec: Math.round(n / secs),
    fsyncsPerEvent: syncs / n,
    /** The process's CPU (user + system: the write and fdatasync calls included) per event, µs. */
    cpuUsPerEvent: (cpu.user + cpu.system) / n,
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

/** What each append already cost before the chain: the event's JSON. */
function jsonCost(): number {
  const evs = Array.from({ length: 1000 }, (_, i) => sampleEvent(i));
  const n = 100_000;
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) bytes += JSON.stringify(evs[i % 1000]).length;
  if (bytes === 0) throw new Error("unreachable");
  return ((performance.now() - t0) * 1000) / n;
}

/** The chain's CPU cost per event (seal: canonical encoding + one hash), no I/O. */
function sealCost(key: ChainKey | null): number {
  const w = new ChainWriter({ dir: root, key, rowValues: hashedValues });
  const evs = Array.from({ length: 1000 }, (_, i) => sampleEvent(i) as unknown as AuditEvent);
  // recover() is not called: the chain id stays "", which costs the same to hash.
  const n = 100_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) w.seal(evs[i % 1000]!, w.prepare(evs[i % 1000]!));
  return ((performance.now() - t0) * 1000) / n;
}

async function verifyRate() {
  const rowsWanted = Number(process.env.BENCH_VERIFY_ROWS ?? 1_000_000);
  const { startPair } = await import("../test/helpers/pair.js");
  const pair = await startPair();
  try {
    const conn = await pair.rootConnection("primary");
    await conn.query("SET SESSION sql_log_bin = 0"); // the secondary need not replay a million rows
    await conn.query(auditTableDdl("passtrix.bench_chain"));
    const chains = ["a".repeat(32), "b".repeat(32)];
    const prev = [GENESIS, GENESIS];
    const seq = [0, 0];
    const t0 = performance.now();
    const batch = 2000;
    const placeholders = `(${eventRow(sampleEvent(0) as unknown as AuditEvent)
      .map(() => "?")
      .join(",")})`;
    for (let done = 0; done < rowsWanted; done += batch) {
      const values: unknown[] = [];
      const n = Math.min(batch, rowsWanted - done);
      for (let i = 0; i < n; i++) {
        const k = (done + i) % 2;
        const e = sampleEvent(done + i) as unknown as AuditEvent;
        e.id = `01900000-0000-7000-8000-${String(done + i).padStart(12, "0")}`;
        e.occurredAt = 1_720_000_000_000 + done + i;
        seq[k]!++;
        const hash = chainHash(KEY, chains[k]!, seq[k]!, prev[k]!, hashedValues(e));
        e.chain = { id: chains[k]!, seq: seq[k]!, prev: prev[k]!, hash, alg: `hmac-sha256:${KEY.id}` };
        prev[k] = hash;
        values.push(...eventRow(e));
      }
      await conn.query(
        `INSERT INTO passtrix.bench_chain (${COLUMN_LIST}) VALUES ${Array.from({ length: n }, () => placeholders).join(",")}`,
        values,
      );
    }
    const genMs = performance.now() - t0;
    await conn.end();
    let peakHeap = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 50);
    const heapBefore = process.memoryUsage().heapUsed;
    const v0 = performance.now();
    const r = await runVerify({
      server: {
        table: "passtrix.bench_chain",
        connection: {
          host: pair.primary.host,
          port: pair.primary.port,
          user: pair.serviceUser.username,
          password: pair.serviceUser.password,
        },
      },
      keys: [KEY],
    });
    const ms = performance.now() - v0;
    clearInterval(sampler);
    return { rows: r.events, ok: r.ok, problems: r.problems.length, ms, genMs, heapBefore, peakHeap };
  } finally {
    await pair.stop();
  }
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
// This machine is shared: each configuration runs ROUNDS times, the three chain modes interleaved,
// and the median is printed.
const ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const gc of [2, 0]) {
  for (const c of [1, 8, 64]) {
    const runs: Record<Chaining, Array<Awaited<ReturnType<typeof groupCommit>>>> = {
      none: [],
      sha256: [],
      hmac: [],
    };
    for (let round = 0; round < ROUNDS; round++)
      for (const chaining of ["none", "sha256", "hmac"] as const)
        runs[chaining].push(await groupCommit(c, gc, chaining));
    for (const chaining of ["none", "sha256", "hmac"] as const) {
      const rs = runs[chaining];
      console.log(
        `  group commit ${gc} ms, ${String(c).padStart(2)} appenders, chain ${chaining.padEnd(6)}: ${String(median(rs.map((r) => r.eventsPerSec))).padStart(6)} events/s ` +
          `(median of ${rs.length}: ${rs.map((r) => r.eventsPerSec).join(", ")}), ${rs[0]!.fsyncsPerEvent.toFixed(3)} fdatasync/event, ` +
          `${median(rs.map((r) => r.cpuUsPerEvent)).toFixed(1)} µs CPU/event, ` +
          `append p50 ${median(rs.map((r) => r.p50ms)).toFixed(2)} ms p99 ${median(rs.map((r) => r.p99ms)).toFixed(2)} ms`,
      );
    }
  }
}
const costs = { json: [] as number[], sha256: [] as number[], hmac: [] as number[] };
for (let round = 0; round < 5; round++) {
  costs.json.push(jsonCost());
  costs.sha256.push(sealCost(null));
  costs.hmac.push(sealCost(KEY));
}
console.log(
  `  CPU per event, best of 5: the journal's JSON.stringify (there before) ${Math.min(...costs.json).toFixed(2)} µs; ` +
    `the chain's seal (row values + one hash) SHA-256 ${Math.min(...costs.sha256).toFixed(2)} µs, HMAC-SHA-256 ${Math.min(...costs.hmac).toFixed(2)} µs`,
);
if (!journalOnly) {
  const v = await verifyRate();
  console.log(
    `audit verify: ${v.rows} chained rows (HMAC) in ${(v.ms / 1000).toFixed(1)} s = ${Math.round(v.rows / (v.ms / 1000))} events/s streamed from the primary ` +
      `(${v.ok ? "verified" : `${v.problems} problems!`}); heap ${(v.heapBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(v.peakHeap / 2 ** 20).toFixed(0)} MiB during; ` +
      `generating the table took ${(v.genMs / 1000).toFixed(1)} s`,
  );
  const d = await delivery();
  console.log(
    `audit delivery: ${d.delivered} of ${d.queued} queued events delivered in ${Math.round(d.ms)} ms ` +
      `(batches of ${d.batch}; ${d.stored} rows stored; target ≤ 2000 ms)`,
  );
}
