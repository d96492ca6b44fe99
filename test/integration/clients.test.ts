/**
 * Real clients through pairgate, each diffed against the same client talking to the primary
 * directly (issue 20): the greeting's collation, status flags and session-tracking capability as
 * the server announces them, and MariaDB Connector/Node (`mariadb` npm, pipelining on and off)
 * seeing the same session collation, results and errors.
 */
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as mariadb from "mariadb";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { RawConnection } from "../helpers/raw-client.js";

let pair: TestPair;
let px: RunningProxy;

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig());
});

test.after(async () => {
  await px?.stop();
  await pair?.stop();
});

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_SESSION_TRACK = 0x800000;

/** Collation id, status flags and capabilities from a raw greeting. */
async function greeting(port: number): Promise<{ collation: number; status: number; caps: number }> {
  const raw = await RawConnection.connect(port);
  try {
    const p = await raw.read();
    const o = p.payload.indexOf(0, 1) + 1 + 4 + 8 + 1; // version, id, scramble part 1, filler
    return {
      collation: p.payload[o + 2],
      status: p.payload.readUInt16LE(o + 3),
      caps: (p.payload.readUInt16LE(o) | (p.payload.readUInt16LE(o + 5) << 16)) >>> 0,
    };
  } finally {
    raw.socket.destroy();
  }
}

test("the greeting announces the backend's collation, status flags and session tracking", async () => {
  const direct = await greeting(pair.primary.port);
  const through = await greeting(px.port);
  assert.is(through.collation, direct.collation, "collation id");
  assert.is(through.status, direct.status, "status flags");
  assert.is(through.caps & CLIENT_SESSION_TRACK, direct.caps & CLIENT_SESSION_TRACK, "CLIENT_SESSION_TRACK");
  // Bit 0 clear, as a MariaDB server announces it (its extended capabilities follow).
  assert.is(through.caps & CLIENT_LONG_PASSWORD, direct.caps & CLIENT_LONG_PASSWORD, "bit 0 (CLIENT_MYSQL)");
});

async function nodeBatch(port: number, table: string) {
  const c = await mariadb.createConnection({
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
  });
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS ${table} (id INT PRIMARY KEY, v VARCHAR(20), j JSON)`);
    await c.query(`DELETE FROM ${table}`);
    const rows = Array.from({ length: 2000 }, (_, i) => [i, `v${i}`, JSON.stringify({ n: i })]);
    const ok = await c.batch(`INSERT INTO ${table} VALUES (?, ?, ?)`, rows);
    const dup = [
      [5000, "a", "{}"],
      [1, "duplicate", "{}"],
      [5001, "b", "{}"],
    ];
    const err = await c.batch(`INSERT INTO ${table} VALUES (?, ?, ?)`, dup).catch((e) => e);
    const [count] = await c.query(`SELECT COUNT(*) AS n FROM ${table}`);
    const [json] = await c.query(`SELECT j FROM ${table} WHERE id = 7`);
    return {
      affected: (ok as { affectedRows: number }).affectedRows,
      dupErrno: (err as { errno?: number }).errno,
      count: Number((count as { n: bigint }).n),
      json: json.j,
      jsonType: typeof json.j,
    };
  } finally {
    await c.end();
  }
}

test("Connector/Node batch() (COM_STMT_BULK_EXECUTE) and JSON columns: equal to direct", async () => {
  const direct = await nodeBatch(pair.primary.port, "batch_direct");
  const through = await nodeBatch(px.port, "batch_through");
  assert.equal(through, direct);
  assert.is(direct.jsonType, "object", "extended metadata: a JSON column arrives as an object");
});

async function connectorNode(port: number, pipelining: boolean) {
  const c = await mariadb.createConnection({
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    pipelining,
  });
  try {
    const out: unknown[] = [];
    const q = async (sql: string, values?: unknown[]) => {
      try {
        const r = await c.query(sql, values);
        out.push(JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))));
      } catch (e) {
        out.push({ errno: (e as { errno?: number }).errno, sqlState: (e as { sqlState?: string }).sqlState });
      }
    };
    await q("SELECT @@collation_connection AS c, @@character_set_client AS cs");
    await q("SELECT id, name FROM ptrx_resources ORDER BY id LIMIT 3");
    await q("SELECT * FROM no_such_table");
    await q("SELECT ? + 1 AS n", [41]);
    const [e1, e2] = await Promise.allSettled([
      c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [1]),
      c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [2]),
    ]);
    out.push(JSON.parse(JSON.stringify([e1, e2])));
    return out;
  } finally {
    await c.end();
  }
}

for (const pipelining of [true, false]) {
  test(`Connector/Node (pipelining ${pipelining ? "on" : "off"}): collation, results, errors equal to direct`, async () => {
    const direct = await connectorNode(pair.primary.port, pipelining);
    const through = await connectorNode(px.port, pipelining);
    assert.equal(through, direct);
  });
}

/** Runs a client program; its stdout and stderr together, and its exit code. */
function runClient(
  command: string,
  args: string[],
  timeout: number,
): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], timeout });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.once("close", (code, signal) => resolve({ out: signal ? `${out}killed by ${signal}` : out, code }));
  });
}

/**
 * A Python MySQLdb (Connector/C) script run against `port`: its output. Asynchronous: pairgate runs
 * in this process and must keep serving meanwhile.
 */
function mysqldb(port: number, body: string): Promise<{ out: string; code: number | null }> {
  const script = [
    "import MySQLdb, sys",
    `c = MySQLdb.connect(host="127.0.0.1", port=${port}, user=sys.argv[1], passwd=sys.argv[2], db="passtrix")`,
    "cur = c.cursor()",
    "def q(sql):",
    "    cur.execute(sql)",
    "    print(repr(cur.fetchall()))",
    body,
  ].join("\n");
  return runClient(
    "/usr/bin/python3",
    ["-u", "-c", script, pair.appUser.username, pair.appUser.password],
    20_000,
  );
}

const HAS_MYSQLDB = spawnSync("/usr/bin/python3", ["-c", "import MySQLdb"]).status === 0;

test("MySQLdb (Connector/C): change_user works as it does direct", async () => {
  if (!HAS_MYSQLDB) return console.log("  (python3-mysqldb not installed: skipped)");
  const body = [
    "q('SELECT CURRENT_USER(), DATABASE()')",
    "c.change_user(sys.argv[1], sys.argv[2], 'passtrix')",
    "q('SELECT CURRENT_USER(), DATABASE()')",
    "c.change_user(sys.argv[1], sys.argv[2])",
    "q('SELECT CURRENT_USER(), DATABASE()')",
    "try:",
    "    c.change_user(sys.argv[1], 'wrong password')",
    "except MySQLdb.OperationalError as e:",
    "    print('error', e.args[0])",
  ].join("\n");
  const direct = await mysqldb(pair.primary.port, body);
  const through = await mysqldb(px.port, body);
  assert.is(direct.code, 0, direct.out);
  assert.is(through.out, direct.out);
  assert.is(through.code, 0);
});

/** A Perl DBD::MariaDB script (server-side prepares) run against `port`: its output. */
function dbdMariadb(port: number, body: string): Promise<{ out: string; code: number | null }> {
  const script = [
    "use strict; use DBI;",
    `my $dbh = DBI->connect("DBI:MariaDB:database=passtrix;host=127.0.0.1;port=${port};mariadb_server_prepare=1;mariadb_local_infile=1", $ARGV[0], $ARGV[1], { RaiseError => 1, PrintError => 0 });`,
    body,
  ].join("\n");
  return runClient("perl", ["-e", script, pair.appUser.username, pair.appUser.password], 30_000);
}

const HAS_DBD = spawnSync("perl", ["-MDBD::MariaDB", "-e", "1"]).status === 0;

test("DBD::MariaDB with server prepares: LOAD DATA LOCAL INFILE as a prepared statement loads every row", async () => {
  if (!HAS_DBD) return console.log("  (libdbd-mariadb-perl not installed: skipped)");
  const file = join(pair.dir, "infile.tsv");
  writeFileSync(file, Array.from({ length: 5000 }, (_, i) => `${i}\tvalue ${i}\n`).join(""));
  const body = (table: string) =>
    [
      `$dbh->do("CREATE TABLE IF NOT EXISTS ${table} (id INT PRIMARY KEY, v VARCHAR(40))");`,
      `$dbh->do("DELETE FROM ${table}");`,
      `my $n = $dbh->do(q{LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table}});`,
      `my ($c, $s) = $dbh->selectrow_array("SELECT COUNT(*), SUM(id) FROM ${table}");`,
      `print "loaded $n rows, count $c sum $s\n";`,
      `my $sth = $dbh->prepare("SELECT v FROM ${table} WHERE id = ?"); $sth->execute(42);`,
      `print join(",", $sth->fetchrow_array), "\n";`,
    ].join("\n");
  const direct = await dbdMariadb(pair.primary.port, body("ldl_direct"));
  assert.is(direct.code, 0, direct.out);
  const through = await dbdMariadb(px.port, body("ldl_through"));
  assert.is(through.out, direct.out);
  assert.match(direct.out, "loaded 5000 rows");
});

/** The mariadb CLI with `args` against `port`: its output and exit code. */
function cli(port: number, args: string[]): Promise<{ out: string; code: number | null }> {
  return runClient(
    "mariadb",
    ["-h127.0.0.1", `-P${port}`, `-u${pair.appUser.username}`, `-p${pair.appUser.password}`, ...args],
    20_000,
  );
}

test("the CLI with --compress: pairgate does not offer compression, the session runs uncompressed", async () => {
  const sql =
    "SHOW SESSION STATUS LIKE 'Compression'; SELECT id, name FROM passtrix.ptrx_resources ORDER BY id LIMIT 2";
  const through = await cli(px.port, ["--compress", "--skip-ssl", "-e", sql]);
  assert.is(through.code, 0, through.out);
  assert.match(through.out, /Compression\tOFF/);
  const plain = await cli(pair.primary.port, ["--skip-ssl", "-e", sql]);
  assert.is(through.out, plain.out, "the same as an uncompressed session direct");
});

/** A Ruby mysql2 (Connector/C) script run against `port`: its output. */
function rubyMysql2(port: number, body: string): Promise<{ out: string; code: number | null }> {
  const script = [
    "require 'mysql2'",
    `c = Mysql2::Client.new(host: '127.0.0.1', port: ${port}, username: ARGV[0], password: ARGV[1], database: 'passtrix')`,
    body,
  ].join("\n");
  return runClient("ruby", ["-e", script, pair.appUser.username, pair.appUser.password], 30_000);
}

const HAS_RUBY_MYSQL2 = spawnSync("ruby", ["-e", "require 'mysql2'"]).status === 0;

test("Ruby mysql2: results, prepared statements, errors, warnings and CONNECTION_ID() equal to direct", async () => {
  if (!HAS_RUBY_MYSQL2) return console.log("  (ruby-mysql2 not installed: skipped)");
  const body = [
    "p c.query('SELECT id, name FROM ptrx_resources ORDER BY id LIMIT 3').to_a",
    "p c.query('SELECT @@collation_connection AS c, @@character_set_results AS r').to_a",
    "s = c.prepare('SELECT name FROM ptrx_resources WHERE id = ?'); p s.execute(2).to_a",
    "begin; c.query('SELECT * FROM no_such_table'); rescue Mysql2::Error => e; p [e.error_number, e.sql_state]; end",
    "c.query(\"SELECT CAST('x' AS SIGNED)\"); p c.warning_count",
    "p c.query('SELECT CONNECTION_ID() AS id').first['id'] == c.thread_id",
  ].join("\n");
  const direct = await rubyMysql2(pair.primary.port, body);
  assert.is(direct.code, 0, direct.out);
  const through = await rubyMysql2(px.port, body);
  assert.is(through.out, direct.out);
});

test("a prepared read in flight at kill -9 of the primary is retried on the secondary (no 1927)", async () => {
  const node = await mariadb.createConnection({
    host: "127.0.0.1",
    port: px.port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
  });
  const m2 = await px.connect();
  try {
    const sql = "SELECT SLEEP(1) AS s, name FROM ptrx_resources WHERE id = ?";
    await node.execute(sql, [1]);
    await m2.execute(sql, [1]);
    const inFlight = [node.execute(sql, [1]), m2.execute(sql, [1])];
    await new Promise((r) => setTimeout(r, 300));
    await pair.lab.kill("primary");
    const results = await Promise.allSettled(inFlight);
    const errors = results.flatMap((r) =>
      r.status === "rejected"
        ? [`${(r.reason as { errno?: number }).errno}: ${(r.reason as Error).message}`]
        : [],
    );
    assert.equal(errors, [], "both prepared reads were answered");
    // A bulk insert (COM_STMT_BULK_EXECUTE) in read_only mode: refused like any write.
    await px.proxy.topology.waitFor("read_only", 15_000);
    const bulk = await node
      .batch("INSERT INTO ptrx_audit (app_user, operation) VALUES (?, ?)", [
        ["bulk", "a"],
        ["bulk", "b"],
      ])
      .catch((e) => e);
    assert.is((bulk as { errno?: number }).errno, 1290, String(bulk));

    // A PREPARE in flight when the primary dies: the primary is stopped (SIGSTOP) so the prepare
    // waits in its socket, then killed — the connection is reset under the prepare.
    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 30_000);
    const m3 = await px.connect();
    try {
      await m3.query("SELECT 1");
      const pid = pair.lab.pid("primary")!;
      process.kill(pid, "SIGSTOP");
      const prep = m3.execute("SELECT name FROM ptrx_resources WHERE id = ? AND 1 = 1", [1]);
      await new Promise((r) => setTimeout(r, 200));
      process.kill(pid, "SIGKILL");
      process.kill(pid, "SIGCONT");
      const [rows] = await prep;
      assert.is((rows as unknown[]).length, 1, "the prepare and its execute ran on the secondary");
    } finally {
      await m3.end().catch(() => {});
    }
  } finally {
    await node.end().catch(() => {});
    await m2.end().catch(() => {});
    await pair.lab.start("primary");
    await px.proxy.topology.waitFor("read_write", 30_000);
  }
});

test.run();
