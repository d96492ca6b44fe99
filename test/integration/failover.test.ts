/**
 * Failover against a real pair: kill -9 of the primary (seed scenario 2) and a cut or silent link
 * to it (scenario 1, two pairgate instances), with sessions crossing every transition.
 */
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Link } from "../helpers/link.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { errnoOf, until } from "../helpers/wait.js";

let pair: TestPair;
let px: RunningProxy;
let primaryId: number;
let secondaryId: number;

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };

async function serverId(c: Connection): Promise<number> {
  const [rows] = await c.query("SELECT @@server_id AS id");
  return (rows as { id: number }[])[0].id;
}

/** The secondary's binlog holds no transaction of its own server id: nothing was written there. */
async function assertNoWritesOnSecondary(): Promise<void> {
  const root = await pair.rootConnection("secondary");
  try {
    const [rows] = await root.query("SELECT @@gtid_binlog_pos AS pos");
    const pos = (rows as { pos: string }[])[0].pos;
    const own = pos.split(",").filter((g) => g.trim().split("-")[1] === String(secondaryId));
    assert.equal(own, [], `the secondary has transactions of its own: ${pos}`);
  } finally {
    await root.end();
  }
}

/** Site B: a second pairgate whose path to the primary goes through a cuttable link. */
async function startSiteB(journal: string): Promise<{ link: Link; siteB: RunningProxy }> {
  const link = await Link.start(pair.primary);
  const [listenB, adminB] = await freePorts(2, "127.0.0.1");
  const siteB = await startProxy(
    pair,
    pair.proxyConfig({
      monitor,
      listen: { port: listenB },
      admin: { port: adminB },
      primary: { port: link.port },
      site: "site-b",
      audit: { journalDir: `${pair.dir}/${journal}` },
    }),
  );
  return { link, siteB };
}

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig({ monitor }));
  const p = await pair.connect("primary");
  primaryId = await serverId(p);
  await p.end();
  const s = await pair.connect("secondary");
  secondaryId = await serverId(s);
  await s.end();
});

test.after(async () => {
  await px?.stop();
  await pair?.stop();
});

test("kill -9 of the primary: reads move to the secondary with state and prepared statements, writes get 1290, then everything returns", async () => {
  const c = await px.connect();
  const inTx = await px.connect();
  try {
    await c.query("SET time_zone = '+03:00'");
    const [before] = await c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [1]);
    assert.is(await serverId(c), primaryId);
    await inTx.beginTransaction();
    await inTx.query("SELECT COUNT(*) FROM ptrx_accounts");

    await pair.lab.kill("primary");
    const killedAt = Date.now();
    // The very next read succeeds, from the secondary.
    const [after] = await c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [1]);
    const firstReadMs = Date.now() - killedAt;
    assert.equal(after, before);
    assert.ok(firstReadMs < 3000, `first read after the kill took ${firstReadMs} ms`);
    assert.is(await serverId(c), secondaryId);
    const [[tz]] = (await c.query("SELECT @@session.time_zone AS tz")) as unknown as [{ tz: string }[]];
    assert.is(tz.tz, "+03:00", "session state was replayed on the secondary");
    assert.is(px.proxy.topology.mode, "read_only");

    const w = await errnoOf(
      c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('x', 'while down')"),
    );
    assert.is(w?.errno, 1290);
    assert.match(w!.message, /primary database is unavailable/);
    const ddl = await errnoOf(c.query("CREATE TABLE nope (id INT)"));
    assert.is(ddl?.errno, 1290);
    const lock = await errnoOf(c.query("SELECT * FROM ptrx_accounts WHERE id = 1 FOR UPDATE"));
    assert.is(lock?.errno, 1290);

    // The transaction that lived on the primary is gone: one error, then read-only service.
    const lost = await errnoOf(inTx.query("SELECT 1"));
    assert.is(lost?.errno, 1927);
    assert.match(lost!.message, /transaction is gone/);
    const [[one]] = (await inTx.query("SELECT 1 AS one")) as unknown as [{ one: number }[]];
    assert.is(one.one, 1);

    // A read-only transaction works on the secondary; a write inside it is refused.
    await c.query("START TRANSACTION READ ONLY");
    await c.query("SELECT COUNT(*) FROM ptrx_passwords");
    const inside = await errnoOf(c.query("UPDATE ptrx_resources SET name = name WHERE id = 1"));
    assert.is(inside?.errno, 1290);
    await c.query("COMMIT");

    // New connections are served read-only too.
    const fresh = await px.connect();
    assert.is(await serverId(fresh), secondaryId);
    await fresh.end();

    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 15_000);
    await until("a write succeeds through pairgate", async () => {
      await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('x', 'after return')");
      return true;
    });
    assert.is(await serverId(c), primaryId, "the session moved back to the primary");
    // Status shows the secondary catching up: IO thread reconnected, nothing left behind.
    await until("the secondary caught up in /status", async () => {
      const r = px.proxy.topology.snapshot().secondary.replication;
      return r !== null && r.ioRunning === "Yes" && r.sqlRunning === "Yes" && r.secondsBehind === 0;
    });
    const [again] = await c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [1]);
    assert.equal(again, before);
    await assertNoWritesOnSecondary();
  } finally {
    await c.end().catch(() => {});
    await inTx.end().catch(() => {});
  }
});

test("a session whose state cannot move (LOCK TABLES, GET_LOCK) gets a clear error and is closed; others move", async () => {
  const locked = await px.connect();
  const getLock = await px.connect();
  const plain = await px.connect();
  try {
    await locked.query("LOCK TABLES ptrx_resources READ");
    await getLock.query("SELECT GET_LOCK('pairgate-test', 0)");
    await plain.query("SET @greeting = 'hello'");
    await pair.lab.kill("primary");
    await px.proxy.topology.waitFor("read_only", 10_000);
    for (const c of [locked, getLock]) {
      const e = await errnoOf(c.query("SELECT COUNT(*) FROM ptrx_resources"));
      assert.ok(e, "the pinned session gets an error");
      assert.is(e!.errno, 2003, "CR_CONN_HOST_ERROR: the session cannot be served any more");
      assert.match(
        e!.message,
        /must move this session to the secondary database, but it holds (LOCK TABLES|GET_LOCK\(\))/,
      );
      assert.match(e!.message, /cannot be moved; the session is closed/);
      const after = await errnoOf(c.query("SELECT 1"));
      assert.ok(after, "and is closed afterwards");
    }
    // A user variable set from a literal is replayed: that session moves.
    const [[g]] = (await plain.query("SELECT @greeting AS g, @@server_id AS id")) as unknown as [
      { g: string; id: number }[],
    ];
    assert.equal(g, { g: "hello", id: secondaryId });
  } finally {
    for (const c of [locked, getLock, plain]) await c.end().catch(() => {});
    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 20_000);
  }
});

test("both servers down: a fast, clear error and new connections refused; back when one returns", async () => {
  const c = await px.connect();
  try {
    await pair.lab.kill("primary");
    await pair.lab.kill("secondary");
    await px.proxy.topology.waitFor("down", 10_000);
    const t0 = Date.now();
    const e = await errnoOf(c.query("SELECT 1"));
    assert.ok(e, "a statement fails while nothing can serve");
    assert.ok(Date.now() - t0 < 1500, `the error took ${Date.now() - t0} ms`);
    assert.is(e!.errno, 2003, `errno of: ${e!.message}`);
    assert.match(e!.message, /neither the primary nor the secondary database can be reached/);
    const refused = await errnoOf(px.connect());
    assert.ok(refused, "a new connection is refused");
    assert.is(refused!.errno, 2003, `errno of: ${refused!.message}`);
    assert.match(refused!.message, /neither the primary nor the secondary/);
  } finally {
    await c.end().catch(() => {});
    await pair.lab.start("secondary");
    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 20_000);
  }
});

test("scenario 1: site B loses its link to the primary (hard cut, then blackhole) while site A stays read/write; nothing diverges", async () => {
  const { link, siteB } = await startSiteB("audit-b");
  const a = await px.connect();
  const b = await siteB.connect();
  try {
    assert.is(await serverId(b), primaryId);
    for (const fault of ["cut", "blackhole"] as const) {
      const t0 = Date.now();
      if (fault === "cut") link.cut();
      else link.blackhole();
      // B's in-flight-or-next read is answered from the secondary within the detection window.
      const [rows] = await b.query("SELECT COUNT(*) AS n FROM ptrx_resources");
      const readMs = Date.now() - t0;
      assert.ok(readMs < 3000, `${fault}: B's read took ${readMs} ms`);
      assert.ok((rows as { n: number }[])[0].n > 0);
      assert.is(await serverId(b), secondaryId, `${fault}: B reads from the secondary`);
      const w = await errnoOf(
        b.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('b', 'refused')"),
      );
      assert.is(w?.errno, 1290, `${fault}: B refuses writes`);
      // A is untouched: read/write on the primary.
      await a.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('a', ?)", [`during ${fault}`]);
      assert.is(await serverId(a), primaryId);
      assert.is(px.proxy.topology.mode, "read_write");

      link.heal();
      await siteB.proxy.topology.waitFor("read_write", 15_000);
      await until(`${fault}: B writes again`, async () => {
        await b.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('b', ?)", [`after ${fault}`]);
        return true;
      });
      assert.is(await serverId(b), primaryId, `${fault}: B is back on the primary`);
    }
    await assertNoWritesOnSecondary();
    // Replication caught up: both servers hold the same rows.
    await until("the secondary caught up", async () => {
      const p = await pair.connect("primary");
      const s = await pair.connect("secondary");
      const [[pc]] = (await p.query("SELECT COUNT(*) AS n FROM ptrx_audit")) as unknown as [{ n: number }[]];
      const [[sc]] = (await s.query("SELECT COUNT(*) AS n FROM ptrx_audit")) as unknown as [{ n: number }[]];
      await p.end();
      await s.end();
      return pc.n === sc.n;
    });
  } finally {
    await a.end().catch(() => {});
    await b.end().catch(() => {});
    await siteB.stop();
    await link.close();
  }
});

test("a statement in flight when the primary goes silent is answered within the detection window", async () => {
  const { link, siteB } = await startSiteB("audit-c");
  const reader = await siteB.connect();
  const writer = await siteB.connect();
  try {
    assert.is(await serverId(reader), primaryId);
    await writer.query("SELECT 1");
    // Both statements start on the primary, then its link goes silent under them.
    const read = reader.query("SELECT SLEEP(0.5) AS s, COUNT(*) AS n FROM ptrx_accounts");
    let writeAnsweredAt = 0;
    const write = errnoOf(
      writer.query("UPDATE ptrx_resources SET name = name WHERE id = 1 AND SLEEP(0.5) = 0"),
    ).then((e) => {
      writeAnsweredAt = Date.now();
      return e;
    });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    link.blackhole();
    const [rows] = await read;
    const readMs = Date.now() - t0;
    assert.ok(readMs < 3000, `the read in flight was answered after ${readMs} ms`);
    assert.ok((rows as { n: number }[])[0].n > 0, "the read was retried on the secondary");
    const w = await write;
    const writeMs = writeAnsweredAt - t0;
    assert.ok(w, "the write in flight got an error, not a hang");
    assert.ok(writeMs < 3000, `the write in flight was answered after ${writeMs} ms`);
  } finally {
    link.heal();
    await reader.end().catch(() => {});
    await writer.end().catch(() => {});
    await siteB.stop();
    await link.close();
  }
});

test.run();
