/** The byte search that audits statements too long to lex (src/audit/byte-search.ts, issue 19). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AuditedBytes } from "../../src/audit/byte-search.js";

const rules = [
  { operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"], routines: ["passtrix.get_secret"] },
  { operation: "key_read", tables: ["`vault`.`Keys`"], dbUsers: ["app"] },
  // Starts with 8 hex digits: a cut there leaves a slice the prefilter skips.
  { operation: "token_read", tables: ["deadbeef_tokens"] },
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

test("names learned at run time (the catalog's views, copies, server sources) are searched for too", () => {
  const learned = new AuditedBytes(rules, {}, ["secret_view", "processlist"]);
  const hit = (text: string) => learned.match(Buffer.from(text), 0, "app");
  assert.is(hit("SELECT * FROM Secret_View")?.operation, "password_retrieval");
  assert.is(hit("SELECT info FROM information_schema.PROCESSLIST")?.object, "processlist");
  assert.is(m("SELECT * FROM secret_view"), null, "not in the search built from the rules alone");
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

test("linear: four times the near misses take about four times as long, not sixteen", () => {
  // Near misses (a prefix of the audited name again and again) are the worst input for a naive
  // search. A time ratio between two sizes of the same input, not against another input that may
  // take a shortcut; generous enough for a loaded machine, far below what a quadratic scan gives.
  const near = (n: number) => Buffer.from("ptrx_passwordptrx_passwordptrx_".repeat(n));
  const time = (b: Buffer) => {
    const t = performance.now();
    search.match(b, 0, "app");
    return performance.now() - t;
  };
  const small = near(50_000); // ~1.5 MB
  const large = near(200_000); // ~6 MB
  time(small);
  const a = Math.min(time(small), time(small));
  const b = Math.min(time(large), time(large));
  assert.ok(b < 8 * a + 150, `near misses: 4 × the bytes took ${b.toFixed(0)} ms vs ${a.toFixed(0)} ms`);
});

test("the hex prefilter never hides a name: names at random places in hex data, fed in random slices", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const hex = Buffer.from("0123456789abcdefABCDEF");
  for (let round = 0; round < 300; round++) {
    const text = Buffer.alloc(20_000 + rnd(20_000));
    for (let i = 0; i < text.length; i++) text[i] = hex[rnd(hex.length)]!;
    const what = ["ptrx_passwords", "PTRX_Passwords", " prepare ", "\nEXECUTE s", "get_secret", ""][rnd(6)]!;
    if (what) Buffer.from(what).copy(text, rnd(text.length - what.length));
    const s = search.search("app")!;
    let at = 0;
    while (at < text.length) {
      const n = Math.min(text.length - at, rnd(4) === 0 ? 1 + rnd(40) : 200 + rnd(5000));
      s.feed(text, at, at + n);
      at += n;
    }
    const r = s.result();
    if (what === "") assert.is(r, null, `round ${round}: nothing to find`);
    else assert.ok(r !== null, `round ${round}: ${JSON.stringify(what)} found`);
  }
});

test("the hex prefilter: a name cut at every point between two large slices of hex is found", () => {
  for (const what of [
    "ptrx_passwords",
    "PTRX_Passwords",
    " prepare ",
    "\nEXECUTE s",
    "get_secret",
    "DeadBeef_Tokens",
  ]) {
    for (let cut = 1; cut < what.length; cut++) {
      const text = Buffer.alloc(8192, 0x61); // 'a': a hex digit
      const at = 4096 - cut;
      Buffer.from(what).copy(text, at);
      const s = search.search("app")!;
      s.feed(text, 0, 4096);
      s.feed(text, 4096, text.length);
      assert.ok(s.result() !== null, `${JSON.stringify(what)} cut after ${cut}`);
    }
  }
});

test.run();
