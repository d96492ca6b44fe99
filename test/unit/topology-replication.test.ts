import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  lastContactStatement,
  losslessVerdict,
  parseReplicationRow,
  parseSemiSync,
  parseVersion,
  pickReplicationRow,
  replicationStatement,
  secondaryLocalGtids,
} from "../../src/topology/server-status.js";

test("versions: flavour and the replication statement for each", () => {
  const maria = parseVersion("10.11.19-MariaDB-0+deb12u1-log");
  assert.equal(maria, { flavor: "mariadb", major: 10, minor: 11, patch: 19 });
  assert.is(replicationStatement(maria), "SHOW ALL SLAVES STATUS");
  assert.is(replicationStatement(parseVersion("8.0.21")), "SHOW SLAVE STATUS");
  assert.is(replicationStatement(parseVersion("8.0.22")), "SHOW REPLICA STATUS");
  assert.is(replicationStatement(parseVersion("8.4.0")), "SHOW REPLICA STATUS");
  assert.is(replicationStatement(parseVersion("5.7.44-log")), "SHOW SLAVE STATUS");
  assert.is(lastContactStatement(parseVersion("5.7.44")), null);
  assert.match(lastContactStatement(parseVersion("8.0.36"))!, "replication_connection_status");
  assert.match(lastContactStatement(maria)!, "Slave_IO");
});

test("a MariaDB row (SHOW ALL SLAVES STATUS) reads into the shared shape", () => {
  const r = parseReplicationRow({
    Connection_name: "",
    Slave_IO_State: "Waiting for master to send event",
    Master_Host: "127.0.0.1",
    Master_Port: 45717,
    Slave_IO_Running: "Yes",
    Slave_SQL_Running: "Yes",
    Seconds_Behind_Master: 0,
    Last_IO_Error: "",
    Last_SQL_Error: "",
    Master_SSL_Allowed: "Yes",
    Gtid_IO_Pos: "0-1-22",
    Gtid_Slave_Pos: "0-1-22",
  });
  assert.equal(r, {
    ioRunning: "Yes",
    sqlRunning: "Yes",
    secondsBehind: 0,
    lastIoError: "",
    lastSqlError: "",
    sslAllowed: true,
    gtidIoPos: "0-1-22",
    gtidExecuted: "0-1-22",
    ioState: "Waiting for master to send event",
    sourceHost: "127.0.0.1",
    sourcePort: 45717,
    secondsSinceMasterContact: null,
  });
});

test("a MySQL 8 row (SHOW REPLICA STATUS) and a stopped IO thread", () => {
  const r = parseReplicationRow({
    Replica_IO_State: "Reconnecting after a failed source event read",
    Source_Host: "db1",
    Source_Port: 3306,
    Replica_IO_Running: "Connecting",
    Replica_SQL_Running: "Yes",
    Seconds_Behind_Source: null,
    Last_IO_Error: "error reconnecting to source 'repl@db1:3306' - retry-time: 60 retries: 1",
    Last_SQL_Error: "",
    Source_SSL_Allowed: "No",
    Retrieved_Gtid_Set: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5",
    Executed_Gtid_Set: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5",
  });
  assert.is(r.ioRunning, "Connecting");
  assert.is(r.secondsBehind, null);
  assert.is(r.sslAllowed, false);
  assert.match(r.lastIoError, "error reconnecting");
  assert.is(r.gtidIoPos, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5");
  assert.is(r.sourcePort, 3306);
});

test("multi-source: the default (unnamed) connection is chosen", () => {
  const rows = [{ Connection_name: "a" }, { Connection_name: "" }];
  assert.is(pickReplicationRow(rows), rows[1]);
  assert.is(pickReplicationRow([{ Connection_name: "x" }])!.Connection_name, "x");
  assert.is(pickReplicationRow([]), null);
});

test("semi-sync rows: active, fallen back, off, absent; MySQL source/replica names", () => {
  const row = (n: string, v: string) => ({ n, v });
  const active = parseSemiSync([
    row("RPL_SEMI_SYNC_MASTER_STATUS", "ON"),
    row("RPL_SEMI_SYNC_MASTER_CLIENTS", "1"),
    row("RPL_SEMI_SYNC_MASTER_ENABLED", "ON"),
    row("RPL_SEMI_SYNC_MASTER_TIMEOUT", "2000"),
    row("RPL_SEMI_SYNC_MASTER_WAIT_POINT", "AFTER_SYNC"),
    row("RPL_SEMI_SYNC_SLAVE_ENABLED", "ON"),
    row("RPL_SEMI_SYNC_SLAVE_STATUS", "OFF"),
  ]);
  assert.equal(active, {
    enabled: true,
    active: true,
    clients: 1,
    timeoutMs: 2000,
    waitPoint: "AFTER_SYNC",
    replicaEnabled: true,
    replicaActive: false,
  });
  assert.is(losslessVerdict(active).lossless, true);
  const fell = losslessVerdict({ ...active!, active: false, clients: 0 });
  assert.is(fell.lossless, false);
  assert.match(fell.reason, "fell back to asynchronous");
  assert.match(losslessVerdict({ ...active!, enabled: false, active: false }).reason, "off on the primary");
  // wait_no_slave=OFF: the status stays ON with no replica connected, yet nothing waits.
  const alone = losslessVerdict({ ...active!, clients: 0 });
  assert.is(alone.lossless, false);
  assert.match(alone.reason, "no semi-synchronous replica is connected");
  assert.match(losslessVerdict({ ...active!, waitPoint: "AFTER_COMMIT" }).reason, "AFTER_SYNC");
  assert.is(parseSemiSync([]), null);
  assert.match(losslessVerdict(null).reason, "asynchronous");
  const mysql = parseSemiSync([
    row("RPL_SEMI_SYNC_SOURCE_STATUS", "ON"),
    row("RPL_SEMI_SYNC_SOURCE_ENABLED", "1"),
  ]);
  assert.is(mysql?.active, true);
  assert.is(mysql?.enabled, true);
});

test("local writes: any binlog_state entry whose server id is not the primary's, whatever Gtid_Slave_Pos says (issue 19)", () => {
  const replica = (extra: Record<string, unknown> = {}) => ({
    Master_Server_Id: 1,
    Gtid_IO_Pos: "0-1-40",
    Gtid_Slave_Pos: "0-1-40",
    ...extra,
  });
  const vars = (b: string, s: string, a = b) => ({ b, s, a });
  // A clean replica: only the primary's server id.
  assert.equal(secondaryLocalGtids(vars("0-1-40", "0-1-40"), replica(), 2), []);
  // Issue 19: 0-2-24 written on the secondary, then absorbed: the positions all say 0-1-40.
  assert.equal(secondaryLocalGtids(vars("0-1-40", "0-1-40,0-2-24"), replica(), 2), ["0-2-24"]);
  // Another domain, another server id (a third server, or SET gtid_domain_id): still local.
  assert.equal(secondaryLocalGtids(vars("0-1-40,9-2-3", "0-1-40,9-2-3,0-7-5"), replica(), 2), [
    "0-7-5",
    "9-2-3",
  ]);
  // Before the replica first connected Master_Server_Id is 0: the secondary's own id is the tell.
  assert.equal(secondaryLocalGtids(vars("0-1-40", "0-1-40,0-2-24"), replica({ Master_Server_Id: 0 }), 2), [
    "0-2-24",
  ]);
  assert.equal(secondaryLocalGtids(vars("0-1-40", "0-1-40"), replica({ Master_Server_Id: 0 }), 2), []);
  // The primary's id under a spoofed server_id: the binlog beyond what was received and applied.
  assert.equal(secondaryLocalGtids(vars("0-1-41", "0-1-41", "0-1-40"), replica(), 2), ["0-1-41"]);
  // ... but not a transaction applied between the status row and this statement (read after).
  assert.equal(secondaryLocalGtids(vars("0-1-41", "0-1-41", "0-1-41"), replica(), 2), []);
  assert.equal(secondaryLocalGtids(undefined, replica(), 2), []);
});

test.run();
