/**
 * `npm run bench:sites` — scenario 1 under load: the two-site lab (`pairgate lab up --sites 2`),
 * a writer and a reader at each site through its own pairgate, the WAN link cut (or blackholed) and healed, for
 * semi-sync on and off and a link latency of 0 and 30 ms (round trip).
 *
 * Per case: A's write latency with the link up (p50, p95), A's longest write during the cut, B's
 * time to read_only (from the moment the link changed) and back to read_write after the heal, B's
 * failed reads once read_only, the secondary's catch-up after the heal (MASTER_GTID_WAIT on the
 * primary's position at the heal), and B's audit events: answered audited reads, events delivered
 * to the primary's table, duplicates.
 *
 *   npm run bench:sites                     # 8 cases × (3 s steady + 6 s outage + heal), ≈ 3 minutes
 *   npm run bench:sites -- --fault cut --outage-s 10 --steady-s 5
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RowDataPacket } from "mysql2/promise";
import { createSitesRun, SITES_TABLE_DDL, type SitesRun, startSiteLoads } from "../test/helpers/sites.js";
import { benchArgs } from "./lib/args.js";
import { describeMachine, sourceRevision } from "./lib/machine.js";
import { fmt } from "./lib/stats.js";
import { markdownTable } from "./lib/table.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) =>
  process.stderr.write(`bench:sites ${new Date().toISOString().slice(11, 23)}: ${msg}\n`);

interface Case {
  fault: "cut" | "blackhole";
  semiSync: boolean;
  delayMs: number;
}

interface Row {
  c: Case;
  writeP50: number;
  writeP95: number;
  writes: number;
  stallA: number;
  refusedA: number;
  toReadOnly: number;
  backToReadWrite: number;
  failedReadsB: number;
  readsB: number;
  refused1290B: number;
  catchUpMs: number;
  answered: number;
  delivered: number;
  duplicates: number;
}

function percentile(values: number[], p: number): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function setSemiSync(run: SitesRun, on: boolean): Promise<void> {
  const c = await run.lab.rootConnection("primary");
  try {
    await c.query(`SET GLOBAL rpl_semi_sync_master_enabled = ${on ? "ON" : "OFF"}`);
  } finally {
    await c.end();
  }
}

async function primaryPosition(run: SitesRun): Promise<string> {
  const c = await run.lab.rootConnection("primary");
  try {
    const [rows] = await c.query<RowDataPacket[]>("SELECT @@GLOBAL.gtid_binlog_pos AS p");
    return String(rows[0].p);
  } finally {
    await c.end();
  }
}

async function runCase(run: SitesRun, c: Case, o: { steadyMs: number; outageMs: number }): Promise<Row> {
  const { ports } = run;
  const tag = `b${Date.now().toString(36)}`;
  await setSemiSync(run, c.semiSync);
  await run.cli(["lab", "wan", "delay", String(c.delayMs)]);
  const loads = startSiteLoads(ports, tag);
  const all = Object.values(loads);
  try {
    await sleep(500);
    const steady0 = Date.now();
    await sleep(o.steadyMs);
    const steady = loads.writeA.between(steady0, Date.now()).filter((r) => r.ok);

    await run.cli(["lab", "wan", c.fault]);
    const t0 = await run.wanSince();
    const toReadOnly = await run.timeToMode(ports.adminB, "read_only", t0, 30_000);
    await sleep(Math.max(0, o.outageMs - (Date.now() - t0)));
    const healPos = await primaryPosition(run);
    await run.cli(["lab", "wan", "heal"]);
    const t1 = await run.wanSince();
    const sec = await run.lab.rootConnection("secondary");
    let catchUpMs: number;
    try {
      const [rows] = await sec.query<RowDataPacket[]>("SELECT MASTER_GTID_WAIT(?, 60) AS r", [healPos]);
      catchUpMs = Number(rows[0].r) === 0 ? Date.now() - t1 : Number.NaN;
    } finally {
      await sec.end();
    }
    const backToReadWrite = await run.timeToMode(ports.adminB, "read_write", t1, 30_000);
    const outage = { from: t0, to: t1 };
    await sleep(1000);
    for (const l of all) await l.stop();

    const readsB = loads.readB.between(t0 + toReadOnly, outage.to);
    const answered = loads.readB.results.filter((r) => r.ok).length;
    const primary = await run.lab.rootConnection("primary");
    let delivered = 0;
    let distinct = 0;
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const [rows] = await primary.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM passtrix.pairgate_audit WHERE site = 'site-b' AND app_user = ? AND operation = 'password_retrieval' AND outcome = 'ok'",
          [tag],
        );
        delivered = Number(rows[0].n);
        distinct = Number(rows[0].d);
        if (delivered >= answered) break;
        await sleep(250);
      }
    } finally {
      await primary.end();
    }
    return {
      c,
      writeP50: percentile(
        steady.map((r) => r.ms),
        50,
      ),
      writeP95: percentile(
        steady.map((r) => r.ms),
        95,
      ),
      writes: loads.writeA.results.length,
      stallA: loads.writeA.longest(outage.from - 100, outage.to),
      refusedA: loads.writeA.results.filter((r) => !r.ok).length,
      toReadOnly,
      backToReadWrite,
      failedReadsB: readsB.filter((r) => !r.ok).length,
      readsB: readsB.length,
      refused1290B: loads.writeB.between(t0 + toReadOnly, outage.to).filter((r) => r.errno === 1290).length,
      catchUpMs,
      answered,
      delivered,
      duplicates: Math.max(0, delivered - answered) + (delivered - distinct),
    };
  } finally {
    for (const l of all) await l.stop();
  }
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    "outage-s": { type: "string" },
    "steady-s": { type: "string" },
    fault: { type: "string" },
  });
  const faults = (values.fault ?? "cut,blackhole").split(",") as Case["fault"][];
  const o = {
    outageMs: Number(values["outage-s"] ?? 6) * 1000,
    steadyMs: Number(values["steady-s"] ?? 3) * 1000,
  };
  const m = describeMachine();
  const run = await createSitesRun();
  const rows: Row[] = [];
  try {
    log(`lab up --sites 2 in ${run.dir}`);
    await run.up();
    const c = await run.lab.rootConnection("primary");
    await c.query(SITES_TABLE_DDL);
    await c.end();
    for (const fault of faults)
      for (const semiSync of [true, false])
        for (const delayMs of [0, 30]) {
          log(`case: ${fault}, semi-sync ${semiSync ? "on" : "off"}, link +${delayMs} ms`);
          const r = await runCase(run, { fault, semiSync, delayMs }, o);
          log(JSON.stringify(r));
          rows.push(r);
        }
  } finally {
    await run.stop();
  }
  const header = [
    "fault",
    "semi-sync",
    "link RTT",
    "A write p50 / p95 (ms)",
    "A longest write in the outage (ms)",
    "A refused",
    "B → read_only (ms)",
    "B → read_write after heal (ms)",
    "B failed reads (of)",
    "B writes 1290",
    "catch-up after heal (ms)",
    "B audit: answered / delivered / dup",
  ];
  const table = markdownTable(
    header,
    [
      "left",
      "left",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
    ],
    rows.map((r) => [
      r.c.fault,
      r.c.semiSync ? "on" : "off",
      `${r.c.delayMs} ms`,
      `${fmt(r.writeP50, 1)} / ${fmt(r.writeP95, 1)}`,
      fmt(r.stallA),
      String(r.refusedA),
      fmt(r.toReadOnly),
      fmt(r.backToReadWrite),
      `${r.failedReadsB} (${r.readsB})`,
      String(r.refused1290B),
      fmt(r.catchUpMs),
      `${r.answered} / ${r.delivered} / ${r.duplicates}`,
    ]),
  );
  process.stdout.write(
    `\nScenario 1 under load (${fmt(o.outageMs / 1000)} s outage per case; one writer and one reader per site, a statement every 25 ms each)\n` +
      `source ${sourceRevision(ROOT)}; ${m.nproc} CPUs (${m.cpuModel}), Node ${m.node}, kernel ${m.kernel}\n\n${table}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`bench:sites: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
