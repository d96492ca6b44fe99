/**
 * Audit by presence (src/audit/presence.ts, rules.ts) and the catalog's derivation (catalog.ts):
 * a statement naming an audited name anywhere matches, whatever shadows it; the server's own
 * copies are sources; views, routines and trigger targets that reach an audited table are found
 * transitively; the plain search for unlexed statements.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  AuditCatalog,
  bodyFacts,
  type CatalogObject,
  ddlObject,
  deriveNames,
} from "../../src/audit/catalog.js";
import { CopiesStore } from "../../src/audit/copies-store.js";
import { NameIndex, presence, searchNameBytes, searchNames } from "../../src/audit/presence.js";
import { AuditedNames, AuditRules } from "../../src/audit/rules.js";
import { classify } from "../../src/sql/classify.js";
import { tablesOf } from "../../src/sql/tables.js";

const RULE = [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }];
const rules = () => new AuditRules(RULE, tablesOf);
const matchOf = (r: AuditRules, sql: string, schema: string | null = "passtrix") =>
  r.match(sql, { defaultSchema: schema, classification: classify(sql) });

test("every clause and statement kind that names the table matches", () => {
  for (const sql of [
    "SELECT encrypted_password FROM ptrx_passwords",
    "SHOW DATABASES WHERE (@x := (SELECT GROUP_CONCAT(encrypted_password) FROM passtrix.ptrx_passwords)) IS NOT NULL",
    "WITH a AS (SELECT encrypted_password FROM ptrx_passwords), ptrx_passwords AS (SELECT 1) SELECT * FROM a",
    "DELETE FROM ptrx_passwords WHERE account_id = 1 RETURNING encrypted_password",
    "UPDATE other o, ptrx_passwords p SET o.v = p.encrypted_password",
    "INSERT INTO other SELECT encrypted_password FROM ptrx_passwords",
    "CREATE TABLE t AS SELECT * FROM `passtrix`.`ptrx_passwords`",
    "CREATE VIEW v AS SELECT * FROM ptrx_passwords",
    "CREATE TRIGGER tr AFTER INSERT ON x FOR EACH ROW SET @s = (SELECT MAX(encrypted_password) FROM ptrx_passwords)",
    "CREATE FUNCTION f() RETURNS TEXT RETURN (SELECT encrypted_password FROM ptrx_passwords LIMIT 1)",
    "SELECT 1 /*!ptrx_passwords*/",
    "SELECT 1 /*M!100000 FROM ptrx_passwords */",
    "SELECT { fn CONCAT((SELECT encrypted_password FROM ptrx_passwords LIMIT 1), '') }",
    "SELECT * FROM ptrx_passwords.encrypted_password",
    "DO (SELECT 1 FROM PTRX_PASSWORDS)",
    "UPDATE ptrx_passwords SET updated_by = 'x'",
    "CREATE TABLE f ENGINE=FEDERATED CONNECTION='mysql://u@h/passtrix/ptrx_passwords'",
    "CREATE TABLE f ENGINE=FEDERATED CONNECTION='mysql://u@h/passtrix/ptr\\x_passwords'",
    "CREATE TABLE f ENGINE=CONNECT TABLE_TYPE=MYSQL SRCDEF='select * from ptrx_passwords'",
    "SELECT 'a\\nptrx_passwords'",
  ]) {
    const m = matchOf(rules(), sql); // fresh names: a copy made by one statement is not the next one's
    assert.is(m?.operation, "password_retrieval", sql);
    assert.is(m?.object, "passtrix.ptrx_passwords", sql);
  }
});

test("qualification and the schema in force decide a qualified rule", () => {
  const r = rules();
  assert.is(matchOf(r, "SELECT * FROM sbtest.ptrx_passwords"), null, "another schema's table");
  assert.is(matchOf(r, "SELECT * FROM ptrx_passwords", "sbtest"), null, "unqualified, other default schema");
  assert.is(matchOf(r, "SELECT p.ptrx_passwords FROM t p", "sbtest"), null, "a column of that name");
  assert.ok(matchOf(r, "USE passtrix; SELECT * FROM ptrx_passwords", "sbtest"), "a USE in the text");
  assert.ok(
    r.match("SELECT * FROM ptrx_passwords", { defaultSchema: "sbtest", schemaUncertain: true }),
    "schema unsure: any schema",
  );
  assert.is(matchOf(r, "SELECT 1 /* ptrx_passwords */"), null, "a plain comment is not read by the server");
  assert.is(matchOf(r, "SELECT * FROM ptrx_passwords_archive"), null, "a longer name");
  assert.is(matchOf(r, "SELECT 'my ptrx_passwords_archive'"), null, "a longer word in a string");
});

test("the server's own copies are sources", () => {
  const r = rules();
  for (const sql of [
    "SHOW BINLOG EVENTS",
    "SHOW RELAYLOG EVENTS",
    "SHOW FULL PROCESSLIST",
    "SELECT info FROM information_schema.PROCESSLIST",
    "SHOW ENGINE INNODB STATUS",
    "SHOW SLAVE STATUS",
    "SHOW ALL SLAVES STATUS",
    "SHOW WARNINGS",
    "GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
    "SELECT * FROM mysql.general_log",
    "SELECT * FROM mysql.slow_log",
    "SELECT min_value FROM mysql.column_stats",
    "SELECT * FROM performance_schema.events_statements_history_long",
    "SELECT * FROM sys.session",
    "SELECT * FROM `sys`.`x$processlist`",
    "SELECT trx_query FROM information_schema.INNODB_TRX",
    "SELECT LOAD_FILE('/var/lib/mysql/mariadb-bin.000001')",
    "LOAD DATA INFILE '/var/lib/mysql/x' INTO TABLE t",
    // The session's own statement texts (profiling), another session's plan with the values the
    // optimizer read (EXPLAIN FOR CONNECTION: MariaDB 10.9+'s spelling of SHOW EXPLAIN FOR).
    "SHOW PROFILES",
    "SHOW PROFILE FOR QUERY 2",
    "SHOW PROFILE ALL",
    "SELECT * FROM information_schema.PROFILING",
    "SELECT * FROM `information_schema` . `profiling`",
    "EXPLAIN FOR CONNECTION 5",
    "EXPLAIN FORMAT=JSON FOR CONNECTION 5",
    "EXPLAIN EXTENDED FOR /**/ CONNECTION 5",
    "DESCRIBE FOR CONNECTION 5",
    "DESC FOR CONNECTION 5",
    "SHOW EXPLAIN FOR 5",
    "SHOW EXPLAIN FORMAT=JSON FOR 5",
    "SHOW ANALYZE FORMAT=JSON FOR 5",
    // The other copies of statement text, one each.
    "SELECT INFO FROM information_schema.PROCESSLIST",
    "SELECT * FROM performance_schema.events_statements_current",
    "SELECT sql_text FROM performance_schema.events_statements_history",
    "SELECT * FROM sys.statement_analysis",
    "SELECT * FROM information_schema.QUERY_CACHE_INFO",
    "SELECT * FROM information_schema.OPTIMIZER_TRACE",
    "SELECT * FROM information_schema.INNODB_FT_INDEX_CACHE",
    "SELECT * FROM information_schema.INNODB_FT_INDEX_TABLE",
  ]) {
    const m = matchOf(r, sql, "sbtest");
    assert.is(m?.operation, "password_retrieval", sql);
    assert.match(String(m?.object), /^server:/, sql);
    assert.is(m?.via, "a copy of data the server keeps", sql);
  }
  assert.ok(matchOf(r, "SELECT * FROM events_statements_current", "performance_schema"), "default schema");
  assert.ok(
    matchOf(r, "SELECT * FROM PROFILING", "information_schema"),
    "PROFILING under its default schema",
  );
  for (const sql of ["SET profiling = 1", "SELECT @@profiling", "EXPLAIN SELECT 1", "KILL CONNECTION 5"])
    assert.is(matchOf(r, sql, "sbtest"), null, `not a source: ${sql}`);
  // What a source fills is a copy: LOAD DATA INFILE … INTO TABLE t above.
  assert.match(
    String(matchOf(r, "SELECT * FROM t", "sbtest")?.via),
    /written by a statement naming server:infile/,
  );
  for (const sql of ["SHOW TABLES", "SHOW COLUMNS FROM u", "SELECT 1 AS system_time", "SHOW MASTER STATUS"])
    assert.is(matchOf(r, sql, "sbtest"), null, sql);
});

test("copies: what a statement naming the table writes is audited from then on, for every rule set sharing the names", () => {
  const shared = new AuditedNames();
  const r = new AuditRules(RULE, tablesOf, {}, shared);
  assert.is(matchOf(r, "SELECT * FROM other"), null);
  assert.ok(matchOf(r, "UPDATE other o, ptrx_passwords p SET o.v = p.encrypted_password"));
  const m = matchOf(r, "SELECT v FROM other");
  assert.is(m?.object, "passtrix.other");
  assert.match(String(m?.via), /written by a statement naming passtrix.ptrx_passwords/);
  // A config reload builds new rules over the same names.
  const again = new AuditRules(RULE, tablesOf, {}, shared);
  assert.is(matchOf(again, "SELECT v FROM other")?.object, "passtrix.other");
  // Transitively: a copy of the copy.
  matchOf(r, "INSERT INTO third SELECT v FROM other");
  assert.is(matchOf(r, "SELECT * FROM third")?.object, "passtrix.third");
  // A rename moves the rows: the new name is audited.
  matchOf(r, "ALTER TABLE ptrx_passwords RENAME TO moved");
  assert.is(matchOf(r, "SELECT * FROM moved")?.object, "passtrix.moved");
  // HANDLER … READ of a handle opened on a copy.
  const h = new Map([["hc", "passtrix.third"]]);
  const hr = "HANDLER hc READ FIRST";
  assert.is(
    r.match(hr, { defaultSchema: "passtrix", classification: classify(hr), handles: h })?.object,
    "passtrix.third",
  );
  // A DELETE copies nothing; neither does a read.
  matchOf(r, "DELETE FROM gone WHERE id IN (SELECT account_id FROM ptrx_passwords)");
  assert.is(matchOf(r, "SELECT * FROM gone"), null);
  // A trigger created through pairgate: its targets.
  matchOf(
    r,
    "CREATE TRIGGER tr AFTER UPDATE ON ptrx_passwords FOR EACH ROW INSERT INTO tcopy VALUES (NEW.encrypted_password) ON DUPLICATE KEY UPDATE v = 1",
  );
  assert.is(matchOf(r, "SELECT * FROM tcopy")?.object, "passtrix.tcopy");
  assert.is(matchOf(r, "SELECT v FROM x"), null, "ON DUPLICATE KEY UPDATE v: a column, not a table");
  // A function created through pairgate: calling it.
  matchOf(r, "CREATE FUNCTION fsec() RETURNS TEXT RETURN (SELECT encrypted_password FROM ptrx_passwords)");
  assert.is(matchOf(r, "SELECT fsec()")?.object, "passtrix.fsec");
});

test("variables a statement naming the table assigns are audited when read later", () => {
  const r = new AuditRules(RULE, tablesOf, {}, new AuditedNames());
  assert.is(matchOf(r, "SELECT @x"), null);
  assert.ok(
    matchOf(
      r,
      "SHOW DATABASES WHERE (@x := (SELECT GROUP_CONCAT(encrypted_password) FROM ptrx_passwords)) IS NOT NULL",
    ),
  );
  const m = matchOf(r, "SELECT @X AS leaked");
  assert.is(m?.object, "@x");
  assert.match(String(m?.via), /assigned by a statement naming passtrix.ptrx_passwords/);
  assert.ok(matchOf(r, "SELECT @`x`"), "quoted");
  assert.is(matchOf(r, "SELECT @y"), null, "another variable");
  assert.is(matchOf(r, "SELECT 1"), null);
  matchOf(r, "SET SESSION default_master_connection = (SELECT MAX(encrypted_password) FROM ptrx_passwords)");
  assert.is(matchOf(r, "SELECT @@session.default_master_connection")?.object, "@@default_master_connection");
  assert.ok(
    matchOf(r, "SHOW SESSION VARIABLES LIKE 'default%'"),
    "SHOW VARIABLES once a system variable holds the data",
  );
  assert.ok(matchOf(r, "SELECT * FROM information_schema.SESSION_VARIABLES"));
});

test("copies survive a restart through the state folder's file; a damaged file is ignored", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-copies-"));
  try {
    const file = join(dir, "state", "audit-copies.json");
    const first = new AuditedNames(null, undefined, new CopiesStore(file));
    matchOf(new AuditRules(RULE, tablesOf, {}, first), "INSERT INTO kept SELECT * FROM ptrx_passwords");
    await first.flush();
    const second = new AuditedNames(null, undefined, new CopiesStore(file));
    assert.is(
      matchOf(new AuditRules(RULE, tablesOf, {}, second), "SELECT * FROM kept")?.object,
      "passtrix.kept",
    );
    writeFileSync(file, "{not json");
    const third = new AuditedNames(null, undefined, new CopiesStore(file));
    assert.is(third.copies.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a reload with fewer rules: copies made under a rule that is gone still match (the first rule)", () => {
  const shared = new AuditedNames();
  const two = new AuditRules([{ operation: "a", tables: ["x.other_secret"] }, ...RULE], tablesOf, {}, shared);
  matchOf(two, "INSERT INTO copy9 SELECT * FROM ptrx_passwords");
  const one = new AuditRules([{ operation: "only", tables: ["x.y"] }], tablesOf, {}, shared);
  assert.equal(matchOf(one, "SELECT * FROM copy9")?.operation, "only");
});

const view = (schema: string, name: string, body: string | null): CatalogObject => ({
  kind: "view",
  schema,
  name,
  body,
});

test("catalog: views, routines, triggers, events and foreign keys that reach an audited table, transitively", () => {
  const seeds = [{ schema: "passtrix", name: "ptrx_passwords", rule: 0 }];
  const objects: CatalogObject[] = [
    view(
      "passtrix",
      "v1",
      "select `passtrix`.`ptrx_passwords`.`encrypted_password` AS `s` from `passtrix`.`ptrx_passwords`",
    ),
    view("app", "v2", "select `app`.`v3`.`s` AS `s` from `app`.`v3`"),
    view("app", "v3", "select `passtrix`.`v1`.`s` AS `s` from `passtrix`.`v1`"),
    view("app", "plain", "select 1 AS `x`"),
    view("app", "hidden", null),
    {
      kind: "routine",
      schema: "passtrix",
      name: "f",
      body: "RETURN (SELECT encrypted_password FROM ptrx_passwords LIMIT 1)",
      sqlMode: "",
    },
    { kind: "routine", schema: "passtrix", name: "g", body: "RETURN f() + 1", sqlMode: "" },
    { kind: "routine", schema: "passtrix", name: "sink", body: "INSERT INTO sunk VALUES (x)", sqlMode: "" },
    { kind: "routine", schema: "passtrix", name: "clean", body: "RETURN 1", sqlMode: "" },
    {
      kind: "trigger",
      schema: "passtrix",
      name: "tr",
      table: { schema: "passtrix", name: "ptrx_passwords" },
      body: "BEGIN INSERT INTO copy1 VALUES (NEW.encrypted_password) ON DUPLICATE KEY UPDATE v = 1; CALL sink(NEW.encrypted_password); END",
      sqlMode: "",
    },
    {
      kind: "trigger",
      schema: "passtrix",
      name: "tr2",
      table: { schema: "passtrix", name: "copy1" },
      body: "UPDATE copy2 SET v = NEW.v",
      sqlMode: "",
    },
    {
      kind: "trigger",
      schema: "passtrix",
      name: "unrelated",
      table: { schema: "passtrix", name: "ptrx_accounts" },
      body: "SET NEW.login_name = LOWER(NEW.login_name)",
      sqlMode: "",
    },
    {
      kind: "event",
      schema: "passtrix",
      name: "ev",
      body: "INSERT INTO evcopy SELECT encrypted_password FROM ptrx_passwords",
      sqlMode: "",
    },
    {
      kind: "foreign_key",
      schema: "passtrix",
      name: "history",
      table: { schema: "passtrix", name: "ptrx_passwords" },
      body: "",
    },
    { kind: "remote_table", schema: "app", name: "fed", body: "", engine: "FEDERATED" },
    {
      kind: "trigger",
      schema: "passtrix",
      name: "leaky",
      table: { schema: "passtrix", name: "ptrx_resources" },
      body: "SET @leak = (SELECT MAX(encrypted_password) FROM ptrx_passwords)",
      sqlMode: "",
    },
    { kind: "routine", schema: "passtrix", name: "reads_leak", body: "RETURN @leak", sqlMode: "" },
    // ANSI_QUOTES: a double-quoted name is an identifier; it is found either way.
    {
      kind: "routine",
      schema: "passtrix",
      name: "ansi",
      body: 'RETURN (SELECT 1 FROM "ptrx_passwords")',
      sqlMode: "ANSI_QUOTES",
    },
  ];
  const got = new Map(deriveNames(objects, seeds).map((n) => [`${n.schema}.${n.name}`, n.via]));
  for (const name of [
    "passtrix.v1",
    "app.v3",
    "app.v2",
    "app.hidden",
    "passtrix.f",
    "passtrix.g",
    "passtrix.copy1",
    "passtrix.copy2",
    "passtrix.sink",
    "passtrix.sunk",
    "passtrix.evcopy",
    "passtrix.history",
    "passtrix.ansi",
    "app.fed",
    "null.@leak",
    "passtrix.ptrx_resources",
    "passtrix.reads_leak",
  ])
    assert.ok(got.has(name), `${name} reaches ptrx_passwords (got ${[...got.keys()].join(", ")})`);
  for (const name of [
    "app.plain",
    "passtrix.clean",
    "passtrix.ptrx_accounts",
    "passtrix.v",
    "passtrix.unrelated",
  ])
    assert.ok(!got.has(name), `${name} does not`);
  assert.is(got.get("app.v2"), "view app.v2 reaches app.v3");
  assert.match(String(got.get("app.hidden")), /not readable/);
});

test("catalog names reach the rules: a generation change rebuilds the index", () => {
  const catalog = new AuditCatalog({ connect: () => Promise.reject(new Error("no server")), intervalMs: 0 });
  const r = new AuditRules(RULE, tablesOf, {}, new AuditedNames(catalog));
  assert.is(matchOf(r, "SELECT * FROM v_sec"), null);
  catalog.set([
    view(
      "passtrix",
      "v_sec",
      "select `passtrix`.`ptrx_passwords`.`x` AS `x` from `passtrix`.`ptrx_passwords`",
    ),
  ]);
  const m = matchOf(r, "SELECT * FROM v_sec");
  assert.is(m?.object, "passtrix.v_sec");
  assert.is(m?.via, "view passtrix.v_sec reaches passtrix.ptrx_passwords");
});

test("catalog: DDL reads it again soon, a CALL or dynamic SQL less soon, never more than once a second", async () => {
  let reads = 0;
  const catalog = new AuditCatalog({
    connect: () => {
      reads++;
      return Promise.reject(new Error("no server"));
    },
    intervalMs: 0,
    afterDdlMs: 10,
  });
  const r = new AuditRules(RULE, tablesOf, {}, new AuditedNames(catalog));
  await catalog.refresh(); // as at start
  assert.is(reads, 1);
  assert.is(catalog.lastError, "no server");
  matchOf(r, "CALL p()");
  await new Promise((res) => setTimeout(res, 100));
  assert.is(reads, 1, "a CALL waits MIN_MAYBE_GAP_MS");
  matchOf(r, "CREATE VIEW v AS SELECT 1");
  matchOf(r, "CREATE TEMPORARY TABLE t (a INT)");
  await new Promise((res) => setTimeout(res, 100));
  assert.is(reads, 1, "the DDL waits for MIN_DDL_GAP_MS after the last read");
  await new Promise((res) => setTimeout(res, 1000));
  assert.is(reads, 2, "the DDL moved the read forward of the CALL's; debounced");
  for (let i = 0; i < 5; i++) matchOf(r, "CREATE OR REPLACE VIEW v AS SELECT 1");
  await new Promise((res) => setTimeout(res, 300));
  assert.is(reads, 2, "at most one read a second");
  catalog.stop();
});

test("ddlObject reads what a CREATE makes", () => {
  assert.equal(ddlObject("CREATE OR REPLACE DEFINER=`a`@`%` SQL SECURITY INVOKER VIEW s.v AS SELECT 1"), {
    kind: "view",
    schema: "s",
    name: "v",
    body: "AS SELECT 1",
  });
  const t = ddlObject("CREATE TRIGGER IF NOT EXISTS `tr` BEFORE INSERT ON db.t FOR EACH ROW SET NEW.a = 1");
  assert.equal(t?.table, { schema: "db", name: "t" });
  assert.is(ddlObject("CREATE PROCEDURE p() SELECT 1")?.kind, "routine");
  assert.is(ddlObject("CREATE TABLE t (a INT)"), null);
  assert.is(ddlObject("CREATE TABLE t (event INT, function INT)"), null);
  assert.is(ddlObject("ALTER TABLE t ADD COLUMN trigger INT"), null);
  assert.is(ddlObject("SELECT 1"), null);
});

test("bodyFacts: writes, not the INSERT()/REPLACE() functions, FOR UPDATE or ON DUPLICATE KEY UPDATE", () => {
  const f = bodyFacts(
    "BEGIN SET x = REPLACE(a, 'b', 'c'); SELECT * FROM t FOR UPDATE; INSERT INTO w1 VALUES (INSERT('a', 1, 1, 'b')) ON DUPLICATE KEY UPDATE col = 1; UPDATE w2, other.w3 SET w2.a = 1; END",
    "db",
  );
  assert.equal(f.writes.sort(), ["db.w1", "db.w2", "other.w3"]);
});

test("presence is one pass: a long statement without the name costs a lexer pass, not more", () => {
  const index = new NameIndex();
  index.add({ schema: "passtrix", name: "ptrx_passwords", rule: 0 });
  const sql = `SELECT ${"a, ".repeat(200_000)}1 FROM t WHERE s = '${"x".repeat(1_000_000)}'`;
  const t0 = performance.now();
  const p = presence(index, { sql, defaultSchema: "passtrix", anySchema: false, ruleOk: () => true });
  const ms = performance.now() - t0;
  assert.is(p.name, null);
  console.log(`presence over ${sql.length} chars: ${ms.toFixed(0)} ms`);
});

test("the plain search for statements too large to lex: text and bytes, ASCII case-insensitive", () => {
  const names = ["ptrx_passwords"];
  assert.is(searchNames("select * from PTRX_PASSWORDS", names), "ptrx_passwords");
  assert.is(searchNames("select 1", names), null);
  assert.is(searchNames("SHOW BINLOG EVENTS", names), "show");
  assert.is(searchNameBytes(Buffer.from("\u0003SELECT * FROM Ptrx_Passwords"), names), "ptrx_passwords");
  assert.is(searchNameBytes(Buffer.from("SELECT 1 FROM t"), names), null);
  const r = rules();
  assert.is(
    r.matchUnlexed(Buffer.from(`SELECT '${"x".repeat(1000)}' FROM ptrx_passwords`))?.operation,
    "password_retrieval",
  );
  assert.is(r.matchUnlexed("SELECT 1"), null);
});

test.run();
