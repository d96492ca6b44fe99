import { test } from "uvu";
import * as assert from "uvu/assert";
import { optionFileAdvice, preflight } from "../../src/replication/preflight.js";
import type { ServerFacts } from "../../src/replication/server.js";
import { dialectFor } from "../../src/replication/server-family.js";

function facts(role: string, over: Partial<ServerFacts> = {}): ServerFacts {
  return {
    role,
    endpoint: { host: "127.0.0.1", port: role === "primary" ? 3306 : 3307 },
    version: "10.11.19-MariaDB",
    versionComment: "",
    serverId: role === "primary" ? 1 : 2,
    logBin: true,
    binlogFormat: "ROW",
    logReplicaUpdates: true,
    gtidMode: null,
    enforceGtidConsistency: null,
    gtidStrictMode: true,
    tlsAvailable: true,
    sslCert: "/cert.pem",
    readOnly: false,
    loggedPos: "",
    userDatabases: [],
    ...over,
  };
}
const who = { primary: "primary 127.0.0.1:3306", secondary: "secondary 127.0.0.1:3307" };

function run(p: Partial<ServerFacts>, s: Partial<ServerFacts>) {
  const pf = facts("primary", p);
  const sf = facts("secondary", s);
  return preflight(pf, dialectFor(pf.version), sf, dialectFor(sf.version));
}

test("two well-configured MariaDB servers pass", () => {
  const r = run({}, {});
  assert.equal(r.problems, []);
  assert.equal(r.warnings, []);
  assert.match(r.summary[0], "MariaDB 10.11.19, server_id 1, binlog ON (ROW), GTID, TLS available");
  assert.equal(optionFileAdvice(r, who, "[mariadbd]"), []);
});

test("binlog off and equal server_ids: refused, with the exact option-file lines", () => {
  const r = run({ logBin: false }, { serverId: 1 });
  assert.is(r.problems.length, 2);
  assert.match(r.problems.join("\n"), "binary logging off");
  assert.match(r.problems.join("\n"), "both servers have server_id 1");
  const advice = optionFileAdvice(r, who, "[mariadbd]");
  assert.equal(advice, [
    "primary 127.0.0.1:3306: add to its option file and restart it:",
    "[mariadbd]\nlog_bin = mysql-bin",
    "secondary 127.0.0.1:3307: add to its option file and restart it:",
    "[mariadbd]\nserver_id = 2",
  ]);
});

test("a secondary without a binlog cannot be promoted later: refused", () => {
  const r = run({}, { logBin: false });
  assert.match(r.problems[0], "take over as primary");
  assert.equal(r.lines.secondary.required, ["log_bin = mysql-bin"]);
});

test("families and versions: MariaDB with MySQL refused; an older replica refused; a newer one warned", () => {
  assert.match(run({}, { version: "8.0.36" }).problems.join("\n"), "same family");
  assert.match(
    run({ version: "10.11.6-MariaDB" }, { version: "10.6.18-MariaDB" }).problems.join("\n"),
    "older than the primary",
  );
  const newer = run({ version: "10.6.18-MariaDB" }, { version: "10.11.6-MariaDB" });
  assert.equal(newer.problems, []);
  assert.match(newer.warnings[0], "versions differ");
});

test("MySQL needs gtid_mode=ON and enforce_gtid_consistency=ON", () => {
  const r = run(
    { version: "8.0.36", gtidMode: "OFF", enforceGtidConsistency: "OFF", gtidStrictMode: null },
    { version: "8.0.36", gtidMode: "ON", enforceGtidConsistency: "ON", gtidStrictMode: null },
  );
  assert.match(r.problems[0], "gtid_mode=OFF");
  assert.equal(r.lines.primary.required, ["gtid_mode = ON", "enforce_gtid_consistency = ON"]);
  assert.equal(r.lines.secondary.required, []);
  assert.equal(
    optionFileAdvice(r, who, "[mysqld]")[1],
    "[mysqld]\ngtid_mode = ON\nenforce_gtid_consistency = ON",
  );
});

test("no TLS on the primary refuses; on the secondary it warns; unwise settings are advised", () => {
  const r = run(
    { tlsAvailable: false, binlogFormat: "STATEMENT" },
    { tlsAvailable: false, gtidStrictMode: false, logReplicaUpdates: false },
  );
  assert.match(r.problems.join("\n"), "no TLS: replication must travel encrypted");
  assert.ok(r.lines.primary.required.includes("ssl_cert = /path/to/server-cert.pem"));
  assert.ok(r.lines.primary.recommended.includes("binlog_format = ROW"));
  assert.ok(r.lines.secondary.recommended.includes("gtid_strict_mode = ON"));
  assert.ok(r.lines.secondary.recommended.includes("log_slave_updates = ON"));
  assert.is(r.warnings.length, 4);
});

test.run();
