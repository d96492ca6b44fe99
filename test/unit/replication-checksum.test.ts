import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  boundarySql,
  checksumSql,
  chunkWhere,
  describeRange,
  keyAfter,
  type TableShape,
} from "../../src/replication/checksum.js";
import { formatEndpoint, parseEndpoint, sameEndpoint } from "../../src/replication/endpoint.js";

const table: TableShape = {
  schema: "app",
  table: "orders",
  columns: [
    { name: "a", type: "int(11)", nullable: false },
    { name: "b", type: "varchar(10)", nullable: false },
    { name: "note", type: "text", nullable: true },
  ],
  key: ["a", "b"],
  keyName: "PRIMARY",
};

test("composite key ranges are spelled out, the upper bound inclusive", () => {
  assert.equal(keyAfter(["id"], [5]), { sql: "`id` > ?", params: [5] });
  assert.equal(keyAfter(["a", "b"], [1, "x"]), {
    sql: "(`a` > ? OR (`a` = ? AND `b` > ?))",
    params: [1, 1, "x"],
  });
  assert.equal(chunkWhere(["id"], null, null), { sql: "1 = 1", params: [] });
  assert.equal(chunkWhere(["id"], [10], [20]), { sql: "`id` > ? AND NOT (`id` > ?)", params: [10, 20] });
  assert.equal(chunkWhere(["a", "b"], null, [2, "y"]), {
    sql: "NOT (`a` > ? OR (`a` = ? AND `b` > ?))",
    params: [2, 2, "y"],
  });
  assert.equal(chunkWhere(null, [1], [2]), { sql: "1 = 1", params: [] });
});

test("boundary and checksum queries", () => {
  assert.equal(boundarySql(table, null, 1000), {
    sql: "SELECT `a`, `b` FROM `app`.`orders` ORDER BY `a`, `b` LIMIT 1 OFFSET 999",
    params: [],
  });
  assert.is(
    boundarySql(table, [3, "k"], 10).sql,
    "SELECT `a`, `b` FROM `app`.`orders` WHERE (`a` > ? OR (`a` = ? AND `b` > ?)) ORDER BY `a`, `b` LIMIT 1 OFFSET 9",
  );
  const q = checksumSql(table, chunkWhere(["a", "b"], null, [2, "y"]));
  assert.is(
    q.sql,
    "SELECT COUNT(*) AS cnt, COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', `a`, `b`, `note`, CONCAT(ISNULL(`note`)))), 1, 16), 16, 10) AS UNSIGNED)), 0) AS crc " +
      "FROM `app`.`orders` WHERE NOT (`a` > ? OR (`a` = ? AND `b` > ?))",
  );
});

test("ranges described for people", () => {
  assert.is(describeRange(["id"], [1000], [2000]), "id > 1000 AND id <= 2000");
  assert.is(describeRange(["id"], null, [1000]), "id <= 1000");
  assert.is(describeRange(["id"], [5000], null), "id > 5000");
  assert.is(describeRange(["a", "b"], [1, "x"], null), "(a, b) > (1, 'x')");
  assert.is(describeRange(null, null, null), "whole table");
  assert.is(describeRange(["h"], [Buffer.from([1, 255])], null), "h > 0x01ff");
});

test("HOST:PORT addresses", () => {
  assert.equal(parseEndpoint("db-a:3307"), { host: "db-a", port: 3307 });
  assert.equal(parseEndpoint("db-a"), { host: "db-a", port: 3306 });
  assert.equal(parseEndpoint("[::1]:3307"), { host: "::1", port: 3307 });
  assert.throws(() => parseEndpoint("db-a:x"), /HOST:PORT/);
  assert.throws(() => parseEndpoint(":3306"), /HOST:PORT/);
  assert.is(formatEndpoint({ host: "::1", port: 1 }), "[::1]:1");
  assert.ok(sameEndpoint({ host: "localhost", port: 1 }, { host: "127.0.0.1", port: 1 }));
  assert.not.ok(sameEndpoint({ host: "a", port: 1 }, { host: "a", port: 2 }));
});

test.run();
