/**
 * Standalone MariaDB servers for the replication tests: binlog, GTID and TLS configured as in the
 * lab, but no replication, no demo data and no users beyond root and one TCP admin account —
 * "two fresh servers" for `pairgate replication setup`.
 *
 * Built from src/lab's pieces: each server is a `Lab` of which only the primary role is ever
 * started (its data dir copied from the cached template, its option file rendered by
 * `renderOptionFile`), and all servers share one CA, so a single `--ssl-ca` verifies every one.
 * A private temporary folder, free ports, always torn down — by `stop()`, and on process exit.
 *
 *   const servers = await startServers(2);
 *   try { ... servers.list[0].endpoint ... } finally { await servers.stop(); }
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Connection, ConnectionOptions } from "mysql2/promise";
import mysql from "mysql2/promise";
import { Lab } from "../../src/lab/index.js";
import { copyTemplate, mariadbBinaries, renderOptionFile, runningAsRoot } from "../../src/lab/mariadb.js";
import { pidsWithArg, signal } from "../../src/lab/process.js";
import { ensureTls } from "../../src/lab/tls.js";
import { freePorts } from "./ports.js";

export const ADMIN_USER = { username: "pairgate_admin", password: "admin-test-secret" };

export interface StandaloneServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly serverId: number;
  /** "HOST:PORT", as the replication commands take it. */
  readonly endpoint: string;
  readonly lab: Lab;
  /** A root session over the unix socket. */
  rootConnection(): Promise<Connection>;
  /** A TCP session as the admin account. */
  adminConnection(options?: ConnectionOptions): Promise<Connection>;
  kill(): Promise<void>;
}

export interface Servers {
  readonly dir: string;
  readonly caFile: string;
  readonly list: StandaloneServer[];
  stop(): Promise<void>;
}

export interface StartServersOptions {
  /** server_id of each server; 1, 2, 3… unless given (equal ids make a setup refuse). */
  serverIds?: number[];
  keep?: boolean;
  /**
   * Indexes of servers whose data directory is `mariadb-install-db`'s own output, untouched (its
   * `test` database, anonymous accounts and socket-authenticated root included), instead of the
   * lab's cleaned template. Only the admin account is added, as a person would before a setup.
   */
  freshInstall?: number[];
}

/** `mariadb-install-db` with its defaults into `dataDir` (only --user=root when run as root). */
function installDb(dataDir: string): void {
  const bin = mariadbBinaries();
  const r = spawnSync(
    bin.installDb,
    ["--no-defaults", `--datadir=${dataDir}`, ...(runningAsRoot ? ["--user=root"] : [])],
    { encoding: "utf8" },
  );
  if (r.status !== 0)
    throw new Error(`mariadb-install-db failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

const live = new Set<{ labs: Lab[]; dir: string; keep: boolean }>();
let hooked = false;

function killNow(lab: Lab): void {
  for (const pid of pidsWithArg(`--defaults-file=${lab.optionFile("primary")}`)) signal(pid, "SIGKILL");
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const s of live) {
      for (const lab of s.labs) killNow(lab);
      if (!s.keep) rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

export async function startServers(n: number, opts: StartServersOptions = {}): Promise<Servers> {
  hook();
  const keep = opts.keep ?? process.env.PAIRGATE_KEEP_PAIR === "1";
  const host = "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "pairgate-servers-"));
  const tls = ensureTls(join(dir, "tls"), host);
  const ports = await freePorts(2 * n, host);
  const labs: Lab[] = [];
  const entry = { labs, dir, keep };
  live.add(entry);
  const list: StandaloneServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `s${i + 1}`;
      const port = ports[2 * i];
      const serverId = opts.serverIds?.[i] ?? i + 1;
      const lab = new Lab({
        dir: join(dir, name),
        host,
        primaryPort: port,
        // Never started: a Lab wants two ports, only its primary role runs here.
        secondaryPort: ports[2 * i + 1],
        appUser: { username: "unused", password: "unused" },
        serviceUser: { username: "unused", password: "unused" },
      });
      labs.push(lab);
      mkdirSync(join(lab.dir, "primary"), { recursive: true, mode: 0o700 });
      if (opts.freshInstall?.includes(i)) installDb(lab.spec("primary").dataDir);
      else copyTemplate(lab.spec("primary").dataDir);
      writeFileSync(
        lab.optionFile("primary"),
        renderOptionFile({
          role: "primary",
          serverId,
          host,
          port,
          dataDir: lab.spec("primary").dataDir,
          socket: lab.socketPath("primary"),
          pidFile: lab.pidFile("primary"),
          errorLog: lab.errorLog("primary"),
          tls: { ca: tls.ca, cert: tls.cert, key: tls.key },
        }),
      );
      list.push({
        name,
        host,
        port,
        serverId,
        endpoint: `${host}:${port}`,
        lab,
        rootConnection: () => lab.rootConnection("primary"),
        adminConnection: (options = {}) =>
          mysql.createConnection({
            host,
            port,
            user: ADMIN_USER.username,
            password: ADMIN_USER.password,
            ...options,
          }),
        kill: () => lab.kill("primary"),
      });
    }
    await Promise.all(
      list.map(async (s) => {
        await s.lab.start("primary");
        const root = await s.rootConnection();
        try {
          // Outside the binlog: a fresh server's own history stays empty, as after installation.
          await root.query("SET SESSION sql_log_bin = 0");
          await root.query("CREATE USER ?@'%' IDENTIFIED BY ?", [ADMIN_USER.username, ADMIN_USER.password]);
          await root.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [ADMIN_USER.username]);
        } finally {
          await root.end();
        }
      }),
    );
  } catch (e) {
    for (const lab of labs) await lab.down().catch(() => killNow(lab));
    live.delete(entry);
    if (!keep) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  return {
    dir,
    caFile: tls.ca,
    list,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await Promise.all(labs.map((lab) => lab.down().catch(() => killNow(lab))));
      } finally {
        live.delete(entry);
        if (!keep) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `pairgate <args>` as a separate process, run from the sources (the same `main` that
 * bin/pairgate.js runs from dist/), so a CLI test never depends on how fresh dist/ is.
 */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout, stderr });
    });
  });
}

/** The same command line, started and left running (e.g. `start --config FILE`). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const cli = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli.ts")).href;
  const code = `const { main } = await import(${JSON.stringify(cli)}); await main(process.argv.slice(1));`;
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code, "--", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
