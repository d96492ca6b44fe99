/**
 * The two-site lab for the sites test and bench/sites.ts: a config in a private temporary folder
 * on free ports, the CLI run as a user would (`pairgate lab … -c FILE`), the two pairgates' modes,
 * the WAN link's clock, and one client's load loop. `stop()` runs `lab down` and kills whatever
 * of this lab still runs (found by the files in its command lines).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql, { type Connection } from "mysql2/promise";
import { loadConfig } from "../../src/config/load.js";
import { Lab, labOptionsFromConfig } from "../../src/lab/index.js";
import { pidsWithArg, signal } from "../../src/lab/process.js";
import { getJson, type SitesSpec } from "../../src/lab/sites.js";
import { wanCommand } from "../../src/lab/wan.js";
import { freePorts } from "./ports.js";
import { pairgateCommand } from "./proxy.js";

export const SITES_APP = { username: "pmpuser", password: "pmp-sites-secret" };
const SVC = { username: "pairgate_svc", password: "svc-sites-secret" };
export type SiteMode = "read_write" | "read_only" | "down";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SitesPorts {
  primary: number;
  secondary: number;
  listenA: number;
  adminA: number;
  listenB: number;
  adminB: number;
}

export interface SitesRun {
  dir: string;
  configFile: string;
  ports: SitesPorts;
  lab: Lab;
  /** `pairgate <args> -c <config>`; resolves with its output, rejects on a non-zero exit. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** `lab up --sites 2` on this run's ports. */
  up(extra?: string[]): Promise<string>;
  mode(adminPort: number): Promise<SiteMode | null>;
  /** Milliseconds from `t0` until the site reports `want`; throws `slackMs` after `ms`. */
  timeToMode(adminPort: number, want: SiteMode, t0: number, ms: number, slackMs?: number): Promise<number>;
  /** When the WAN link last changed state (epoch ms, the link's clock = this machine's). */
  wanSince(): Promise<number>;
  stop(): Promise<void>;
}

export async function createSitesRun(): Promise<SitesRun> {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-sites-"));
  const [primary, secondary, listenA, adminA, listenB, adminB] = await freePorts(6);
  const ports = { primary, secondary, listenA, adminA, listenB, adminB };
  const configFile = join(dir, "proxy.config.json");
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        listen: { host: "127.0.0.1", port: listenA },
        admin: { host: "127.0.0.1", port: adminA },
        primary: { host: "127.0.0.1", port: primary, user: SVC.username, password: SVC.password },
        secondary: { host: "127.0.0.1", port: secondary, user: SVC.username, password: SVC.password },
        users: [SITES_APP],
        lab: { dir: "lab" },
        monitor: { intervalMs: 250, connectTimeoutMs: 500, queryTimeoutMs: 500, fall: 2, rise: 2 },
        audit: {
          journalDir: "audit",
          table: "passtrix.pairgate_audit",
          rules: [
            {
              operation: "password_retrieval",
              tables: ["passtrix.ptrx_passwords"],
              keyPattern: "account_id\\s*=\\s*(\\d+)",
              appUserTag: "app_user",
            },
          ],
        },
        site: "site-a",
      },
      null,
      2,
    ),
  );
  const lab = new Lab(labOptionsFromConfig(loadConfig(configFile)));
  const cli = (args: string[], timeoutMs = 120_000) => {
    const cmd = pairgateCommand();
    return new Promise<string>((resolve, reject) => {
      const child = spawn(cmd[0], [...cmd.slice(1), ...args, "-c", configFile], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PAIRGATE_LOG_LEVEL: process.env.PAIRGATE_TEST_LOG ?? "info" },
      });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        out += d;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`pairgate ${args.join(" ")} exited ${code}:\n${out}`));
      });
    });
  };
  const mode = async (adminPort: number): Promise<SiteMode | null> => {
    try {
      return (await getJson("127.0.0.1", adminPort, "/status")).mode as SiteMode;
    } catch {
      return null;
    }
  };
  return {
    dir,
    configFile,
    ports,
    lab,
    cli,
    up: (extra = []) =>
      cli([
        "lab",
        "up",
        "--sites",
        "2",
        "--site-b-listen",
        String(listenB),
        "--site-b-admin",
        String(adminB),
        ...extra,
      ]),
    mode,
    async timeToMode(adminPort, want, t0, ms, slackMs = 5000) {
      const deadline = t0 + ms + slackMs;
      for (;;) {
        if ((await mode(adminPort)) === want) return Date.now() - t0;
        if (Date.now() > deadline)
          throw new Error(`admin ${adminPort}: not ${want} within ${ms + slackMs} ms`);
        await sleep(50);
      }
    },
    async wanSince() {
      const spec = JSON.parse(readFileSync(join(dir, "lab", "sites.json"), "utf8")) as SitesSpec;
      return (await wanCommand(spec.wan.controlPort, "status")).since;
    },
    async stop() {
      try {
        await cli(["lab", "down"], 60_000);
      } catch (e) {
        process.stderr.write(`lab down failed: ${(e as Error).message}\n`);
      }
      for (const f of ["site-a/pairgate.config.json", "site-b/pairgate.config.json", "wan.json"])
        for (const pid of pidsWithArg(join(dir, "lab", f))) signal(pid, "SIGKILL");
      for (const role of ["primary", "secondary"] as const)
        for (const pid of pidsWithArg(`--defaults-file=${lab.optionFile(role)}`)) signal(pid, "SIGKILL");
      if (process.env.PAIRGATE_KEEP_PAIR !== "1") rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Outcome {
  /** When the statement was sent (epoch ms) and how long its answer took. */
  at: number;
  ms: number;
  ok: boolean;
  errno?: number;
  msg?: string;
}

/** One client at one site: a statement every `gapMs` on one connection, a new one after a loss. */
export class SiteLoad {
  readonly results: Outcome[] = [];
  private stopped = false;
  private done: Promise<void> | null = null;

  constructor(
    readonly name: string,
    private readonly port: number,
    private readonly sql: (i: number) => string,
    private readonly gapMs = 25,
  ) {}

  start(): this {
    this.done = this.run();
    return this;
  }

  private async run(): Promise<void> {
    let conn: Connection | null = null;
    for (let i = 0; !this.stopped; i++) {
      const at = Date.now();
      try {
        conn ??= await mysql.createConnection({
          host: "127.0.0.1",
          port: this.port,
          user: SITES_APP.username,
          password: SITES_APP.password,
          database: "passtrix",
          connectTimeout: 15_000,
        });
        await conn.query({ sql: this.sql(i), timeout: 15_000 });
        this.results.push({ at, ms: Date.now() - at, ok: true });
      } catch (e) {
        const err = e as { errno?: number; message: string };
        this.results.push({ at, ms: Date.now() - at, ok: false, errno: err.errno, msg: err.message });
        if (err.errno !== 1290) {
          conn?.destroy();
          conn = null;
        }
      }
      await sleep(this.gapMs);
    }
    conn?.destroy();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  between(from: number, to: number): Outcome[] {
    return this.results.filter((r) => r.at >= from && r.at < to);
  }

  /** The longest time a statement took (ms). */
  longest(from = 0, to = Number.POSITIVE_INFINITY): number {
    return this.between(from, to).reduce((m, r) => Math.max(m, r.ms), 0);
  }
}

/** The table the writers write (created on the primary; replicated). */
export const SITES_TABLE_DDL =
  "CREATE TABLE IF NOT EXISTS passtrix.sites_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, site CHAR(1), run VARCHAR(16), n INT, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))";

/** A writer and a reader at each site; B's reads are audited (the lab's password_retrieval rule). */
export function startSiteLoads(ports: SitesPorts, run: string, gapMs = 25) {
  return {
    writeA: new SiteLoad(
      "write A",
      ports.listenA,
      (i) => `INSERT INTO passtrix.sites_rows (site, run, n) VALUES ('A', '${run}', ${i})`,
      gapMs,
    ).start(),
    readA: new SiteLoad(
      "read A",
      ports.listenA,
      () => "SELECT COUNT(*) FROM passtrix.ptrx_resources",
      gapMs,
    ).start(),
    writeB: new SiteLoad(
      "write B",
      ports.listenB,
      (i) => `INSERT INTO passtrix.sites_rows (site, run, n) VALUES ('B', '${run}', ${i})`,
      gapMs * 2,
    ).start(),
    readB: new SiteLoad(
      "read B",
      ports.listenB,
      (i) =>
        `SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = ${(i % 30) + 1} /* app_user=${run} */`,
      gapMs,
    ).start(),
  };
}

export function describeFailures(results: Outcome[]): string {
  return results
    .filter((r) => !r.ok)
    .slice(0, 5)
    .map((r) => `${r.errno ?? "?"} ${r.msg}`)
    .join("; ");
}
