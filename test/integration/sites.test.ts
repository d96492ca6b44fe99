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
 * during the cut (headless Chromium; test-artifacts/sites-cut-site-a.png, -b.png). Figures are printed with a "figure:" prefix.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RowDataPacket } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LAB_SEMI_SYNC_TIMEOUT_MS } from "../../src/lab/mariadb.js";
import { launchChromium } from "../helpers/browser.js";
import {
  createSitesRun,
  describeFailures,
  SITES_TABLE_DDL,
  type SitesRun,
  startSiteLoads,
} from "../helpers/sites.js";

const RUN = `r${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let run: SitesRun;

async function screenshots(tag: string): Promise<{ a: string; b: string }> {
  const browser = await launchChromium();
  const shots = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
  mkdirSync(shots, { recursive: true });
  try {
    const texts: Record<string, string> = {};
    for (const [site, port] of [
      ["a", run.ports.adminA],
      ["b", run.ports.adminB],
    ] as const) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector("#connection-status", { timeout: 10_000 });
      await sleep(300);
      const file = join(shots, `sites-${tag}-site-${site}.png`);
      await page.screenshot({ path: file, fullPage: true });
      texts[site] = (await page.textContent("body")) ?? "";
      console.log(`figure: screenshot ${file}`);
    }
    return { a: texts.a, b: texts.b };
  } finally {
    await browser.close();
  }
}

async function secondaryHasRows(ns: number[]): Promise<number[]> {
  const c = await run.lab.rootConnection("secondary");
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
  run = await createSitesRun();
});

test.after(async () => {
  await run?.stop();
});

test("two sites: cut, heal, blackhole, heal with load at both sites", async () => {
  const { ports } = run;
  const up = await run.up();
  assert.match(up, /Scenario 1/);
  assert.match(up, new RegExp(`site B http://127.0.0.1:${ports.adminB}/`));
  assert.is(await run.mode(ports.adminA), "read_write");
  assert.is(await run.mode(ports.adminB), "read_write");
  {
    const c = await run.lab.rootConnection("primary");
    await c.query(SITES_TABLE_DDL);
    await c.end();
  }
  // `lab up` again changes nothing: the same pairgates and link keep running.
  const pids = async () =>
    JSON.parse(await run.cli(["lab", "status", "--json"])) as {
      wanPid: number;
      sites: Array<{ pid: number }>;
    };
  const before = await pids();
  await run.up();
  const after = await pids();
  assert.equal(
    [after.wanPid, ...after.sites.map((x) => x.pid)],
    [before.wanPid, ...before.sites.map((x) => x.pid)],
  );
  assert.ok(before.sites.every((x) => x.pid > 0));
  const status = await run.cli(["lab", "status"]);
  assert.match(status, /site A .*\n.*mode READ_WRITE/);
  assert.match(status, /WAN link {2}up/);

  const loads = startSiteLoads(ports, RUN);
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
      await run.cli(["lab", "wan", fault]);
      // The moment the link changed (the CLI's own start-up is not part of the detection).
      const t0 = await run.wanSince();
      const toRo = await run.timeToMode(ports.adminB, "read_only", t0, bound);
      const tRo = t0 + toRo;
      console.log(`figure: ${fault}: site B read_only after ${toRo} ms`);
      assert.ok(toRo <= bound, `${fault}: B read_only after ${toRo} ms (bound ${bound})`);
      assert.is(await run.mode(ports.adminA), "read_write", "A stays read_write");
      await sleep(4000);
      if (fault === "cut") {
        const text = await screenshots("cut");
        assert.match(text.a, /Alive/);
        assert.match(text.a, /NOT lossless/i);
        assert.match(text.a, /unreachable from here/);
        assert.match(text.b, /Read-only/);
        assert.match(text.b, /last contact with the primary/);
        const metrics = await (await fetch(`http://127.0.0.1:${ports.adminA}/metrics`)).text();
        assert.match(metrics, /^pairgate_replication_lossless(\{[^}]*\})? 0$/m, "A's metric: not lossless");
        const st = await run.cli(["lab", "status"]);
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

      await run.cli(["lab", "wan", "heal"]);
      const t1 = await run.wanSince();
      const [backA, backB] = await Promise.all([
        run.timeToMode(ports.adminA, "read_write", t1, 10_000),
        run.timeToMode(ports.adminB, "read_write", t1, 10_000),
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
  const stallA = loads.writeA.longest();
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
  const primary = await run.lab.rootConnection("primary");
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
  const sec = await run.lab.rootConnection("secondary");
  try {
    const [rows] = await sec.query<RowDataPacket[]>("SELECT @@GLOBAL.gtid_binlog_pos AS b");
    const own = String(rows[0].b)
      .split(",")
      .filter((g) => g && g.split("-")[1] !== "1");
    assert.equal(own, [], `the secondary's own GTIDs: ${rows[0].b}`);
  } finally {
    await sec.end();
  }
  const logA = readFileSync(join(run.dir, "lab", "site-a", "pairgate.log"), "utf8");
  assert.match(logA, /unreachable from here.*replication is NOT lossless/, "A's log says why");
  const logB = readFileSync(join(run.dir, "lab", "site-b", "pairgate.log"), "utf8");
  assert.ok(!/transactions of its own/.test(logB), "no local-writes alarm at B");
});

test.run();
