/**
 * Operating pairgate: metrics that move across a failover, SIGHUP reloads (a new primary port while
 * clients keep working; an invalid file refused), and a clean SIGTERM that flushes the audit journal.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Link } from "../helpers/link.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { startProxy, startProxyProcess } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };

function metricValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

test.before(async () => {
  pair = await startPair();
});

test.after(async () => {
  await pair?.stop();
});

test("metrics move across a failover and back", async () => {
  const px = await startProxy(pair, pair.proxyConfig({ monitor }));
  const scrape = async () => (await fetch(`http://127.0.0.1:${px.proxy.adminPort}/metrics`)).text();
  try {
    const c = await px.connect();
    await c.query("SELECT 1");
    let m = await scrape();
    assert.is(metricValue(m, 'pairgate_mode{mode="read_write"}'), 1);
    assert.is(metricValue(m, 'pairgate_backend_up{role="primary"}'), 1);
    assert.is(metricValue(m, "pairgate_failovers_total"), 0);
    assert.ok(metricValue(m, 'pairgate_queries_total{backend="primary",kind="read"}') >= 1);
    await pair.lab.kill("primary");
    await px.proxy.topology.waitFor("read_only", 10_000);
    await c.query("SELECT 1");
    await c.query("DELETE FROM ptrx_audit WHERE id < 0").catch(() => {});
    m = await scrape();
    assert.is(metricValue(m, 'pairgate_mode{mode="read_only"}'), 1);
    assert.is(metricValue(m, 'pairgate_mode{mode="read_write"}'), 0);
    assert.is(metricValue(m, 'pairgate_backend_up{role="primary"}'), 0);
    assert.is(metricValue(m, "pairgate_failovers_total"), 1);
    assert.is(metricValue(m, "pairgate_write_rejections_total"), 1);
    assert.ok(metricValue(m, 'pairgate_queries_total{backend="secondary",kind="read"}') >= 1);
    assert.ok(metricValue(m, "pairgate_failover_detection_seconds_count") >= 1);
    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 15_000);
    m = await scrape();
    assert.is(metricValue(m, "pairgate_failbacks_total"), 1);
    assert.is(metricValue(m, 'pairgate_mode{mode="read_write"}'), 1);
    await c.end();
  } finally {
    await px.stop();
  }
});

test("SIGHUP: a new primary port while clients keep working; an invalid file is refused and the old config stays", async () => {
  const link = await Link.start(pair.primary);
  const [listen, admin] = await freePorts(2);
  const file = join(pair.dir, "reload.config.json");
  const raw = pair.proxyConfig({
    listen: { port: listen },
    admin: { port: admin },
    audit: { journalDir: join(pair.dir, "audit-reload") },
  });
  const proc = await startProxyProcess(pair, raw, file);
  const c = await proc.connect();
  let ok = 0;
  const errors: string[] = [];
  let running = true;
  const load = (async () => {
    while (running) {
      try {
        const [rows] = await c.query("SELECT COUNT(*) AS n FROM ptrx_resources");
        if ((rows as { n: number }[])[0].n > 0) ok++;
      } catch (e) {
        errors.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    await until("some statements ran", async () => ok > 10);
    // The seed's note 2: the primary's port changes. Point pairgate at it and reload.
    const moved = JSON.parse(readFileSync(file, "utf8"));
    moved.primary.port = link.port;
    writeFileSync(file, JSON.stringify(moved));
    proc.child.kill("SIGHUP");
    await until("the session moved to the new port", async () => link.connections > 0, 10_000);
    const before = ok;
    await until("statements keep running after the move", async () => ok > before + 10);
    const status = (await (await fetch(`http://127.0.0.1:${admin}/status`)).json()) as {
      primary: { port: number };
    };
    assert.is(status.primary.port, link.port, "/status shows the backend as configured now");

    // An invalid file: refused with a log line, the running config stays.
    writeFileSync(file, JSON.stringify({ ...moved, primary: { ...moved.primary, port: "x" } }));
    proc.child.kill("SIGHUP");
    await until("the refusal is logged", async () => /config reload refused/.test(proc.output()), 10_000);
    assert.match(proc.output(), /primary\.port: expected a number, got \\"x\\"/);
    const after = ok;
    await until("still serving", async () => ok > after + 10);
    assert.is(proc.exit(), null, "pairgate still runs");
    assert.equal(errors, [], "no client statement failed across the reloads");
  } finally {
    running = false;
    await load;
    await c.end().catch(() => {});
    await proc.stop();
    await link.close();
  }
});

test("SIGHUP with new listen and admin ports: the open session keeps working, new clients use the new ports, the old ones close", async () => {
  const [listen, admin, listen2, admin2] = await freePorts(4);
  const file = join(pair.dir, "rebind.config.json");
  const raw = pair.proxyConfig({
    listen: { port: listen },
    admin: { port: admin },
    audit: { journalDir: join(pair.dir, "audit-rebind") },
  });
  const proc = await startProxyProcess(pair, raw, file);
  const c = await proc.connect();
  try {
    await c.query("SELECT 1");
    const moved = JSON.parse(readFileSync(file, "utf8"));
    moved.listen.port = listen2;
    moved.admin.port = admin2;
    writeFileSync(file, JSON.stringify(moved));
    proc.child.kill("SIGHUP");
    await until(
      "the admin answers on its new port",
      async () => (await fetch(`http://127.0.0.1:${admin2}/healthz`)).ok,
    );
    const fresh = await proc.connect({ port: listen2 });
    const [[row]] = (await fresh.query("SELECT @@server_id AS id")) as unknown as [{ id: number }[]];
    assert.is(row.id, 1, "a new client logs in through the new listen port");
    await fresh.end();
    const [[again]] = (await c.query("SELECT 2 AS two")) as unknown as [{ two: number }[]];
    assert.is(again.two, 2, "the session opened on the old port still works");
    const refused = await proc.connect({ port: listen, connectTimeout: 2000 }).then(
      async (x) => {
        await x.end();
        return null;
      },
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    assert.is(refused, "ECONNREFUSED", "the old listen port no longer accepts");
    const oldAdmin = await fetch(`http://127.0.0.1:${admin}/healthz`).then(
      () => "answered",
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    assert.is(oldAdmin, "ECONNREFUSED", "the old admin port is closed");
    const status = (await (await fetch(`http://127.0.0.1:${admin2}/status`)).json()) as {
      config?: { listen?: { port: number } };
    };
    assert.is(status.config?.listen?.port, listen2, "/status names the new listen address");
  } finally {
    await c.end().catch(() => {});
    await proc.stop();
  }
});

test("SIGTERM: statements in flight finish, sessions close, the audit journal is flushed, exit 0", async () => {
  const [listen, admin] = await freePorts(2);
  const journalDir = join(pair.dir, "audit-term");
  const rules = [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }];
  const raw = pair.proxyConfig({
    instanceId: "term-test",
    listen: { port: listen },
    admin: { port: admin },
    audit: { journalDir, rules },
  });
  const file = join(pair.dir, "term.config.json");
  const proc = await startProxyProcess(pair, raw, file);
  const c = await proc.connect();
  await c.query("SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 7");
  // A statement in flight when the signal arrives still gets its result.
  const inFlight = c.query("SELECT SLEEP(0.5) AS s");
  await new Promise((r) => setTimeout(r, 100));
  proc.child.kill("SIGTERM");
  const [rows] = await inFlight;
  assert.equal(rows, [{ s: 0 }]);
  await until("pairgate exited", async () => proc.exit() !== null, 15_000);
  assert.equal(proc.exit(), { code: 0, signal: null });
  await c.end().catch(() => {});
  // Start again on the same journal: every event, the logout posted at shutdown included, is delivered.
  const again = await startProxyProcess(pair, raw, file);
  try {
    const root = await pair.rootConnection("primary");
    await until("the journal is delivered", async () => {
      const [r] = await root.query(
        "SELECT operation FROM passtrix.pairgate_audit WHERE instance_id = 'term-test'",
      );
      const ops = (r as { operation: string }[]).map((x) => x.operation);
      return ops.includes("password_retrieval") && ops.includes("logout") && ops.includes("login");
    });
    await root.end();
  } finally {
    await again.stop();
  }
});

test.run();
