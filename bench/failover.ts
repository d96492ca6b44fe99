/**
 * `npm run bench:failover` — what clients see while the primary fails, through pairgate and through
 * HAProxy (TCP mode, the secondary as a `backup` server), on an isolated pair of real MariaDB servers.
 *
 *   npm run bench:failover                   kill -9 and blackhole, pairgate vs HAProxy (≈ 5 minutes)
 *   npm run bench:failover -- --soak 600     pairgate only: a fault every 30 s for 600 s
 *   npm run bench:failover -- --soak 120     the same, short
 *   npm run bench:failover -- --no-divergence   skip the HAProxy runs with the secondary's read_only OFF
 *   npm run bench:failover -- --staleness    only the staleness runs (bench/lib/staleness.ts): pairgate
 *                                            caught_up / immediate, HAProxy, and pairgate with
 *                                            asynchronous replication; --no-staleness skips them
 *
 * The load (bench/lib/failover-load.ts): a mysql2 pool, 8 clients, 3 point selects on passtrix
 * tables to 1 INSERT with a client-side sequence number, no query timeout. Faults: (a) kill -9 of
 * the primary, restarted 5 s later; (b) the primary's link (bench/lib/failover-link.ts, which both
 * proxies reach the primary through for this fault) goes silent for 5 s and heals. Before every run
 * the pair is restored: both servers up, replication running and caught up, the bench table empty.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import mysql, { type RowDataPacket } from "mysql2/promise";
import { type Endpoint, startPair, type TestPair } from "../test/helpers/pair.js";
import { benchArgs, intOption as int } from "./lib/args.js";
import { type Managed, spawnManaged } from "./lib/children.js";
import { startFailoverHaproxy } from "./lib/failover-haproxy.js";
import { type LinkProcess, startLinkProcess } from "./lib/failover-link.js";
import { Load } from "./lib/failover-load.js";
import { type FaultFigures, faultFigures, slope } from "./lib/failover-metrics.js";
import {
  type AckCheck,
  BENCH_SCHEMA,
  binlogMark,
  checkAcked,
  createBenchTable,
  describeReplication,
  diagnose,
  type OwnTransactions,
  ownTransactionsSince,
  replicationState,
  restorePair,
  seqs,
  serverId,
  waitAnswering,
  waitCaughtUp,
  withRoot,
} from "./lib/failover-pair.js";
import { ensureHaproxy, haproxyVersion } from "./lib/haproxy.js";
import { describeMachine, type Machine, sourceRevision } from "./lib/machine.js";
import { rssMiB } from "./lib/proc.js";
import {
  runStaleness,
  type StalenessResult,
  type StalenessTarget,
  stalenessReport,
} from "./lib/staleness.js";
import { fmt, median } from "./lib/stats.js";
import { markdownTable } from "./lib/table.js";
import { benchWorkspace } from "./lib/workspace.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const CHECK_USER = "pairgate_bench_check";
/** pairgate's monitor defaults (src/config/schema.ts), spelled out: the test pair's config is lenient. */
const MONITOR = { intervalMs: 250, connectTimeoutMs: 500, queryTimeoutMs: 500, fall: 2, rise: 2 };
const SOAK_PERIOD_MS = 30_000;

type FaultKind = "kill" | "blackhole";
type ProxyKind = "pairgate" | "haproxy" | "haproxy-rw";

const PROXY_LABEL: Record<ProxyKind, string> = {
  pairgate: "pairgate",
  haproxy: "HAProxy",
  "haproxy-rw": "HAProxy, secondary read_only=OFF",
};
const FAULT_LABEL: Record<FaultKind, string> = {
  kill: "kill -9 of the primary, restarted after 5 s",
  blackhole: "the primary's link blackholed for 5 s, then healed",
};

interface Options {
  /** The staleness runs: with the comparison (also), alone (only) or not at all (skip). */
  staleness: "also" | "only" | "skip";
  soak: number;
  clients: number;
  pauseMs: number;
  outageMs: number;
  warmupMs: number;
  afterMs: number;
  drainMs: number;
  divergence: boolean;
  only: ProxyKind[] | null;
}

interface Ctx {
  o: Options;
  pair: TestPair;
  tmp: string;
  haproxyBin: string | null;
  primaryId: number;
  secondaryId: number;
}

interface RunResult {
  proxy: ProxyKind;
  fault: FaultKind;
  f: FaultFigures;
  own: OwnTransactions;
  ack: AckCheck;
  replicationAfter: string;
  /** The primary answered again, ms after the fault. */
  answeredAfterMs: number;
  /** pairgate's mode changes, relative to the fault / to the primary answering. */
  transitions: string[];
  notes: string[];
  error: string | null;
}

interface Running {
  name: string;
  port: number;
  proc: Managed;
}

const log = (msg: string) =>
  process.stderr.write(`bench:failover ${new Date().toISOString().slice(11, 23)}: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const sleepUntil = (t: number) => sleep(Math.max(0, t - now()));

function options(): Options {
  const { values } = benchArgs(import.meta.url, {
    soak: { type: "string" },
    clients: { type: "string" },
    "pause-ms": { type: "string" },
    "outage-s": { type: "string" },
    "after-s": { type: "string" },
    "no-divergence": { type: "boolean", default: false },
    staleness: { type: "boolean", default: false },
    "no-staleness": { type: "boolean", default: false },
    only: { type: "string" },
  });
  const only = values.only ? (values.only.split(",") as ProxyKind[]) : null;
  for (const p of only ?? [])
    if (!(p in PROXY_LABEL)) throw new Error(`--only wants pairgate, haproxy or haproxy-rw, got ${p}`);
  return {
    soak: int(values.soak, 0, "soak", 0),
    clients: int(values.clients, 8, "clients", 1),
    pauseMs: int(values["pause-ms"], 1, "pause-ms", 0),
    outageMs: int(values["outage-s"], 5, "outage-s", 1) * 1000,
    afterMs: int(values["after-s"], 10, "after-s", 1) * 1000,
    warmupMs: 3000,
    drainMs: 15_000,
    divergence: !values["no-divergence"],
    staleness: values.staleness ? "only" : values["no-staleness"] ? "skip" : "also",
    only,
  };
}

/** Logs in through `port` until a session lands on the primary (server id), or `proc` exits. */
async function waitServedByPrimary(ctx: Ctx, port: number, what: string, proc: Managed, ms = 30_000) {
  const until = Date.now() + ms;
  let last = "";
  while (Date.now() < until) {
    if (proc.exitStatus()) throw new Error(`${what} exited (${proc.exitStatus()}):\n${proc.logTail()}`);
    try {
      const c = await mysql.createConnection({
        host: HOST,
        port,
        user: ctx.pair.appUser.username,
        password: ctx.pair.appUser.password,
        database: BENCH_SCHEMA,
        connectTimeout: 2000,
      });
      try {
        const [rows] = await c.query<RowDataPacket[]>("SELECT @@server_id AS id");
        if (Number(rows[0]?.id) === ctx.primaryId) return;
        last = `served by server id ${rows[0]?.id}`;
      } finally {
        await c.end().catch(() => c.destroy());
      }
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${what} on ${HOST}:${port} did not serve from the primary within ${ms} ms (${last})`);
}

async function startProxy(
  ctx: Ctx,
  kind: ProxyKind,
  primary: Endpoint,
  tag: string,
  extra: Record<string, unknown> = {},
): Promise<Running> {
  const { pair, tmp } = ctx;
  let r: Running;
  if (kind === "pairgate") {
    const file = join(tmp, `pairgate-${tag}.json`);
    const config = pair.proxyConfig({
      monitor: MONITOR,
      primary: { host: primary.host, port: primary.port },
      log: { level: "info" },
      ...extra,
    });
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    const proc = spawnManaged(
      "pairgate",
      process.execPath,
      [join(ROOT, "bin", "pairgate.js"), "start", "--config", file],
      join(tmp, `pairgate-${tag}.log`),
    );
    r = { name: "pairgate", port: pair.listenPort, proc };
  } else {
    if (!ctx.haproxyBin) throw new Error("no haproxy binary");
    const proc = startFailoverHaproxy(ctx.haproxyBin, tmp, tag, {
      listen: { host: HOST, port: pair.listenPort },
      primary,
      secondary: pair.secondary,
      checkUser: CHECK_USER,
      interMs: 250,
    });
    r = { name: "haproxy", port: pair.listenPort, proc };
  }
  try {
    await waitServedByPrimary(ctx, r.port, r.name, r.proc);
  } catch (e) {
    await r.proc.stop(2000);
    throw e;
  }
  return r;
}

/**
 * pairgate's "mode A → B" log lines (pino JSON, ISO time) on the bench clock, and the primary's
 * first failed check before each (when the monitor first saw the fault).
 */
function pairgateTransitions(logFile: string): { at: number; text: string }[] {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return [];
  }
  const out: { at: number; text: string }[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes('"mode ') && !line.includes("backend check failed")) continue;
    try {
      const j = JSON.parse(line) as {
        time: string;
        msg: string;
        cause?: string;
        role?: string;
        err?: string;
      };
      const at = Date.parse(j.time) - performance.timeOrigin;
      if (/^mode /.test(j.msg))
        out.push({ at, text: `${j.msg.replace(/^mode /, "")}${j.cause ? ` (${j.cause})` : ""}` });
      else if (j.msg === "backend check failed" && j.role === "primary")
        out.push({ at, text: `first failed check of the primary (${j.err ?? "?"})` });
    } catch {}
  }
  return out;
}

function describeTransitions(logFile: string, fault: number, answered: number, end: number): string[] {
  return pairgateTransitions(logFile)
    .filter((t) => t.at >= fault - 1000 && t.at <= end)
    .map((t) => {
      const rel =
        !Number.isNaN(answered) && t.at >= answered
          ? `primary answered +${fmt(t.at - answered)} ms`
          : `fault +${fmt(t.at - fault)} ms`;
      return `${rel}: ${t.text}`;
    });
}

/** Applies the fault, waits the outage, undoes it; returns when the primary answered again (bench clock). */
async function faultAndRecover(
  ctx: Ctx,
  kind: FaultKind,
  link: LinkProcess | null,
): Promise<{ fault: number; answered: number; restarted: Promise<void> }> {
  const { pair, o } = ctx;
  const fault = now();
  if (kind === "kill") await pair.lab.kill("primary");
  else await link!.blackhole();
  await sleepUntil(fault + o.outageMs);
  if (kind === "blackhole") {
    const answered = now();
    await link!.heal();
    return { fault, answered, restarted: Promise.resolve() };
  }
  const restarted = pair.lab.start("primary");
  restarted.catch(() => {});
  const answered = await waitAnswering(pair.primary, pair.appUser, 120_000);
  return { fault, answered, restarted };
}

async function runOne(ctx: Ctx, proxy: ProxyKind, fault: FaultKind): Promise<RunResult> {
  const { pair, o } = ctx;
  const tag = `${proxy}-${fault}`;
  log(`— ${PROXY_LABEL[proxy]}: ${FAULT_LABEL[fault]}`);
  const notes = await restorePair(pair, log);
  if (proxy === "haproxy-rw") {
    await withRoot(pair, "secondary", (c) => c.query("SET GLOBAL read_only = OFF"));
    notes.push("the secondary's read_only was OFF for this run (an application user that passes it)");
  }
  const link = fault === "blackhole" ? await startLinkProcess(pair.primary) : null;
  const primary = link ? { host: HOST, port: link.port } : pair.primary;
  let running: Running | null = null;
  let load: Load | null = null;
  try {
    running = await startProxy(ctx, proxy, primary, tag);
    const mark = await binlogMark(pair, "secondary");
    load = appLoad(pair, running.port, o);
    load.start();
    await sleep(o.warmupMs);
    const { fault: t0, answered, restarted } = await faultAndRecover(ctx, fault, link);
    log(`${tag}: primary answering again ${fmt(answered - t0)} ms after the fault`);
    await sleepUntil(answered + o.afterMs);
    const end = now();
    const left = await load.stop(o.drainMs);
    const horizon = now();
    if (left)
      notes.push(`${left} statement(s) still unanswered ${o.drainMs / 1000} s after the load stopped`);
    await restarted;
    const transitions =
      proxy === "pairgate" ? describeTransitions(running.proc.logFile, t0, answered, end) : [];
    if (running.proc.exitStatus())
      notes.push(`${running.name} exited mid-run (${running.proc.exitStatus()})`);
    await running.proc.stop();
    running = null;
    const ack = await checkAcked(pair, load.acked);
    const f = faultFigures(load.statements(), { fault: t0, answered, end, horizon }, (seq) =>
      ack.onPrimary.has(seq),
    );
    const caught = await waitCaughtUp(pair, 10_000).catch(() => false);
    const replicationAfter =
      describeReplication(await replicationState(pair)) + (caught ? ", caught up" : "");
    const own = await ownTransactionsSince(pair, "secondary", mark, ctx.secondaryId);
    const r: RunResult = {
      proxy,
      fault,
      f,
      own,
      ack,
      replicationAfter,
      answeredAfterMs: answered - t0,
      transitions,
      notes,
      error: null,
    };
    log(`${tag}: ${summary(r)}`);
    return r;
  } finally {
    if (load) await load.stop(0).catch(() => {});
    if (running) await running.proc.stop().catch(() => {});
    if (link) await link.close();
    if (proxy === "haproxy-rw")
      await withRoot(pair, "secondary", (c) => c.query("SET GLOBAL read_only = ON")).catch(() => {});
  }
}

function summary(r: RunResult): string {
  const f = r.f;
  return (
    `read gap ${fmt(f.readGapMs)} ms, failed reads ${f.failedReads}, 1290 ${f.refused1290} ` +
    `(max ${fmt(f.refusedMaxMs, 1)} ms), other write errors ${f.otherWriteErrors}, own GTIDs on the secondary ` +
    `${r.own.count}, back to writes ${fmt(f.backToWritesMs)} ms, longest unanswered ${fmt(f.longestUnansweredMs)} ms, ` +
    `acked missing ${r.ack.missingOnPrimary}`
  );
}

// ——— the report ———

type Check = (r: RunResult) => boolean | null;

interface Row {
  figure: string;
  target: Partial<Record<FaultKind, string>>;
  check?: Partial<Record<FaultKind, Check>>;
  cell: (r: RunResult) => string;
}

/** The mixed read/write load of a run or the soak, as the application user through `port`. */
function appLoad(pair: TestPair, port: number, o: Options): Load {
  return new Load({
    host: HOST,
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: BENCH_SCHEMA,
    clients: o.clients,
    pauseMs: o.pauseMs,
    errorPauseMs: 10,
  });
}

const ms = (x: number) => (Number.isFinite(x) ? `${fmt(x)} ms` : "—");

const ROWS: Row[] = [
  {
    figure: "longest with no successful read after the fault",
    target: { kill: "≤ 100 ms", blackhole: "≤ 3,000 ms" },
    check: { kill: (r) => r.f.readGapMs <= 100, blackhole: (r) => r.f.readGapMs <= 3000 },
    cell: (r) => ms(r.f.readGapMs),
  },
  {
    figure: "failed reads",
    target: { kill: "0" },
    check: { kill: (r) => r.f.failedReads === 0 },
    cell: (r) => fmt(r.f.failedReads),
  },
  {
    figure: "writes refused with 1290 (answer p50 / p99 / max)",
    target: { kill: "max ≤ 10 ms" },
    check: { kill: (r) => (r.f.refused1290 ? r.f.refusedMaxMs <= 10 : null) },
    cell: (r) =>
      r.f.refused1290
        ? `${fmt(r.f.refused1290)} (${fmt(r.f.refusedP50Ms, 1)} / ${fmt(r.f.refusedP99Ms, 1)} / ${fmt(r.f.refusedMaxMs, 1)} ms)`
        : "0",
  },
  { figure: "other write errors", target: {}, cell: (r) => fmt(r.f.otherWriteErrors) },
  {
    figure: "writes that landed on the secondary (GTIDs of its server_id)",
    target: { kill: "0", blackhole: "0" },
    check: { kill: (r) => r.own.count === 0, blackhole: (r) => r.own.count === 0 },
    cell: (r) => (r.own.count ? `${fmt(r.own.count)} (${r.own.first} … ${r.own.last})` : "0"),
  },
  {
    figure: "acknowledged writes missing from the primary",
    target: { kill: "0", blackhole: "0" },
    check: { kill: (r) => r.ack.missingOnPrimary === 0, blackhole: (r) => r.ack.missingOnPrimary === 0 },
    cell: (r) =>
      r.ack.missingOnPrimary
        ? `${fmt(r.ack.missingOnPrimary)} of ${fmt(r.ack.acked)} (${fmt(r.ack.onSecondaryOnly)} only on the secondary)`
        : `0 of ${fmt(r.ack.acked)}`,
  },
  {
    figure: "primary answering → first successful write",
    target: { kill: "≤ 200 ms", blackhole: "≤ 200 ms" },
    check: {
      kill: (r) => r.f.backToWritesMs <= 200,
      blackhole: (r) => r.f.backToWritesMs <= 200,
    },
    cell: (r) => (Number.isFinite(r.f.backToWritesMs) ? ms(r.f.backToWritesMs) : "none in the window"),
  },
  {
    figure: "writes still failing after the primary answered (last sent at)",
    target: {},
    cell: (r) =>
      r.f.writesFailedAfterAnswer
        ? `${fmt(r.f.writesFailedAfterAnswer)} (+${fmt(r.f.lastFailedWriteAfterAnswerMs)} ms)`
        : "0",
  },
  {
    figure: "longest a statement stayed unanswered",
    target: { blackhole: "≤ 3,000 ms (goal 1,500)" },
    check: { blackhole: (r) => r.f.longestUnansweredMs <= 3000 },
    cell: (r) => ms(r.f.longestUnansweredMs) + (r.f.unanswered ? ` (${r.f.unanswered} never answered)` : ""),
  },
  {
    figure: "reads / writes that succeeded in the window",
    target: {},
    cell: (r) => `${fmt(r.f.readsOk)} / ${fmt(r.f.writesOk)}`,
  },
  { figure: "primary answering again after the fault", target: {}, cell: (r) => ms(r.answeredAfterMs) },
  { figure: "the secondary's replication after the run", target: {}, cell: (r) => r.replicationAfter },
];

function mark(row: Row, r: RunResult): string {
  const c = row.check?.[r.fault]?.(r);
  return c === true ? " ✓" : c === false ? " ✗" : "";
}

function faultTable(results: RunResult[], fault: FaultKind): string {
  const runs = results.filter((r) => r.fault === fault && !r.error);
  const header = ["figure", "target", ...runs.map((r) => PROXY_LABEL[r.proxy])];
  const rows = ROWS.map((row) => [
    row.figure,
    row.target[fault] ?? "—",
    ...runs.map((r) => row.cell(r) + (r.proxy === "pairgate" ? mark(row, r) : "")),
  ]);
  return markdownTable(header, ["left", "left", ...runs.map(() => "right" as const)], rows);
}

function topErrors(m: Map<string, number>, n = 3): string {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${v} × \`${k.replace(/`/g, "'").slice(0, 140)}\``)
    .join("; ");
}

function machineLine(machine: Machine, versions: Record<string, string>, load: [number, number]): string {
  return (
    `Machine: ${machine.nproc} CPUs (\`nproc\`), ${machine.cpuModel}, ${fmt(machine.ramGiB, 1)} GiB RAM, ` +
    `Linux ${machine.kernel}, Node ${machine.node}, MariaDB ${versions.mariadb}` +
    (versions.haproxy ? `, HAProxy ${versions.haproxy}` : "") +
    `, pairgate at ${versions.pairgate}. Client, servers and proxies share the machine; 1-minute load ` +
    `average ${fmt(load[0], 1)} at the start, ${fmt(load[1], 1)} at the end.`
  );
}

function runNotes(results: RunResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const head = `${PROXY_LABEL[r.proxy]}, ${r.fault}`;
    if (r.error) {
      lines.push(`- ${head}: the run failed: ${r.error.replace(/\n+/g, " ⏎ ")}`);
      continue;
    }
    if (r.transitions.length) lines.push(`- ${head}: pairgate mode changes: ${r.transitions.join("; ")}`);
    if (r.f.longest) lines.push(`- ${head}: longest wait: ${r.f.longest}`);
    if (r.f.readErrors.size) lines.push(`- ${head}: read errors: ${topErrors(r.f.readErrors)}`);
    if (r.f.writeErrors.size)
      lines.push(`- ${head}: write errors other than 1290: ${topErrors(r.f.writeErrors)}`);
    for (const n of r.notes) lines.push(`- ${head}: ${n}`);
  }
  return lines;
}

function comparisonReport(
  ctx: Ctx,
  machine: Machine,
  versions: Record<string, string>,
  load: [number, number],
  results: RunResult[],
  started: Date,
): string {
  const o = ctx.o;
  const lines = [`## Failover — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC`, ""];
  lines.push(machineLine(machine, versions, load), "");
  lines.push(
    `Load: a mysql2 pool, ${o.clients} clients, 3 point selects (passtrix tables) to 1 INSERT with a ` +
      `client-side sequence number, ${o.pauseMs} ms pause after each statement (10 ms after an error), no ` +
      `query timeout. Each run: ${o.warmupMs / 1000} s of load, the fault, ${o.outageMs / 1000} s of outage, ` +
      `then ${o.afterMs / 1000} s of load after the primary answers again; the pair is restored between runs. ` +
      `pairgate: its monitor defaults (every 250 ms, 500 ms timeouts, fall 2 / rise 2). HAProxy: \`mode tcp\`, ` +
      `the secondary a \`backup\` server, \`option mysql-check\` every 250 ms, \`timeout check 500ms\`, fall 2 / ` +
      `rise 2, client/server timeouts 1 min. For the blackhole both reach the primary through a relay that ` +
      `stops passing bytes (connections stay open, new ones hang). "Writes that landed on the secondary" ` +
      `counts the secondary's binlog transactions with its own server_id. The lab's app user lacks SUPER/READ_ONLY ` +
      `ADMIN, so with read_only=ON the secondary itself refuses writes with 1290; the read_only=OFF runs show ` +
      `an application user that passes it. ✓/✗: pairgate against the target.`,
    "",
  );
  for (const fault of ["kill", "blackhole"] as const) {
    if (!results.some((r) => r.fault === fault && !r.error)) continue;
    lines.push(`### ${FAULT_LABEL[fault]}`, "", faultTable(results, fault), "");
  }
  const notes = runNotes(results);
  if (notes.length) lines.push("Notes:", "", ...notes, "");
  return lines.join("\n");
}

async function runComparison(ctx: Ctx): Promise<RunResult[]> {
  const proxies: ProxyKind[] = ctx.o.only ?? [
    "pairgate",
    "haproxy",
    ...(ctx.o.divergence ? (["haproxy-rw"] as const) : []),
  ];
  const results: RunResult[] = [];
  for (const proxy of proxies) {
    for (const fault of ["kill", "blackhole"] as const) {
      try {
        results.push(await runOne(ctx, proxy, fault));
      } catch (e) {
        log(`${proxy} ${fault} FAILED: ${(e as Error).stack ?? e}`);
        results.push({
          proxy,
          fault,
          f: faultFigures([], { fault: 0, answered: 0, end: 0, horizon: 0 }),
          own: { count: 0, first: "", last: "" },
          ack: { acked: 0, missingOnPrimary: 0, onSecondaryOnly: 0, examples: [], onPrimary: new Set() },
          replicationAfter: "",
          answeredAfterMs: Number.NaN,
          transitions: [],
          notes: [],
          error: (e as Error).message,
        });
      }
    }
  }
  return results;
}

// ——— staleness ———

async function runStalenessSet(ctx: Ctx): Promise<StalenessResult[]> {
  const { pair } = ctx;
  const pairgate = (mode: "caught_up" | "immediate", semiSync: boolean): StalenessTarget => ({
    label: `pairgate (${mode})`,
    semiSync,
    start: async () => {
      const r = await startProxy(
        ctx,
        "pairgate",
        pair.primary,
        `stale-${mode}-${semiSync ? "semi" : "async"}`,
        {
          failover: { readConsistency: mode },
        },
      );
      return { port: r.port, stop: () => r.proc.stop(5000) };
    },
  });
  const targets: StalenessTarget[] = [
    pairgate("caught_up", true),
    pairgate("immediate", true),
    ...(ctx.haproxyBin
      ? [
          {
            label: "HAProxy",
            semiSync: true,
            start: async () => {
              const r = await startProxy(ctx, "haproxy", pair.primary, "stale-haproxy");
              return { port: r.port, stop: () => r.proc.stop(5000) };
            },
          },
        ]
      : []),
    pairgate("caught_up", false),
  ];
  const results: StalenessResult[] = [];
  for (const t of targets) {
    await restorePair(pair, log);
    log(`staleness: ${t.label}${t.semiSync ? "" : " (asynchronous)"}`);
    results.push(await runStaleness(pair, t, log));
  }
  await restorePair(pair, log);
  return results;
}

// ——— soak ———

interface SoakFault {
  n: number;
  kind: FaultKind;
  atS: number;
  r: RunResult;
}

async function runSoak(
  ctx: Ctx,
): Promise<{ faults: SoakFault[]; rss: { t: number; mib: number }[]; ack: AckCheck; notes: string[] }> {
  const { pair, o } = ctx;
  const notes = await restorePair(pair, log);
  const link = await startLinkProcess(pair.primary);
  let running: Running | null = null;
  let load: Load | null = null;
  let sampler: NodeJS.Timeout | null = null;
  try {
    running = await startProxy(ctx, "pairgate", { host: HOST, port: link.port }, "soak");
    const pid = running.proc.pid;
    const t0 = now();
    const rss: { t: number; mib: number }[] = [{ t: 0, mib: rssMiB(pid) }];
    sampler = setInterval(() => {
      try {
        rss.push({ t: (now() - t0) / 1000, mib: rssMiB(pid) });
      } catch {}
    }, 5000);
    load = appLoad(pair, running.port, o);
    load.start();
    const count = Math.max(1, Math.floor((o.soak * 1000) / SOAK_PERIOD_MS));
    const faults: SoakFault[] = [];
    const first = t0 + 5000;
    for (let i = 0; i < count; i++) {
      const kind: FaultKind = i % 2 === 0 ? "kill" : "blackhole";
      const windowEnd = first + (i + 1) * SOAK_PERIOD_MS;
      await sleepUntil(first + i * SOAK_PERIOD_MS);
      const mark = await binlogMark(pair, "secondary");
      const { fault, answered, restarted } = await faultAndRecover(ctx, kind, link);
      await restarted;
      await sleepUntil(windowEnd);
      if (pair.lab.pid("primary") === null)
        throw new Error(
          `soak fault ${i + 1}: the primary is not running at the window's end — ${diagnose(pair, "primary")}`,
        );
      const end = now();
      // Which writes sent after the primary answered are on the primary (pairgate sends none elsewhere; checked).
      const after = load.statements().filter((x) => x.kind === "write" && x.start >= answered && x.ok);
      const onPrimary = await seqs(
        pair,
        "primary",
        Math.min(...after.map((x) => x.seq), Number.MAX_SAFE_INTEGER),
      ).catch((e) => {
        throw new Error(`soak fault ${i + 1}: ${(e as Error).message} — ${diagnose(pair, "primary")}`);
      });
      const f = faultFigures(load.statements(), { fault, answered, end, horizon: end }, (seq) =>
        onPrimary.has(seq),
      );
      const own = await ownTransactionsSince(pair, "secondary", mark, ctx.secondaryId);
      const r: RunResult = {
        proxy: "pairgate",
        fault: kind,
        f,
        own,
        ack: { acked: 0, missingOnPrimary: 0, onSecondaryOnly: 0, examples: [], onPrimary: new Set() },
        replicationAfter: describeReplication(await replicationState(pair)),
        answeredAfterMs: answered - fault,
        transitions: describeTransitions(running.proc.logFile, fault, answered, end),
        notes: [],
        error: running.proc.exitStatus() ? `pairgate exited (${running.proc.exitStatus()})` : null,
      };
      faults.push({ n: i + 1, kind, atS: (fault - t0) / 1000, r });
      log(
        `soak fault ${i + 1}/${count} (${kind}): ${summary(r)}; RSS ${fmt(rss.at(-1)?.mib ?? Number.NaN, 1)} MiB`,
      );
      load.prune(end - 2000);
      if (r.error) break;
    }
    const left = await load.stop(o.drainMs);
    if (left)
      notes.push(`${left} statement(s) still unanswered ${o.drainMs / 1000} s after the load stopped`);
    clearInterval(sampler);
    sampler = null;
    rss.push({ t: (now() - t0) / 1000, mib: rssMiB(pid) });
    await running.proc.stop();
    running = null;
    const ack = await checkAcked(pair, load.acked);
    return { faults, rss, ack, notes };
  } finally {
    if (sampler) clearInterval(sampler);
    if (load) await load.stop(0).catch(() => {});
    if (running) await running.proc.stop().catch(() => {});
    await link.close();
  }
}

function soakReport(
  ctx: Ctx,
  machine: Machine,
  versions: Record<string, string>,
  loadAvg: [number, number],
  s: Awaited<ReturnType<typeof runSoak>>,
  started: Date,
): string {
  const lines = [
    `## Failover soak (${ctx.o.soak} s) — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
  ];
  lines.push(machineLine(machine, versions, loadAvg), "");
  lines.push(
    `pairgate only, reaching the primary through the relay for both faults; a fault every ` +
      `${SOAK_PERIOD_MS / 1000} s alternating kill -9 (restart after ${ctx.o.outageMs / 1000} s) and a ` +
      `${ctx.o.outageMs / 1000} s blackhole; each fault's window runs to the next fault. Same load as the ` +
      `comparison. ✓/✗ against the targets.`,
    "",
  );
  const chk = (r: RunResult, i: number) => {
    const row = ROWS[i]!;
    return row.cell(r) + mark(row, r);
  };
  lines.push(
    markdownTable(
      [
        "#",
        "fault",
        "at s",
        "read gap",
        "failed reads",
        "1290 (p50 / p99 / max)",
        "other write errors",
        "writes on secondary",
        "back to writes",
        "longest unanswered",
      ],
      ["right", "left", "right", "right", "right", "right", "right", "right", "right", "right"],
      s.faults.map(({ n, kind, atS, r }) => [
        String(n),
        kind,
        fmt(atS, 1),
        chk(r, 0),
        chk(r, 1),
        chk(r, 2),
        chk(r, 3),
        chk(r, 4),
        chk(r, 6),
        chk(r, 8),
      ]),
    ),
    "",
  );
  const mibs = s.rss.map((x) => x.mib);
  const later = s.rss.filter((x) => x.t >= 30);
  const perMin = slope(
    later.map((x) => x.t / 60),
    later.map((x) => x.mib),
  );
  const firstMiB = mibs[0] ?? Number.NaN;
  const lastMiB = mibs.at(-1) ?? Number.NaN;
  const settled = median(later.slice(0, Math.max(1, Math.ceil(later.length / 4))).map((x) => x.mib));
  const spanS = later.length ? later[later.length - 1]!.t - later[0]!.t : 0;
  const grows = Number.isFinite(perMin) && perMin > 0.5 && lastMiB > settled * 1.1;
  const verdict =
    spanS < 300
      ? `too short to judge growth (${fmt(spanS)} s after warm-up; \`--soak 600\` tells)`
      : grows
        ? "**it grows**"
        : "no sustained growth";
  lines.push(
    `Acknowledged writes missing from the primary after the final recovery: **${fmt(s.ack.missingOnPrimary)}** ` +
      `of ${fmt(s.ack.acked)}${s.ack.missingOnPrimary ? ` (e.g. seq ${s.ack.examples.join(", ")}; ${s.ack.onSecondaryOnly} only on the secondary)` : ""} (target 0).`,
    "",
    `pairgate RSS (VmRSS every 5 s, ${s.rss.length} samples): first ${fmt(firstMiB, 1)} MiB, last ` +
      `${fmt(lastMiB, 1)} MiB, max ${fmt(Math.max(...mibs), 1)} MiB; slope after the first 30 s ` +
      `${fmt(perMin, 2)} MiB/min — ${verdict}.`,
    "",
    `RSS samples (s: MiB): ${s.rss.map((x) => `${fmt(x.t)}: ${fmt(x.mib, 1)}`).join(", ")}`,
    "",
  );
  const notes = [
    ...s.notes.map((n) => `- ${n}`),
    ...runNotes(s.faults.map((f) => ({ ...f.r, proxy: "pairgate" as const, fault: f.kind }))).map((l) =>
      l.replace(/^- pairgate, /, "- "),
    ),
  ];
  if (notes.length) lines.push("Notes:", "", ...notes, "");
  return lines.join("\n");
}

async function main(): Promise<void> {
  const o = options();
  const started = new Date();
  const machine = describeMachine();
  const revision = sourceRevision(ROOT);
  const loadAtStart = loadavg()[0]!;
  const tmp = benchWorkspace("pairgate-failover-", log);
  const needHaproxy = o.soak === 0 && (o.only === null || o.only.some((p) => p !== "pairgate"));
  const haproxyBin = needHaproxy ? ensureHaproxy(log) : null;
  log("starting an isolated MariaDB pair");
  const pair = await startPair();
  try {
    const mariadb = await withRoot(pair, "primary", async (c) => {
      const [rows] = await c.query<RowDataPacket[]>("SELECT VERSION() AS v");
      // HAProxy's mysql-check logs in as this passwordless user (no privileges) and quits; it replicates.
      await c.query(`CREATE USER IF NOT EXISTS '${CHECK_USER}'@'127.0.0.1'`);
      return String(rows[0]?.v);
    });
    await createBenchTable(pair);
    if (!(await waitCaughtUp(pair, 30_000))) throw new Error("the secondary did not catch up after set-up");
    const ctx: Ctx = {
      o,
      pair,
      tmp,
      haproxyBin,
      primaryId: await serverId(pair, "primary"),
      secondaryId: await serverId(pair, "secondary"),
    };
    log(`pair up: primary server_id ${ctx.primaryId}, secondary server_id ${ctx.secondaryId}`);
    const versions = { mariadb, haproxy: haproxyBin ? haproxyVersion(haproxyBin) : "", pairgate: revision };
    let md: string;
    let name: string;
    const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, "-");
    if (o.soak > 0) {
      const s = await runSoak(ctx);
      md = soakReport(ctx, machine, versions, [loadAtStart, loadavg()[0]!], s, started);
      name = `failover-soak${o.soak}-${stamp}.md`;
    } else if (o.staleness === "only") {
      const st = await runStalenessSet(ctx);
      md = `${machineLine(machine, versions, [loadAtStart, loadavg()[0]!])}\n\n${stalenessReport(st)}`;
      name = `failover-staleness-${stamp}.md`;
    } else {
      const results = await runComparison(ctx);
      md = comparisonReport(ctx, machine, versions, [loadAtStart, loadavg()[0]!], results, started);
      if (o.staleness === "also") md += `\n\n${stalenessReport(await runStalenessSet(ctx))}`;
      name = `failover-${stamp}${o.only ? "-partial" : ""}.md`;
    }
    const dir = join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, name);
    writeFileSync(file, `${md.trimEnd()}\n`);
    // The proxies' logs and configs, for reading a figure's story (pairgate logs at info: checks and modes).
    const logs = file.replace(/\.md$/, "-logs");
    cpSync(tmp, logs, { recursive: true, filter: (f) => !/\.sock$/.test(f) });
    process.stdout.write(`\n${md}\n`);
    log(
      `written to ${file} (logs in ${logs}/) — copy it into bench/README.md (with the machine line) when it is the latest.`,
    );
  } finally {
    log("tearing down: the pair");
    await pair.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:failover failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
