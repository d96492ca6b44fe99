/**
 * `pairgate replication setup` on real, fresh MariaDB servers (binlog, GTID and TLS configured,
 * nothing replicating): the data is copied, replication runs by GTID over verified TLS, the
 * secondary is read-only and follows later writes; a second run only verifies; a secondary with
 * databases of its own is refused unless --force; a server_id clash is refused with the lines to add.
 */
import mysql from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ReplicationError } from "../../src/replication/errors.js";
import type { SeedProgress } from "../../src/replication/seed.js";
import { setupReplication } from "../../src/replication/setup.js";
import { freePort } from "../helpers/ports.js";
import { ADMIN_USER, runCli, type Servers, type StandaloneServer, startServers } from "../helpers/servers.js";
import { onServer, q } from "../helpers/sql.js";

let servers: Servers;
let primary: StandaloneServer;
let secondary: StandaloneServer;
/** A server with a database of its own. */
let dirty: StandaloneServer;
/** A server whose server_id is the primary's. */
let clash: StandaloneServer;
/** Two servers straight out of mariadb-install-db (with its empty `test` database). */
let freshPrimary: StandaloneServer;
let freshSecondary: StandaloneServer;
const ROWS = 2500;
const admin = { user: ADMIN_USER.username, password: ADMIN_USER.password };

async function eventually(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.unreachable(`${what} within ${ms} ms`);
}

/** `pairgate replication setup` from `primary` to `secondary` as ADMIN_USER, then `more`. */
function setupArgs(primary: StandaloneServer, secondary: StandaloneServer, ...more: string[]): string[] {
  return [
    "replication",
    "setup",
    "--primary",
    primary.endpoint,
    "--secondary",
    secondary.endpoint,
    "--admin-user",
    ADMIN_USER.username,
    ...more,
  ];
}

test.before(async () => {
  servers = await startServers(6, { serverIds: [1, 2, 3, 1, 5, 6], freshInstall: [4, 5] });
  [primary, secondary, dirty, clash, freshPrimary, freshSecondary] = servers.list;
  await onServer(primary, async (c) => {
    await c.query("CREATE DATABASE vault");
    await c.query(
      "CREATE TABLE vault.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, secret VARBINARY(64), note TEXT NULL)",
    );
    await c.query("USE vault");
    await c.query(
      `INSERT INTO vault.items SELECT seq, CONCAT('item-', seq), UNHEX(SHA2(seq, 256)), IF(seq % 3 = 0, NULL, 'n') FROM seq_1_to_${ROWS}`,
    );
    await c.query("CREATE TABLE vault.`odd name` (k VARCHAR(8) PRIMARY KEY) ");
    await c.query("INSERT INTO vault.`odd name` VALUES ('a'), ('b')");
    await c.query("CREATE USER 'vault_app'@'%' IDENTIFIED BY 'vault-app-secret'");
    await c.query("GRANT SELECT, INSERT ON vault.* TO 'vault_app'@'%'");
    // pairgate's service account, without the right to read the accounts yet.
    await c.query("CREATE USER 'svc_acc'@'%' IDENTIFIED BY 'svc-acc-secret'");
  });
  await onServer(dirty, async (c) => {
    await c.query("CREATE DATABASE own_data");
    await c.query("CREATE TABLE own_data.notes (id INT PRIMARY KEY)");
    // Without tables: not "data of its own", named but not a reason to refuse.
    await c.query("CREATE DATABASE own_empty");
  });
});

test.after(async () => {
  await servers?.stop();
});

test("two fresh servers: setup copies the data and replicates by GTID over verified TLS; the secondary is read-only", async () => {
  const progress: SeedProgress[] = [];
  const log: string[] = [];
  const r = await setupReplication({
    primary: { host: primary.host, port: primary.port },
    secondary: { host: secondary.host, port: secondary.port },
    admin,
    sslCa: servers.caFile,
    serviceUser: "svc_acc",
    onProgress: (p) => progress.push(p),
    log: (l) => log.push(l),
  });
  assert.is(r.action, "seeded");
  // --service-user: pairgate's service account may read the accounts, on both servers.
  assert.ok(
    log.some((l) => l.includes("SELECT on mysql.global_priv granted to 'svc_acc'@'%'")),
    log.join("\n"),
  );
  for (const server of [primary, secondary])
    await onServer(server, async (c) => {
      const grants = (await q(c, "SHOW GRANTS FOR 'svc_acc'@'%'")).map((g) => String(Object.values(g)[0]));
      assert.ok(
        grants.some((g) => /GRANT SELECT ON `mysql`\.`global_priv` TO `svc_acc`@`%`/.test(g)),
        grants.join("\n"),
      );
    });
  assert.is(r.seed?.tables, 2);
  assert.ok((r.seed?.bytes ?? 0) > 100_000, `${r.seed?.bytes} bytes streamed`);
  assert.ok(progress.at(-1)?.done, "progress reported to the end");
  assert.is(progress.at(-1)?.bytes, r.seed?.bytes);
  assert.match(r.summary[0], "Connection Status: Alive — High Availability Live is in progress now");
  assert.is(r.summary[1], `Secondary server is running in host: ${secondary.endpoint}`);
  assert.ok(r.tlsVerified);
  assert.ok(r.accountsCopied.includes("'vault_app'@'%'"), r.accountsCopied.join());
  assert.ok(log.some((l) => l.includes("consistent snapshot")));
  // Lossless by default: semi-sync active on the primary (AFTER_SYNC, 10 s), both sides on both
  // servers, parallel apply on the secondary; the summary says so and the option lines are given.
  assert.is(r.lossless?.lossless, true, r.lossless?.reason);
  assert.is(r.lossless?.primary?.waitPoint, "AFTER_SYNC");
  assert.is(r.lossless?.primary?.timeoutMs, 10_000);
  assert.ok(r.lossless?.secondary?.enabled && r.lossless?.secondary?.replicaEnabled);
  assert.equal(r.lossless?.parallelApply, { threads: 4, mode: "optimistic" });
  assert.ok(
    r.summary.some((l) => l.includes("lossless: yes")),
    r.summary.join("\n"),
  );
  assert.ok(r.advice.some((l) => l.includes("rpl_semi_sync_master_wait_point = AFTER_SYNC")));

  await onServer(secondary, async (c) => {
    const [row] = await q(c, "SELECT COUNT(*) AS n, SUM(note IS NULL) AS nulls FROM vault.items");
    assert.is(Number(row.n), ROWS);
    assert.is(Number(row.nulls), Math.floor(ROWS / 3));
    const [st] = await q(c, "SHOW SLAVE STATUS");
    assert.is(st.Slave_IO_Running, "Yes");
    assert.is(st.Slave_SQL_Running, "Yes");
    assert.is(st.Master_SSL_Allowed, "Yes");
    assert.is(st.Master_SSL_Verify_Server_Cert, "Yes");
    assert.is(st.Master_SSL_CA_File, servers.caFile);
    assert.is(st.Using_Gtid, "Slave_Pos");
    assert.is(st.Master_User, "pairgate_repl");
    assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 1);
    // The seed is not the secondary's own history: its binlog holds only what it replicated.
    const [pos] = await q(c, "SELECT @@GLOBAL.gtid_binlog_pos AS b, @@GLOBAL.gtid_slave_pos AS s");
    assert.not.match(String(pos.b), /-2-/);
  });
  await onServer(primary, async (c) => {
    const [u] = await q(c, "SHOW CREATE USER 'pairgate_repl'@'%'");
    assert.match(String(Object.values(u)[0]), "REQUIRE SSL");
  });

  // A later write on the primary reaches the secondary.
  await onServer(primary, (c) =>
    c.query("INSERT INTO vault.items VALUES (999999, 'later', NULL, 'after setup')"),
  );
  await eventually("the later write replicated", () =>
    onServer(
      secondary,
      async (c) => (await q(c, "SELECT id FROM vault.items WHERE id = 999999")).length === 1,
    ),
  );
  // The copied application account logs in to the secondary, which refuses its writes.
  const app = await mysql.createConnection({
    host: secondary.host,
    port: secondary.port,
    user: "vault_app",
    password: "vault-app-secret",
    database: "vault",
  });
  try {
    assert.is(Number((await q(app, "SELECT COUNT(*) AS n FROM items"))[0].n), ROWS + 1);
    try {
      await app.query("INSERT INTO items VALUES (5, 'x', NULL, NULL)");
      assert.unreachable("a write on the read-only secondary");
    } catch (e) {
      assert.is((e as { errno?: number }).errno, 1290);
    }
  } finally {
    await app.end();
  }
});

test("setup twice is harmless: the second run only verifies and writes nothing to the primary", async () => {
  const before = await onServer(primary, async (c) =>
    String((await q(c, "SELECT @@GLOBAL.gtid_binlog_pos AS p"))[0].p),
  );
  const r = await setupReplication({
    primary: { host: primary.host, port: primary.port },
    secondary: { host: secondary.host, port: secondary.port },
    admin,
    sslCa: servers.caFile,
  });
  assert.is(r.action, "verified");
  assert.is(r.seed, undefined);
  assert.is(r.position, before);
  const after = await onServer(primary, async (c) =>
    String((await q(c, "SELECT @@GLOBAL.gtid_binlog_pos AS p"))[0].p),
  );
  assert.is(after, before);
  await onServer(secondary, async (c) => {
    const [st] = await q(c, "SHOW SLAVE STATUS");
    assert.is(st.Slave_SQL_Running, "Yes");
    assert.is(Number((await q(c, "SELECT COUNT(*) AS n FROM vault.items"))[0].n), ROWS + 1);
  });
});

test("the CLI: setup again through `pairgate replication setup` exits 0 with the summary", async () => {
  const r = await runCli(setupArgs(primary, secondary, "--ssl-ca", servers.caFile), {
    PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password,
  });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, "Connection Status: Alive — High Availability Live is in progress now");
  assert.match(r.stdout, `Secondary server is running in host: ${secondary.endpoint}`);
  assert.match(r.stdout, "[mariadbd]\nread_only = ON");
  // No password given anywhere: a usage error (2) before any connection.
  const noPassword = await runCli(setupArgs(primary, secondary));
  assert.is(noPassword.code, 2);
  assert.match(noPassword.stderr, "PAIRGATE_ADMIN_PASSWORD");
});

test("a secondary with databases of its own is refused without --force, and left as it was", async () => {
  try {
    await setupReplication({
      primary: { host: primary.host, port: primary.port },
      secondary: { host: dirty.host, port: dirty.port },
      admin,
      sslCa: servers.caFile,
    });
    assert.unreachable("setup onto a secondary with its own data");
  } catch (e) {
    assert.instance(e, ReplicationError);
    assert.is((e as ReplicationError).code, "PAIRGATE_REPL_SECONDARY_HAS_DATA");
    assert.match((e as Error).message, "(own_data)");
    assert.not.match((e as Error).message, "own_empty");
  }
  await onServer(dirty, async (c) => {
    assert.is((await q(c, "SHOW SLAVE STATUS")).length, 0);
    assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 0);
    assert.is((await q(c, "SHOW DATABASES LIKE 'own_data'")).length, 1);
  });
  const cli = await runCli(setupArgs(primary, dirty), { PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password });
  assert.is(cli.code, 1);
  assert.match(cli.stderr, "holds databases of its own (own_data)");
});

test("two freshly installed servers (mariadb-install-db's output, its empty `test` database included) pair without --force", async () => {
  for (const s of [freshPrimary, freshSecondary])
    await onServer(s, async (c) =>
      assert.equal(
        (await q(c, "SHOW DATABASES LIKE 'test'")).map((r) => Object.values(r)[0]),
        ["test"],
        `${s.name} is a fresh install with its test database`,
      ),
    );
  const cli = await runCli(setupArgs(freshPrimary, freshSecondary, "--ssl-ca", servers.caFile), {
    PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password,
  });
  assert.is(cli.code, 0, `${cli.stdout}\n${cli.stderr}`);
  const out = cli.stdout + cli.stderr;
  assert.match(out, /will be dropped: test\b/);
  assert.match(out, /dropping empty database test/);
  await onServer(freshPrimary, (c) => c.query("CREATE TABLE test.after_setup (id INT PRIMARY KEY)"));
  await onServer(freshPrimary, (c) => c.query("INSERT INTO test.after_setup VALUES (42)"));
  await eventually("the secondary follows the primary", () =>
    onServer(freshSecondary, async (c) => {
      const r = await q(
        c,
        "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = 'after_setup'",
      );
      return (
        Number(r[0].n) === 1 && Number((await q(c, "SELECT COUNT(*) AS n FROM test.after_setup"))[0].n) === 1
      );
    }),
  );
  await onServer(freshSecondary, async (c) => {
    const st = (await q(c, "SHOW SLAVE STATUS"))[0];
    assert.is(st.Slave_IO_Running, "Yes");
    assert.is(st.Slave_SQL_Running, "Yes");
    assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 1);
  });
});

test("--force replaces the secondary's own data with the primary's", async () => {
  const r = await setupReplication({
    primary: { host: primary.host, port: primary.port },
    secondary: { host: dirty.host, port: dirty.port },
    admin,
    sslCa: servers.caFile,
    force: true,
  });
  assert.is(r.action, "seeded");
  await onServer(dirty, async (c) => {
    assert.is((await q(c, "SHOW DATABASES LIKE 'own_data'")).length, 0);
    assert.is(Number((await q(c, "SELECT COUNT(*) AS n FROM vault.items"))[0].n), ROWS + 1);
    assert.is((await q(c, "SHOW SLAVE STATUS"))[0].Slave_SQL_Running, "Yes");
  });
});

test("a server that does not answer is named before anything changes", async () => {
  const port = await freePort();
  try {
    await setupReplication({
      primary: { host: primary.host, port: primary.port },
      secondary: { host: "127.0.0.1", port },
      admin,
    });
    assert.unreachable("setup with a secondary that is down");
  } catch (e) {
    assert.is((e as ReplicationError).code, "PAIRGATE_REPL_UNREACHABLE");
    assert.match((e as Error).message, `cannot reach the secondary 127.0.0.1:${port}`);
    assert.match((e as Error).message, "connection refused");
  }
});

test("servers with the same server_id are refused, with the option-file line to add", async () => {
  try {
    await setupReplication({
      primary: { host: primary.host, port: primary.port },
      secondary: { host: clash.host, port: clash.port },
      admin,
    });
    assert.unreachable("setup with equal server_ids");
  } catch (e) {
    assert.is((e as ReplicationError).code, "PAIRGATE_REPL_PREFLIGHT");
    assert.match((e as Error).message, "both servers have server_id 1");
    assert.ok(
      (e as ReplicationError).details.includes("[mariadbd]\nserver_id = 2"),
      (e as ReplicationError).details.join("|"),
    );
  }
  await onServer(clash, async (c) => assert.is((await q(c, "SHOW SLAVE STATUS")).length, 0));
});

test.run();
