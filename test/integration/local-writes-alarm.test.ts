/**
 * Issue 19, "an alarm that cannot be fooled": a write made directly on the secondary (root, with
 * sql_log_bin=1, so a GTID of server id 2) raises the local-writes alarm — the monitor's log line,
 * `pairgate_secondary_local_gtids` — within a few monitor intervals, and keeps it raised after the
 * primary's next transaction (a higher sequence number) moved the secondary's gtid_binlog_pos and
 * Gtid_Slave_Pos past it. At fd3936b the alarm compared the binlog position with Gtid_Slave_Pos,
 * which had absorbed the local GTID: it stayed at 0 (the issue's `0-2-24`).
 */

import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/config/load.js";
import { PairgateProxy } from "../../src/proxy.js";
import { localGtids } from "../../src/topology/gtid.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
let proxy: PairgateProxy;
const logLines: string[] = [];

test.before(async () => {
  pair = await startPair();
  const root = await pair.rootConnection("primary");
  await root.query("CREATE TABLE passtrix.alarm_t (id INT PRIMARY KEY, v VARCHAR(20))");
  await root.end();
  const raw = pair.proxyConfig({
    monitor: { intervalMs: 100, connectTimeoutMs: 1000, queryTimeoutMs: 1000, fall: 3, rise: 2 },
  });
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  proxy = new PairgateProxy(
    parseConfig(raw, join(pair.dir, "alarm.config.json")),
    pino({ level: "info" }, sink),
  );
  await proxy.start();
  await proxy.topology.waitFor("read_write", 15_000);
});

test.after(async () => {
  await proxy?.stop(2000);
  await pair?.stop();
});

const reported = () => proxy.topology.snapshot().secondary.replication?.localGtids ?? null;

async function metric(): Promise<string> {
  const text = await proxy.metrics.registry.metrics();
  return /^pairgate_secondary_local_gtids(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? "(absent)";
}

test("a clean pair: no local GTIDs, the metric at 0", async () => {
  await until("the secondary is checked", async () => reported() !== null);
  assert.equal(reported(), []);
  assert.is(await metric(), "0");
});

test("a write on the secondary raises the alarm, and it stays raised after the positions absorbed it", async () => {
  const sec = await pair.rootConnection("secondary");
  const pri = await pair.rootConnection("primary");
  try {
    // The write on the secondary: root passes read_only; the binlog gets 0-2-<n+1>.
    await sec.query("INSERT INTO passtrix.alarm_t VALUES (1, 'local')");
    const [[s1]] = (await sec.query("SELECT @@global.gtid_binlog_pos AS b")) as unknown as [{ b: string }[]];
    const local = s1.b;
    assert.match(local, /^0-2-\d+$/, `the secondary's own GTID: ${local}`);
    const seq = Number(local.split("-")[2]);

    // The primary's next transactions carry higher sequence numbers (gtid_strict_mode takes them),
    // so replication goes on and the secondary's positions move past the local GTID.
    await pri.query("SET SESSION gtid_seq_no = ?", [seq + 10]);
    await pri.query("INSERT INTO passtrix.alarm_t VALUES (2, 'primary')");
    const [[p]] = (await pri.query("SELECT @@global.gtid_binlog_pos AS b")) as unknown as [{ b: string }[]];
    await sec.query("SELECT MASTER_GTID_WAIT(?, 10)", [p.b]);
    const [[s2]] = (await sec.query(
      "SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_slave_pos AS a, @@global.gtid_binlog_state AS s",
    )) as unknown as [{ b: string; a: string; s: string }[]];
    const [status] = (await sec.query("SHOW ALL SLAVES STATUS")) as unknown as [Record<string, string>[]];
    assert.is(status[0].Slave_SQL_Running, "Yes", "replication runs on");
    assert.is(s2.b, p.b, "the secondary's gtid_binlog_pos is the primary's again");
    assert.is(s2.a, p.b, "Gtid_Slave_Pos absorbed it");
    // The old comparison is fooled here — which is what the alarm must not be.
    assert.equal(localGtids(s2.b, status[0].Gtid_IO_Pos, s2.a, 2), [], "positions alone no longer show it");
    assert.ok(s2.s.split(",").includes(local), `gtid_binlog_state still holds ${local}: ${s2.s}`);

    await until("pairgate reports the local GTID", async () => (reported() ?? []).includes(local), 5000);
    assert.is(await metric(), "1");
    // Several monitor intervals later, still raised.
    await new Promise((r) => setTimeout(r, 600));
    assert.ok((reported() ?? []).includes(local), `still reported: ${JSON.stringify(reported())}`);
    assert.is(await metric(), "1");
    const line = logLines.find((l) => l.includes("transactions of its own") && l.includes(local));
    assert.ok(line, `the monitor logged it:\n${logLines.slice(-5).join("")}`);
    assert.match(line, /"level":50/, "at error level");
  } finally {
    await sec.end();
    await pri.end();
  }
});

test("after the operator cleans the secondary's binlog (RESET MASTER), the alarm clears", async () => {
  const sec = await pair.rootConnection("secondary");
  try {
    await sec.query("STOP SLAVE");
    await sec.query("RESET MASTER");
    await sec.query("START SLAVE");
  } finally {
    await sec.end();
  }
  await until("the alarm clears", async () => (reported() ?? ["?"]).length === 0, 5000);
  assert.is(await metric(), "0");
});

test.run();
