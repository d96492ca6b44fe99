/**
 * `npm run bench` — throughput, latency, CPU per query and memory of pairgate against the
 * primary directly and against HAProxy in TCP mode, on an isolated pair of real MariaDB servers.
 *
 *   npm run bench                       3 rounds × 10 s per run, point_select + read_only at 8 and 64 threads
 *   npm run bench -- --rounds 5 --time 20
 *   npm run bench -- --quick            1 round × 5 s, point_select at 8 threads, both protocols (while developing)
 *   npm run bench -- --focus            5 rounds × 10 s, point_select at 8 threads, both protocols (issue 14's figure)
 *   npm run bench -- --protocol text    only one protocol (text | binary | both, the default)
 *   npm run bench -- --baseline DIR     also a second pairgate started from DIR/bin/pairgate.js (an older
 *                                       build), interleaved with the others: before/after in one run (with
 *                                       audit on, the older build also runs audited: "baseline+audit")
 *   npm run bench -- --quick --threads 8,16   point_select at these thread counts (--quick/--focus)
 *   npm run bench -- --no-audit         leave out the pairgate that audits every statement (by default it
 *                                       runs: an audited retrieval is the path the product exists for)
 *   npm run bench -- --no-floor         leave out the bare byte relays on pairgate's socket layer (one event
 *                                       loop, and two worker threads): what Node costs before any protocol
 *                                       work, the ceiling of a single-threaded pairgate ("÷ relay")
 *   npm run bench -- --sessions 500     idle sessions for the memory figure (default 2000; 0 skips it)
 *
 * Runs are interleaved (within a round every target runs each case before the next case starts,
 * in an order that rotates between rounds) so a machine that slows down mid-bench slows all
 * targets alike; the table shows medians over rounds. CPU per query is the proxy process's
 * utime+stime (from /proc, before and after each run) over the queries sysbench reports — steadier
 * than qps on a shared machine.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mysql, { type Connection } from "mysql2/promise";
import { startPair, type TestPair } from "../test/helpers/pair.js";
import { freePort, freePorts } from "../test/helpers/ports.js";
import { benchArgs, intOption as int } from "./lib/args.js";
import type { Managed } from "./lib/children.js";
import { spawnManaged } from "./lib/children.js";
import { ensureHaproxy, haproxyVersion, startHaproxy } from "./lib/haproxy.js";
import { describeMachine, type Machine, sourceRevision } from "./lib/machine.js";
import { cpuSeconds, peakRssMiB, rssMiB } from "./lib/proc.js";
import { fmt, median } from "./lib/stats.js";
import { runSysbench, type SysbenchOptions, type SysbenchTarget } from "./lib/sysbench.js";
import { markdownTable } from "./lib/table.js";
import { benchWorkspace } from "./lib/workspace.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const DB = "sbtest";
const TABLES = 4;
const TABLE_SIZE = 10_000;
const CHECK_USER = "pairgate_bench_check";
const MAX_CONNECTIONS = 2500;
/** Config keys the test pair sets that older pairgate builds do not know (`--baseline`). */
const NEWER_KEYS = ["stateDir"];

type TargetName =
  | "direct"
  | "haproxy"
  | "pairgate"
  | "pairgate+audit"
  | "baseline"
  | "baseline+audit"
  | "relay"
  | "relay×2";

interface Target {
  name: TargetName;
  port: number;
  /** The proxy process whose CPU time is read; none for direct. */
  proc: Managed | null;
  /** Why this target stopped taking part (it failed to start, or died mid-bench). */
  out: string | null;
}

/** sysbench's --db-ps-mode: "disable" is the text protocol (COM_QUERY), "auto" the binary one (COM_STMT_*). */
type PsMode = "disable" | "auto";

interface Case {
  script: "oltp_point_select" | "oltp_read_only";
  threads: number;
  ps: PsMode;
}

interface Sample {
  round: number;
  qps: number;
  p95: number;
  cpuUsPerQuery: number;
  error: string | null;
}

interface Options {
  rounds: number;
  time: number;
  quick: boolean;
  sessions: number;
  /** Also run a pairgate whose audit rules make every sysbench statement an audited retrieval. */
  audit: boolean;
  /** Only point_select at 8 threads (both protocols unless --protocol says otherwise). */
  focus: boolean;
  protocols: PsMode[];
  /** A checkout (with a built dist/) whose pairgate runs as a further target, "baseline". */
  baseline: string | null;
  /** Also the bare relays (bench/lib/bare-relay.mjs) on one and on two threads. */
  floor: boolean;
  /** --threads: the thread counts of point_select with --quick/--focus (default 8). */
  threads: number[];
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function options(): Options {
  const { values } = benchArgs(import.meta.url, {
    rounds: { type: "string" },
    time: { type: "string" },
    quick: { type: "boolean", default: false },
    sessions: { type: "string" },
    audit: { type: "boolean", default: true },
    "no-audit": { type: "boolean", default: false },
    focus: { type: "boolean", default: false },
    protocol: { type: "string", default: "both" },
    baseline: { type: "string" },
    floor: { type: "boolean", default: true },
    "no-floor": { type: "boolean", default: false },
    threads: { type: "string" },
  });
  const quick = values.quick ?? false;
  const focus = values.focus ?? false;
  const protocols: Record<string, PsMode[]> = {
    text: ["disable"],
    binary: ["auto"],
    both: ["disable", "auto"],
  };
  const chosen = protocols[values.protocol ?? "both"];
  if (!chosen) throw new Error(`--protocol wants text, binary or both, got ${values.protocol}`);
  return {
    quick,
    focus,
    rounds: int(values.rounds, quick ? 1 : focus ? 5 : 3, "rounds", 1),
    time: int(values.time, quick ? 5 : 10, "time", 1),
    sessions: int(values.sessions, quick || focus ? 0 : 2000, "sessions", 0),
    audit: (values.audit ?? true) && !values["no-audit"],
    protocols: chosen,
    baseline: values.baseline ?? null,
    floor: (values.floor ?? true) && !values["no-floor"],
    threads: (values.threads ?? "8").split(",").map((t) => int(t.trim(), 8, "threads", 1)),
  };
}

function cases(o: Options): Case[] {
  const out: Case[] = [];
  for (const ps of o.protocols) {
    if (o.quick || o.focus)
      for (const threads of o.threads) out.push({ script: "oltp_point_select", threads, ps });
    else
      out.push(
        { script: "oltp_point_select", threads: 8, ps },
        { script: "oltp_point_select", threads: 16, ps },
        { script: "oltp_point_select", threads: 64, ps },
        { script: "oltp_read_only", threads: 8, ps },
        { script: "oltp_read_only", threads: 64, ps },
      );
  }
  return out;
}

const protocolName = (ps: PsMode) => (ps === "auto" ? "binary" : "text");

/** Retries a login as the app user until it succeeds, `proc` exits, or the time is up. */
/**
 * Node options for every pairgate the bench starts: what bin/pairgate.js's first line sets when it
 * runs as a program (`--max-semi-space-size=2`, see there), then PAIRGATE_BENCH_NODE_ARGS (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the proxy under load; a semi-space size there wins).
 */
function nodeArgs(): string[] {
  const extra = process.env.PAIRGATE_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  return extra.some((a) => a.startsWith("--max-semi-space-size"))
    ? extra
    : ["--max-semi-space-size=2", ...extra];
}

async function waitForLogin(pair: TestPair, port: number, what: string, proc: Managed | null, ms = 30_000) {
  const until = Date.now() + ms;
  let last = "";
  while (Date.now() < until) {
    if (proc?.exitStatus()) throw new Error(`${what} exited (${proc.exitStatus()}):\n${proc.logTail()}`);
    try {
      const c = await mysql.createConnection({
        host: HOST,
        port,
        user: pair.appUser.username,
        password: pair.appUser.password,
        database: DB,
        connectTimeout: 2000,
      });
      await c.query("SELECT 1");
      await c.end();
      return;
    } catch (e) {
      last = (e as Error).message;
      await sleep(200);
    }
  }
  throw new Error(`${what} did not accept a login on ${HOST}:${port} within ${ms} ms (last error: ${last})`);
}

/** Opens `n` idle sessions through `port` (logged in, nothing else), a few at a time. */
async function openSessions(pair: TestPair, port: number, n: number) {
  const conns: Connection[] = [];
  const errors = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      try {
        conns.push(
          await mysql.createConnection({
            host: HOST,
            port,
            user: pair.appUser.username,
            password: pair.appUser.password,
            database: DB,
            connectTimeout: 10_000,
          }),
        );
      } catch (e) {
        const msg = (e as Error).message;
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      }
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: 32 }, worker));
  return { conns, errors, ms: Date.now() - started };
}

async function closeSessions(conns: Connection[]) {
  for (let i = 0; i < conns.length; i += 100) {
    await Promise.all(conns.slice(i, i + 100).map((c) => c.end().catch(() => c.destroy())));
  }
}

async function threadsConnected(pair: TestPair): Promise<number> {
  const root = await pair.rootConnection("primary");
  try {
    const [rows] = await root.query("SHOW GLOBAL STATUS LIKE 'Threads_connected'");
    return Number((rows as { Value: string }[])[0]?.Value ?? Number.NaN);
  } finally {
    await root.end();
  }
}

interface MemoryReport {
  target: TargetName;
  idleMiB: number;
  beforeMiB: number;
  withSessionsMiB: number;
  peakMiB: number;
  opened: number;
  wanted: number;
  openMs: number;
  primaryThreads: number;
  errors: Map<string, number>;
}

async function measureMemory(pair: TestPair, t: Target, n: number, idleMiB: number): Promise<MemoryReport> {
  const pid = t.proc!.pid;
  const beforeMiB = rssMiB(pid);
  log(`${t.name}: opening ${n} idle sessions`);
  const { conns, errors, ms } = await openSessions(pair, t.port, n);
  await sleep(2000);
  const withSessionsMiB = rssMiB(pid);
  const primaryThreads = await threadsConnected(pair);
  const peakMiB = peakRssMiB(pid);
  log(`${t.name}: ${conns.length}/${n} sessions open in ${ms} ms, RSS ${fmt(withSessionsMiB, 1)} MiB`);
  await closeSessions(conns);
  return {
    target: t.name,
    idleMiB,
    beforeMiB,
    withSessionsMiB,
    peakMiB,
    opened: conns.length,
    wanted: n,
    openMs: ms,
    primaryThreads,
    errors,
  };
}

const label = (c: Case) => `${c.script.replace(/^oltp_/, "")} (${protocolName(c.ps)})`;

function report(
  o: Options,
  machine: Machine,
  versions: { mariadb: string; haproxy: string; pairgate: string },
  load: { start: number; end: number },
  all: Case[],
  targets: Target[],
  samples: Map<string, Sample[]>,
  memory: MemoryReport[],
  notes: string[],
  started: Date,
): string {
  const key = (c: Case, t: TargetName) => `${c.script}/${c.threads}/${c.ps}/${t}`;
  const lines: string[] = [];
  lines.push(`## Throughput — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC`, "");
  lines.push(
    `Machine: ${machine.nproc} CPUs (\`nproc\`), ${machine.cpuModel}, ${fmt(machine.ramGiB, 1)} GiB RAM, ` +
      `Linux ${machine.kernel}, Node ${machine.node}, MariaDB ${versions.mariadb}, HAProxy ${versions.haproxy}, ` +
      `sysbench ${machine.sysbench}, pairgate at ${versions.pairgate}. Client, servers and proxies share the machine; ` +
      `1-minute load average ${fmt(load.start, 1)} at the start, ${fmt(load.end, 1)} at the end ` +
      `(well above ${machine.nproc} means other work competed for the CPUs).`,
    "",
  );
  lines.push(
    `Setup: sysbench \`--db-ps-mode=disable\` (text protocol: COM_QUERY, like JDBC's default) and ` +
      `\`--db-ps-mode=auto\` (binary protocol: COM_STMT_PREPARE/EXECUTE, like server-side prepared statements), \`--percentile=95\`, ` +
      `${TABLES} tables × ${fmt(TABLE_SIZE)} rows; ${o.rounds} round(s) × ${o.time} s per run, targets ` +
      `interleaved within each round; every figure is the median over rounds (× HAProxy: the median of ` +
      `the per-round qps ratios). p95 is per event: one query for point_select, one 16-query transaction ` +
      `for read_only. CPU µs/query: the proxy process's utime+stime over the queries sysbench reports. ` +
      `HAProxy: \`mode tcp\`, one server, default threads, mysql-check every 2 s.`,
    "",
  );
  const audited: string[][] = [];
  for (const ps of o.protocols) {
    const rows: string[][] = [];
    for (const c of all.filter((x) => x.ps === ps)) {
      const good = (t: TargetName) => (samples.get(key(c, t)) ?? []).filter((x) => x.error === null);
      /** Median of the per-round ratios of `t`'s figure to `ref`'s (rounds where both ran). */
      const ratio = (t: TargetName, ref: TargetName, f: (x: Sample) => number = (x) => x.qps) => {
        const refs = good(ref);
        if (!refs.length) return Number.NaN;
        return median(
          good(t)
            .map((x) => {
              const r = refs.find((y) => y.round === x.round);
              return r ? f(x) / f(r) : Number.NaN;
            })
            .filter(Number.isFinite),
        );
      };
      for (const t of targets) {
        const s = samples.get(key(c, t.name)) ?? [];
        const ok = good(t.name);
        rows.push([
          label(c),
          String(c.threads),
          t.name,
          fmt(median(ok.map((x) => x.qps))),
          fmt(median(ok.map((x) => x.p95)), 2),
          t.name === "haproxy" ? "1.00" : fmt(ratio(t.name, "haproxy"), 2),
          t.name === "relay" ? "1.00" : fmt(ratio(t.name, "relay"), 2),
          t.proc ? fmt(median(ok.map((x) => x.cpuUsPerQuery)), 1) : "—",
          s.length ? `${s.length - ok.length}/${s.length}` : "not run",
        ]);
      }
      for (const [aud, plain] of [
        ["pairgate+audit", "pairgate"],
        ["baseline+audit", "baseline"],
      ] as const) {
        if (!good(aud).length || !good(plain).length) continue;
        const plainP95 = median(good(plain).map((x) => x.p95));
        audited.push([
          label(c),
          String(c.threads),
          aud,
          fmt(ratio(aud, plain), 2),
          fmt(
            ratio(aud, plain, (x) => x.cpuUsPerQuery),
            2,
          ),
          fmt(median(good(aud).map((x) => x.p95)) - plainP95, 2),
        ]);
      }
    }
    lines.push(
      ps === "auto"
        ? "Binary protocol (`--db-ps-mode=auto`: COM_STMT_PREPARE once per statement, then COM_STMT_EXECUTE):"
        : "Text protocol (`--db-ps-mode=disable`: COM_QUERY):",
      "",
      markdownTable(
        [
          "workload",
          "threads",
          "target",
          "qps",
          "p95 ms",
          "× HAProxy",
          "÷ relay",
          "proxy CPU µs/query",
          "failed runs",
        ],
        ["left", "right", "left", "right", "right", "right", "right", "right", "right"],
        rows,
      ),
      "",
    );
  }
  if (audited.length) {
    lines.push(
      "An audited retrieval against a plain one (`pairgate+audit`, where every statement reads an audited " +
        "table, ÷ `pairgate`, per round; p95 difference of the medians):",
      "",
      markdownTable(
        ["workload", "threads", "target", "audited ÷ plain qps", "audited ÷ plain CPU/query", "p95 + ms"],
        ["left", "right", "left", "right", "right", "right"],
        audited,
      ),
      "",
    );
  }
  if (memory.length) {
    lines.push(
      markdownTable(
        [
          "memory (RSS, MiB)",
          "idle after start",
          "before sessions",
          "with idle sessions",
          "peak",
          "sessions open",
          "primary threads then",
        ],
        ["left", "right", "right", "right", "right", "right", "right"],
        memory.map((m) => [
          m.target,
          fmt(m.idleMiB, 1),
          fmt(m.beforeMiB, 1),
          fmt(m.withSessionsMiB, 1),
          fmt(m.peakMiB, 1),
          `${fmt(m.opened)}/${fmt(m.wanted)} (${fmt(m.openMs / 1000, 1)} s)`,
          fmt(m.primaryThreads),
        ]),
      ),
    );
    lines.push("", "Target: pairgate under 150 MB with 2,000 idle client sessions.", "");
    for (const m of memory)
      for (const [msg, n] of m.errors) notes.push(`${m.target}: ${n} session(s) failed to open: \`${msg}\``);
  }
  for (const t of targets) if (t.out) notes.push(`${t.name}: ${t.out}`);
  if (notes.length) {
    lines.push("Errors and notes:", "");
    for (const n of notes) lines.push(`- ${n.replace(/\n+/g, " ⏎ ")}`);
    lines.push("");
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const o = options();
  const started = new Date();
  const machine = describeMachine();
  const revision = sourceRevision(ROOT);
  const loadAtStart = loadavg()[0]!;
  const tmp = benchWorkspace("pairgate-bench-", log);

  const haproxyBin = ensureHaproxy(log);
  log("starting an isolated MariaDB pair");
  const pair = await startPair();
  const procs: Managed[] = [];
  try {
    const root = await pair.rootConnection("primary");
    const [ver] = await root.query("SELECT VERSION() AS v");
    const mariadb = String((ver as { v: string }[])[0]!.v);
    await root.query(`SET GLOBAL max_connections = ${MAX_CONNECTIONS}`);
    // HAProxy's mysql-check logs in as this passwordless user (no privileges) and quits.
    await root.query(`CREATE USER IF NOT EXISTS '${CHECK_USER}'@'127.0.0.1'`);
    await root.end();

    const sbTarget = (port: number): SysbenchTarget => ({
      host: HOST,
      port,
      user: pair.appUser.username,
      password: pair.appUser.password,
      db: DB,
    });
    const base: SysbenchOptions = { script: "oltp_point_select", tables: TABLES, tableSize: TABLE_SIZE };
    log(`sysbench prepare: ${TABLES} tables × ${TABLE_SIZE} rows in ${DB} on the primary`);
    const prep = await runSysbench("prepare", sbTarget(pair.primary.port), base, 300_000);
    if (!prep.ok)
      throw new Error(`sysbench prepare failed (exit ${prep.code}):\n${prep.output.slice(-3000)}`);

    const haproxyPort = await freePort(HOST);
    const haproxy = startHaproxy(haproxyBin, tmp, {
      listen: { host: HOST, port: haproxyPort },
      server: pair.primary,
      checkUser: CHECK_USER,
    });
    procs.push(haproxy);

    const configFile = join(tmp, "pairgate.config.json");
    writeFileSync(configFile, `${JSON.stringify(pair.proxyConfig(), null, 2)}\n`);
    const pairgate = spawnManaged(
      "pairgate",
      process.execPath,
      [
        // e.g. PAIRGATE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the proxy under load
        ...nodeArgs(),
        join(ROOT, "bin", "pairgate.js"),
        "start",
        "--config",
        configFile,
      ],
      join(tmp, "pairgate.log"),
    );
    procs.push(pairgate);

    const targets: Target[] = [
      { name: "direct", port: pair.primary.port, proc: null, out: null },
      { name: "haproxy", port: haproxyPort, proc: haproxy, out: null },
      { name: "pairgate", port: pair.listenPort, proc: pairgate, out: null },
    ];
    /** Start a further proxy as a target; one that does not accept a login is left out, with why. */
    const extraTarget = async (name: TargetName, port: number, args: string[]): Promise<void> => {
      const proc = spawnManaged(name, process.execPath, args, join(tmp, `${name}.log`));
      procs.push(proc);
      const t: Target = { name, port, proc, out: null };
      targets.push(t);
      try {
        await waitForLogin(pair, port, name, proc);
      } catch (e) {
        t.out = `did not start: ${(e as Error).message}`;
      }
    };
    if (o.baseline) {
      // The same config on other ports, served by an older build: before/after in one interleaved run.
      const [basePort, baseAdmin] = await freePorts(2);
      const baseFile = join(tmp, "pairgate-baseline.config.json");
      const baseConfig = pair.proxyConfig({
        listen: { port: basePort },
        admin: { port: baseAdmin },
        instanceId: "bench-baseline",
        // A journal of its own: two pairgates on one journal folder fight over it (the newer build's
        // lock refuses the second, which retries every second: background work in one target only).
        audit: { journalDir: join(tmp, "baseline-journal") },
      }) as Record<string, unknown>;
      // Keys newer than the builds a baseline is usually taken from: an older build refuses a key it
      // does not know, and for these its default is what the bench wants anyway.
      for (const key of NEWER_KEYS) delete baseConfig[key];
      writeFileSync(baseFile, `${JSON.stringify(baseConfig, null, 2)}\n`);
      await extraTarget("baseline", basePort, [
        ...nodeArgs(),
        join(o.baseline, "bin", "pairgate.js"),
        "start",
        "--config",
        baseFile,
      ]);
    }
    if (o.floor) {
      for (const [name, threads] of [
        ["relay", 1],
        ["relay×2", 2],
      ] as const) {
        const port = await freePort(HOST);
        await extraTarget(name, port, [
          join(ROOT, "bench", "lib", "bare-relay.mjs"),
          String(port),
          pair.primary.host,
          String(pair.primary.port),
          String(threads),
        ]);
      }
    }
    if (o.audit) {
      // The worst case for auditing: every point select reads an audited table, so every result
      // waits for its event's group-committed fsync. With --baseline the older build audits too.
      const tables = Array.from({ length: TABLES }, (_, i) => `sbtest.sbtest${i + 1}`);
      for (const [name, root] of [
        ["pairgate+audit", ROOT],
        ...(o.baseline ? [["baseline+audit", o.baseline] as const] : []),
      ] as const) {
        const [auditPort, auditAdmin] = await freePorts(2);
        const auditFile = join(tmp, `${name}.config.json`);
        const cfg = pair.proxyConfig({
          listen: { port: auditPort },
          admin: { port: auditAdmin },
          instanceId: `bench-${name.replace("+", "-")}`,
          audit: {
            journalDir: join(tmp, `${name}-journal`),
            rules: [{ operation: "password_retrieval", tables, keyPattern: "id\\s*=\\s*(\\d+)" }],
          },
        }) as Record<string, unknown>;
        if (root !== ROOT) for (const key of NEWER_KEYS) delete cfg[key];
        writeFileSync(auditFile, `${JSON.stringify(cfg, null, 2)}\n`);
        await extraTarget(name, auditPort, [
          ...nodeArgs(),
          join(root, "bin", "pairgate.js"),
          "start",
          "--config",
          auditFile,
        ]);
      }
    }
    await waitForLogin(pair, haproxyPort, "HAProxy", haproxy);
    let pairgateIdleMiB = Number.NaN;
    try {
      await waitForLogin(pair, pair.listenPort, "pairgate", pairgate);
      pairgateIdleMiB = rssMiB(pairgate.pid);
      log(`pairgate is up (pid ${pairgate.pid}), RSS ${fmt(pairgateIdleMiB, 1)} MiB`);
    } catch (e) {
      targets[2]!.out = `did not start: ${(e as Error).message}`;
      log(`pairgate is left out: ${(e as Error).message}`);
    }
    const haproxyIdleMiB = rssMiB(haproxy.pid);
    const live = () => targets.filter((t) => t.out === null);
    const notes0: string[] = [];

    log("warm-up: 3 s of point selects through every target, in each protocol measured");
    for (const t of live()) {
      for (const psMode of o.protocols) {
        const w = await runSysbench("run", sbTarget(t.port), { ...base, threads: 8, time: 3, psMode });
        if (!w.ok) log(`warm-up via ${t.name} FAILED: ${w.errors.join(" | ")}`);
      }
    }
    const idleMiB = new Map(live().flatMap((t) => (t.proc ? [[t.name, rssMiB(t.proc.pid)] as const] : [])));
    if (o.baseline) notes0.push(`baseline: pairgate from ${o.baseline} at ${sourceRevision(o.baseline)}`);

    const all = cases(o);
    const samples = new Map<string, Sample[]>();
    const notes: string[] = notes0;
    for (let round = 1; round <= o.rounds; round++) {
      for (const [ci, c] of all.entries()) {
        const order = live();
        const shift = (round - 1 + ci) % Math.max(order.length, 1);
        const rotated = [...order.slice(shift), ...order.slice(0, shift)];
        for (const t of rotated) {
          if (t.out) continue;
          const before = t.proc ? cpuSeconds(t.proc.pid) : 0;
          const run = await runSysbench("run", sbTarget(t.port), {
            ...base,
            script: c.script,
            threads: c.threads,
            time: o.time,
            psMode: c.ps,
            percentile: 95,
          });
          const died = t.proc?.exitStatus();
          const after = t.proc && !died ? cpuSeconds(t.proc.pid) : before;
          const r = run.report;
          const error = run.ok ? null : run.errors.join(" | ") || `exit ${run.code ?? run.signal}`;
          const sample: Sample = {
            round,
            qps: r?.qps ?? Number.NaN,
            p95: r?.latencyPctMs ?? Number.NaN,
            cpuUsPerQuery: r && r.queries > 0 && t.proc ? ((after - before) / r.queries) * 1e6 : Number.NaN,
            error,
          };
          const k = `${c.script}/${c.threads}/${c.ps}/${t.name}`;
          samples.set(k, [...(samples.get(k) ?? []), sample]);
          log(
            `round ${round} ${label(c)} ×${c.threads} ${t.name}: ` +
              (error
                ? `FAILED: ${error}`
                : `${fmt(sample.qps)} qps, p95 ${fmt(sample.p95, 2)} ms` +
                  (t.proc ? `, ${fmt(sample.cpuUsPerQuery, 1)} µs CPU/query` : "")),
          );
          if (error) notes.push(`round ${round} ${label(c)} ×${c.threads} via ${t.name}: \`${error}\``);
          if (died) {
            t.out = `exited mid-bench (${died}); its log ends:\n${t.proc!.logTail(1500)}`;
            log(`${t.name} ${t.out}`);
          }
          await sleep(500);
        }
      }
    }

    const memory: MemoryReport[] = [];
    if (o.sessions > 0) {
      for (const t of live()) {
        if (!t.proc || t.name.endsWith("+audit") || t.name.startsWith("relay")) continue;
        const idle =
          t.name === "pairgate"
            ? pairgateIdleMiB
            : t.name === "haproxy"
              ? haproxyIdleMiB
              : idleMiB.get(t.name);
        memory.push(await measureMemory(pair, t, o.sessions, idle ?? Number.NaN));
        await sleep(1000);
      }
    }

    const md = report(
      o,
      machine,
      { mariadb, haproxy: haproxyVersion(haproxyBin), pairgate: revision },
      { start: loadAtStart, end: loadavg()[0]! },
      all,
      targets,
      samples,
      memory,
      notes,
      started,
    );
    const dir = join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, "-");
    const file = join(dir, `throughput-${stamp}${o.quick ? "-quick" : ""}.md`);
    writeFileSync(file, `${md.trimEnd()}\n`);
    process.stdout.write(`\n${md}\n`);
    log(
      `written to ${file} — copy the table into bench/README.md (with the machine line) when it is the latest.`,
    );
  } finally {
    log("tearing down: pairgate, HAProxy, the pair");
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    await pair.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
