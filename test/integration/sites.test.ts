/**
 * Scenario 1 for real (issue 24): `pairgate lab up --sites 2` — site A (the primary, pairgate A)
 * and site B (the secondary, pairgate B) with every cross-site path through the lab's WAN link —
 * then `lab wan cut`, `heal`, `blackhole`, `heal`, each with reads and writes running at both
 * sites through their pairgates. Everything is started the way the README says, through the CLI.
 *
 * Asserted: A never refuses a write and its longest write stall stays within the semi-sync timeout
 * + 1 s; B is read_only within 3 s of a cut (5 s of a blackhole), then serves every read and
 * answers every write with 1290; after a heal both sites are read_write within 10 s, the rows A
 * wrote during the outage are on the secondary, B's audit events are in the primary's table
 * exactly once, and the secondary has no GTID of its own. Both status pages are screenshotted
 * during the cut (headless Chromium). Figures are printed with a "figure:" prefix.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/config/load.js";
import { Lab, labOptionsFromConfig } from "../../src/lab/index.js";
import { LAB_SEMI_SYNC_TIMEOUT_MS } from "../../src/lab/mariadb.js";
import { pidsWithArg, signal } from "../../src/lab/process.js";
import { getJson, type SitesSpec } from "../../src/lab/sites.js";
import { wanCommand } from "../../src/lab/wan.js";
import { launchChromium } from "../helpers/browser.js";
import { freePorts } from "../helpers/ports.js";
import { pairgateCommand } from "../helpers/proxy.js";

const APP = { username: "pmpuser", password: "pmp-sites-secret" };
const SVC = { username: "pairgate_svc", password: "svc-sites-secret" };
const RUN = `r${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let configFile: string;
let ports: {
  primary: number;
  secondary: number;
  listenA: number;
  adminA: number;
  listenB: number;
  adminB: number;
};
let lab: Lab;

function cli(args: string[], timeoutMs = 120_000): Promise<string> {
  const cmd = pairgateCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], [...cmd.slice(1), ...args, "-c", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PAIRGATE_LOG_LEVEL: "warn" },
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
}

type Mode = "read_write" | "read_only" | "down";
async function mode(adminPort: number): Promise<Mode | null> {
  try {
    return (await getJson("127.0.0.1", adminPort, "/status")).mode as Mode;
  } catch {
    return null;
  }
}

/** Milliseconds from `t0` until the site's pairgate reports `want`; throws after `ms`. */
async function timeToMode(adminPort: number, want: Mode, t0: number, ms: number): Promise<number> {
  const deadline = t0 + ms + 5000;
  for (;;) {
    if ((await mode(adminPort)) === want) return Date.now() - t0;
    if (Date.now() > deadline) throw new Error(`admin ${adminPort}: not ${want} within ${ms + 5000} ms`);
    await sleep(50);
  }
}

interface Outcome {
  at: number;
  ms: number;
  ok: boolean;
  errno?: number;
  msg?: string;
}

/** One client at one site: a statement every `gapMs`, on one connection, reconnecting after a loss. */
class Load {
  readonly results: Outcome[] = [];
  private stopped = false;
  private done: Promise<void> | null = null;
  okRows = 0;

  constructor(
    readonly name: string,
    private readonly port: number,
    private readonly sql: (i: number) => string,
    private readonly gapMs = 25,
  ) {}

  start(): void {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let conn: Connection | null = null;
    for (let i = 0; !this.stopped; i++) {
      const at = Date.now();
      try {
        conn ??= await mysql.createConnection({
          host: "127.0.0.1",
          port: this.port,
          user: APP.username,
          password: APP.password,
          database: "passtrix",
          connectTimeout: 15_000,
        });
        await conn.query({ sql: this.sql(i), timeout: 15_000 });
        this.results.push({ at, ms: Date.now() - at, ok: true });
      } catch (e) {
        const err = e as { errno?: number; message: string; fatal?: boolean };
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
}

/** The four clients: a writer and a reader at each site. */
function startLoads() {
  const loads = {
    writeA: new Load(
      "write A",
      ports.listenA,
      (i) => `INSERT INTO passtrix.sites_rows (site, run, n) VALUES ('A', '${RUN}', ${i})`,
    ),
    readA: new Load("read A", ports.listenA, () => "SELECT COUNT(*) FROM passtrix.ptrx_resources"),
    writeB: new Load(
      "write B",
      ports.listenB,
      (i) => `INSERT INTO passtrix.sites_rows (site, run, n) VALUES ('B', '${RUN}', ${i})`,
      50,
    ),
    // An audited read (the lab's password_retrieval rule): every answered one is an event of site B.
    readB: new Load(
      "read B",
      ports.listenB,
      (i) =>
        `SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = ${(i % 30) + 1} /* app_user=${RUN} */`,
    ),
  };
  for (const l of Object.values(loads)) l.start();
  return loads;
}

function longestStall(results: Outcome[]): number {
  return results.reduce((m, r) => Math.max(m, r.ms), 0);
}

function describeFailures(results: Outcome[]): string {
  const f = results.filter((r) => !r.ok);
  return f
    .slice(0, 5)
    .map((r) => `${r.errno ?? "?"} ${r.msg}`)
    .join("; ");
}

async function screenshots(tag: string): Promise<{ a: string; b: string }> {
  const browser = await launchChromium();
  const shots = join(tmpdir(), "pairgate-sites-screens");
  mkdirSync(shots, { recursive: true });
  try {
    const texts: Record<string, string> = {};
    for (const [site, port] of [
      ["a", ports.adminA],
      ["b", ports.adminB],
    ] as const) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector("#connection-status", { timeout: 10_000 });
      await sleep(300);
      const file = join(shots, `${tag}-site-${site}.png`);
      await page.screenshot({ path: file, fullPage: true });
      texts[site] = (await page.textContent("body")) ?? "";
      console.log(`figure: screenshot ${file}`);
    }
    return { a: texts.a, b: texts.b };
  } finally {
    await browser.close();
  }
}

async function wanSince(): Promise<number> {
  const spec = JSON.parse(readFileSync(join(dir, "lab", "sites.json"), "utf8")) as SitesSpec;
  return (await wanCommand(spec.wan.controlPort, "status")).since;
}

async function secondaryHasRows(ns: number[]): Promise<number[]> {
  const c = await lab.rootConnection("secondary");
  try {
    const [rows] = await c.query<RowDataPacket[]>(
      "SELECT n FROM passtrix.sites_rows WHERE site = 'A' AND run = ?",
      [RUN],
    );
    const have = new Set(rows.map((r) => Number(r.n)));
    return ns.filter((n) => !have.has(n));
  } finally {
    await c.end();
  }
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), "pairgate-sites-"));
  const [primary, secondary, listenA, adminA, listenB, adminB] = await freePorts(6);
  ports = { primary, secondary, listenA, adminA, listenB, adminB };
  configFile = join(dir, "proxy.config.json");
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        listen: { host: "127.0.0.1", port: listenA },
        admin: { host: "127.0.0.1", port: adminA },
        primary: { host: "127.0.0.1", port: primary, user: SVC.username, password: SVC.password },
        secondary: { host: "127.0.0.1", port: secondary, user: SVC.username, password: SVC.password },
        users: [APP],
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
  lab = new Lab(labOptionsFromConfig(loadConfig(configFile)));
});

test.after(async () => {
  try {
    await cli(["lab", "down"], 60_000);
  } catch (e) {
    console.log(`lab down failed: ${(e as Error).message}`);
  }
  // Safety net: anything of this lab still running (its files are in the command lines).
  for (const f of ["site-a/pairgate.config.json", "site-b/pairgate.config.json", "wan.json"])
    for (const pid of pidsWithArg(join(dir, "lab", f))) signal(pid, "SIGKILL");
  for (const role of ["primary", "secondary"] as const)
    for (const pid of pidsWithArg(`--defaults-file=${lab.optionFile(role)}`)) signal(pid, "SIGKILL");
  if (process.env.PAIRGATE_KEEP_PAIR !== "1") rmSync(dir, { recursive: true, force: true });
});

test("two sites: cut, heal, blackhole, heal with load at both sites", async () => {
  const up = await cli([
    "lab",
    "up",
    "--sites",
    "2",
    "--site-b-listen",
    String(ports.listenB),
    "--site-b-admin",
    String(ports.adminB),
  ]);
  assert.match(up, /Scenario 1/);
  assert.match(up, new RegExp(`site B http://127.0.0.1:${ports.adminB}/`));
  assert.is(await mode(ports.adminA), "read_write");
  assert.is(await mode(ports.adminB), "read_write");
  {
    const c = await lab.rootConnection("primary");
    await c.query(
      "CREATE TABLE IF NOT EXISTS passtrix.sites_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, site CHAR(1), run VARCHAR(16), n INT, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))",
    );
    await c.end();
  }
  const status = await cli(["lab", "status"]);
  assert.match(status, /site A .*\n.*mode READ_WRITE/);
  assert.match(status, /WAN link {2}up/);

  const loads = startLoads();
  const allLoads = Object.values(loads);
  try {
    await sleep(1500);
    for (const l of allLoads)
      assert.ok(
        l.results.some((r) => r.ok),
        `${l.name} works before the outage`,
      );

    for (const fault of ["cut", "blackhole"] as const) {
      const bound = fault === "cut" ? 3000 : 5000;
      await cli(["lab", "wan", fault]);
      // The moment the link changed (the CLI's own start-up is not part of the detection).
      const t0 = await wanSince();
      const toRo = await timeToMode(ports.adminB, "read_only", t0, bound);
      const tRo = t0 + toRo;
      console.log(`figure: ${fault}: site B read_only after ${toRo} ms`);
      assert.ok(toRo <= bound, `${fault}: B read_only after ${toRo} ms (bound ${bound})`);
      assert.is(await mode(ports.adminA), "read_write", "A stays read_write");
      await sleep(4000);
      if (fault === "cut") {
        const text = await screenshots("cut");
        assert.match(text.a, /Alive/);
        assert.match(text.a, /NOT lossless/i);
        assert.match(text.a, /unreachable from here/);
        assert.match(text.b, /Read-only/);
        assert.match(text.b, /last contact with the primary/);
        const st = await cli(["lab", "status"]);
        assert.match(st, /CUT/);
        console.log(st);
      }
      const tHeal = Date.now();
      // During the outage: B's reads all answered, B's writes all 1290.
      const readsB = loads.readB.between(tRo, tHeal);
      const writesB = loads.writeB.between(tRo, tHeal);
      assert.ok(readsB.length >= 10, `${readsB.length} reads at B during the ${fault}`);
      assert.is(readsB.filter((r) => !r.ok).length, 0, `failed reads at B: ${describeFailures(readsB)}`);
      assert.ok(writesB.length >= 5, `${writesB.length} writes at B during the ${fault}`);
      assert.ok(
        writesB.every((r) => !r.ok && r.errno === 1290),
        `writes at B not answered 1290: ${describeFailures(writesB.filter((r) => r.errno !== 1290))}`,
      );
      const writesADuring = loads.writeA.between(t0, tHeal);
      const doneA = writesADuring.filter((r) => r.ok);
      assert.ok(doneA.length >= 10, `${doneA.length} writes at A during the ${fault}`);

      await cli(["lab", "wan", "heal"]);
      const t1 = await wanSince();
      const [backA, backB] = await Promise.all([
        timeToMode(ports.adminA, "read_write", t1, 10_000),
        timeToMode(ports.adminB, "read_write", t1, 10_000),
      ]);
      console.log(`figure: ${fault} healed: A read_write after ${backA} ms, B after ${backB} ms`);
      assert.ok(backB <= 10_000, `B read_write ${backB} ms after heal`);
      // B went back only once the secondary had caught up: A's rows from the outage are there now.
      const firstOkA = loads.writeA.results.findIndex((r) => r.at >= t0);
      const ns = loads.writeA.results
        .map((r, i) => ({ r, i }))
        .filter(({ r, i }) => r.ok && i >= firstOkA && r.at < tHeal)
        .map(({ i }) => i);
      const missing = await secondaryHasRows(ns);
      assert.equal(missing, [], `rows written at A during the ${fault} missing on the secondary`);
      await sleep(1500);
    }
  } finally {
    for (const l of allLoads) await l.stop();
  }

  // A: never refused a write; its longest stall within the semi-sync timeout + 1 s.
  const failedA = loads.writeA.results.filter((r) => !r.ok);
  assert.is(failedA.length, 0, `writes refused at A: ${describeFailures(failedA)}`);
  const stallA = longestStall(loads.writeA.results);
  console.log(
    `figure: A: ${loads.writeA.results.length} writes, longest ${stallA} ms (semi-sync timeout ${LAB_SEMI_SYNC_TIMEOUT_MS} ms)`,
  );
  assert.ok(stallA <= LAB_SEMI_SYNC_TIMEOUT_MS + 1000, `A's longest write took ${stallA} ms`);
  assert.is(
    loads.readA.results.filter((r) => !r.ok).length,
    0,
    `reads failed at A: ${describeFailures(loads.readA.results)}`,
  );

  // B's audit events: each answered audited read is in the primary's table exactly once.
  const answered = loads.readB.results.filter((r) => r.ok).length;
  const primary = await lab.rootConnection("primary");
  try {
    let n = -1;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const [rows] = await primary.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM passtrix.pairgate_audit WHERE site = 'site-b' AND app_user = ? AND operation = 'password_retrieval' AND outcome = 'ok'",
        [RUN],
      );
      n = Number(rows[0].n);
      if (n >= answered) break;
      await sleep(250);
    }
    console.log(`figure: B: ${answered} audited reads answered, ${n} events delivered to the primary`);
    assert.is(n, answered, "B's audit events in the primary's table exactly once");
  } finally {
    await primary.end();
  }

  // Nothing diverged: the secondary has no transaction of its own.
  const sec = await lab.rootConnection("secondary");
  try {
    const [rows] = await sec.query<RowDataPacket[]>("SELECT @@GLOBAL.gtid_binlog_pos AS b");
    const own = String(rows[0].b)
      .split(",")
      .filter((g) => g && g.split("-")[1] !== "1");
    assert.equal(own, [], `the secondary's own GTIDs: ${rows[0].b}`);
  } finally {
    await sec.end();
  }
  const logB = readFileSync(join(dir, "lab", "site-b", "pairgate.log"), "utf8");
  assert.ok(!/transactions of its own/.test(logB), "no local-writes alarm at B");
});

test.run();
