import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Classification, classify, digest, type SessionChange, tablesOf } from "../../src/sql/index.js";

/**
 * Table-driven: [sql, expected]. Fields not given are expected at their defaults: lockingRead false,
 * multi false, no txn, no pinning. `session` is compared only when given.
 */
type Expect = Partial<Classification>;
const v = (name: string, value: string, extra: Partial<SessionChange> = {}): SessionChange => ({
  type: "variable",
  name,
  value,
  ...extra,
});

const cases: Array<[string, Expect]> = [
  // --- plain reads, comments, quoting
  ["SELECT 1", { kind: "read", verb: "SELECT" }],
  ["select * from t where id = 1", { kind: "read", verb: "SELECT" }],
  ["  \n\tSELECT 1", { kind: "read", verb: "SELECT" }],
  ["sElEcT 1", { kind: "read", verb: "SELECT" }],
  ["/* leading */ SELECT 1", { kind: "read", verb: "SELECT" }],
  ["-- comment\nSELECT 1", { kind: "read", verb: "SELECT" }],
  ["# comment\nSELECT 1", { kind: "read", verb: "SELECT" }],
  ["/* a */ /* b */ -- c\n  # d\n SELECT 1", { kind: "read", verb: "SELECT" }],
  ["SELECT 'it\\'s' FROM t", { kind: "read" }],
  ["SELECT 'it''s; DROP TABLE t' FROM t", { kind: "read" }],
  ["SELECT \"a;b\", 'c;d' FROM t", { kind: "read" }],
  ['SELECT 1 FROM t WHERE a = "x\\";y"', { kind: "read" }],
  ["SELECT `we``ird;` FROM `t;`", { kind: "read" }],
  ["SELECT 'a\\'; b'", { kind: "read" }],
  ["SELECT 'a\\\\'; UPDATE t SET a = 1", { kind: "write", multi: true }],
  ["SELECT * FROM t -- ; UPDATE t SET x=1", { kind: "read" }],
  ["SELECT 1 # ; DELETE FROM t", { kind: "read" }],
  ["SELECT /* ; DELETE FROM t; */ 1", { kind: "read" }],
  ["SELECT 1--1", { kind: "read" }],
  ["SELECT * FROM t WHERE name = 'FOR UPDATE'", { kind: "read" }],
  ["SELECT * FROM t WHERE note = 'GET_LOCK(x)'", { kind: "read" }],
  ["SELECT update_time, share FROM t", { kind: "read" }],
  ["SELECT * FROM `for` WHERE `update` = 1", { kind: "read" }],
  ["SELECT 1 FROM DUAL", { kind: "read" }],
  ["SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", { kind: "read" }],
  ["SELECT 1 /* FOR UPDATE */", { kind: "read" }],
  ["SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01 00:00:00'", { kind: "read" }],
  // --- parenthesized queries and CTEs
  ["(SELECT 1)", { kind: "read", verb: "SELECT" }],
  ["  (  ( select a from t ) )", { kind: "read", verb: "SELECT" }],
  ["(SELECT a FROM t) UNION (SELECT b FROM u)", { kind: "read", verb: "SELECT" }],
  ["SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", { kind: "read" }],
  ["WITH x AS (SELECT 1) SELECT * FROM x", { kind: "read", verb: "WITH" }],
  [
    "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT * FROM c",
    { kind: "read", verb: "WITH" },
  ],
  ["WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b", { kind: "read" }],
  ["WITH a AS (SELECT 1) (SELECT * FROM a)", { kind: "read" }],
  ["WITH `q` AS (SELECT 1) TABLE q", { kind: "read" }],
  ["WITH x AS (SELECT 1) UPDATE t SET a = 1", { kind: "write", verb: "WITH" }],
  ["WITH x AS (SELECT id FROM u) DELETE FROM t WHERE id IN (SELECT id FROM x)", { kind: "write" }],
  ["WITH x AS (SELECT GET_LOCK('a', 1)) SELECT * FROM x", { kind: "write", pinning: "get_lock" }],
  ["WITH x AS (SELECT 1) SELECT * FROM x FOR UPDATE", { kind: "write", verb: "WITH", lockingRead: true }],
  // --- SHOW / DESCRIBE / EXPLAIN / ANALYZE and other reads
  ["SHOW TABLES", { kind: "read", verb: "SHOW" }],
  ["show full processlist", { kind: "read", verb: "SHOW" }],
  ["SHOW VARIABLES LIKE 'read_only'", { kind: "read" }],
  ["DESCRIBE t", { kind: "read", verb: "DESCRIBE" }],
  ["DESC t", { kind: "read", verb: "DESC" }],
  ["EXPLAIN SELECT * FROM t", { kind: "read", verb: "EXPLAIN" }],
  ["EXPLAIN UPDATE t SET a = 1", { kind: "read", verb: "EXPLAIN" }],
  ["EXPLAIN FORMAT=JSON DELETE FROM t", { kind: "read" }],
  ["EXPLAIN SELECT * FROM t FOR UPDATE", { kind: "read" }],
  ["EXPLAIN ANALYZE SELECT * FROM t", { kind: "read", verb: "EXPLAIN" }],
  ["EXPLAIN ANALYZE UPDATE t SET a = 1", { kind: "write", verb: "EXPLAIN" }],
  ["EXPLAIN ANALYZE FORMAT=TREE DELETE FROM t WHERE id = 1", { kind: "write" }],
  ["DESCRIBE ANALYZE SELECT * FROM t FOR UPDATE", { kind: "write", lockingRead: true }],
  ["ANALYZE SELECT * FROM t", { kind: "read", verb: "ANALYZE" }],
  ["ANALYZE FORMAT=JSON UPDATE t SET a = 1", { kind: "write", verb: "ANALYZE" }],
  ["ANALYZE TABLE t", { kind: "write", verb: "ANALYZE" }],
  ["ANALYZE NO_WRITE_TO_BINLOG TABLE t1, t2", { kind: "write" }],
  ["HELP 'select'", { kind: "read", verb: "HELP" }],
  ["TABLE t", { kind: "read", verb: "TABLE" }],
  ["VALUES ROW(1, 2), ROW(3, 4)", { kind: "read", verb: "VALUES" }],
  ["CHECKSUM TABLE t", { kind: "read" }],
  ["CHECK TABLE t", { kind: "read" }],
  ["GET DIAGNOSTICS @n = NUMBER", { kind: "read", verb: "GET" }],
  ["SELECT LAST_INSERT_ID()", { kind: "read" }],
  ["SELECT * FROM t WHERE id = LAST_INSERT_ID()", { kind: "read" }],
  ["SELECT SLEEP(1)", { kind: "read" }],
  ["SELECT @a", { kind: "read" }],
  ["SELECT @@session.sql_mode, @@tx_isolation", { kind: "read" }],
  ["SELECT @a = 1", { kind: "read" }],
  // --- locking reads, SELECT ... INTO, functions with effects
  ["SELECT * FROM t WHERE id = 1 FOR UPDATE", { kind: "write", lockingRead: true, verb: "SELECT" }],
  ["select * from t where id=1 for update nowait", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t FOR UPDATE SKIP LOCKED", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t FOR UPDATE WAIT 5", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t lock   in\nshare mode", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t FOR SHARE", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t FOR SHARE OF t NOWAIT", { kind: "write", lockingRead: true }],
  ["(SELECT * FROM t FOR UPDATE)", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", { kind: "write", lockingRead: true }],
  ["SELECT * FROM t /* c */ FOR /* c */ UPDATE", { kind: "write", lockingRead: true }],
  ["SELECT 1 /*! FOR UPDATE */", { kind: "write", lockingRead: true }],
  ["/*M!100100 SELECT 1 FOR UPDATE */", { kind: "write", lockingRead: true }],
  ["SELECT * INTO OUTFILE '/tmp/x' FROM t", { kind: "write" }],
  ["SELECT * FROM t INTO OUTFILE '/tmp/x'", { kind: "write" }],
  ["SELECT a FROM t INTO DUMPFILE '/tmp/x'", { kind: "write" }],
  ["SELECT a INTO @x FROM t", { kind: "write", pinning: "user_variable_select" }],
  ["SELECT a, b FROM t INTO @x, @y", { kind: "write", pinning: "user_variable_select" }],
  ["SELECT @a := 1", { kind: "read", pinning: "user_variable_select" }],
  ["SELECT @rownum := @rownum + 1 AS r, t.* FROM t", { kind: "read", pinning: "user_variable_select" }],
  ["SELECT GET_LOCK('lock1', 10)", { kind: "write", pinning: "get_lock" }],
  ["select get_lock ( 'x' , 0 )", { kind: "write", pinning: "get_lock" }],
  ["SELECT 1 /*!50100 , GET_LOCK('x', 1) */", { kind: "write", pinning: "get_lock" }],
  ["SELECT RELEASE_LOCK('lock1')", { kind: "write" }],
  ["SELECT RELEASE_ALL_LOCKS()", { kind: "write" }],
  ["SELECT IS_FREE_LOCK('l'), IS_USED_LOCK('l')", { kind: "write" }],
  ["SELECT NEXTVAL(seq)", { kind: "write" }],
  ["SELECT NEXT VALUE FOR seq", { kind: "write" }],
  ["SELECT SETVAL(seq, 10)", { kind: "write" }],
  ["SELECT LAST_INSERT_ID(42)", { kind: "write" }],
  ["SELECT LAST_INSERT_ID(id + 1) FROM t", { kind: "write" }],
  // --- writes
  ["INSERT INTO t VALUES (1)", { kind: "write", verb: "INSERT" }],
  ["insert ignore into t (a) values (1)", { kind: "write", verb: "INSERT" }],
  ["REPLACE INTO t VALUES (1)", { kind: "write", verb: "REPLACE" }],
  ["UPDATE t SET a = 1 WHERE id = 2", { kind: "write", verb: "UPDATE" }],
  ["DELETE FROM t WHERE id = 1", { kind: "write", verb: "DELETE" }],
  ["INSERT INTO t SELECT * FROM u", { kind: "write" }],
  ["INSERT INTO t (a) VALUES ('x') ON DUPLICATE KEY UPDATE a = VALUES(a)", { kind: "write" }],
  ["UPDATE t SET a = 1 WHERE id IN (SELECT id FROM u FOR UPDATE)", { kind: "write", lockingRead: true }],
  ["CREATE TABLE t (id INT)", { kind: "write", verb: "CREATE" }],
  ["CREATE TABLE temporary_stuff (id INT)", { kind: "write" }],
  ["CREATE INDEX i ON t (a)", { kind: "write" }],
  ["CREATE VIEW v AS SELECT * FROM t", { kind: "write" }],
  ["ALTER TABLE t ADD COLUMN c INT", { kind: "write", verb: "ALTER" }],
  ["DROP TABLE t", { kind: "write", verb: "DROP" }],
  ["TRUNCATE TABLE t", { kind: "write", verb: "TRUNCATE" }],
  ["TRUNCATE t", { kind: "write" }],
  ["RENAME TABLE a TO b", { kind: "write", verb: "RENAME" }],
  ["GRANT SELECT ON db.* TO 'u'@'%'", { kind: "write", verb: "GRANT" }],
  ["REVOKE ALL ON *.* FROM 'u'@'%'", { kind: "write", verb: "REVOKE" }],
  ["FLUSH PRIVILEGES", { kind: "write", verb: "FLUSH" }],
  ["FLUSH LOGS", { kind: "write" }],
  ["OPTIMIZE TABLE t", { kind: "write", verb: "OPTIMIZE" }],
  ["REPAIR TABLE t", { kind: "write" }],
  ["LOAD DATA INFILE '/tmp/x' INTO TABLE t", { kind: "write", verb: "LOAD" }],
  ["LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t FIELDS TERMINATED BY ','", { kind: "write" }],
  ["CALL p(1)", { kind: "write", verb: "CALL" }],
  ["DO 1", { kind: "write", verb: "DO" }],
  ["DO SLEEP(1)", { kind: "write" }],
  ["KILL 42", { kind: "write" }],
  ["START SLAVE", { kind: "write", verb: "START" }],
  ["STOP REPLICA", { kind: "write" }],
  ["SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", { kind: "write" }],
  ["SET PASSWORD = 'x'", { kind: "write", verb: "SET" }],
  ["SET DEFAULT ROLE ALL TO u", { kind: "write" }],
  ["CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", { kind: "write", verb: "CREATE" }],
  [
    "CREATE DEFINER=`root`@`localhost` TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END",
    { kind: "write" },
  ],
  ["CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN GET_LOCK('a', 1)", { kind: "write" }],
  ["BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; END", { kind: "write", verb: "BEGIN" }],
  // --- transaction control
  ["BEGIN", { kind: "transaction", verb: "BEGIN", txn: "begin" }],
  ["begin work", { kind: "transaction", txn: "begin" }],
  ["START TRANSACTION", { kind: "transaction", verb: "START", txn: "begin" }],
  ["START TRANSACTION READ ONLY", { kind: "transaction", txn: "begin_read_only" }],
  ["start transaction read write", { kind: "transaction", txn: "begin_read_write" }],
  ["START TRANSACTION WITH CONSISTENT SNAPSHOT", { kind: "transaction", txn: "begin" }],
  ["START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", { kind: "transaction", txn: "begin_read_only" }],
  ["COMMIT", { kind: "transaction", verb: "COMMIT", txn: "commit" }],
  ["COMMIT WORK AND NO CHAIN", { kind: "transaction", txn: "commit" }],
  ["ROLLBACK", { kind: "transaction", verb: "ROLLBACK", txn: "rollback" }],
  ["ROLLBACK WORK", { kind: "transaction", txn: "rollback" }],
  ["ROLLBACK TO SAVEPOINT sp1", { kind: "transaction", txn: "rollback_to_savepoint" }],
  ["ROLLBACK WORK TO sp1", { kind: "transaction", txn: "rollback_to_savepoint" }],
  ["SAVEPOINT sp1", { kind: "transaction", verb: "SAVEPOINT", txn: "savepoint" }],
  ["RELEASE SAVEPOINT sp1", { kind: "transaction", verb: "RELEASE", txn: "release_savepoint" }],
  ["XA START 'x'", { kind: "transaction", verb: "XA", txn: "xa" }],
  ["XA COMMIT 'x'", { kind: "transaction", txn: "xa" }],
  ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", { kind: "transaction", txn: "set_transaction" }],
  ["SET TRANSACTION READ ONLY", { kind: "transaction", txn: "set_transaction" }],
  ["/*!40101 BEGIN */", { kind: "transaction", txn: "begin" }],
  // --- session state
  ["SET autocommit=0", { kind: "session", verb: "SET", session: [v("autocommit", "0")] }],
  ["SET autocommit = 1", { kind: "session", session: [v("autocommit", "1")] }],
  ["set AUTOCOMMIT=ON", { kind: "session", session: [v("autocommit", "ON")] }],
  ["SET autocommit=0 /* trailing */", { kind: "session", session: [v("autocommit", "0")] }],
  ["SET sql_mode = 'a' -- why\n", { kind: "session", session: [v("sql_mode", "'a'")] }],
  [
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    {
      kind: "session",
      session: [{ type: "transaction_characteristics", value: "ISOLATION LEVEL READ COMMITTED" }],
    },
  ],
  [
    "SET LOCAL TRANSACTION READ ONLY",
    { kind: "session", session: [{ type: "transaction_characteristics", value: "READ ONLY" }] },
  ],
  ["SET NAMES utf8mb4", { kind: "session", session: [{ type: "names", value: "utf8mb4" }] }],
  [
    "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
    { kind: "session", session: [{ type: "names", value: "utf8mb4", collation: "utf8mb4_unicode_ci" }] },
  ],
  [
    "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'",
    { kind: "session", session: [{ type: "names", value: "'utf8mb4'", collation: "utf8mb4_bin" }] },
  ],
  ["SET NAMES DEFAULT", { kind: "session", session: [{ type: "names", value: "DEFAULT" }] }],
  ["SET CHARACTER SET latin1", { kind: "session", session: [{ type: "charset", value: "latin1" }] }],
  ["SET CHARSET utf8", { kind: "session", session: [{ type: "charset", value: "utf8" }] }],
  ["SET @@session.sql_mode='ANSI'", { kind: "session", session: [v("sql_mode", "'ANSI'")] }],
  ["SET @@sql_mode = 'ANSI'", { kind: "session", session: [v("sql_mode", "'ANSI'")] }],
  ["SET @@SESSION.SQL_MODE = ''", { kind: "session", session: [v("sql_mode", "''")] }],
  ["SET @@local.wait_timeout = 60", { kind: "session", session: [v("wait_timeout", "60")] }],
  ["SET SESSION `sql_mode` = ''", { kind: "session", session: [v("sql_mode", "''")] }],
  [
    "SET time_zone='+00:00', sql_mode=''",
    { kind: "session", session: [v("time_zone", "'+00:00'"), v("sql_mode", "''")] },
  ],
  [
    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
    { kind: "session", session: [v("sql_mode", "CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')")] },
  ],
  [
    "SET sql_mode = REPLACE(@@sql_mode, 'ONLY_FULL_GROUP_BY', ''), autocommit = 1",
    {
      kind: "session",
      session: [v("sql_mode", "REPLACE(@@sql_mode, 'ONLY_FULL_GROUP_BY', '')"), v("autocommit", "1")],
    },
  ],
  ["SET @a := 1", { kind: "session", session: [{ type: "user_variable", name: "a", value: "1" }] }],
  [
    "SET @a = 1, @b = 'x'",
    {
      kind: "session",
      session: [
        { type: "user_variable", name: "a", value: "1" },
        { type: "user_variable", name: "b", value: "'x'" },
      ],
    },
  ],
  [
    "SET @`my var` = 2",
    { kind: "session", session: [{ type: "user_variable", name: "my var", value: "2" }] },
  ],
  ["SET @'q' = 2", { kind: "session", session: [{ type: "user_variable", name: "q", value: "2" }] }],
  ["SET @MyVar = 3", { kind: "session", session: [{ type: "user_variable", name: "myvar", value: "3" }] }],
  [
    "SET @x = (SELECT COUNT(*) FROM t)",
    { kind: "session", session: [{ type: "user_variable", name: "x", value: "(SELECT COUNT(*) FROM t)" }] },
  ],
  [
    "SET @x = NEXTVAL(s)",
    { kind: "write", session: [{ type: "user_variable", name: "x", value: "NEXTVAL(s)" }] },
  ],
  ["USE db1", { kind: "session", verb: "USE", session: [{ type: "use", schema: "db1", value: "db1" }] }],
  ["USE `my db`", { kind: "session", session: [{ type: "use", schema: "my db", value: "`my db`" }] }],
  ["use `a``b`;", { kind: "session", session: [{ type: "use", schema: "a`b", value: "`a``b`" }] }],
  [
    "/*!40101 SET NAMES utf8 */",
    { kind: "session", verb: "SET", session: [{ type: "names", value: "utf8" }] },
  ],
  [
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
    {
      kind: "session",
      session: [{ type: "user_variable", name: "old_character_set_client", value: "@@CHARACTER_SET_CLIENT" }],
    },
  ],
  [
    "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
    {
      kind: "session",
      session: [
        { type: "user_variable", name: "old_unique_checks", value: "@@UNIQUE_CHECKS" },
        v("unique_checks", "0"),
      ],
    },
  ],
  // With the server version unknown (classify's default dialect) a MariaDB versioned comment is
  // uncertain; see sql-lexer-parity.test.ts for the same text against a known MariaDB version.
  ["/*M!100101 SET sql_mode = 'ANSI' */", { kind: "unknown", session: [v("sql_mode", "'ANSI'")] }],
  ["/*!50100 SET time_zone = '+00:00' */", { kind: "session", session: [v("time_zone", "'+00:00'")] }],
  ["/*! SET time_zone = 'UTC'*/", { kind: "session", session: [v("time_zone", "'UTC'")] }],
  // --- global SET is a write
  [
    "SET GLOBAL max_connections = 100",
    { kind: "write", session: [v("max_connections", "100", { global: true })] },
  ],
  ["SET @@global.read_only = 1", { kind: "write", session: [v("read_only", "1", { global: true })] }],
  [
    "SET PERSIST max_connections = 200",
    { kind: "write", session: [v("max_connections", "200", { global: true })] },
  ],
  [
    "SET GLOBAL a = 1, b = 2",
    { kind: "write", session: [v("a", "1", { global: true }), v("b", "2", { global: true })] },
  ],
  ["SET @@global.a = 1, b = 2", { kind: "write", session: [v("a", "1", { global: true }), v("b", "2")] }],
  [
    "SET SESSION wait_timeout = 28800, GLOBAL max_connections = 10",
    { kind: "write", session: [v("wait_timeout", "28800"), v("max_connections", "10", { global: true })] },
  ],
  // --- MariaDB SET STATEMENT ... FOR, SET ROLE
  ["SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", { kind: "read", verb: "SET" }],
  ["SET STATEMENT max_statement_time = 1, sql_mode = '' FOR UPDATE t SET a = 1", { kind: "write" }],
  ["SET ROLE ALL", { kind: "unknown", verb: "SET" }],
  // --- pinning
  ["LOCK TABLES t READ", { kind: "write", verb: "LOCK", pinning: "lock_tables" }],
  ["LOCK TABLE t1 WRITE, t2 READ", { kind: "write", pinning: "lock_tables" }],
  ["UNLOCK TABLES", { kind: "write", verb: "UNLOCK", pinning: "unlock_tables" }],
  ["LOCK INSTANCE FOR BACKUP", { kind: "write", pinning: "lock_tables" }],
  ["FLUSH TABLES WITH READ LOCK", { kind: "write", pinning: "lock_tables" }],
  ["FLUSH TABLES t FOR EXPORT", { kind: "write", pinning: "lock_tables" }],
  ["BACKUP STAGE START", { kind: "write", pinning: "lock_tables" }],
  ["CREATE TEMPORARY TABLE tmp (id INT)", { kind: "write", pinning: "temporary_table" }],
  ["CREATE TEMPORARY TABLE IF NOT EXISTS tmp SELECT * FROM t", { kind: "write", pinning: "temporary_table" }],
  ["CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)", { kind: "write", pinning: "temporary_table" }],
  ["DROP TEMPORARY TABLE tmp", { kind: "write", pinning: "temporary_table" }],
  ["PREPARE s FROM 'SELECT 1'", { kind: "write", verb: "PREPARE", pinning: "prepare_sql" }],
  ["EXECUTE s USING @a", { kind: "write", verb: "EXECUTE", pinning: "prepare_sql" }],
  ["DEALLOCATE PREPARE s", { kind: "write", pinning: "prepare_sql" }],
  ["DROP PREPARE s", { kind: "write", pinning: "prepare_sql" }],
  ["HANDLER t OPEN", { kind: "write", verb: "HANDLER", pinning: "handler" }],
  ["HANDLER t READ FIRST", { kind: "write", pinning: "handler" }],
  // --- multi-statements
  ["SELECT 1; SELECT 2", { kind: "read", multi: true }],
  ["SELECT 1; UPDATE t SET a = 1", { kind: "write", multi: true, verb: "SELECT" }],
  ["UPDATE t SET a = 1; SELECT 1", { kind: "write", multi: true, verb: "UPDATE" }],
  ["SELECT 1;", { kind: "read" }],
  ["SELECT 1;;  ; ", { kind: "read" }],
  ["SELECT 1; /* c */", { kind: "read" }],
  ["SELECT 1; -- c", { kind: "read" }],
  ["BEGIN; UPDATE t SET a=1; COMMIT", { kind: "write", multi: true, verb: "BEGIN", txn: "commit" }],
  ["BEGIN; SELECT 1", { kind: "transaction", multi: true, txn: "begin" }],
  ["SET NAMES utf8; SELECT 1", { kind: "session", multi: true, session: [{ type: "names", value: "utf8" }] }],
  [
    "SET sql_mode = ''; SET time_zone = '+00:00'",
    {
      kind: "session",
      multi: true,
      // `statement`: the index of the statement that makes the change (the first has none).
      session: [v("sql_mode", "''"), v("time_zone", "'+00:00'", { statement: 1 })],
    },
  ],
  ["/*!40101 SET NAMES utf8 */; SELECT 1", { kind: "session", multi: true }],
  ["SELECT 1; SELECT GET_LOCK('a', 1)", { kind: "write", multi: true, pinning: "get_lock" }],
  ["SELECT 1; SELECT * FROM t FOR UPDATE", { kind: "write", multi: true, lockingRead: true }],
  ["SELECT 1; FOO", { kind: "unknown", multi: true }],
  // --- unknown
  ["", { kind: "unknown", verb: "" }],
  ["   ", { kind: "unknown", verb: "" }],
  ["/* only a comment */", { kind: "unknown", verb: "" }],
  ["-- x", { kind: "unknown", verb: "" }],
  [";", { kind: "unknown", verb: "" }],
  ["FOOBAR 1", { kind: "unknown", verb: "FOOBAR" }],
  ["123", { kind: "unknown", verb: "" }],
  ["DECLARE x INT", { kind: "unknown", verb: "DECLARE" }],
  ["SIGNAL SQLSTATE '45000'", { kind: "unknown", verb: "SIGNAL" }],
  ["BEGIN garbage", { kind: "unknown", verb: "BEGIN" }],
  ["SET", { kind: "unknown", verb: "SET" }],
  ["SET foo", { kind: "unknown" }],
  ["USE", { kind: "unknown" }],
];

for (const [sql, exp] of cases) {
  test(`classify ${JSON.stringify(sql)}`, () => {
    const c = classify(sql);
    const want: Expect = { lockingRead: false, multi: false, txn: undefined, pinning: undefined, ...exp };
    for (const key of Object.keys(want) as Array<keyof Classification>) {
      assert.equal(c[key], want[key], `${key} of ${JSON.stringify(sql)}: ${JSON.stringify(c)}`);
    }
  });
}

test("at least 150 table cases", () => {
  assert.ok(cases.length >= 150, String(cases.length));
});

test("a session change carries no keys it does not use", () => {
  assert.equal(Object.keys(classify("SET autocommit=0").session![0]).sort(), ["name", "type", "value"]);
  assert.equal(Object.keys(classify("SELECT 1")).sort(), ["kind", "lockingRead", "multi", "verb"]);
});

test("never throws on truncated or odd input", () => {
  const bits = [
    "SELECT",
    "'",
    '"',
    "`",
    "/*",
    "/*!",
    "*/",
    "--",
    "#",
    "(",
    ")",
    ";",
    "@",
    "@@",
    "SET",
    "=",
    ",",
  ];
  for (const a of bits) for (const b of bits) for (const c of bits) classify(`${a} ${b}${c}`);
  assert.is(classify("SELECT 'unterminated").kind, "read");
  // An unterminated comment is a syntax error for the server: pairgate does not claim to read it.
  assert.is(classify("SELECT 1 /* unterminated").kind, "unknown");
  assert.is(classify("SET @x = 'unterminated").kind, "session");
});

test("statements nested without end do not overflow the stack", () => {
  for (const unit of ["EXPLAIN ANALYZE ", "ANALYZE ", "SET STATEMENT a=1 FOR ", "WITH x AS (SELECT 1) "]) {
    const sql = unit.repeat(50_000) + "SELECT 1";
    assert.is(classify(sql).kind, "unknown");
    tablesOf(sql);
  }
  assert.is(classify("EXPLAIN ANALYZE ".repeat(3) + "UPDATE t SET a = 1").kind, "write");
  const deep = "(".repeat(100_000) + "SELECT 1" + ")".repeat(100_000);
  assert.is(classify(deep).kind, "read");
  assert.equal(tablesOf(deep), { read: [], written: [] });
});

test("random token soup: no throw, no hang, a valid kind", () => {
  const words = [
    "SELECT",
    "FROM",
    "t",
    "(",
    ")",
    ",",
    ";",
    "'s'",
    '"d"',
    "`q`",
    "@v",
    "@@session.x",
    ":=",
    "=",
    "FOR",
    "UPDATE",
    "SHARE",
    "LOCK",
    "IN",
    "MODE",
    "INTO",
    "SET",
    "NAMES",
    "WITH",
    "AS",
    "BEGIN",
    "NOT",
    "END",
    "CREATE",
    "TEMPORARY",
    "TABLE",
    "GET_LOCK",
    "DELETE",
    "USING",
    "JOIN",
    "ON",
    "/*!",
    "*/",
    "/* c */",
    "-- c\n",
    "#c\n",
    "1",
    "-",
    "0x1f",
    "_utf8",
    "VALUES",
    "EXPLAIN",
    "ANALYZE",
    "USE",
    "GLOBAL",
    ".",
    "?",
  ];
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const kinds = new Set(["read", "write", "transaction", "session", "unknown"]);
  for (let i = 0; i < 3000; i++) {
    const parts: string[] = [];
    const len = 1 + rnd(14);
    for (let j = 0; j < len; j++) parts.push(words[rnd(words.length)]);
    const sql = parts.join(rnd(2) ? " " : "");
    assert.ok(kinds.has(classify(sql).kind), sql);
    tablesOf(sql);
    digest(sql);
  }
});

test.run();
