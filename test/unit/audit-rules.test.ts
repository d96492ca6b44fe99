import { test } from "uvu";
import * as assert from "uvu/assert";
import { isUuidV7, UuidV7, uuidV7Time } from "../../src/audit/event.js";
import { AuditRules, CaptureTables, type TablesOf } from "../../src/audit/rules.js";
import { commentTagValue } from "../../src/audit/scan.js";

/** A stand-in for the classifier's tablesOf, good enough for these statements. */
const fakeTablesOf: TablesOf = (sql) => {
  const read = [...sql.matchAll(/\b(?:from|join)\s+([`\w.]+)/gi)].map((m) =>
    m[1]!.replace(/`/g, "").toLowerCase(),
  );
  const written = [
    ...sql.matchAll(/\b(?:insert\s+(?:ignore\s+)?into|update|replace\s+into)\s+([`\w.]+)/gi),
  ].map((m) => m[1]!.replace(/`/g, "").toLowerCase());
  return { read, written };
};

test("UUIDv7: format, version and variant, embedded time", () => {
  const g = new UuidV7();
  const t = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
  const id = g.next(t);
  assert.ok(isUuidV7(id), id);
  assert.is(uuidV7Time(id), t);
});

test("UUIDv7: strictly increasing and unique within a millisecond, across ms and a clock step back", () => {
  const g = new UuidV7();
  const ids: string[] = [];
  const t = 1_700_000_000_000;
  for (let i = 0; i < 10_000; i++) ids.push(g.next(t)); // one ms: counter then borrows
  for (let i = 0; i < 1000; i++) ids.push(g.next(t + 1 + Math.floor(i / 100)));
  for (let i = 0; i < 1000; i++) ids.push(g.next(t - 5000)); // clock stepped back
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `order at ${i}`);
  assert.is(new Set(ids).size, ids.length);
  assert.ok(ids.every(isUuidV7));
  // Two generators (two instances) never produce the same id.
  const h = new UuidV7();
  const other = new Set(Array.from({ length: 10_000 }, () => h.next(t)));
  assert.ok(ids.every((id) => !other.has(id)));
});

test("comment tag scanner", () => {
  const v = (sql: string) => commentTagValue(sql, "app_user");
  assert.is(v("SELECT 1 /* app_user=alice */"), "alice");
  assert.is(v("/* req=9, app_user = 'bob' */ SELECT 1"), "bob");
  assert.is(v("SELECT 1 -- app_user: carol\n"), "carol");
  assert.is(v("SELECT 'app_user=mallory'"), undefined, "not inside a comment");
  assert.is(v("SELECT 1 /* other */ WHERE x = 'app_user=eve'"), undefined);
});

function classifierTests(name: string, tablesOf: TablesOf): void {
  const rules = new AuditRules(
    [
      {
        operation: "password_retrieval",
        tables: ["passtrix.ptrx_passwords"],
        keyPattern: "account_id\\s*=\\s*(\\d+)",
        appUserTag: "app_user",
      },
      { operation: "account_view", tables: ["ptrx_accounts"], appUserPattern: "/\\*\\s*user:(\\w+)" },
    ],
    tablesOf,
  );

  test(`${name}: a read of a rule table matches, qualified or through the default schema`, () => {
    const sql = "SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 42 /* app_user=alice */";
    assert.equal(rules.match(sql, "passtrix"), {
      operation: "password_retrieval",
      object: "passtrix.ptrx_passwords",
      key: "42",
      appUser: "alice",
    });
    assert.is(rules.match(sql, "other"), null, "same table name in another schema");
    assert.is(rules.match(sql, null), null, "no schema known");
    const q = rules.match("SELECT * FROM `passtrix`.`ptrx_passwords` WHERE account_id=7", "sbtest");
    assert.equal(q, { operation: "password_retrieval", object: "passtrix.ptrx_passwords", key: "7" });
    const upper = rules.match("select * from PASSTRIX.PTRX_PASSWORDS", null);
    assert.is(upper?.object, "passtrix.ptrx_passwords");
  });

  test(`${name}: an unqualified rule table matches in any schema; app user from a pattern`, () => {
    const m = rules.match("/* user:dave */ SELECT * FROM a.ptrx_accounts", "x");
    assert.equal(m, { operation: "account_view", object: "a.ptrx_accounts", appUser: "dave" });
  });

  test(`${name}: statements that do not read a rule table do not match`, () => {
    assert.is(rules.match("SELECT 1", "passtrix"), null);
    assert.is(rules.match("SELECT * FROM ptrx_resources", "passtrix"), null);
    assert.is(rules.match("SELECT * FROM ptrx_passwords_archive", "passtrix"), null);
  });

  test(`${name}: capture tables: only a plain INSERT into a listed table`, () => {
    const cap = new CaptureTables(["passtrix.ptrx_audit"], tablesOf);
    const ins = "INSERT INTO ptrx_audit (app_user, operation) VALUES ('alice', 'view')";
    assert.is(cap.match(ins, "passtrix"), "passtrix.ptrx_audit");
    assert.is(cap.match(`/* c */ ${ins}`, "passtrix"), "passtrix.ptrx_audit");
    assert.is(cap.match(ins, "other"), null);
    assert.is(cap.match("INSERT INTO ptrx_audit SELECT * FROM ptrx_accounts", "passtrix"), null);
    assert.is(cap.match(`${ins} ON DUPLICATE KEY UPDATE operation='x'`, "passtrix"), null);
    assert.is(cap.match("UPDATE ptrx_audit SET operation='x'", "passtrix"), null);
    assert.is(cap.match("SELECT * FROM ptrx_audit", "passtrix"), null);
  });
}

test("the precheck keeps the classifier off statements that name no rule table", () => {
  let calls = 0;
  const rules = new AuditRules(
    [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
    (s) => {
      calls++;
      return fakeTablesOf(s);
    },
  );
  for (let i = 0; i < 1000; i++) rules.match(`SELECT c FROM sbtest1 WHERE id=${i}`, "sbtest");
  assert.is(calls, 0);
  // A statement that names the table and writes another: the table scanner finds the copy.
  rules.match("INSERT INTO other SELECT * FROM ptrx_passwords", "passtrix");
  assert.is(calls, 1);
});

test("an invalid rule regex names the rule", () => {
  assert.throws(
    () => new AuditRules([{ operation: "x", tables: ["t"], keyPattern: "(" }], fakeTablesOf),
    /audit\.rules\.0\.keyPattern/,
  );
  // Patterns run in RE2 (linear time): lookaround and backreferences are refused, with the reason.
  assert.throws(
    () => new AuditRules([{ operation: "x", tables: ["t"], appUserPattern: "(?=a)(\\w+)" }], fakeTablesOf),
    /audit\.rules\.0\.appUserPattern.*RE2/,
  );
});

// The rules run against the fake classifier, and against src/sql's tablesOf once it exists.
// (uvu collects tests synchronously, under tsx's CommonJS hook: hence require, not a dynamic import.)
classifierTests("fake", fakeTablesOf);
let real: { tablesOf?: TablesOf } | null = null;
try {
  real =
    typeof require === "function" ? (require("../../src/sql/index.js") as { tablesOf?: TablesOf }) : null;
} catch {
  real = null;
}
if (real?.tablesOf) classifierTests("src/sql", real.tablesOf);
else console.log("audit-rules: src/sql is not there yet; rules tested with a stand-in classifier only");

test.run();
