import { test } from "uvu";
import * as assert from "uvu/assert";
import { MAX_DIGEST_LENGTH } from "../../src/sql/digest.js";
import { digest } from "../../src/sql/index.js";

const cases: Array<[string, string]> = [
  ["select *  from t where id=42", "SELECT * FROM t WHERE id = ?"],
  ["SELECT\n\t a\n,b  FROM\tt", "SELECT a, b FROM t"],
  ["/* x */ SELECT 1 -- y", "SELECT ?"],
  ["# x\nSELECT 1", "SELECT ?"],
  ["SELECT /*+ BKA(t) */ * FROM t", "SELECT * FROM t"],
  ["/*!40101 SET NAMES utf8 */", "SET NAMES utf8"],
  ["/*M!100101 SET sql_mode = 'ANSI' */;", "SET sql_mode = ?"],
  // literals
  ["SELECT 'a', \"b\", 'it\\'s', 'x''y'", "SELECT ?, ?, ?, ?"],
  ["SELECT 1, 1.5, .5, 1e10, 2.5E-3", "SELECT ?, ?, ?, ?, ?"],
  ["SELECT -3, +4, (-5)", "SELECT ?, ?, (?)"],
  ["SELECT 0x1F, X'ab', b'101', 0b11", "SELECT ?, ?, ?, ?"],
  ["SELECT _utf8mb4'x', N'y', _binary 'z'", "SELECT ?, ?, ?"],
  ["SELECT * FROM t WHERE x = -1", "SELECT * FROM t WHERE x = ?"],
  ["SELECT a-1, a - b, -a, 1-2", "SELECT a - ?, a - b, - a, ? - ?"],
  ["SELECT * FROM t LIMIT 10, 20", "SELECT * FROM t LIMIT ?, ?"],
  ["SELECT * FROM t WHERE id BETWEEN 1 AND 100", "SELECT * FROM t WHERE id BETWEEN ? AND ?"],
  ["SELECT * FROM t WHERE name LIKE 'abc%'", "SELECT * FROM t WHERE name LIKE ?"],
  ["UPDATE t SET a = ? WHERE id = ?", "UPDATE t SET a = ? WHERE id = ?"],
  ["SELECT * FROM t WHERE a IS NULL AND b = TRUE", "SELECT * FROM t WHERE a IS NULL AND b = TRUE"],
  // IN lists
  ["SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (...)"],
  ["SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (...)"],
  ["SELECT * FROM t WHERE id in (?,?,?)", "SELECT * FROM t WHERE id IN (...)"],
  ["SELECT * FROM t WHERE s NOT IN ('a', 'b', -1, NULL)", "SELECT * FROM t WHERE s NOT IN (...)"],
  ["SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN (...)"],
  [
    "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = 1)",
    "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = ?)",
  ],
  ["SELECT * FROM t WHERE id IN (a, 1)", "SELECT * FROM t WHERE id IN (a, ?)"],
  // VALUES rows
  ["INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t(a, b) VALUES (?, ?)"],
  ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t(a, b) VALUES (?, ?), ..."],
  ["INSERT INTO t VALUES (1, NOW()), (2, NOW())", "INSERT INTO t VALUES (?, NOW()), ..."],
  ["INSERT INTO t VALUES (1, 2), (3, DEFAULT)", "INSERT INTO t VALUES (?, ?), (?, DEFAULT)"],
  [
    "INSERT INTO t VALUES (1), (2) ON DUPLICATE KEY UPDATE a = VALUES(a)",
    "INSERT INTO t VALUES (?), ... ON DUPLICATE KEY UPDATE a = VALUES (a)",
  ],
  ["VALUES ROW(1, 2), ROW(3, 4)", "VALUES ROW(?, ?), ROW(?, ?)"],
  // keywords, identifiers, functions
  ["select Name from Users", "SELECT Name FROM Users"],
  ["SELECT `a` FROM `My Table`", "SELECT `a` FROM `My Table`"],
  ["SELECT count(*), now(), concat(a, 'x') FROM t", "SELECT COUNT(*), NOW(), CONCAT(a, ?) FROM t"],
  ["SELECT my_fn(1), COUNT( DISTINCT a )", "SELECT my_fn(?), COUNT(DISTINCT a)"],
  ["SELECT t.a, db.t.b FROM db.t", "SELECT t.a, db.t.b FROM db.t"],
  ["SELECT t.status FROM t", "SELECT t.status FROM t"],
  ["SELECT status.a FROM status", "SELECT status.a FROM STATUS"],
  [
    "SELECT * FROM t WHERE a>=1 AND b<>2 OR c<=>NULL",
    "SELECT * FROM t WHERE a >= ? AND b <> ? OR c <=> NULL",
  ],
  ["SELECT doc->>'$.a' FROM t", "SELECT doc ->> ? FROM t"],
  ["SET @a := 5", "SET @a := ?"],
  ["SELECT @@session.sql_mode", "SELECT @@session.sql_mode"],
  ["select * from t where id = 1 for update", "SELECT * FROM t WHERE id = ? FOR UPDATE"],
  // statements
  ["SELECT 1; SELECT 'a';", "SELECT ?; SELECT ?"],
  ["SELECT 1;;", "SELECT ?"],
  ["", ""],
  ["  /* nothing */ ", ""],
];

for (const [sql, want] of cases) {
  test(`digest ${JSON.stringify(sql)}`, () => {
    assert.is(digest(sql), want);
  });
}

test("the same statement shape gives the same digest", () => {
  const shapes = [
    [
      "SELECT * FROM t WHERE id = 1",
      "select *\nfrom t\nwhere id=999 -- comment",
      "SELECT * FROM t WHERE id = 'x'",
    ],
    ["SELECT * FROM t WHERE id IN (1,2)", "SELECT * FROM t WHERE id IN (3, 4, 5, 6, 7)"],
    ["INSERT INTO t VALUES (1, 'a')", "insert into t values (2,'b')"],
    ["INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')"],
  ];
  for (const group of shapes) {
    const digests = new Set(group.map(digest));
    assert.is(digests.size, 1, JSON.stringify([...digests]));
  }
  assert.is.not(digest("SELECT a FROM t"), digest("SELECT b FROM t"));
});

test("a digest digests to itself", () => {
  for (const sql of ["SELECT * FROM t WHERE id IN (1, 2) AND b = 'x'", "UPDATE t SET a = 1 WHERE b = -2"]) {
    const d = digest(sql);
    assert.is(digest(d), d);
  }
});

test("never throws on truncated input", () => {
  const full =
    "INSERT INTO t (a) VALUES (1, _utf8'x'), (2, 'y') /* c */ ON DUPLICATE KEY UPDATE a IN (1, -2)";
  for (let i = 0; i <= full.length; i++) digest(full.slice(0, i));
  assert.is(digest("SELECT 'unterminated"), "SELECT ?");
});

test("digest is linear in the text and bounded in length (issue 19)", () => {
  // Shapes that were superlinear at fd3936b (a keyword before a dot re-sliced the whole output
  // per token: 55 s for 1 MB; alternating VALUES rows: 32 s).
  const shapes: Record<string, (n: number) => string> = {
    keywordDot: (n) => `SELECT ${"status.x, ".repeat(n / 10)} 1`,
    valuesAlternating: (n) => `INSERT INTO t VALUES ${"(1,'a'),(2),".repeat(n / 12)}(1,'a')`,
    valuesSame: (n) => `INSERT INTO t VALUES ${"(1,'a'),".repeat(n / 8)}(1,'a')`,
    inList: (n) => `SELECT 1 FROM t WHERE a IN (${"1,".repeat(n / 2)}x)`,
    tokens: (n) => `SELECT ${"a, ".repeat(n / 3)} 1`,
  };
  for (const [name, make] of Object.entries(shapes)) {
    const small = make(250_000);
    const big = make(1_000_000);
    let t0 = performance.now();
    const d = digest(big);
    const bigMs = performance.now() - t0;
    t0 = performance.now();
    digest(small);
    const smallMs = performance.now() - t0;
    assert.ok(d.length <= MAX_DIGEST_LENGTH, `${name}: ${d.length} characters`);
    // Generous: a busy machine, and JIT warm-up in the first run.
    assert.ok(bigMs < 2000, `${name}: ${bigMs.toFixed(0)} ms for 1 MB`);
    assert.ok(
      bigMs < 20 * smallMs + 200,
      `${name}: 1 MB ${bigMs.toFixed(0)} ms vs 250 KB ${smallMs.toFixed(0)} ms`,
    );
  }
  assert.is(digest("SELECT (status.x) FROM status"), "SELECT (status.x) FROM STATUS");
});

test.run();
