import { test } from "uvu";
import * as assert from "uvu/assert";
import { tablesOf } from "../../src/sql/index.js";

/** [sql, read, written] */
const cases: Array<[string, string[], string[]]> = [
  // SELECT
  ["SELECT * FROM a JOIN b.c ON a.id = c.id WHERE x IN (SELECT y FROM d)", ["a", "b.c", "d"], []],
  ["SELECT * FROM t1, t2 WHERE t1.id = t2.id", ["t1", "t2"], []],
  ["SELECT * FROM t1 a, t2 AS b, t3", ["t1", "t2", "t3"], []],
  ["SELECT * FROM t1 LEFT JOIN t2 USING (id), t3", ["t1", "t2", "t3"], []],
  ["SELECT * FROM t1 LEFT OUTER JOIN t2 ON t1.a = t2.a AND t2.b IN (1, 2), t3", ["t1", "t2", "t3"], []],
  ["SELECT * FROM t1 NATURAL JOIN t2", ["t1", "t2"], []],
  ["SELECT * FROM t1 STRAIGHT_JOIN t2 CROSS JOIN t3", ["t1", "t2", "t3"], []],
  ["SELECT * FROM (SELECT * FROM inner_t) AS d JOIN other o ON o.id = d.id", ["inner_t", "other"], []],
  ["SELECT * FROM (SELECT a FROM x) d, (SELECT b FROM y) AS e", ["x", "y"], []],
  ["SELECT * FROM (t1, t2) JOIN t3 ON t1.a = t3.a", ["t1", "t2", "t3"], []],
  ["SELECT * FROM t1 JOIN (t2 JOIN t3 ON t2.a = t3.a) ON t1.a = t2.a", ["t1", "t2", "t3"], []],
  ["SELECT a, b FROM t ORDER BY a, b", ["t"], []],
  ["SELECT a FROM t GROUP BY a, b HAVING COUNT(*) > 1 LIMIT 1, 2", ["t"], []],
  ["SELECT (SELECT MAX(x) FROM m) AS mx, y FROM t", ["m", "t"], []],
  ["SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", ["t", "u"], []],
  ["SELECT * FROM t1 UNION SELECT * FROM t2", ["t1", "t2"], []],
  ["(SELECT a FROM t1) UNION ALL (SELECT a FROM t2)", ["t1", "t2"], []],
  ["SELECT * FROM T1 JOIN t1 x", ["t1"], []],
  ["SELECT * FROM t1 USE INDEX (i1) JOIN t2 FORCE INDEX FOR JOIN (i2) ON 1, t3", ["t1", "t2", "t3"], []],
  ["SELECT * FROM t1 IGNORE INDEX FOR ORDER BY (i1), t2", ["t1", "t2"], []],
  ["SELECT 1 FROM DUAL", [], []],
  ["SELECT 1", [], []],
  ["SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS jt", [], []],
  ["SELECT * FROM t1, LATERAL (SELECT * FROM t2 WHERE t2.a = t1.a) AS d", ["t1", "t2"], []],
  ["SELECT * FROM t FOR UPDATE", ["t"], []],
  ["SELECT * FROM t PARTITION (p0, p1) WHERE 1", ["t"], []],
  ["SELECT * FROM db.t AS x JOIN db2.`u` y ON x.a = y.a", ["db.t", "db2.u"], []],
  ["SELECT * FROM `My DB`.`Tab``le`", ["my db.tab`le"], []],
  ["SELECT * FROM t WHERE a = 'FROM u'", ["t"], []],
  ["SELECT * FROM /* c */ t -- x", ["t"], []],
  ["/*!40000 SELECT * FROM t */", ["t"], []],
  ["SELECT * FROM status, `select`, data", ["status", "select", "data"], []],
  ["TABLE t", ["t"], []],
  ["SELECT a INTO @x FROM t LIMIT 1", ["t"], []],
  ["SELECT * FROM t WINDOW w AS (PARTITION BY a, b)", ["t"], []],
  // CTEs are not tables
  ["WITH c AS (SELECT * FROM base) SELECT * FROM c JOIN other ON 1", ["base", "other"], []],
  ["WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r", [], []],
  ["WITH a AS (SELECT 1 FROM x), b AS (SELECT 2 FROM y) SELECT * FROM a, b, z", ["x", "y", "z"], []],
  ["WITH c AS (SELECT id FROM s) UPDATE t JOIN c ON c.id = t.id SET t.a = 1", ["s"], ["t"]],
  // INSERT / REPLACE
  ["INSERT INTO x SELECT * FROM y", ["y"], ["x"]],
  ["INSERT INTO x SELECT * FROM x", [], ["x"]],
  ["INSERT INTO db.t (a, b) VALUES (1, 2), (3, 4)", [], ["db.t"]],
  ["insert low_priority ignore into t(a) values (1)", [], ["t"]],
  ["INSERT t VALUES (1)", [], ["t"]],
  ["INSERT INTO t SET a = (SELECT MAX(a) FROM u)", ["u"], ["t"]],
  ["INSERT INTO t SELECT * FROM u ON DUPLICATE KEY UPDATE a = 1, b = 2", ["u"], ["t"]],
  ["INSERT INTO t VALUES (1) AS new ON DUPLICATE KEY UPDATE a = new.a, b = 2", [], ["t"]],
  ["INSERT INTO t TABLE s", ["s"], ["t"]],
  ["REPLACE INTO t (a) VALUES (1)", [], ["t"]],
  ["REPLACE INTO t SELECT * FROM s", ["s"], ["t"]],
  // UPDATE
  ["UPDATE t SET x = 1 WHERE id = 2", [], ["t"]],
  ["UPDATE a JOIN b ON a.id = b.id SET a.x = b.x", [], ["a", "b"]],
  ["UPDATE a, b SET a.x = 1 WHERE a.id = b.id", [], ["a", "b"]],
  ["UPDATE LOW_PRIORITY IGNORE t AS x SET x.a = 1", [], ["t"]],
  ["UPDATE t SET x = 1 WHERE id IN (SELECT id FROM u)", ["u"], ["t"]],
  ["UPDATE t AS a JOIN (SELECT id FROM u) d ON d.id = a.id SET a.x = 1", ["u"], ["t"]],
  // DELETE
  ["DELETE FROM t WHERE id = 1", [], ["t"]],
  ["DELETE FROM a WHERE id IN (SELECT id FROM b)", ["b"], ["a"]],
  ["DELETE FROM a USING a JOIN b ON a.id = b.id WHERE b.x = 1", ["b"], ["a"]],
  [
    "DELETE t1, t2 FROM t1 INNER JOIN t2 INNER JOIN t3 WHERE t1.id = t2.id AND t2.id = t3.id",
    ["t3"],
    ["t1", "t2"],
  ],
  ["DELETE a FROM t1 AS a JOIN t2 b ON a.id = b.id", ["t2"], ["t1"]],
  ["DELETE a.* FROM t1 a, t2 b WHERE a.id = b.id", ["t2"], ["t1"]],
  ["DELETE FROM x1, x2 USING t1 AS x1 JOIN t2 AS x2 ON x1.id = x2.id JOIN t3", ["t3"], ["t1", "t2"]],
  ["DELETE FROM t AS a WHERE a.x = 1", [], ["t"]],
  ["DELETE LOW_PRIORITY QUICK IGNORE FROM db.t WHERE 1", [], ["db.t"]],
  // DDL and utility statements
  ["CREATE TABLE n AS SELECT * FROM o", ["o"], ["n"]],
  ["CREATE TABLE IF NOT EXISTS n (id INT, FOREIGN KEY (id) REFERENCES p (id))", [], ["n"]],
  ["CREATE TABLE n LIKE o", ["o"], ["n"]],
  ["CREATE TABLE n (LIKE o)", ["o"], ["n"]],
  ["CREATE TEMPORARY TABLE tmp SELECT a FROM t", ["t"], ["tmp"]],
  ["CREATE OR REPLACE VIEW v AS SELECT * FROM t", ["t"], ["v"]],
  ["CREATE UNIQUE INDEX i ON t (a)", [], ["t"]],
  ["CREATE PROCEDURE p() BEGIN SELECT * FROM t; END", [], []],
  ["ALTER TABLE t ADD COLUMN c INT", [], ["t"]],
  ["ALTER ONLINE TABLE db.t ENGINE=InnoDB", [], ["db.t"]],
  // The new name holds the rows (issue 19: a rename must not shed the audit)
  ["ALTER TABLE t RENAME TO n", [], ["t", "n"]],
  ["ALTER TABLE IF EXISTS db.t ADD c INT, RENAME AS db2.n", [], ["db.t", "db2.n"]],
  ["ALTER TABLE t RENAME COLUMN a TO b", [], ["t"]],
  ["ALTER TABLE t RENAME INDEX a TO b", [], ["t"]],
  ["ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE s", [], ["t", "s"]],
  ["DROP TABLE IF EXISTS a, b.c", [], ["a", "b.c"]],
  ["DROP TEMPORARY TABLE tmp", [], ["tmp"]],
  ["DROP INDEX i ON t", [], ["t"]],
  ["TRUNCATE TABLE t", [], ["t"]],
  ["TRUNCATE t", [], ["t"]],
  ["RENAME TABLE a TO b, c TO d", [], ["a", "b", "c", "d"]],
  ["LOAD DATA INFILE '/x' INTO TABLE t", [], ["t"]],
  ["LOAD DATA LOCAL INFILE 'x.csv' REPLACE INTO TABLE db.t FIELDS TERMINATED BY ','", [], ["db.t"]],
  ["OPTIMIZE TABLE a, b", [], ["a", "b"]],
  ["ANALYZE NO_WRITE_TO_BINLOG TABLE a", [], ["a"]],
  ["CHECK TABLE a", ["a"], []],
  ["LOCK TABLES a READ, b AS bb WRITE, c READ LOCAL", ["a", "c"], ["b"]],
  ["HANDLER t OPEN", ["t"], []],
  ["DESCRIBE t", ["t"], []],
  ["DESC db.t", ["db.t"], []],
  ["EXPLAIN SELECT * FROM t", ["t"], []],
  ["EXPLAIN UPDATE t SET a = 1", ["t"], []],
  ["EXPLAIN FORMAT=JSON DELETE FROM t", ["t"], []],
  ["EXPLAIN ANALYZE DELETE FROM t", [], ["t"]],
  ["SHOW TABLES FROM db", [], []],
  ["SHOW COLUMNS FROM t", [], []],
  ["SET @x = (SELECT COUNT(*) FROM t)", ["t"], []],
  ["CALL p((SELECT MAX(a) FROM t))", ["t"], []],
  ["BEGIN", [], []],
  // multi-statements
  ["SELECT * FROM a; UPDATE b SET x = 1", ["a"], ["b"]],
  ["SELECT * FROM a; SELECT * FROM a", ["a"], []],
  ["UPDATE a SET x = 1; SELECT * FROM a", [], ["a"]],
];

for (const [sql, read, written] of cases) {
  test(`tablesOf ${JSON.stringify(sql)}`, () => {
    assert.equal(tablesOf(sql), { read, written }, sql);
  });
}

test("never throws on truncated input", () => {
  const full = "WITH c AS (SELECT * FROM a) DELETE x FROM t1 AS x JOIN (SELECT id FROM b) d USING (id)";
  for (let i = 0; i <= full.length; i++) tablesOf(full.slice(0, i));
  assert.equal(tablesOf("SELECT * FROM"), { read: [], written: [] });
  assert.equal(tablesOf("UPDATE"), { read: [], written: [] });
});

test.run();
