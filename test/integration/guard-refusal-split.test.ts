/**
 * The secondary's own read-only refusal (ERR 1792) reaches the client as pairgate's 1290 even when
 * the network delivers it cut across two reads: the link to the secondary passes every read of the
 * server's in two writes, its last bytes a moment later, cut at every place that matters in the
 * 64-byte ERR packet (inside its header, right after it, after the 0xFF, in the message). Alone
 * (the ERR is the whole response) and after a first result that went out (a multi-statement).
 *
 * Before pairgate held back the first bytes of a packet that may be an ERR, each cut one reached
 * the client as the server's 1792 ("Cannot execute statement in a READ ONLY transaction").
 */
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { READ_ONLY_MESSAGE } from "../../src/routing/router.js";
import { Link } from "../helpers/link.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { onRoot, waitReplicated } from "../helpers/sql.js";

let pair: TestPair;
let px: RunningProxy;
let link: Link;
let c: Connection;

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };

test.before(async () => {
  pair = await startPair();
  await onRoot(pair, "primary", async (root) => {
    await root.query(`GRANT SUPER, READ_ONLY ADMIN ON *.* TO ${root.escape(pair.appUser.username)}@'%'`);
    await root.query("CREATE TABLE passtrix.split_t (id INT PRIMARY KEY, v VARCHAR(20))");
    await root.query("INSERT INTO passtrix.split_t VALUES (1, 'one')");
    await root.query(
      "CREATE FUNCTION passtrix.split_f() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE passtrix.split_t SET v = 'pwned'; RETURN 1; END",
    );
  });
  await waitReplicated(pair, 20);
  link = await Link.start(pair.secondary, { splitTail: 63 });
  px = await startProxy(pair, pair.proxyConfig({ monitor, secondary: { port: link.port } }));
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 15_000);
  c = await px.connect({ multipleStatements: true });
});

test.after(async () => {
  await c?.end().catch(() => {});
  await px?.stop();
  await link?.close();
  await pair?.stop();
});

async function errOf(sql: string): Promise<{ errno: number; message: string }> {
  try {
    await c.query(sql);
    return { errno: 0, message: "no error" };
  } catch (e) {
    const err = e as { errno?: number; message: string };
    return { errno: err.errno ?? -1, message: err.message };
  }
}

test("an ERR cut anywhere across two reads from the secondary still becomes pairgate's 1290", async () => {
  // The ERR is 64 bytes (4 of header, 60 of payload): 63 leaves 1 header byte in the first read,
  // 60 the header alone, 59 the header and 0xFF, 40 part of the message, 3 all but its end.
  assert.ok(link.connections > 0, "the secondary is reached through the link");
  for (const tail of [63, 61, 60, 59, 56, 40, 3]) {
    link.splitTail = tail;
    for (const sql of ["SELECT passtrix.split_f()", "SELECT 1 AS one; SELECT passtrix.split_f()"]) {
      const e = await errOf(sql);
      assert.is(e.errno, 1290, `cut ${tail} bytes from the end, ${sql}: ${e.message}`);
      assert.is(e.message, READ_ONLY_MESSAGE);
      const [rows] = await c.query("SELECT v FROM passtrix.split_t");
      assert.equal(rows, [{ v: "one" }], `cut ${tail}: the session is usable, nothing was written`);
    }
  }
  // Each refusal counted as pairgate's own are (pairgate_write_rejections_total).
  const metrics = await (await fetch(`http://127.0.0.1:${px.proxy.adminPort}/metrics`)).text();
  const line = metrics.split("\n").find((l) => l.startsWith("pairgate_write_rejections_total "));
  assert.is(Number(line?.split(" ")[1]), 14, `every refusal counted (${line})`);
});

test.run();
