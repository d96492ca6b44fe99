/**
 * `pairgate replication check` on a real replicating pair (the lab's, from startPair): a healthy
 * pair passes — also while writes go on; a row changed on the secondary outside the binlog
 * (sql_log_bin=0) is named with its table and chunk, and the exit code is non-zero; stopped
 * replication is reported as broken; replication always runs again after a check.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type CheckReport, checkReplication } from "../../src/replication/check.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { ADMIN_USER, runCli } from "../helpers/servers.js";
import { createAdmin, onRoot, q, waitReplicated } from "../helpers/sql.js";

let pair: TestPair;
const admin = { user: ADMIN_USER.username, password: ADMIN_USER.password };
const ROWS = 2500;

/** Replication runs again after a check (the IO thread may take a moment to reconnect). */
async function replicationRunning(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const st = await onRoot(pair, "secondary", async (c) => (await q(c, "SHOW SLAVE STATUS"))[0]);
    assert.is(st.Until_Condition, "None");
    assert.is(st.Slave_SQL_Running, "Yes");
    if (st.Slave_IO_Running === "Yes") return;
    if (Date.now() > deadline) assert.unreachable(`IO thread ${st.Slave_IO_Running}: ${st.Last_IO_Error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function check(extra: Partial<Parameters<typeof checkReplication>[0]> = {}): Promise<CheckReport> {
  return checkReplication({
    primary: pair.primary,
    secondary: pair.secondary,
    admin,
    sslCa: pair.caFile,
    ...extra,
  });
}

function cliArgs(...more: string[]): string[] {
  const e = (x: { host: string; port: number }) => `${x.host}:${x.port}`;
  return [
    "replication",
    "check",
    "--primary",
    e(pair.primary),
    "--secondary",
    e(pair.secondary),
    "--admin-user",
    ADMIN_USER.username,
    "--ssl-ca",
    pair.caFile,
    ...more,
  ];
}

test.before(async () => {
  pair = await startPair();
  await createAdmin(pair);
  await onRoot(pair, "primary", async (c) => {
    await c.query(
      "CREATE TABLE sbtest.items (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL, d DATETIME(3) NULL)",
    );
    await c.query("USE sbtest");
    await c.query(`INSERT INTO sbtest.items SELECT seq, CONCAT('v', seq), NULL FROM seq_1_to_${ROWS}`);
    await c.query("CREATE TABLE sbtest.keyless (a INT NULL, b TEXT)");
    await c.query("INSERT INTO sbtest.keyless VALUES (1, 'x'), (NULL, 'y')");
    await c.query(
      "CREATE TABLE sbtest.by_date (at DATETIME(3) NOT NULL, who VARCHAR(16) NOT NULL, n INT, PRIMARY KEY (at, who))",
    );
    await c.query(
      "INSERT INTO sbtest.by_date SELECT TIMESTAMP('2024-01-01') + INTERVAL seq SECOND, CONCAT('u', seq % 5), seq FROM seq_1_to_1200",
    );
  });
  await waitReplicated(pair, 10);
});

test.after(async () => {
  await pair?.stop();
});

test("a healthy pair passes: every table consistent, replication over TLS, exit 0", async () => {
  const r = await check({ chunkSize: 1000 });
  assert.ok(r.replication.ok, r.replication.problems.join("; "));
  assert.ok(r.replication.status?.sslAllowed);
  assert.ok(r.consistency.checked);
  assert.equal(r.consistency.drifted, []);
  assert.ok(r.ok);
  const items = r.consistency.tables.find((t) => t.table === "sbtest.items")!;
  assert.is(items.status, "consistent");
  assert.is(items.rows, ROWS);
  assert.is(items.chunks, 3);
  assert.match(items.method, "PRIMARY KEY (id)");
  assert.match(items.position, /^0-1-\d+$/);
  assert.is(
    r.consistency.tables.find((t) => t.table === "sbtest.keyless")?.method,
    "whole table (no usable key)",
  );
  assert.is(r.consistency.tables.find((t) => t.table === "sbtest.by_date")?.chunks, 2);
  assert.ok(
    r.consistency.tables.some((t) => t.table === "passtrix.ptrx_passwords" && t.status === "consistent"),
  );
  await replicationRunning();

  const cli = await runCli(cliArgs("--json"), { PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password });
  assert.is(cli.code, 0, cli.stderr);
  assert.is(JSON.parse(cli.stdout).ok, true);
});

test("consistent while writes go on: each table is compared at one GTID position", async () => {
  let writing = true;
  let writes = 0;
  const writer = (async () => {
    const c = await pair.connect("primary");
    try {
      while (writing) {
        await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('check-test', 'write')");
        await c.query("UPDATE ptrx_passwords SET updated_by = ? WHERE account_id = ?", [
          `w${writes}`,
          (writes % 30) + 1,
        ]);
        writes++;
      }
    } finally {
      await c.end();
    }
  })();
  try {
    const r = await check({ databases: ["passtrix"], chunkSize: 5 });
    assert.ok(r.ok, JSON.stringify(r.consistency.tables.filter((t) => t.status !== "consistent")));
    const positions = new Set(r.consistency.tables.map((t) => t.position));
    assert.ok(positions.size > 1, "the position moved between tables: writes were going on");
  } finally {
    writing = false;
    await writer;
  }
  assert.ok(writes > 10, `${writes} writes during the check`);
  await replicationRunning();
});

test("a change made on the secondary outside the binlog is named: table and chunk, exit code 1", async () => {
  await onRoot(pair, "secondary", async (c) => {
    await c.query("SET SESSION sql_log_bin = 0");
    await c.query("UPDATE sbtest.items SET v = 'drifted' WHERE id = 1500");
    await c.query("DELETE FROM sbtest.keyless WHERE a IS NULL");
  });
  const r = await check({ chunkSize: 1000 });
  assert.not.ok(r.ok);
  assert.ok(r.replication.ok, "replication itself is healthy");
  assert.equal(r.consistency.drifted.sort(), ["sbtest.items", "sbtest.keyless"]);
  const items = r.consistency.tables.find((t) => t.table === "sbtest.items")!;
  assert.is(items.status, "drift");
  assert.is(items.drift.length, 1);
  assert.is(items.drift[0].chunk, 2);
  assert.is(items.drift[0].range, "id > 1000 AND id <= 2000");
  assert.is(items.drift[0].primary.rows, items.drift[0].secondary.rows);
  assert.is.not(items.drift[0].primary.checksum, items.drift[0].secondary.checksum);
  const keyless = r.consistency.tables.find((t) => t.table === "sbtest.keyless")!;
  assert.is(keyless.drift[0].range, "whole table");
  assert.is(keyless.drift[0].secondary.rows, 1);
  await replicationRunning();

  const cli = await runCli(cliArgs("--chunk-size", "1000"), { PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password });
  assert.is(cli.code, 1);
  assert.match(cli.stdout, "DRIFT sbtest.items: drift");
  assert.match(
    cli.stdout,
    "chunk 2 (id > 1000 AND id <= 2000): primary 1000 rows, secondary 1000 rows, contents differ",
  );
  assert.match(cli.stdout, "DRIFT sbtest.keyless");
  // Mend it for the next test.
  await onRoot(pair, "secondary", async (c) => {
    await c.query("SET SESSION sql_log_bin = 0");
    await c.query("UPDATE sbtest.items SET v = 'v1500' WHERE id = 1500");
    await c.query("INSERT INTO sbtest.keyless VALUES (NULL, 'y')");
  });
});

test("a row only on the secondary, past the primary's last key, lands in the last chunk", async () => {
  await onRoot(pair, "secondary", async (c) => {
    await c.query("SET SESSION sql_log_bin = 0");
    await c.query("INSERT INTO sbtest.items VALUES (999999, 'extra', NULL)");
  });
  try {
    const r = await check({ databases: ["sbtest"], chunkSize: 1000 });
    const items = r.consistency.tables.find((t) => t.table === "sbtest.items")!;
    assert.is(items.status, "drift");
    assert.is(items.drift[0].range, "id > 2000");
    assert.equal(r.consistency.drifted, ["sbtest.items"]);
  } finally {
    await onRoot(pair, "secondary", async (c) => {
      await c.query("SET SESSION sql_log_bin = 0");
      await c.query("DELETE FROM sbtest.items WHERE id = 999999");
    });
  }
});

test("stopped replication is broken: reported, consistency not compared, exit code 1", async () => {
  await onRoot(pair, "secondary", (c) => c.query("STOP SLAVE"));
  try {
    const r = await check();
    assert.not.ok(r.ok);
    assert.not.ok(r.replication.ok);
    assert.ok(r.replication.problems.some((p) => p.startsWith("IO thread: No")));
    assert.not.ok(r.consistency.checked);
    const cli = await runCli(cliArgs(), { PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password });
    assert.is(cli.code, 1);
    assert.match(cli.stdout, "BROKEN");
  } finally {
    await onRoot(pair, "secondary", (c) => c.query("START SLAVE"));
  }
});

test.run();
