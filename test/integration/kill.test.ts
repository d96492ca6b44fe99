/**
 * Connection ids through pairgate (issue 20): the id in the greeting is the one `CONNECTION_ID()`
 * returns and the one KILL and COM_PROCESS_KILL act on — pairgate's session id, mapped to the
 * session's backend connection — and one client's cancel never reaches another client's query.
 */
import { spawn } from "node:child_process";
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseKill, rewriteConnectionId } from "../../src/session/kill.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { RawConnection } from "../helpers/raw-client.js";
import { errnoOf, until } from "../helpers/wait.js";

let pair: TestPair;
let px: RunningProxy;

test.before(async () => {
  pair = await startPair();
  const { appUser, serviceUser } = pair;
  px = await startProxy(
    pair,
    pair.proxyConfig({
      users: [
        { username: appUser.username, password: appUser.password },
        { username: serviceUser.username, password: serviceUser.password },
      ],
    }),
  );
});

test.after(async () => {
  await px?.stop();
  await pair?.stop();
});

/** SLEEP returns 1 when its query is killed (KILL QUERY), 0 when it slept the whole time. */
async function sleepResult(c: Connection, seconds: number): Promise<number | string> {
  try {
    const [rows] = await c.query(`SELECT SLEEP(${seconds}) AS s`);
    return Number((rows as { s: number }[])[0].s);
  } catch (e) {
    return `errno ${(e as { errno?: number }).errno}`;
  }
}

test("KILL spellings are read as the server reads them; CONNECTION_ID() is rewritten outside strings", () => {
  assert.equal(parseKill("KILL 5"), { what: "CONNECTION", mode: "", id: 5 });
  assert.equal(parseKill("kill /* why */ query 7;"), { what: "QUERY", mode: "", id: 7 });
  assert.equal(parseKill("  KILL HARD CONNECTION 9"), { what: "CONNECTION", mode: "HARD", id: 9 });
  assert.equal(parseKill("KILL SOFT QUERY 3 -- cancel"), { what: "QUERY", mode: "SOFT", id: 3 });
  assert.equal(parseKill("KILL QUERY ID 12"), { what: "QUERY", mode: "", id: null });
  assert.equal(parseKill("KILL USER bob"), { what: "CONNECTION", mode: "", id: null });
  assert.is(parseKill("KILLS 5"), null);
  assert.is(parseKill("SELECT 'KILL 5'"), null);
  assert.is(parseKill("KILL @id"), null);
  assert.is(rewriteConnectionId("SELECT CONNECTION_ID()", 42), "SELECT 42 AS `CONNECTION_ID()`");
  assert.is(
    rewriteConnectionId("select connection_id() + 1, 'connection_id()' from dual", 42),
    "select 42 + 1, 'connection_id()' from dual",
  );
  assert.is(rewriteConnectionId("SELECT 'CONNECTION_ID()'", 42), null);
  assert.is(rewriteConnectionId("SELECT t.connection_id() FROM t", 42), null);
  assert.is(
    rewriteConnectionId("SELECT a, CONNECTION_ID(), b FROM t WHERE id = CONNECTION_ID()", 7),
    "SELECT a, 7 AS `CONNECTION_ID()`, b FROM t WHERE id = 7",
  );
});

test("the greeting's id is CONNECTION_ID(), with the server's column name", async () => {
  const c = await px.connect();
  try {
    const [rows, fields] = await c.query("SELECT CONNECTION_ID()");
    assert.is(Number((rows as Record<string, number>[])[0]["CONNECTION_ID()"]), c.threadId);
    assert.is(fields[0].name, "CONNECTION_ID()");
  } finally {
    await c.end();
  }
});

test("KILL QUERY <greeting id> from a second connection interrupts that client's query and no other", async () => {
  // Many sessions, each running a query: on fd3936b the greeting id named some other backend
  // connection, and the cancel interrupted someone else's query (or nobody's).
  const sessions: Connection[] = [];
  for (let i = 0; i < 10; i++) sessions.push(await px.connect());
  const killer = await px.connect();
  try {
    const victim = sessions[4];
    const running = sessions.map((c) => sleepResult(c, 3));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await killer.query(`KILL QUERY ${victim.threadId}`);
    const results = await Promise.all(running);
    const interrupted = results.map((r, i) => (r === 0 ? null : i)).filter((i) => i !== null);
    assert.equal(interrupted, [4], `interrupted: ${JSON.stringify(results)}`);
    assert.ok(Date.now() - t0 < 6000);
    // The session lives on after KILL QUERY.
    const [rows] = await victim.query("SELECT 1 AS one");
    assert.is((rows as { one: number }[])[0].one, 1);
  } finally {
    for (const c of [...sessions, killer]) await c.end().catch(() => {});
  }
});

test("KILL CONNECTION closes that session; COM_PROCESS_KILL too; other users' and unknown ids get 1094", async () => {
  const a = await px.connect();
  const b = await px.connect();
  const killer = await px.connect();
  const other = await px.connect({ user: pair.serviceUser.username, password: pair.serviceUser.password });
  try {
    // Another user's session: the server's "Unknown thread id", nothing happens to it.
    const denied = await errnoOf(other.query(`KILL ${a.threadId}`));
    assert.is(denied?.errno, 1094);
    assert.match(denied!.message, `Unknown thread id: ${a.threadId}`);
    assert.is((await errnoOf(killer.query("KILL QUERY 987654"))).errno, 1094);
    assert.is((await errnoOf(killer.query("KILL QUERY ID 1"))).errno, 1094);
    await a.query("SELECT 1");

    await killer.query(`KILL CONNECTION ${a.threadId}`);
    assert.ok((await errnoOf(a.query("SELECT 1"))) !== null, "the killed session is gone");

    // COM_PROCESS_KILL (0x0c) with b's id, from a raw client.
    const raw = await RawConnection.connect(px.port);
    await raw.login({ user: pair.appUser.username, password: pair.appUser.password });
    const id = Buffer.alloc(5);
    id[0] = 0x0c;
    id.writeUInt32LE(b.threadId!, 1);
    const answer = await raw.command(id);
    assert.is(answer.payload[0], 0x00, "OK");
    await until("b is closed", async () => (await errnoOf(b.query("SELECT 1"))) !== null, 5000);
    raw.socket.destroy();

    // Its own connection: ERR 1927, then closed.
    const self = await errnoOf(killer.query(`KILL ${killer.threadId}`));
    assert.is(self?.errno, 1927);
  } finally {
    for (const c of [a, b, killer, other]) c.destroy();
  }
});

test("the mariadb CLI's Ctrl-C (SIGINT) interrupts its query through pairgate", async () => {
  const cli = spawn(
    "mariadb",
    [
      "-h127.0.0.1",
      `-P${px.port}`,
      `-u${pair.appUser.username}`,
      `-p${pair.appUser.password}`,
      "--skip-ssl",
      "-e",
      "SELECT SLEEP(4)",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  cli.stdout.on("data", (d) => {
    out += d;
  });
  cli.stderr.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => cli.once("exit", (code) => r(code)));
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  cli.kill("SIGINT");
  await exited;
  const ms = Date.now() - t0;
  assert.ok(ms < 2500, `the CLI ended ${ms} ms after Ctrl-C (the query ran on): ${out}`);
  assert.match(out, /interrupted|killed|aborted/i);
});

test.run();
