import { test } from "uvu";
import * as assert from "uvu/assert";
import { DumpScanner } from "../../src/replication/seed.js";
import { dialectFor, unsupportedVersion } from "../../src/replication/server-family.js";

const maria = dialectFor("10.11.19-MariaDB-0+deb12u1-log");
const mysql80 = dialectFor("8.0.36");
const mysql84 = dialectFor("8.4.2");

const change = {
  host: "db-a.example",
  port: 3306,
  user: "pairgate_repl",
  password: "p'w\\x",
  sslCa: "/etc/mysql/ca.pem",
  verifyServerCert: true,
};

test("the family is chosen by @@version", () => {
  assert.is(maria.flavor, "mariadb");
  assert.is(mysql80.flavor, "mysql");
  assert.is(maria.optionGroup, "[mariadbd]");
  assert.is(mysql80.optionGroup, "[mysqld]");
  assert.is(unsupportedVersion(maria.version), null);
  assert.is(unsupportedVersion(mysql80.version), null);
  assert.match(unsupportedVersion(dialectFor("8.0.21").version)!, "8.0.23");
  assert.match(unsupportedVersion(dialectFor("10.1.48-MariaDB").version)!, "10.3");
});

test("MariaDB: CHANGE MASTER by GTID over verified TLS, with the password escaped", () => {
  assert.is(
    maria.changeSource(change),
    "CHANGE MASTER TO MASTER_HOST = 'db-a.example', MASTER_PORT = 3306, MASTER_USER = 'pairgate_repl', " +
      "MASTER_PASSWORD = 'p\\'w\\\\x', MASTER_USE_GTID = slave_pos, MASTER_SSL = 1, " +
      "MASTER_SSL_CA = '/etc/mysql/ca.pem', MASTER_SSL_VERIFY_SERVER_CERT = 1, " +
      "MASTER_CONNECT_RETRY = 5, MASTER_HEARTBEAT_PERIOD = 1",
  );
  assert.is(
    maria.changeSourceTls({ verifyServerCert: false }),
    "CHANGE MASTER TO MASTER_SSL = 1, MASTER_SSL_CA = '', MASTER_SSL_VERIFY_SERVER_CERT = 0",
  );
  assert.equal(maria.seedPosition("0-1-42,1-5-7"), ["SET GLOBAL gtid_slave_pos = '0-1-42,1-5-7'"]);
  assert.is(maria.replicaStatus(), "SHOW SLAVE STATUS");
  assert.is(maria.stopReplica(), "STOP SLAVE");
  assert.is(maria.resetReplicaAll(), "RESET SLAVE ALL");
  assert.is(maria.startReplicaUntil("0-1-9"), "START SLAVE UNTIL master_gtid_pos = '0-1-9'");
  assert.is(maria.waitForPosition("0-1-9", 30), "SELECT MASTER_GTID_WAIT('0-1-9', 30) AS r");
  assert.is(maria.loggedPosition(), "SELECT @@GLOBAL.gtid_binlog_pos AS pos");
  assert.is(maria.appliedPosition(), "SELECT @@GLOBAL.gtid_slave_pos AS pos");
  assert.is(maria.resetBinlog(), "RESET MASTER");
  assert.equal(maria.setReadOnly(true), ["SET GLOBAL read_only = ON"]);
  assert.equal(maria.createReplicationUser("r", "%", "pw"), [
    "CREATE USER IF NOT EXISTS 'r'@'%' IDENTIFIED BY 'pw' REQUIRE SSL",
    "ALTER USER 'r'@'%' IDENTIFIED BY 'pw' REQUIRE SSL",
    "GRANT REPLICATION SLAVE ON *.* TO 'r'@'%'",
  ]);
  assert.is(maria.disableEventOnReplica("app", "nightly"), "ALTER EVENT `app`.`nightly` DISABLE ON SLAVE");
  const snap = maria.snapshot();
  assert.equal(snap.after, []);
  assert.match(snap.position, "BINLOG_GTID_POS");
  assert.ok(snap.begin.includes("START TRANSACTION WITH CONSISTENT SNAPSHOT"));
});

test("MySQL 8: CHANGE REPLICATION SOURCE with auto-position and TLS; GTID variables; 8.4 reset", () => {
  assert.is(
    mysql80.changeSource(change),
    "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db-a.example', SOURCE_PORT = 3306, SOURCE_USER = 'pairgate_repl', " +
      "SOURCE_PASSWORD = 'p\\'w\\\\x', SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, " +
      "SOURCE_SSL_CA = '/etc/mysql/ca.pem', SOURCE_SSL_VERIFY_SERVER_CERT = 1, " +
      "SOURCE_CONNECT_RETRY = 5, SOURCE_HEARTBEAT_PERIOD = 1",
  );
  assert.is(mysql80.replicaStatus(), "SHOW REPLICA STATUS");
  assert.is(mysql80.stopReplica(), "STOP REPLICA");
  assert.is(mysql80.startReplica(), "START REPLICA");
  assert.is(mysql80.stopIoThread(), "STOP REPLICA IO_THREAD");
  assert.is(mysql80.resetReplicaAll(), "RESET REPLICA ALL");
  assert.is(mysql80.startReplicaUntil("u:1-5"), "START REPLICA UNTIL SQL_AFTER_GTIDS = 'u:1-5'");
  assert.is(mysql80.waitForPosition("u:1-5", 10), "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 10) AS r");
  assert.is(mysql80.loggedPosition(), "SELECT @@GLOBAL.gtid_executed AS pos");
  assert.equal(mysql80.seedPosition("u:1-5"), ["SET GLOBAL gtid_purged = 'u:1-5'"]);
  assert.is(mysql80.resetBinlog(), "RESET MASTER");
  assert.is(mysql84.resetBinlog(), "RESET BINARY LOGS AND GTIDS");
  assert.equal(mysql80.setReadOnly(true), ["SET GLOBAL read_only = ON", "SET GLOBAL super_read_only = ON"]);
  assert.equal(mysql80.setReadOnly(false), [
    "SET GLOBAL super_read_only = OFF",
    "SET GLOBAL read_only = OFF",
  ]);
  assert.equal(mysql80.createReplicationUser("r", "10.0.0.%", "pw"), [
    "CREATE USER IF NOT EXISTS 'r'@'10.0.0.%' IDENTIFIED WITH caching_sha2_password BY 'pw' REQUIRE SSL",
    "ALTER USER 'r'@'10.0.0.%' IDENTIFIED WITH caching_sha2_password BY 'pw' REQUIRE SSL",
    "GRANT REPLICATION SLAVE ON *.* TO 'r'@'10.0.0.%'",
  ]);
  assert.is(mysql80.disableEventOnReplica("app", "e"), "ALTER EVENT `app`.`e` DISABLE ON REPLICA");
  assert.equal(mysql80.showCreateUserPrelude(), ["SET SESSION print_identified_with_as_hex = ON"]);
  const snap = mysql80.snapshot();
  assert.equal(snap.begin.slice(1), [
    "FLUSH TABLES WITH READ LOCK",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT",
  ]);
  assert.is(snap.position, "SELECT @@GLOBAL.gtid_executed AS pos");
  assert.equal(snap.after, ["UNLOCK TABLES"]);
});

test("dump and client arguments: consistency, GTID position as a comment, TLS, no binlog on the replica", () => {
  const args = { host: "h", port: 1, user: "admin", databases: ["app", "crm"], dropDatabases: false };
  const m = maria.dumpArgs({ ...args, tls: { enabled: true, ca: "/ca.pem" } });
  for (const a of [
    "--single-transaction",
    "--gtid",
    "--master-data=2",
    "--ssl",
    "--ssl-ca=/ca.pem",
    "--ssl-verify-server-cert",
  ])
    assert.ok(m.includes(a), a);
  assert.equal(m.slice(-3), ["--databases", "app", "crm"]);
  assert.not.ok(m.some((a) => a.includes("password")));
  const y = mysql80.dumpArgs({ ...args, tls: { enabled: true }, dropDatabases: true });
  for (const a of [
    "--single-transaction",
    "--set-gtid-purged=COMMENTED",
    "--ssl-mode=REQUIRED",
    "--add-drop-database",
  ])
    assert.ok(y.includes(a), a);
  assert.ok(
    maria
      .clientArgs({ host: "h", port: 2, user: "admin", tls: { enabled: false } })
      .includes("--init-command=SET SESSION sql_log_bin = 0"),
  );
  assert.ok(
    mysql80
      .clientArgs({ host: "h", port: 2, user: "admin", tls: { enabled: true, ca: "/c" } })
      .includes("--ssl-mode=VERIFY_IDENTITY"),
  );
});

test("the dump's GTID position is found (the last one), MariaDB and MySQL forms", () => {
  const mariaDump = [
    "-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;",
    "INSERT INTO `t` VALUES (1,'-- SET GLOBAL gtid_slave_pos=\\'9-9-9\\';');",
    "-- SET GLOBAL gtid_slave_pos='0-1-5,1-3-77';",
    "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;",
  ].join("\n");
  assert.is(maria.parseDumpPosition(mariaDump), "0-1-5,1-3-77");
  assert.is(maria.parseDumpPosition("-- nothing here"), null);
  const mysqlDump =
    "/* SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n" +
    "8f2a0e1c-71ca-11e1-9e33-c80aa9429562:1-77'; */\n";
  assert.is(
    mysql80.parseDumpPosition(mysqlDump),
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,8f2a0e1c-71ca-11e1-9e33-c80aa9429562:1-77",
  );
});

test("the dump scanner counts tables and finds the position across chunk boundaries", () => {
  const text =
    "-- Current Database: `app`\n\n-- Dumping data for table `t1`\nINSERT ...;\n" +
    "-- Dumping data for table `t``2`\nINSERT ...;\n-- SET GLOBAL gtid_slave_pos='0-1-123';\n";
  for (let cut = 1; cut < text.length; cut += 7) {
    const s = new DumpScanner(maria);
    s.scan(text.slice(0, cut));
    s.scan(text.slice(cut));
    assert.is(s.tables, 2, `cut at ${cut}`);
    assert.is(s.position, "0-1-123", `cut at ${cut}`);
    assert.is(s.current, "app.t`2");
  }
});

test("replica status rows of both families read into one shape", () => {
  const m = maria.parseReplicaStatus({
    Slave_IO_Running: "Yes",
    Slave_SQL_Running: "No",
    Master_Host: "10.0.0.1",
    Master_Port: 3306,
    Master_User: "pairgate_repl",
    Master_SSL_Allowed: "Yes",
    Master_SSL_Verify_Server_Cert: "Yes",
    Master_SSL_CA_File: "/ca.pem",
    Using_Gtid: "Slave_Pos",
    Gtid_IO_Pos: "0-1-7",
    Seconds_Behind_Master: null,
    Relay_Log_Space: 1191,
    Last_SQL_Error: "Duplicate entry",
  })!;
  assert.is(m.sqlRunning, "No");
  assert.is(m.sourceHost, "10.0.0.1");
  assert.is(m.sslAllowed, true);
  assert.is(m.usingGtid, "Slave_Pos");
  assert.is(m.receivedPos, "0-1-7");
  assert.is(m.secondsBehind, null);
  assert.is(m.lastSqlError, "Duplicate entry");
  const y = mysql80.parseReplicaStatus({
    Replica_IO_Running: "Connecting",
    Replica_SQL_Running: "Yes",
    Source_Host: "db-a",
    Source_Port: 3306,
    Source_User: "r",
    Source_SSL_Allowed: "Yes",
    Source_SSL_Verify_Server_Cert: "No",
    Auto_Position: 1,
    Retrieved_Gtid_Set: "u:1-5,\nv:1-2",
    Executed_Gtid_Set: "u:1-5,\nv:1-2",
    Seconds_Behind_Source: 3,
  })!;
  assert.is(y.ioRunning, "Connecting");
  assert.is(y.sourceHost, "db-a");
  assert.is(y.usingGtid, "Auto_Position");
  assert.is(y.receivedPos, "u:1-5,v:1-2");
  assert.is(y.sslVerifyServerCert, false);
  assert.is(y.secondsBehind, 3);
  assert.is(maria.parseReplicaStatus(undefined), null);
});

test("semi-sync (lossless, both sides) and parallel apply: MariaDB built in, MySQL plugins by version", () => {
  assert.equal(maria.semiSyncStatements(2500), [
    "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
    "SET GLOBAL rpl_semi_sync_master_timeout = 2500",
    "SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF",
    "SET GLOBAL rpl_semi_sync_master_enabled = ON",
    "SET GLOBAL rpl_semi_sync_slave_enabled = ON",
  ]);
  assert.ok(maria.semiSyncOptionLines(2500).includes("rpl_semi_sync_master_wait_point = AFTER_SYNC"));
  assert.equal(maria.parallelApplyStatements(), [
    "SET GLOBAL slave_parallel_threads = 4",
    "SET GLOBAL slave_parallel_mode = 'optimistic'",
  ]);
  assert.match(maria.semiSyncStatus(), "information_schema.GLOBAL_STATUS");
  assert.equal(mysql80.semiSyncStatements(1000).slice(0, 3), [
    "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'",
    "INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'",
    "SET GLOBAL rpl_semi_sync_source_wait_point = 'AFTER_SYNC'",
  ]);
  assert.ok(mysql80.semiSyncOptionLines(1000).includes("plugin_load_add = semisync_source.so"));
  assert.equal(mysql80.parallelApplyStatements(), [
    "SET GLOBAL replica_parallel_workers = 4",
    "SET GLOBAL replica_preserve_commit_order = ON",
  ]);
  const mysql8023 = dialectFor("8.0.23");
  assert.match(mysql8023.semiSyncStatements(1000)[0], "rpl_semi_sync_master SONAME 'semisync_master.so'");
  assert.equal(mysql8023.parallelApplyStatements(), [
    "SET GLOBAL slave_parallel_type = 'LOGICAL_CLOCK'",
    "SET GLOBAL slave_parallel_workers = 4",
    "SET GLOBAL slave_preserve_commit_order = ON",
  ]);
  assert.match(mysql84.semiSyncStatus(), "performance_schema.global_status");
});

test.run();
