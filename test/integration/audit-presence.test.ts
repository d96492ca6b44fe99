/**
 * Issue 19, "audit by presence": every result that carries the audited secret has an audit event.
 * An attacker is the application user with SUPER, BINLOG MONITOR and PROCESS (as many password
 * manager installations run); a unique canary secret sits in passtrix.ptrx_passwords (written by
 * root straight on the primary, so the server's own copies — binlog, query log — hold it too).
 * At fd3936b each of issue 19's cases below returned the canary with no event (a plain SELECT of
 * the row: 1); the reference, dynamic-SQL and ordinary-statement tests pass there too.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AuditEvent, AuditEventInput } from "../../src/audit/index.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";

let pair: TestPair;
let px: RunningProxy;
let root: Connection;
const CANARY = `CANARY-${randomBytes(6).toString("hex")}`;
const ACCOUNT = 1;
/** Every event recorded, as recorded (operation, object, detail). */
const events: AuditEvent[] = [];

test.before(async () => {
  pair = await startPair();
  root = await pair.rootConnection("primary");
  for (const sql of [
    "GRANT SUPER, BINLOG MONITOR, PROCESS, FILE ON *.* TO 'pmpuser'@'%'",
    "GRANT SELECT ON mysql.general_log TO 'pmpuser'@'%'",
    "CREATE TABLE passtrix.other (id INT PRIMARY KEY, v VARBINARY(512))",
    "INSERT INTO passtrix.other VALUES (1, 'nothing yet')",
    "CREATE TABLE passtrix.trig_copy (id INT PRIMARY KEY, v VARBINARY(512))",
    "SET GLOBAL log_output = 'TABLE'",
    "SET GLOBAL general_log = ON",
    `UPDATE passtrix.ptrx_passwords SET encrypted_password = '${CANARY}' WHERE account_id = ${ACCOUNT}`,
    "SET GLOBAL general_log = OFF",
  ])
    await root.query(sql);
  px = await startProxy(
    pair,
    pair.proxyConfig({
      instanceId: "presence-test",
      audit: {
        journalDir: join(pair.dir, "audit-presence"),
        rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
      },
    }),
  );
  const audit = px.proxy.audit!;
  const record = audit.record.bind(audit);
  audit.record = async (input: AuditEventInput) => {
    const e = await record(input);
    events.push(e);
    return e;
  };
});

test.after(async () => {
  await px?.stop();
  await root?.end();
  await pair?.stop();
});

/** The rows (or the error message) a statement returned, as text. */
async function run(c: Connection, sql: string): Promise<string> {
  try {
    const [rows] = await c.query(sql);
    return JSON.stringify(rows, (_k, v) =>
      v && v.type === "Buffer" && Array.isArray(v.data) ? Buffer.from(v.data).toString("latin1") : v,
    );
  } catch (e) {
    return `ERR ${(e as { errno?: number }).errno}: ${(e as Error).message}`;
  }
}

/** Runs `sql` and returns what came back and the events it caused. */
async function audited(c: Connection, sql: string): Promise<{ out: string; got: AuditEvent[] }> {
  const before = events.length;
  const out = await run(c, sql);
  // Logins and logouts of other connections are posted meanwhile: only statement events count.
  return { out, got: events.slice(before).filter((e) => !e.operation.startsWith("log")) };
}

function assertEvent(r: { out: string; got: AuditEvent[] }, what: string, canary = true): void {
  if (canary) assert.ok(r.out.includes(CANARY), `${what}: the canary came back (${r.out.slice(0, 300)})`);
  const ops = r.got.map((e) => `${e.operation} ${e.object}`);
  assert.ok(
    r.got.some((e) => e.operation === "password_retrieval"),
    `${what}: an audit event (got ${JSON.stringify(ops)})`,
  );
}

test("a plain SELECT of the row: one event (the reference)", async () => {
  const c = await px.connect();
  try {
    const r = await audited(c, `SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ${ACCOUNT}`);
    assertEvent(r, "plain SELECT");
    assert.is(r.got.length, 1);
  } finally {
    await c.end();
  }
});

test("SHOW DATABASES WHERE with a subquery into a user variable, then SELECT @x", async () => {
  const c = await px.connect();
  try {
    const show = await audited(
      c,
      "SHOW DATABASES WHERE (@x := (SELECT GROUP_CONCAT(encrypted_password) FROM passtrix.ptrx_passwords)) IS NOT NULL",
    );
    assertEvent(show, "SHOW DATABASES WHERE", false);
    // The variable now holds the canary: reading it is audited too.
    assertEvent(await audited(c, "SELECT @x AS x"), "SELECT @x");
  } finally {
    await c.end();
  }
});

test("the audited table reached through an error message's text", async () => {
  const c = await px.connect();
  try {
    const r = await audited(
      c,
      `SHOW TABLES WHERE EXTRACTVALUE(1, CONCAT(0x7e, (SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = ${ACCOUNT})))`,
    );
    assert.ok(r.out.startsWith("ERR"), r.out);
    assertEvent(r, "error message");
  } finally {
    await c.end();
  }
});

test("a later CTE name shadowing the audited table", async () => {
  const c = await px.connect();
  try {
    const r = await audited(
      c,
      `WITH a AS (SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ${ACCOUNT}), ptrx_passwords AS (SELECT 1) SELECT * FROM a`,
    );
    assertEvent(r, "CTE shadowing");
  } finally {
    await c.end();
  }
});

test("DELETE … RETURNING in a transaction rolled back", async () => {
  const c = await px.connect();
  try {
    await c.query("BEGIN");
    const r = await audited(
      c,
      `DELETE FROM ptrx_passwords WHERE account_id = ${ACCOUNT} RETURNING encrypted_password`,
    );
    await c.query("ROLLBACK");
    assertEvent(r, "DELETE RETURNING");
  } finally {
    await c.end();
  }
});

test("a multi-table UPDATE copies the secret into another table; reading that table is audited", async () => {
  const c = await px.connect();
  try {
    const u = await audited(
      c,
      `UPDATE other o, ptrx_passwords p SET o.v = p.encrypted_password WHERE o.id = 1 AND p.account_id = ${ACCOUNT}`,
    );
    assertEvent(u, "the copying UPDATE", false);
    const d = await px.connect(); // another session of the same pairgate
    try {
      const r = await audited(d, "SELECT v FROM other WHERE id = 1");
      assertEvent(r, "reading the copy");
      assert.match(String(r.got[0]?.detail?.via), /written by a statement naming passtrix.ptrx_passwords/);
    } finally {
      await d.end();
    }
    // A restart keeps it: the copies are saved in the state folder.
    await px.proxy.auditNames?.flush();
    const again = await startProxy(
      pair,
      pair.proxyConfig({
        listen: { port: await freePort() },
        instanceId: "presence-restart",
        audit: {
          journalDir: join(pair.dir, "audit-presence-restart"),
          rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
        },
      }),
    );
    try {
      const e = await again.connect();
      try {
        const m = again.proxy.audit!.matchStatement("SELECT v FROM other WHERE id = 1", "passtrix");
        assert.is(m?.object, "passtrix.other", "after a restart");
      } finally {
        await e.end();
      }
    } finally {
      await again.stop();
    }
  } finally {
    await c.end();
  }
});

test("a trigger (created on the server directly) copies the secret; the catalog makes its target audited", async () => {
  await root.query(
    "CREATE TRIGGER passtrix.tr_copy AFTER UPDATE ON passtrix.ptrx_passwords FOR EACH ROW " +
      "INSERT INTO passtrix.trig_copy VALUES (NEW.account_id, NEW.encrypted_password) ON DUPLICATE KEY UPDATE v = NEW.encrypted_password",
  );
  await px.proxy.auditCatalog?.refresh(); // what the interval does (audit.catalogRefreshMs)
  const c = await px.connect();
  try {
    await c.query(`UPDATE ptrx_passwords SET updated_by = 'x' WHERE account_id = ${ACCOUNT}`);
    const r = await audited(c, "SELECT v FROM trig_copy");
    assertEvent(r, "reading the trigger's copy");
    assert.match(String(r.got[0]?.detail?.via), /trigger passtrix.tr_copy/);
    // The column that ON DUPLICATE KEY UPDATE sets is not taken for a table.
    const plain = await audited(c, "SELECT 1 AS v");
    assert.is(plain.got.length, 0, "a statement naming only the column v has no event");
  } finally {
    await c.end();
  }
});

test("a trigger created through pairgate by the app user: its target is audited at once", async () => {
  const c = await px.connect();
  try {
    await c.query("CREATE TABLE trig_copy2 (v VARBINARY(512))");
    await c.query(
      "CREATE TRIGGER tr_copy2 BEFORE UPDATE ON ptrx_passwords FOR EACH ROW INSERT INTO trig_copy2 VALUES (OLD.encrypted_password)",
    );
    await c.query(`UPDATE ptrx_passwords SET updated_by = 'y' WHERE account_id = ${ACCOUNT}`);
    const r = await audited(c, "SELECT v FROM trig_copy2");
    assertEvent(r, "reading the new trigger's copy");
  } finally {
    await c.end();
  }
});

test("a view the app user created itself, and one created on the server directly", async () => {
  const c = await px.connect();
  try {
    await c.query("CREATE VIEW v_mine AS SELECT account_id, encrypted_password FROM ptrx_passwords");
    const r = await audited(c, `SELECT encrypted_password FROM v_mine WHERE account_id = ${ACCOUNT}`);
    assertEvent(r, "the app user's own view");
    await root.query(
      "CREATE VIEW passtrix.v_root AS SELECT p.encrypted_password AS s FROM passtrix.ptrx_passwords p",
    );
    // A view over that view: found transitively.
    await root.query("CREATE VIEW passtrix.v_over AS SELECT s FROM passtrix.v_root");
    await px.proxy.auditCatalog?.refresh();
    const o = await audited(c, "SELECT s FROM v_over");
    assertEvent(o, "a view over a view");
    assert.match(String(o.got[0]?.detail?.via), /view passtrix.v_over reaches passtrix.v_root/);
  } finally {
    await c.end();
  }
});

test("the audit catalog and the copies in /metrics and /status: derived names, copies, last read, failed reads", async () => {
  await px.proxy.auditCatalog?.refresh();
  const base = `http://127.0.0.1:${px.proxy.adminPort}`;
  const metric = (text: string, name: string, labels = "") => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  const m = await (await fetch(`${base}/metrics`)).text();
  // The views and the trigger targets of the tests above (v_root, v_over, trig_copy, ...).
  const derived = metric(m, "pairgate_audit_catalog_derived_names");
  assert.ok(derived !== undefined && derived >= 3, `derived names: ${derived}`);
  assert.ok((metric(m, "pairgate_audit_catalog_objects") ?? 0) >= 3, "catalog objects");
  // `other`, written by the multi-table UPDATE naming the audited table, is a copy.
  assert.ok((metric(m, "pairgate_audit_copies") ?? 0) >= 1, "copies");
  const readAt = metric(m, "pairgate_audit_catalog_last_read_timestamp_seconds") ?? 0;
  assert.ok(Math.abs(readAt - Date.now() / 1000) < 60, `last read just now (${readAt})`);
  assert.ok((metric(m, "pairgate_audit_catalog_age_seconds") ?? 1e9) < 60, "age");
  assert.is(metric(m, "pairgate_audit_catalog_read_ok"), 1);
  assert.ok((metric(m, "pairgate_audit_catalog_reads_total", '{result="ok"}') ?? 0) >= 1, "reads ok");
  assert.is(metric(m, "pairgate_audit_catalog_reads_total", '{result="error"}'), 0);
  const st = (await (await fetch(`${base}/status`)).json()) as {
    audit: {
      catalog: { derivedNames: number; copies: number; lastReadAt: string; lastError: string | null };
    };
  };
  assert.is(st.audit.catalog.derivedNames, derived, "/status: the same count");
  assert.ok(st.audit.catalog.copies >= 1, "/status: copies");
  assert.ok(Date.parse(st.audit.catalog.lastReadAt) > Date.now() - 60_000, "/status: last read");
  assert.is(st.audit.catalog.lastError, null);
});

test("a stored function that reads the table: calling it is audited by name", async () => {
  await root.query(
    "CREATE FUNCTION passtrix.f_secret(id INT) RETURNS VARBINARY(512) READS SQL DATA " +
      "RETURN (SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = id)",
  );
  await root.query("CREATE TABLE passtrix.fn_copy (id INT PRIMARY KEY, v VARBINARY(512))");
  await px.proxy.auditCatalog?.refresh();
  const c = await px.connect();
  try {
    const r = await audited(c, `INSERT INTO fn_copy VALUES (2, f_secret(${ACCOUNT}))`);
    assertEvent(r, "a write that calls the function", false);
    assert.is(r.got[0]?.object, "passtrix.f_secret");
    const copy = await audited(c, "SELECT v FROM fn_copy WHERE id = 2");
    assertEvent(copy, "the function's result copied");
    // An event (mysql.event) that copies the table: its target is audited once the catalog is read.
    await root.query(
      "CREATE EVENT passtrix.ev_copy ON SCHEDULE EVERY 1 HOUR DISABLE DO " +
        "INSERT INTO passtrix.ev_copy_t SELECT account_id, encrypted_password FROM passtrix.ptrx_passwords",
    );
    await px.proxy.auditCatalog?.refresh();
    const ev = px.proxy.audit!.matchStatement("SELECT * FROM ev_copy_t", "passtrix");
    assert.match(String(ev?.via), /event passtrix.ev_copy reaches passtrix.ptrx_passwords/);
  } finally {
    await c.end();
  }
});

test("the server's own copies: binlog events, the general log, other sessions' statements, engine status, files", async () => {
  const c = await px.connect();
  const other = await pair.connect("primary");
  try {
    const [[status]] = (await c.query("SHOW MASTER STATUS")) as unknown as [Array<{ File: string }>];
    // The binlog holds the UPDATE's text (binlog_annotate_row_events).
    let found = false;
    for (let i = 1; i <= Number(status!.File.split(".").pop()) && !found; i++) {
      const file = `mariadb-bin.${String(i).padStart(6, "0")}`;
      const r = await audited(c, `SHOW BINLOG EVENTS IN '${file}'`);
      assertEvent(r, "SHOW BINLOG EVENTS", false);
      found = r.out.includes(CANARY);
    }
    assert.ok(found, "some binlog file shows the canary");
    assertEvent(
      await audited(
        c,
        `SELECT argument FROM mysql.general_log WHERE argument LIKE '%${CANARY.slice(0, 10)}%'`,
      ),
      "mysql.general_log",
    );
    // Another session's statement text, while it runs.
    const slow = other.query(
      `SELECT SLEEP(2) FROM passtrix.ptrx_passwords WHERE encrypted_password = '${CANARY}'`,
    );
    await new Promise((r) => setTimeout(r, 300));
    assertEvent(await audited(c, "SELECT INFO FROM information_schema.PROCESSLIST"), "PROCESSLIST");
    assertEvent(await audited(c, "SHOW FULL PROCESSLIST"), "SHOW FULL PROCESSLIST");
    await slow;
    for (const sql of [
      "SHOW ENGINE INNODB STATUS",
      "SHOW RELAYLOG EVENTS",
      "SELECT * FROM performance_schema.events_statements_history",
      "SELECT * FROM information_schema.INNODB_TRX",
      "SELECT LOAD_FILE('/nonexistent/mariadb-bin.000001')",
      "SHOW WARNINGS",
    ])
      assertEvent(await audited(c, sql), sql, false);
  } finally {
    await c.end();
    await other.end();
  }
});

test("the session's statement texts (SHOW PROFILES) and another session's plan (EXPLAIN FOR CONNECTION) are audited", async () => {
  const c = await px.connect();
  const other = await pair.connect("primary");
  try {
    // Profiling keeps the text of the session's last statements: one that held the canary.
    await c.query("SET profiling = 1");
    await run(c, `SELECT 1 FROM passtrix.other WHERE v = '${CANARY}'`);
    assertEvent(await audited(c, "SHOW PROFILES"), "SHOW PROFILES");
    assertEvent(await audited(c, "SHOW PROFILE FOR QUERY 1"), "SHOW PROFILE", false);
    assertEvent(
      await audited(c, "SELECT * FROM information_schema.PROFILING"),
      "information_schema.PROFILING",
      false,
    );
    // Another session's plan while it runs: FORMAT=JSON shows its conditions with their literals.
    const [[id]] = (await other.query("SELECT CONNECTION_ID() AS id")) as unknown as [{ id: number }[]];
    for (const sql of [
      `EXPLAIN FORMAT=JSON FOR CONNECTION ${id.id}`,
      `SHOW EXPLAIN FORMAT=JSON FOR ${id.id}`,
      `DESC FORMAT=JSON FOR CONNECTION ${id.id}`,
    ]) {
      const slow = other.query(`SELECT SLEEP(1.5) FROM passtrix.other WHERE v = '${CANARY}' OR id = 1`);
      await new Promise((r) => setTimeout(r, 400));
      assertEvent(await audited(c, sql), sql);
      await slow;
    }
  } finally {
    await c.end();
    await other.end();
  }
});

test("dynamic SQL stays unresolved_access", async () => {
  const c = await px.connect();
  try {
    const before = events.length;
    await c.query("PREPARE s FROM 'SELECT 1'");
    assert.ok(
      events.slice(before).some((e) => e.operation === "unresolved_access"),
      "PREPARE … FROM is unresolved",
    );
  } finally {
    await c.end();
  }
});

test("ordinary statements that name no audited object have no event", async () => {
  const c = await px.connect();
  try {
    for (const sql of [
      "SELECT 1",
      "SELECT name FROM ptrx_resources WHERE id = 1",
      "SELECT COUNT(*) FROM ptrx_accounts",
    ])
      assert.is((await audited(c, sql)).got.length, 0, sql);
  } finally {
    await c.end();
  }
});

test("read_only mode (primary killed): the same holds on the secondary, whose catalog pairgate now reads", async () => {
  // Made on the primary, replicated before it dies; not yet seen by pairgate's catalog.
  await root.query(
    "CREATE VIEW passtrix.v_late AS SELECT encrypted_password AS s FROM passtrix.ptrx_passwords",
  );
  const pos = (await root.query("SELECT @@gtid_binlog_pos AS p")) as unknown as [Array<{ p: string }>];
  const sec = await pair.rootConnection("secondary");
  try {
    await sec.query("SELECT MASTER_GTID_WAIT(?, 10)", [pos[0][0]!.p]);
  } finally {
    await sec.end();
  }
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 20_000);
  await px.proxy.auditCatalog?.refresh();
  assert.is(px.proxy.auditCatalog?.lastError ?? null, null, "the catalog was read from the secondary");
  const c = await px.connect();
  try {
    assertEvent(await audited(c, "SELECT s FROM v_late"), "a view learnt from the secondary's catalog");
    assertEvent(
      await audited(
        c,
        `WITH a AS (SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ${ACCOUNT}), ptrx_passwords AS (SELECT 1) SELECT * FROM a`,
      ),
      "CTE shadowing on the secondary",
    );
    const show = await audited(
      c,
      "SHOW DATABASES WHERE (@y := (SELECT GROUP_CONCAT(encrypted_password) FROM passtrix.ptrx_passwords)) IS NOT NULL",
    );
    assertEvent(show, "SHOW DATABASES WHERE on the secondary", false);
    assertEvent(await audited(c, "SELECT @y"), "SELECT @y on the secondary");
    // The secondary's relay log holds the canary UPDATE's text.
    const relay = await audited(c, "SHOW RELAYLOG EVENTS");
    assertEvent(relay, "SHOW RELAYLOG EVENTS", false);
    assert.is(relay.got[0]?.backend, "secondary");
  } finally {
    await c.end();
  }
});

test.run();
