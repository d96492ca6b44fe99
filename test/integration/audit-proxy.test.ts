/**
 * The audit trail through pairgate (seed: "What happens to Audit Trails?"): retrievals, logins and
 * logouts made while users are served by the secondary are recorded, kept through the outage and
 * delivered to the primary's audit table exactly once — also across a kill -9 of pairgate — and an
 * audited statement is refused rather than served unaudited when the journal cannot be written.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { startProxy, startProxyProcess } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const rules = [
  {
    operation: "password_retrieval",
    tables: ["passtrix.ptrx_passwords"],
    keyPattern: "account_id\\s*=\\s*(\\d+)",
    appUserTag: "app_user",
  },
];
const RETRIEVE = (id: number, user: string) =>
  `SELECT /* app_user=${user} */ encrypted_password FROM ptrx_passwords WHERE account_id = ${id}`;

interface Row {
  id: string;
  operation: string;
  backend: string | null;
  object: string | null;
  object_key: string | null;
  app_user: string | null;
  instance_id: string;
  site: string;
  db_user: string | null;
}

async function auditRows(instanceId: string): Promise<Row[]> {
  const root = await pair.rootConnection("primary");
  try {
    const [rows] = await root.query(
      "SELECT * FROM passtrix.pairgate_audit WHERE instance_id = ? ORDER BY id",
      [instanceId],
    );
    return rows as Row[];
  } catch (e) {
    if ((e as { errno?: number }).errno === 1146) return [];
    throw e;
  } finally {
    await root.end();
  }
}

test.before(async () => {
  pair = await startPair();
});

test.after(async () => {
  await pair?.stop();
});

test("an outage: retrievals, logins and logouts on the secondary reach the primary's table exactly once", async () => {
  const instanceId = "outage-test";
  const px = await startProxy(
    pair,
    pair.proxyConfig({
      monitor,
      instanceId,
      site: "site-a",
      audit: { rules, journalDir: join(pair.dir, "audit-outage") },
    }),
  );
  try {
    const c = await px.connect();
    await c.query(RETRIEVE(1, "alice"));
    await pair.lab.kill("primary");
    await px.proxy.topology.waitFor("read_only", 10_000);
    // On the secondary: a retrieval on the open session, then a new user logs in, retrieves, logs out.
    const [rows] = await c.query(RETRIEVE(2, "alice"));
    assert.is((rows as unknown[]).length, 1, "the password row came from the secondary");
    const d = await px.connect();
    for (const id of [3, 4, 5]) await d.query(RETRIEVE(id, "bob"));
    await d.end();
    const refused = await c
      .query("UPDATE ptrx_passwords SET updated_by = 'x' WHERE account_id = 1")
      .catch((e) => e);
    assert.is(refused.errno, 1290);
    await c.end();
    const bad = await px.connect({ password: "nope" }).catch((e) => e);
    assert.is(bad.errno, 1045);
    await new Promise((r) => setTimeout(r, 200)); // logout and login_failed are posted, not awaited
    assert.ok(px.proxy.audit!.pending() > 0, "events wait in the journal while the primary is away");

    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 15_000);
    await until(
      "the journal is delivered",
      async () => px.proxy.audit!.pending() === 0 && (await auditRows(instanceId)).length > 0,
    );
    const got = await auditRows(instanceId);
    const byOp = (op: string) => got.filter((r) => r.operation === op);
    assert.is(new Set(got.map((r) => r.id)).size, got.length, "every event is there once");
    const retrievals = byOp("password_retrieval");
    assert.is(retrievals.length, 5);
    assert.equal(
      retrievals.map((r) => [r.backend, r.object, r.object_key, r.app_user]),
      [
        ["primary", "passtrix.ptrx_passwords", "1", "alice"],
        ["secondary", "passtrix.ptrx_passwords", "2", "alice"],
        ["secondary", "passtrix.ptrx_passwords", "3", "bob"],
        ["secondary", "passtrix.ptrx_passwords", "4", "bob"],
        ["secondary", "passtrix.ptrx_passwords", "5", "bob"],
      ],
    );
    const ops: Record<string, number> = {};
    for (const r of got) ops[r.operation] = (ops[r.operation] ?? 0) + 1;
    assert.ok(byOp("login").length >= 2, `logins are audited: ${JSON.stringify(ops)}`);
    assert.ok(byOp("logout").length >= 2, "logouts are audited");
    assert.is(byOp("login_failed").length, 1);
    assert.is(byOp("write_rejected").length, 1);
    assert.is(byOp("failover").length, 1);
    assert.is(byOp("failback").length, 1);
    assert.ok(got.every((r) => r.site === "site-a"));
    // Delivering again changes nothing: exactly once.
    await px.proxy.audit!.deliverNow();
    assert.is((await auditRows(instanceId)).length, got.length);
  } finally {
    await px.stop();
  }
});

test("kill -9 of pairgate after retrievals on the secondary: after a restart, every event a user saw is delivered once", async () => {
  const instanceId = "kill9-test";
  const [listen, admin] = await freePorts(2);
  const journalDir = join(pair.dir, "audit-kill9");
  const raw = pair.proxyConfig({
    monitor,
    instanceId,
    listen: { port: listen },
    admin: { port: admin },
    audit: { rules, journalDir },
  });
  const run = () => startProxyProcess(pair, raw, join(pair.dir, "kill9.config.json"));
  let child = await run();
  try {
    await pair.lab.kill("primary");
    const conn = () => child.connect();
    await until("pairgate serves read-only", async () => {
      const c = await conn();
      const [[r]] = (await c.query("SELECT @@read_only AS ro")) as unknown as [{ ro: number }[]];
      await c.end();
      return r.ro === 1;
    });
    const c = await conn();
    const seen: number[] = [];
    for (let id = 1; id <= 20; id++) {
      await c.query(RETRIEVE(id, "carol"));
      seen.push(id); // this result reached the user
    }
    child.child.kill("SIGKILL");
    await new Promise((r) => child.child.once("exit", r));
    await c.end().catch(() => {});
    await pair.lab.start("primary");
    child = await run();
    await until(
      "the restarted pairgate delivered the journal",
      async () =>
        (await auditRows(instanceId)).filter((r) => r.operation === "password_retrieval").length >=
        seen.length,
      20_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    const got = (await auditRows(instanceId)).filter((r) => r.operation === "password_retrieval");
    assert.equal(
      got.map((r) => Number(r.object_key)),
      seen,
      "every retrieval whose result a user saw is in the table, once, in order",
    );
  } finally {
    child.child.kill("SIGKILL");
    if (pair.lab.pid("primary") === null) await pair.lab.start("primary").catch(() => {});
  }
});

test("a full journal disk refuses the audited statement with a clear error; other statements still run", async () => {
  const journalDir = join(pair.dir, "audit-full");
  mkdirSync(journalDir, { recursive: true });
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=128k", "tmpfs", journalDir]).status !== 0) {
    assert.unreachable("mounting a tmpfs needs root (CI runs as root)");
  }
  const px = await startProxy(
    pair,
    pair.proxyConfig({ instanceId: "full-test", audit: { rules, journalDir } }),
  );
  try {
    const c = await px.connect();
    await c.query(RETRIEVE(1, "dave"));
    // Fill the disk under the journal.
    spawnSync("dd", ["if=/dev/zero", `of=${join(journalDir, "filler")}`, "bs=4k", "count=1000"]);
    let refused: { errno?: number; message: string } | null = null;
    for (let i = 0; i < 400 && !refused; i++)
      refused = await c.query(RETRIEVE(2, "dave")).then(
        () => null,
        (e) => e,
      );
    assert.ok(refused, "an audited statement is refused once the journal cannot be written");
    assert.is(refused!.errno, 3);
    assert.match(refused!.message, /audit event/);
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM ptrx_resources");
    assert.ok((rows as { n: number }[])[0].n > 0, "statements no rule audits still run");
    await c.end();
  } finally {
    await px.stop();
    spawnSync("umount", ["-l", journalDir]);
  }
});

test.run();
