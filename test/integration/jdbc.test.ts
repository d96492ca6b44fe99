/**
 * JDBC through pairgate, against the real pair: the password manager is a Java application, so a
 * real JDBC driver (MariaDB Connector/J, Debian's libmariadb-java) must not tell pairgate from the
 * server — statements, server-side prepared statements, transactions, batches, metadata, a wrong
 * password — and one JDBC connection must live through a kill -9 of the primary: its reads go on
 * from the secondary, its writes get SQLException 1290, and after the primary returns it writes
 * again, without reconnecting.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { JdbcShell, jdbcMissing } from "../helpers/jdbc.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
let px: RunningProxy;
let jdbc: JdbcShell;

const url = (params = "") => `jdbc:mariadb://127.0.0.1:${px.port}/passtrix${params}`;
const login = (params = "", password = pair.appUser.password) =>
  `connect ${url(params)}\t${pair.appUser.username}\t${password}`;

test.before(async () => {
  const missing = jdbcMissing();
  if (missing) throw new Error(`JDBC tests: ${missing}`);
  pair = await startPair();
  const root = await pair.rootConnection("primary");
  await root.query(
    "CREATE TABLE IF NOT EXISTS passtrix.jdbc_notes (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) NOT NULL)",
  );
  await root.end();
  px = await startProxy(pair, pair.proxyConfig());
  jdbc = await JdbcShell.start();
});

test.after(async () => {
  jdbc?.stop();
  await px?.stop();
  await pair?.stop();
});

async function count(note: string): Promise<number> {
  const r = await jdbc.expect(`query SELECT COUNT(*) FROM jdbc_notes WHERE note = '${note}'`, "rows");
  return Number(r.rows[0]![0]);
}

test("statements, client and server prepared statements, metadata: the same answers as the server's", async () => {
  const ok = await jdbc.expect(login(), "ok");
  assert.match(ok.text, /MariaDB/);
  const direct = await pair.connect("primary");
  const [want] = await direct.query("SELECT id, name FROM ptrx_resources ORDER BY id");
  await direct.end();
  const wantRows = (want as { id: number; name: string }[]).map((r) => [String(r.id), r.name]);
  const text = await jdbc.expect("query SELECT id, name FROM ptrx_resources ORDER BY id", "rows");
  assert.equal(text.rows, wantRows);
  const prepared = await jdbc.expect("prepared SELECT name FROM ptrx_resources WHERE id = ?\t1", "rows");
  assert.equal(prepared.rows, [[wantRows[0]![1]]]);
  const nulls = await jdbc.expect("query SELECT NULL AS n, 'a\"b' AS q, 1.5 AS d", "rows");
  assert.equal(nulls.rows, [[null, 'a"b', "1.5"]]);
  const tables = await jdbc.expect("tables", "tables");
  assert.ok(
    tables.tables.includes("ptrx_resources") && tables.tables.includes("jdbc_notes"),
    tables.tables.join(),
  );
  await jdbc.expect("close", "ok");

  // Server-side prepared statements: the binary protocol through pairgate.
  const prepares = async () => {
    const root = await pair.rootConnection("primary");
    const [r] = await root.query("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'");
    await root.end();
    return Number((r as { Value: string }[])[0]!.Value);
  };
  const preparesBefore = await prepares();
  await jdbc.expect(login("?useServerPrepStmts=true"), "ok");
  for (const id of [1, 2, 1]) {
    const r = await jdbc.expect(`prepared SELECT id, name FROM ptrx_resources WHERE id = ?\t${id}`, "rows");
    assert.equal(r.rows, [wantRows[id - 1]]);
  }
  const ins = await jdbc.expect(
    "prepared INSERT INTO jdbc_notes (note) VALUES (?)\tserver-prepared",
    "count",
  );
  assert.is(ins.count, 1);
  assert.is(await count("server-prepared"), 1);
  assert.ok(
    (await prepares()) - preparesBefore >= 2,
    "the primary prepared the statements (COM_STMT_PREPARE)",
  );
  await jdbc.expect("close", "ok");
});

test("transactions (commit, rollback) and a batch", async () => {
  await jdbc.expect(login(), "ok");
  await jdbc.expect("autocommit false", "ok");
  await jdbc.expect("update INSERT INTO jdbc_notes (note) VALUES ('rolled-back')", "count");
  await jdbc.expect("rollback", "ok");
  await jdbc.expect("update INSERT INTO jdbc_notes (note) VALUES ('committed')", "count");
  await jdbc.expect("commit", "ok");
  await jdbc.expect("autocommit true", "ok");
  assert.is(await count("rolled-back"), 0);
  assert.is(await count("committed"), 1);
  const b = await jdbc.expect(
    "batch INSERT INTO jdbc_notes (note) VALUES ('b1')\tINSERT INTO jdbc_notes (note) VALUES ('b2')\tUPDATE jdbc_notes SET note = 'b3' WHERE note = 'b2'",
    "counts",
  );
  assert.equal(b.counts, [1, 1, 1]);
  assert.is(await count("b3"), 1);
  await jdbc.expect("close", "ok");
});

test("a wrong password: SQLException 1045 / 28000 with the server's wording", async () => {
  const r = await jdbc.run(login("", "not-the-password"));
  assert.is(r.kind, "error");
  if (r.kind !== "error") return;
  assert.is(r.error.code, 1045);
  assert.is(r.error.sqlState, "28000");
  assert.match(r.error.message, `Access denied for user '${pair.appUser.username}'`);
});

test("one JDBC connection through a kill -9 of the primary: reads go on, writes get 1290, then writes again", async () => {
  await jdbc.expect(login(), "ok");
  const before = await jdbc.expect("query SELECT @@server_id, name FROM ptrx_resources WHERE id = 1", "rows");
  const [primaryId, name] = before.rows[0]!;
  await jdbc.expect("update INSERT INTO jdbc_notes (note) VALUES ('before-kill')", "count");
  // Replication is asynchronous: let the row reach the secondary before the primary dies.
  await until("the row replicated to the secondary", async () => {
    const s = await pair.connect("secondary");
    try {
      const [r] = await s.query("SELECT COUNT(*) AS n FROM jdbc_notes WHERE note = 'before-kill'");
      return Number((r as { n: number }[])[0]!.n) === 1;
    } finally {
      await s.end();
    }
  });

  await pair.lab.kill("primary");
  const after = await jdbc.expect("query SELECT @@server_id, name FROM ptrx_resources WHERE id = 1", "rows");
  assert.is.not(after.rows[0]![0], primaryId, "the read came from the secondary");
  assert.is(after.rows[0]![1], name);
  assert.is(await count("before-kill"), 1, "the replicated write is read from the secondary");
  const refused = await jdbc.run("update INSERT INTO jdbc_notes (note) VALUES ('while-down')");
  assert.is(refused.kind, "error", JSON.stringify(refused));
  if (refused.kind === "error") {
    assert.is(refused.error.code, 1290);
    assert.is(refused.error.sqlState, "HY000");
    assert.match(refused.error.message, /read-only|read only/i);
  }
  const preparedRead = await jdbc.expect(
    "prepared SELECT COUNT(*) FROM jdbc_notes WHERE note = ?\tbefore-kill",
    "rows",
  );
  assert.equal(preparedRead.rows, [["1"]]);

  await pair.lab.start("primary");
  await px.proxy.topology.waitFor("read_write", 15_000);
  await until("a JDBC write succeeds on the same connection", async () => {
    const r = await jdbc.run("update INSERT INTO jdbc_notes (note) VALUES ('after-return')");
    return r.kind === "count" && r.count === 1;
  });
  const back = await jdbc.expect("query SELECT @@server_id", "rows");
  assert.is(back.rows[0]![0], primaryId, "the connection is back on the primary");
  assert.is(await count("while-down"), 0, "the refused write never landed anywhere");
  await jdbc.expect("close", "ok");
});

test.run();
