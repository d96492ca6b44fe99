/**
 * The audited statement's own cost, in process (`npx tsx bench/audit-hot.ts [sessions] [ms] [backendMs]`):
 * N sessions each run AuditGate.gate (rule match, event, journal append with the hash chain, real
 * write + fdatasync in the system's temporary folder) and wait for it like a held result, alongside
 * a simulated backend round trip of backendMs (default 1). Prints events/s, CPU per event (user,
 * system: the write and fdatasync calls included) and latency; no network, no delivery. Profile it
 * with `node --import tsx --cpu-prof bench/audit-hot.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Audit } from "../src/audit/index.js";
import type { AuditContext } from "../src/audit/rules.js";
import { AuditGate, type SessionAudit } from "../src/session/audit-gate.js";
import { classify } from "../src/sql/classify.js";
import { tablesOf } from "../src/sql/index.js";

const N = Number(process.argv[2] ?? 8);
const MS = Number(process.argv[3] ?? 3000);
const BACKEND_MS = Number(process.argv[4] ?? 1);
const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-hot-"));
const tables = [1, 2, 3, 4].map((i) => `sbtest.sbtest${i}`);
const audit = new Audit({
  config: {
    audit: {
      enabled: true,
      journalDir: dir,
      table: "pairgate_audit",
      // The rule `npm run bench` gives its audited pairgate.
      rules: [{ operation: "password_retrieval", tables, keyPattern: "id\\s*=\\s*(\\d+)" }],
      captureTables: [],
      onJournalFailure: "refuse",
      groupCommitMs: 0,
      deliveryBatchSize: 500,
      deliveryIntervalMs: 1000,
    },
    site: "a",
    instanceId: "hot",
    primary: { host: "127.0.0.1", port: 1, user: "x", password: "x" },
  },
  logger: pino({ level: "warn" }),
  tablesOf,
});
await audit.open();
let n = 0;
const end = Date.now() + MS;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const lat: number[] = [];
await Promise.all(
  Array.from({ length: N }, async (_, s) => {
    const gate = new AuditGate(audit as unknown as SessionAudit, {
      id: s,
      remoteAddress: "127.0.0.1:5000",
      username: "sbtest",
      schema: "sbtest",
    });
    const ctx: AuditContext = {};
    while (Date.now() < end) {
      const sql = `SELECT c FROM sbtest${(n % 4) + 1} WHERE id=${(n * 7919) % 10000}`;
      n++;
      const start = performance.now();
      ctx.classification = classify(sql);
      const waits: Promise<unknown>[] = [gate.gate(sql, "primary", ctx) as Promise<boolean>];
      if (BACKEND_MS > 0) waits.push(new Promise((r) => setTimeout(r, BACKEND_MS)));
      await Promise.all(waits);
      lat.push(performance.now() - start);
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
lat.sort((a, b) => a - b);
console.log(
  `${N} sessions: ${Math.round(n / secs)} events/s, CPU ${((cpu.user + cpu.system) / n).toFixed(1)} µs/event ` +
    `(user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)}), latency p50 ` +
    `${lat[lat.length >> 1]!.toFixed(2)} p95 ${lat[Math.floor(lat.length * 0.95)]!.toFixed(2)} ms`,
);
await audit.stop();
rmSync(dir, { recursive: true, force: true });
