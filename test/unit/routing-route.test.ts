/**
 * Every routing rule as a table: mode × read role × where the session is × transaction × statement
 * class → decision. The rows are the spec; `route` must agree with each.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Role } from "../../src/backend/connection.js";
import {
  type Decision,
  preparedClassOf,
  retryTarget,
  route,
  routeLogin,
  type StatementClass,
  statementClassOf,
} from "../../src/routing/router.js";
import { classify } from "../../src/sql/index.js";
import type { Mode } from "../../src/topology/types.js";

type Row = [Mode, Role, Role | null, boolean, StatementClass, string];

const P = "primary";
const S = "secondary";

// Expected: "P" / "S" (+ "r" when retryable), "1290" (read_only refusal), "down".
const rows: Row[] = [
  // read_write: everything to the primary; reads and probes retryable outside a transaction.
  ["read_write", S, null, false, "read", "Pr"],
  ["read_write", S, P, false, "write", "P"],
  ["read_write", S, P, false, "harmless", "P"],
  ["read_write", S, P, false, "none", "P"],
  ["read_write", S, P, false, "probe", "Pr"],
  ["read_write", S, P, true, "read", "P"],
  ["read_write", S, P, true, "probe", "P"],
  // A transaction opened on the secondary stays there after the primary returns; its writes refused.
  ["read_write", S, S, true, "read", "S"],
  ["read_write", S, S, true, "harmless", "S"],
  ["read_write", S, S, true, "none", "S"],
  ["read_write", S, S, true, "write", "1290"],
  // ... but outside a transaction the session goes back to the primary.
  ["read_write", S, S, false, "read", "Pr"],
  ["read_write", S, S, false, "write", "P"],
  // read_only: provable reads and harmless statements to the read role, writes refused.
  ["read_only", S, P, false, "read", "Sr"],
  ["read_only", S, null, false, "harmless", "S"],
  ["read_only", S, P, false, "write", "1290"],
  ["read_only", S, P, false, "none", "S"],
  ["read_only", S, P, false, "probe", "Sr"],
  ["read_only", S, S, true, "read", "S"],
  ["read_only", S, S, true, "write", "1290"],
  // A transaction still open on the primary in read_only (the primary is leaving): not retried.
  ["read_only", S, P, true, "read", "S"],
  ["read_only", S, P, true, "write", "1290"],
  // read_only with the primary as read role (secondary down, primary answers read-only).
  ["read_only", P, P, false, "read", "Pr"],
  ["read_only", P, P, false, "write", "1290"],
  ["read_only", P, null, false, "none", "P"],
  // down: nothing runs, except what a secondary transaction still holds.
  ["down", S, null, false, "read", "down"],
  ["down", S, P, false, "none", "down"],
  ["down", S, P, false, "write", "down"],
  ["down", S, S, true, "read", "S"],
  ["down", S, S, true, "write", "1290"],
];

function show(d: Decision): string {
  if ("refuse" in d) return d.refuse === "read_only" ? "1290" : "down";
  return (d.to === "primary" ? "P" : "S") + (d.retryable ? "r" : "");
}

test("route: every rule, one row each", () => {
  for (const [mode, readRole, current, inTransaction, statement, want] of rows) {
    const got = show(route({ mode, readRole, current, inTransaction, statement }));
    assert.is(got, want, `${mode} readRole=${readRole} current=${current} txn=${inTransaction} ${statement}`);
  }
});

test("route: decisions are shared frozen constants (no allocation per statement)", () => {
  const input = { mode: "read_write" as Mode, readRole: S as Role, current: P as Role, inTransaction: false };
  const a = route({ ...input, statement: "read" });
  const b = route({ ...input, statement: "probe" });
  assert.is(a, b);
  assert.ok(Object.isFrozen(a));
});

test("routeLogin and retryTarget", () => {
  assert.is(show(routeLogin("read_write", S)), "P");
  assert.is(show(routeLogin("read_only", S)), "S");
  assert.is(show(routeLogin("read_only", P)), "P");
  assert.is(show(routeLogin("down", S)), "down");
  assert.is(retryTarget("read_only", S, P), S);
  assert.is(
    retryTarget("read_write", S, P),
    P,
    "the primary's check passed: the failure was the session's alone",
  );
  assert.is(retryTarget("read_only", P, P), null, "never again on the primary that is leaving");
  assert.is(retryTarget("down", S, P), null);
  assert.is(retryTarget("read_only", S, S), S);
});

test("statement classes from the classifier", () => {
  const cases: [string, StatementClass][] = [
    ["SELECT 1", "read"],
    ["SELECT * FROM t FOR UPDATE", "write"],
    ["SELECT * FROM t LOCK IN SHARE MODE", "write"],
    ["INSERT INTO t VALUES (1)", "write"],
    ["SET NAMES utf8mb4", "harmless"],
    ["SET GLOBAL max_connections = 10", "write"],
    ["USE db", "harmless"],
    ["BEGIN", "harmless"],
    ["START TRANSACTION READ ONLY", "harmless"],
    ["START TRANSACTION READ WRITE", "write"],
    ["COMMIT", "harmless"],
    ["XA START 'x'", "write"],
  ];
  for (const [sql, want] of cases) assert.is(statementClassOf(classify(sql)), want, sql);
  assert.is(preparedClassOf("read", false), "read");
  assert.is(preparedClassOf("read", true), "write");
  assert.is(preparedClassOf("session", false), "write", "a prepared SET is not run on the secondary");
  assert.is(preparedClassOf("write", false), "write");
  const guarded = { serverReadOnly: true };
  assert.is(preparedClassOf("unknown", false, true), "write", "a routine call: not without the guard");
  assert.is(preparedClassOf("unknown", false, true, guarded), "read", "a routine call under the guard");
  assert.is(preparedClassOf("unknown", true, true, guarded), "write", "locking, guard or not");
  assert.is(preparedClassOf("unknown", false, false, guarded), "write", "unknown for other reasons");
  assert.is(preparedClassOf("write", false, true, guarded), "write");
});

test.run();
