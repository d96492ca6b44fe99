/**
 * Issue 19: statements about transaction characteristics are read as lexer tokens, never matched
 * as text. At fd3936b `SET SESSION TRANSACTION READ/**\/WRITE` passed a regex on the text as a
 * harmless session statement, went to the secondary and lifted its read-only guard.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isProvableRead } from "../../src/routing/router.js";
import { classify } from "../../src/sql/classify.js";
import { makeDialect } from "../../src/sql/dialect.js";

const MARIADB = makeDialect({ serverVersion: "10.11.6-MariaDB-log" });

test("READ WRITE with comments anywhere, any case and spacing, in any scope: never on the secondary", () => {
  const lifts = [
    "SET SESSION TRANSACTION READ/**/WRITE",
    "SET SESSION TRANSACTION READ -- x\n WRITE",
    "SET SESSION TRANSACTION READ #x\n WRITE",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ/*!*/WRITE",
    "SET /*x*/ SESSION /*y*/ TRANSACTION /*z*/ read /**/ write",
    "SET LOCAL TRANSACTION READ\tWRITE",
    "SET @@x = 1, SESSION TRANSACTION READ/**/WRITE",
    "SET TRANSACTION READ/**/WRITE",
    "SET GLOBAL TRANSACTION READ WRITE",
    "SET SESSION TRANSACTION /*!READ WRITE*/",
  ];
  for (const sql of lifts) {
    const c = classify(sql, MARIADB);
    assert.is(c.neverSecondary, true, sql);
    assert.is(c.kind, "write", sql);
    assert.is(isProvableRead(c, { serverReadOnly: true }), false, sql);
  }
});

test("READ ONLY and isolation levels stay session statements (a WRITE in a comment is not a token)", () => {
  for (const sql of [
    "SET SESSION TRANSACTION READ ONLY",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ /* WRITE */ UNCOMMITTED",
  ]) {
    const c = classify(sql, MARIADB);
    assert.is(c.neverSecondary, undefined, sql);
    assert.is(c.kind, "session", sql);
  }
});

test.run();
