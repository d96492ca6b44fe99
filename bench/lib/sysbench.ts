/**
 * Running sysbench 1.0 (its bundled OLTP Lua scripts) against a MySQL endpoint and reading its
 * report. Runs are asynchronous child processes with a hard time limit, so a proxy that hangs
 * cannot hang the bench, and Ctrl-C still reaches our teardown.
 */
import { spawn } from "node:child_process";

export interface SysbenchTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  db: string;
}

export interface SysbenchOptions {
  /** A bundled script name: oltp_point_select, oltp_read_only, ... */
  script: string;
  tables: number;
  tableSize: number;
  threads?: number;
  /** Seconds of a `run`. */
  time?: number;
  /** "disable" = the text protocol (COM_QUERY), like JDBC's default; "auto" = server-side prepared statements. */
  psMode?: "disable" | "auto";
  percentile?: number;
}

/** What sysbench's report says about a run. */
export interface SysbenchReport {
  queries: number;
  qps: number;
  transactions: number;
  tps: number;
  /** The latency percentile asked for (per event: one query for point_select, one transaction for read_only), ms. */
  latencyPctMs: number;
  latencyAvgMs: number;
  seconds: number;
  ignoredErrors: number;
  reconnects: number;
}

export interface SysbenchOutcome {
  ok: boolean;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  report: SysbenchReport | null;
  /** sysbench's own error lines (FATAL / error) exactly as printed, or the reason the report is missing. */
  errors: string[];
}

/** sysbench's numbers: "123", "12.34", sometimes with a trailing unit ("10.0012s"). */
function num(re: RegExp, text: string): number | null {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Parses the end-of-run report of sysbench 1.0.x. Returns null when a field the bench needs is
 * missing (a run that died before its report). Tolerant of spacing, of CRLF, and of the
 * per-second rate that follows a count.
 */
export function parseSysbenchReport(output: string): SysbenchReport | null {
  const text = output.replace(/\r/g, "");
  // "queries:   123456 (12345.67 per sec.)" — the line under "SQL statistics", not "queries performed:".
  const q = /^\s*queries:\s+(\d+)\s+\(\s*([\d.]+)\s+per sec\.\)/m.exec(text);
  const t = /^\s*transactions:\s+(\d+)\s+\(\s*([\d.]+)\s+per sec\.\)/m.exec(text);
  const pct = num(/^\s*\d+(?:\.\d+)?(?:th|st|nd|rd) percentile:\s+([\d.]+)/m, text);
  const avg = num(/^\s*avg:\s+([\d.]+)/m, text);
  const seconds = num(/^\s*total time:\s+([\d.]+)s/m, text);
  if (!q || !t || pct === null || seconds === null) return null;
  return {
    queries: Number(q[1]),
    qps: Number(q[2]),
    transactions: Number(t[1]),
    tps: Number(t[2]),
    latencyPctMs: pct,
    latencyAvgMs: avg ?? Number.NaN,
    seconds,
    ignoredErrors: num(/^\s*ignored errors:\s+(\d+)/m, text) ?? 0,
    reconnects: num(/^\s*reconnects:\s+(\d+)/m, text) ?? 0,
  };
}

/** The lines of sysbench's output that report a failure, verbatim (deduplicated, at most 10). */
export function errorLines(output: string): string[] {
  const seen = new Set<string>();
  for (const line of output.replace(/\r/g, "").split("\n")) {
    const l = line.trim();
    if (/FATAL|error|Error|failed|Lost connection|Can't connect/.test(l) && !/^ignored errors:/.test(l))
      seen.add(l);
    if (seen.size >= 10) break;
  }
  return [...seen];
}

export function sysbenchArgs(
  command: "prepare" | "run" | "cleanup",
  target: SysbenchTarget,
  o: SysbenchOptions,
): string[] {
  const args = [
    o.script,
    "--db-driver=mysql",
    `--mysql-host=${target.host}`,
    `--mysql-port=${target.port}`,
    `--mysql-user=${target.user}`,
    `--mysql-password=${target.password}`,
    `--mysql-db=${target.db}`,
    `--tables=${o.tables}`,
    `--table-size=${o.tableSize}`,
  ];
  if (command === "run") {
    args.push(
      `--threads=${o.threads ?? 1}`,
      `--time=${o.time ?? 10}`,
      "--events=0",
      "--report-interval=0",
      `--percentile=${o.percentile ?? 95}`,
      `--db-ps-mode=${o.psMode ?? "disable"}`,
    );
  }
  args.push(command);
  return args;
}

/** Runs sysbench; never rejects for a failed run (see `ok` and `errors`), only when it cannot start. */
export function runSysbench(
  command: "prepare" | "run" | "cleanup",
  target: SysbenchTarget,
  o: SysbenchOptions,
  limitMs = ((o.time ?? 10) + 60) * 1000,
): Promise<SysbenchOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn("sysbench", sysbenchArgs(command, target, o), { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run sysbench: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const report = command === "run" ? parseSysbenchReport(output) : null;
      const errors = errorLines(output);
      if (timedOut) errors.unshift(`sysbench ran past ${limitMs} ms and was killed`);
      else if (command === "run" && !report && errors.length === 0)
        errors.push(`no report in sysbench's output (exit ${code ?? signal})`);
      const ok = code === 0 && !timedOut && (command !== "run" || report !== null);
      resolve({ ok, code, signal, output, report, errors });
    });
  });
}
