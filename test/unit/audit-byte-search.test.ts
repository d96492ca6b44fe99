/** The byte search that audits statements too long to lex (src/audit/byte-search.ts, issue 19). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AuditedBytes } from "../../src/audit/byte-search.js";

const rules = [
  { operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"], routines: ["passtrix.get_secret"] },
  { operation: "key_read", tables: ["`vault`.`Keys`"], dbUsers: ["app"] },
];
const search = new AuditedBytes(rules);
const m = (text: string, user: string | null = "app") => search.match(Buffer.from(text), 0, user);

test("an audited name anywhere, in any ASCII case, is an audited access", () => {
  assert.equal(m("SELECT 1 FROM passtrix.ptrx_passwords"), {
    operation: "password_retrieval",
    object: "passtrix.ptrx_passwords",
  });
  assert.is(m("select * from `PTRX_Passwords` t")?.operation, "password_retrieval");
  assert.is(
    m("WITH x AS (SELECT 1) SELECT 'ptrx_passwords'")?.operation,
    "password_retrieval",
    "even in a string",
  );
  assert.is(m("SELECT passtrix.GET_SECRET(1)")?.object, "passtrix.get_secret");
  assert.is(m("SELECT * FROM keys")?.object, "vault.keys");
  assert.is(m("SELECT * FROM keys", "other"), null, "a rule bound to other users does not apply");
  assert.is(m("SELECT * FROM ptrx_password"), null);
  assert.is(m(`INSERT INTO t VALUES (1,0x${"ab".repeat(1000)})`), null);
});

test("dynamic SQL words (whole words only) make a conservative match", () => {
  assert.is(m("PREPARE s FROM @q")?.operation, "unresolved_access");
  assert.is(m("x; EXECUTE s")?.operation, "unresolved_access");
  assert.is(m("SELECT 'preparedness', executed_at FROM t"), null);
});

test("fed in slices, a name split between two slices is still found", () => {
  const text = Buffer.from(`SELECT '${"a".repeat(1000)}' FROM ptrx_passwords`);
  const at = text.indexOf("ptrx_passwords") + 5;
  for (const cut of [at - 5, at, at + 3]) {
    const s = search.search("app")!;
    assert.is(s.feed(text, 0, cut), false);
    assert.is(s.feed(text, cut, text.length), true);
    assert.is(s.result()?.operation, "password_retrieval");
  }
  // A word split between slices.
  const w = Buffer.from("x PREPARE s FROM @q");
  const s = search.search("app")!;
  s.feed(w, 0, 5);
  s.feed(w, 5, w.length);
  assert.is(s.result()?.operation, "unresolved_access");
});

test("linear: one pass of a table lookup per byte, whatever the bytes", () => {
  const near = Buffer.from("ptrx_passwordptrx_passwordptrx_".repeat(200_000)); // ~6 MB of near misses
  const plain = Buffer.alloc(near.length, 0x61);
  const time = (b: Buffer) => {
    const t = performance.now();
    search.match(b, 0, "app");
    return performance.now() - t;
  };
  time(plain);
  const a = time(plain);
  const b = time(near);
  assert.ok(b < 5 * a + 200, `near misses ${b.toFixed(0)} ms vs plain ${a.toFixed(0)} ms`);
});

test.run();
