/**
 * `npm run bench:cpq` — pairgate's CPU time per query, build against build, with a fixed amount of
 * work: a closed loop of `--conns` client sessions, each sending its share of `--queries` point
 * selects one at a time, through each target in turn (the order rotates every round), many short
 * rounds. The figure is the proxy's CPU time (every thread's, in ns, from /proc/<pid>/task/* /schedstat)
 * over the queries: on a shared machine it moves far less than qps, because another engineer's load
 * makes pairgate wait, not work. Medians over rounds, and per round the ratio to the first target.
 *
 *   npm run bench:cpq -- --target mine=. --target main=/tmp/base-main --target fd=/tmp/base-fd3936b
 *   npm run bench:cpq -- --rounds 15 --queries 20000 --conns 8 --protocol binary --relay
 *
 * `--target NAME=DIR` starts DIR/bin/pairgate.js (a checkout with a built dist/); `--relay` adds the
 * bare byte relay (bench/lib/bare-relay.mjs over this checkout's dist/): the floor. `--rows N`: rows per
 * result (1 = sysbench's point select; more, to see per-row cost). PAIRGATE_BENCH_NODE_ARGS adds Node
 * options to every pairgate (e.g. --cpu-prof).
 */

import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mysql from "mysql2";
import { startPair } from "../test/helpers/pair.js";
import { freePort, freePorts } from "../test/helpers/ports.js";
import { type Managed, spawnManaged } from "./lib/children.js";
import { fmt, median } from "./lib/stats.js";
import { benchWorkspace } from "./lib/workspace.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const ROWS = 1000;
const NEWER_KEYS = ["stateDir"];

const log = (msg: string) => process.stderr.write(`cpq: ${msg}\n`);

/** CPU time of every thread of `pid`, in ns (first field of each task's schedstat). */
function cpuNs(pid: number): number {
  let total = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return total;
}

/** Dump callgrind's counters of `pid` now; the instructions (Ir) since they were last zeroed. */
function dumpedInstructions(pid: number, dir: string): number {
  const seen = new Set(readdirSync(dir));
  execFileSync("callgrind_control", ["-d", String(pid)]);
  const fresh = readdirSync(dir).filter((f) => !seen.has(f) && f.includes(`.${pid}.`));
  let total = 0;
  for (const f of fresh) {
    const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, f), "utf8"));
    total += Number(m?.[1] ?? 0);
  }
  return total;
}

/** Minor page faults and context switches (voluntary, involuntary) of `pid` so far. */
function faultsAndSwitches(pid: number): [number, number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const num = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  return [Number(fields[10 - 3]), num("voluntary_ctxt_switches"), num("nonvoluntary_ctxt_switches")];
}

interface Target {
  name: string;
  port: number;
  proc: Managed;
}

type Conn = mysql.Connection;

function connectAll(port: number, n: number, user: { username: string; password: string }): Promise<Conn[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Conn>((res, rej) => {
          const c = mysql.createConnection({
            host: HOST,
            port,
            user: user.username,
            password: user.password,
            database: "sbtest",
          });
          c.connect((e) => (e ? rej(e) : res(c)));
        }),
    ),
  );
}

/** Each connection sends `per` queries one after another; resolves when all are done. */
function drive(conns: Conn[], per: number, binary: boolean, rowsPer: number): Promise<void> {
  const sql =
    rowsPer === 1
      ? "SELECT c FROM sbtest1 WHERE id=?"
      : `SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? + ${rowsPer - 1}`;
  return Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((res, rej) => {
          let left = per;
          const next = () => {
            if (left-- === 0) return res();
            const id = 1 + Math.floor(Math.random() * (ROWS - rowsPer));
            const cb = (e: unknown) => (e ? rej(e) : next());
            if (binary) c.execute(sql, rowsPer === 1 ? [id] : [id, id], cb);
            else
              c.query(
                rowsPer === 1 ? `SELECT c FROM sbtest1 WHERE id=${id}` : sql.replaceAll("?", String(id)),
                cb,
              );
          };
          next();
        }),
    ),
  ).then(() => {});
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: "string", multiple: true },
      relay: { type: "boolean", default: false },
      rounds: { type: "string", default: "9" },
      queries: { type: "string", default: "16000" },
      conns: { type: "string", default: "8" },
      rows: { type: "string", default: "1" },
      protocol: { type: "string", default: "both" },
      out: { type: "string" },
      logs: { type: "string" },
      perf: { type: "string" },
      callgrind: { type: "string" },
      idle: { type: "string", default: "0" },
    },
  });
  const specs = (values.target ?? [`mine=${ROOT}`]).map((s) => {
    const [name, dir] = s.split("=");
    return { name: name!, dir: resolve(dir!) };
  });
  const rounds = Number(values.rounds);
  const queries = Number(values.queries);
  const nconns = Number(values.conns);
  const rowsPer = Number(values.rows);
  const protocols = values.protocol === "both" ? ["text", "binary"] : [values.protocol!];
  const nodeExtra = process.env.PAIRGATE_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const tmp = benchWorkspace("pairgate-cpq-", log);
  if (values.perf) mkdirSync(values.perf, { recursive: true });
  if (values.callgrind) mkdirSync(values.callgrind, { recursive: true });

  log("starting an isolated MariaDB pair");
  const pair = await startPair();
  const procs: Managed[] = [];
  try {
    const root = await pair.rootConnection("primary");
    await root.query("CREATE DATABASE IF NOT EXISTS sbtest");
    await root.query(
      "CREATE TABLE IF NOT EXISTS sbtest.sbtest1 (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)",
    );
    const rows = Array.from({ length: ROWS }, (_, i) => [
      i + 1,
      i * 7,
      `${i}-`.repeat(30).slice(0, 119),
      "p".repeat(59),
    ]);
    await root.query("INSERT IGNORE INTO sbtest.sbtest1 VALUES ?", [rows]);
    await root.end();

    const targets: Target[] = [];
    for (const s of specs) {
      const [port, admin] = await freePorts(2);
      // Each its own audit journal: two pairgates on one folder fight over its lock.
      const cfg = pair.proxyConfig({
        listen: { port },
        admin: { port: admin },
        instanceId: `cpq-${s.name}`,
        audit: { journalDir: join(tmp, `${s.name}-journal`) },
      }) as Record<string, unknown>;
      if (s.dir !== ROOT) for (const k of NEWER_KEYS) delete cfg[k];
      const file = join(tmp, `${s.name}.config.json`);
      writeFileSync(file, JSON.stringify(cfg));
      const nodeArgv = [
        "--max-semi-space-size=2",
        ...nodeExtra,
        join(s.dir, "bin", "pairgate.js"),
        "start",
        "--config",
        file,
      ];
      // --callgrind DIR: pairgate runs under valgrind; the figure is instructions per query (the
      // counters zeroed and dumped around each measured run), which no other load on the machine moves.
      const vg = values.callgrind
        ? [
            "--tool=callgrind",
            "--collect-atstart=yes",
            "--dump-instr=no",
            `--callgrind-out-file=${values.callgrind}/cg.${s.name}.%p`,
          ]
        : null;
      const proc = spawnManaged(
        s.name,
        vg ? "valgrind" : process.execPath,
        vg ? [...vg, process.execPath, ...nodeArgv] : nodeArgv,
        join(tmp, `${s.name}.log`),
      );
      procs.push(proc);
      targets.push({ name: s.name, port: port!, proc });
    }
    if (values.relay) {
      const port = await freePort(HOST);
      const proc = spawnManaged(
        "relay",
        process.execPath,
        [
          join(ROOT, "bench", "lib", "bare-relay.mjs"),
          String(port),
          pair.primary.host,
          String(pair.primary.port),
          "1",
        ],
        join(tmp, "relay.log"),
      );
      procs.push(proc);
      targets.push({ name: "relay", port, proc });
    }
    const conns = new Map<string, Conn[]>();
    for (const t of targets) {
      const until = Date.now() + (values.callgrind ? 300_000 : 30_000);
      for (;;) {
        try {
          conns.set(t.name, await connectAll(t.port, nconns, pair.appUser));
          break;
        } catch (e) {
          if (Date.now() > until || t.proc.exitStatus())
            throw new Error(`${t.name}: ${(e as Error).message}\n${t.proc.logTail()}`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      // warm-up: JIT, prepared statements, buffers
      for (const p of protocols) await drive(conns.get(t.name)!, 1500, p === "binary", rowsPer);
    }
    log(`targets up: ${targets.map((t) => `${t.name} (pid ${t.proc.pid})`).join(", ")}`);
    // --idle S: each proxy's CPU over S idle seconds (sessions open, no queries): background work.
    if (Number(values.idle) > 0) {
      const before = targets.map((t) => cpuNs(t.proc.pid));
      await new Promise((res) => setTimeout(res, Number(values.idle) * 1000));
      targets.forEach((t, i) => {
        log(
          `idle: ${t.name} ${fmt((cpuNs(t.proc.pid) - before[i]!) / 1e6 / Number(values.idle), 2)} ms CPU per second`,
        );
      });
    }
    const per = Math.ceil(queries / nconns);
    const samples = new Map<string, number[]>();
    const ratios = new Map<string, number[]>();
    const extra = new Map<string, number[][]>();
    for (let r = 0; r < rounds; r++) {
      for (const p of protocols) {
        const shift = r % targets.length;
        const order = [...targets.slice(shift), ...targets.slice(0, shift)];
        const got = new Map<string, number>();
        for (const t of order) {
          // --perf DIR: `perf record` of this target during its measured runs only (pair it with
          // PAIRGATE_BENCH_NODE_ARGS=--perf-basic-prof for JavaScript names).
          const rec = values.perf
            ? spawn(
                "perf",
                [
                  "record",
                  "-q",
                  "-F",
                  "4999",
                  "-g",
                  "-p",
                  String(t.proc.pid),
                  "-o",
                  join(values.perf, `${p}.${t.name}.r${r + 1}.data`),
                ],
                { stdio: "ignore" },
              )
            : null;
          if (rec) await new Promise((res) => setTimeout(res, 300));
          if (values.callgrind) execFileSync("callgrind_control", ["-z", String(t.proc.pid)]);
          // PAIRGATE_CPQ_SIGNAL=SIGUSR2: signalled before and after each measured run (a preload's toggle).
          const sig = process.env.PAIRGATE_CPQ_SIGNAL as NodeJS.Signals | undefined;
          if (sig) {
            process.kill(t.proc.pid, sig);
            await new Promise((res) => setTimeout(res, 200));
          }
          const fsBefore = faultsAndSwitches(t.proc.pid);
          const before = cpuNs(t.proc.pid);
          const t0 = process.hrtime.bigint();
          await drive(conns.get(t.name)!, per, p === "binary", rowsPer);
          const wall = Number(process.hrtime.bigint() - t0) / 1e9;
          let us = (cpuNs(t.proc.pid) - before) / 1e3 / (per * nconns);
          if (values.callgrind) us = dumpedInstructions(t.proc.pid, values.callgrind) / 1e3 / (per * nconns);
          got.set(t.name, us);
          const fsAfter = faultsAndSwitches(t.proc.pid);
          if (sig) process.kill(t.proc.pid, sig);
          const perQ = fsAfter.map((v, i) => (v - fsBefore[i]!) / (per * nconns));
          const k2 = `${p}/${t.name}`;
          extra.set(k2, [...(extra.get(k2) ?? []), perQ]);
          if (rec) {
            rec.kill("SIGINT");
            await new Promise((res) => rec.once("exit", res));
          }
          const k = `${p}/${t.name}`;
          samples.set(k, [...(samples.get(k) ?? []), us]);
          log(`round ${r + 1} ${p} ${t.name}: ${fmt(us, 2)} µs CPU/query, ${fmt((per * nconns) / wall)} qps`);
        }
        const ref = got.get(targets[0]!.name)!;
        for (const [n, us] of got) {
          const k = `${p}/${n}`;
          ratios.set(k, [...(ratios.get(k) ?? []), us / ref]);
        }
      }
    }
    const lines = [
      `${queries} queries × ${rounds} rounds, ${nconns} sessions, ${rowsPer} row(s) per result`,
      "| protocol | target | CPU µs/query (median) | min | max | ÷ first (median of rounds) | minor faults/query | voluntary switches/query | involuntary/query |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ];
    for (const p of protocols)
      for (const t of targets) {
        const s = samples.get(`${p}/${t.name}`)!;
        lines.push(
          `| ${p} | ${t.name} | ${fmt(median(s), 2)} | ${fmt(Math.min(...s), 2)} | ${fmt(Math.max(...s), 2)} | ${fmt(median(ratios.get(`${p}/${t.name}`)!), 3)} | ` +
            [0, 1, 2].map((i) => fmt(median(extra.get(`${p}/${t.name}`)!.map((x) => x[i]!)), 3)).join(" | ") +
            " |",
        );
      }
    const md = lines.join("\n");
    process.stdout.write(`${md}\n`);
    if (values.out) writeFileSync(values.out, `${md}\n`);
    for (const cs of conns.values()) for (const c of cs) c.destroy();
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    // --logs DIR: the proxies' logs (e.g. --trace-gc output) outlive the workspace.
    if (values.logs) {
      mkdirSync(values.logs, { recursive: true });
      for (const p of procs) copyFileSync(p.logFile, join(values.logs, `${p.name}.${p.pid}.log`));
    }
    await pair.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`cpq failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
