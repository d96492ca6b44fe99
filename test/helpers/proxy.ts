/**
 * Runs a pairgate PairgateProxy in this process against a test pair, for integration tests; or, with
 * startProxyProcess, as a separate process (to read its memory, or to see that it did not crash).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mysql, { type Connection, type ConnectionOptions } from "mysql2/promise";
import { parseConfig } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { PairgateProxy } from "../../src/proxy.js";
import type { TestPair } from "./pair.js";
import { keepOutput, testLogger } from "./pairgate-log.js";
import { freePort } from "./ports.js";

export interface RunningProxy {
  proxy: PairgateProxy;
  port: number;
  /** A mysql2 connection through the proxy as the pair's app user. */
  connect(options?: ConnectionOptions): Promise<Connection>;
  stop(): Promise<void>;
}

export async function startProxy(
  pair: TestPair,
  raw: ConfigInput,
  file = `${pair.dir}/proxy.config.json`,
): Promise<RunningProxy> {
  const config = parseConfig(await ownAdminPort(pair, raw), file);
  // Its log lines are kept, and printed only if a test of this run fails (pairgate-log.ts).
  const { logger, source } = testLogger("in-process pairgate");
  const proxy = new PairgateProxy(config, logger);
  await proxy.start();
  const port = proxy.address!.port;
  source.label += `, port ${port}`;
  return {
    proxy,
    port,
    connect: (options = {}) => mysql.createConnection(appUserOptions(pair, port, options)),
    stop: () => proxy.stop(2000),
  };
}

/** pairgate run as a separate process (`pairgate start --config FILE`), so its memory can be read. */
export interface ProxyProcess {
  pid: number;
  port: number;
  child: ChildProcess;
  /** How it was started: the built CLI (bin/pairgate.js) or the sources through tsx. */
  command: string[];
  /** The process's resident set size in KiB, from /proc/<pid>/status (VmRSS); 0 once it is gone. */
  rssKiB(): number;
  /** Its peak RSS (VmHWM) in KiB. */
  hwmKiB(): number;
  /** Exit code or signal once it has exited; null while running. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The last 64 KiB of its stdout and stderr (logs), for failure messages. */
  output(): string;
  connect(options?: ConnectionOptions): Promise<Connection>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The command that runs pairgate's CLI as it is in src/ now: the built `bin/pairgate.js` when
 * dist/ is newer than every source file, else the sources through tsx (never a stale build).
 */
export function pairgateCommand(): string[] {
  // Another pairgate build to measure (bench/hostile.ts's before figures): a command line.
  const other = process.env.PAIRGATE_HOSTILE_CLI;
  if (other) return other.split(" ").filter((w) => w.length > 0);
  const cli = join(ROOT, "dist", "cli.js");
  if (existsSync(cli) && statSync(cli).mtimeMs >= newestMtime(join(ROOT, "src")))
    return [process.execPath, join(ROOT, "bin", "pairgate.js")];
  return [process.execPath, "--import", "tsx", join(ROOT, "test", "helpers", "pairgate-cli.ts")];
}

function readStatusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Waits until something accepts TCP connections on `port` and sends a first byte (the greeting). */
async function waitServing(port: number, timeoutMs: number, gone: () => string | null): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = gone();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: "127.0.0.1", port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.once("data", () => done(true));
      s.once("error", () => done(false));
      s.setTimeout(1000, () => done(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`pairgate did not serve on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startProxyProcess(
  pair: TestPair,
  raw: ConfigInput,
  file = `${pair.dir}/proxy-process-${Date.now()}.config.json`,
): Promise<ProxyProcess> {
  writeFileSync(file, JSON.stringify(await ownAdminPort(pair, raw), null, 2));
  const port = (raw.listen as { port: number }).port;
  const command = pairgateCommand();
  const child = spawn(command[0], [...command.slice(1), "start", "--config", file], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PAIRGATE_LOG_LEVEL: process.env.PAIRGATE_TEST_LOG ?? "warn" },
  });
  let out = "";
  const kept = keepOutput(`pairgate process ${child.pid}, port ${port}`);
  const keep = (d: Buffer) => {
    const text = d.toString();
    out = (out + text).slice(-65536);
    kept.write(text);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitPromise = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  const pid = child.pid!;
  const proc: ProxyProcess = {
    pid,
    port,
    child,
    command,
    rssKiB: () => readStatusKiB(pid, "VmRSS"),
    hwmKiB: () => readStatusKiB(pid, "VmHWM"),
    exit: () => exited,
    output: () => out,
    connect: (options = {}) => mysql.createConnection(appUserOptions(pair, port, options)),
    async stop(graceMs = 5000) {
      if (exited) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => {
        if (!exited) child.kill("SIGKILL");
      }, graceMs);
      await exitPromise;
      clearTimeout(t);
    },
  };
  try {
    await waitServing(port, 30_000, () =>
      exited ? `pairgate exited (${JSON.stringify(exited)}) before serving:\n${out}` : null,
    );
  } catch (e) {
    await proc.stop(1000);
    throw e;
  }
  return proc;
}

/**
 * Several proxies of one suite share the pair's default admin port: a proxy left on it gets a free
 * port of its own (tests read `proxy.adminPort`), so that the admin listeners never clash.
 */
async function ownAdminPort(pair: TestPair, raw: ConfigInput): Promise<ConfigInput> {
  const admin = (raw.admin ?? {}) as { port?: number };
  if (admin.port !== undefined && admin.port !== pair.adminPort) return raw;
  return { ...raw, admin: { ...raw.admin, port: await freePort() } };
}

/** mysql2 options for the pair's application user through a pairgate on `port`. */
export function appUserOptions(
  pair: TestPair,
  port: number,
  options: ConnectionOptions = {},
): ConnectionOptions {
  return {
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    ...options,
  };
}
