/**
 * Session state that must survive a move, read from the server and carried exactly (issue 19's
 * gaps): the type of a user variable, and system variables a stored routine changed without a
 * session-tracking report. Each is checked after a forced reconnect (wait_timeout) on the primary
 * and after a failover (kill -9 of the primary: the session moves to the secondary).
 *
 * Before this change:
 * - an unsigned user variable was carried as a bare number: `CAST(5 AS UNSIGNED)` came back as a
 *   signed INT (`@s - 10` = -5 instead of ERR 1690) and a DECIMAL holding an integer as an INT;
 * - `SET @@max_sort_length = …` inside a function called from a SELECT (MariaDB 10.11 reports no
 *   change for `SET @@x` without a scope keyword, in a routine or not; `SET SESSION x` in a routine
 *   is reported) was not carried: the moved session had the server's default again. The state was
 *   read back after a routine only when its dialect (sql_mode, client charset) had changed.
 */
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { onRoot, q, waitReplicated } from "../helpers/sql.js";

let pair: TestPair;
let px: RunningProxy;
let primaryId = 0;
let secondaryId = 0;

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Variables of every numeric type the server keeps, unsigned ones below and above 2^63 included. */
const SET_VARIABLES =
  "SET @u = 18446744073709551615, @h = 9223372036854775808, @s = CAST(5 AS UNSIGNED), @z = CAST(0 AS UNSIGNED), " +
  "@i = -9223372036854775808, @d = CAST(5 AS DECIMAL(10,0)), @dn = CAST(-7 AS DECIMAL(10,0)), @f = 1.25, @g = 1e300";

test.before(async () => {
  pair = await startPair();
  await onRoot(pair, "primary", async (root) => {
    // A function and a procedure that change session variables from inside a routine.
    await root.query(
      "CREATE FUNCTION passtrix.f_sort() RETURNS INT DETERMINISTIC NO SQL BEGIN SET @@max_sort_length = 1234; RETURN 1; END",
    );
    await root.query(
      "CREATE PROCEDURE passtrix.p_sort() BEGIN SET SESSION max_sort_length = 1500; SET @@div_precision_increment = 9; END",
    );
  });
  await waitReplicated(pair, 20);
  primaryId = await onRoot(pair, "primary", async (c) =>
    Number((await q(c, "SELECT @@server_id AS id"))[0].id),
  );
  secondaryId = await onRoot(pair, "secondary", async (c) =>
    Number((await q(c, "SELECT @@server_id AS id"))[0].id),
  );
  px = await startProxy(pair, pair.proxyConfig({ monitor }));
});

test.after(async () => {
  for (const c of sessions) await c.end().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

const sessions: Connection[] = [];

/** The user variables as the server lists them: name → "TYPE value". */
async function userVariables(c: Connection): Promise<Record<string, string>> {
  const [rows] = (await c.query(
    "SELECT VARIABLE_NAME AS n, VARIABLE_TYPE AS t, VARIABLE_VALUE AS v FROM information_schema.USER_VARIABLES ORDER BY VARIABLE_NAME",
  )) as unknown as [{ n: string; t: string; v: string }[]];
  return Object.fromEntries(rows.map((r) => [r.n, `${r.t} ${r.v}`]));
}

async function serverId(c: Connection): Promise<number> {
  const [[r]] = (await c.query("SELECT @@server_id AS id")) as unknown as [{ id: number }[]];
  return Number(r.id);
}

/** The unsigned variable still behaves as unsigned: subtracting past zero is an error, not -5. */
async function assertUnsignedArithmetic(c: Connection, label: string): Promise<void> {
  let errno = 0;
  try {
    await c.query("SELECT @s - 10 AS x");
  } catch (e) {
    errno = (e as { errno?: number }).errno ?? -1;
  }
  assert.is(errno, 1690, `${label}: @s - 10 is out of range for BIGINT UNSIGNED (still unsigned)`);
  const [[r]] = (await c.query("SELECT CAST(@u AS CHAR) AS u, CAST(@u - 1 AS CHAR) AS u1")) as unknown as [
    { u: string; u1: string }[],
  ];
  assert.equal({ ...r }, { u: "18446744073709551615", u1: "18446744073709551614" }, label);
}

async function forceReconnect(c: Connection): Promise<void> {
  await c.query("SET SESSION wait_timeout = 2");
  await sleep(3500); // the server closes the idle connection: the next statement gets a new one
}

let typed: Connection;
let typedBefore: Record<string, string>;
let viaFunction: Connection;
let viaProcedure: Connection;

test("user variables keep their types (unsigned below and above 2^63, DECIMAL) at a reconnect", async () => {
  typed = await px.connect();
  sessions.push(typed);
  await typed.query(SET_VARIABLES);
  typedBefore = await userVariables(typed);
  assert.is(typedBefore.u, "INT UNSIGNED 18446744073709551615", "the server's own listing, for reference");
  assert.is(typedBefore.s, "INT UNSIGNED 5");
  assert.is(typedBefore.d, "DECIMAL 5");
  await forceReconnect(typed);
  const after = await userVariables(typed);
  assert.is(await serverId(typed), primaryId);
  assert.equal(after, typedBefore, "every user variable has its type and value after the reconnect");
  await assertUnsignedArithmetic(typed, "after the reconnect");
});

test("session variables a routine changed unreported are carried at a reconnect", async () => {
  viaFunction = await px.connect();
  viaProcedure = await px.connect();
  sessions.push(viaFunction, viaProcedure);
  await viaFunction.query("SELECT passtrix.f_sort() AS one");
  await viaProcedure.query("CALL passtrix.p_sort()");
  for (const [c, sort, label] of [
    [viaFunction, 1234, "function"],
    [viaProcedure, 1500, "procedure"],
  ] as const) {
    const [[r0]] = (await c.query("SELECT @@session.max_sort_length AS m")) as unknown as [{ m: number }[]];
    assert.is(Number(r0.m), sort, `${label}: set on the server`);
    await forceReconnect(c);
    const [[r]] = (await c.query(
      "SELECT @@session.max_sort_length AS m, @@session.div_precision_increment AS d",
    )) as unknown as [{ m: number; d: number }[]];
    assert.is(Number(r.m), sort, `${label}: max_sort_length carried to the new connection`);
    if (label === "procedure") assert.is(Number(r.d), 9, "div_precision_increment carried");
  }
});

test("pairgate's own read-back is not cut by the session's sql_select_limit", async () => {
  const c = await px.connect();
  sessions.push(c);
  // Two rows of the read-back would be cut to one by a limit the session set for itself.
  await c.query("SET SESSION sql_select_limit = 1, @a1 = 1, @a2 = 2");
  await c.query("CALL passtrix.p_sort()");
  await forceReconnect(c);
  const [[r]] = (await c.query(
    "SELECT @@session.max_sort_length AS m, @@session.div_precision_increment AS d, @a1 AS a1, @a2 AS a2, @@session.sql_select_limit AS l",
  )) as unknown as [Record<string, number>[]];
  assert.equal(
    { m: Number(r.m), d: Number(r.d), a1: Number(r.a1), a2: Number(r.a2), l: Number(r.l) },
    { m: 1500, d: 9, a1: 1, a2: 2, l: 1 },
  );
});

test("each server keeps its temporary files in its own folder, not the shared /tmp", async () => {
  for (const role of ["primary", "secondary"] as const) {
    const dir = await onRoot(pair, role, async (c) => String((await q(c, "SELECT @@tmpdir AS d"))[0].d));
    assert.ok(dir.startsWith(pair.dir), `${role}: tmpdir ${dir} is inside ${pair.dir}`);
  }
});

test("after a failover: the user variables' types and the routine's session variables moved with the session", async () => {
  // Changed again by routines just before the failover, so the reconnect above cannot be what carried them.
  await viaFunction.query("SET SESSION wait_timeout = 28800");
  await viaProcedure.query("SET SESSION wait_timeout = 28800");
  await typed.query("SET SESSION wait_timeout = 28800");
  await viaFunction.query("SELECT passtrix.f_sort() + 1 AS two");
  await viaProcedure.query("CALL passtrix.p_sort()");
  // The next statement waits for what pairgate reads back after a routine: the state is then known.
  for (const c of [viaFunction, viaProcedure]) await c.query("SELECT 1");
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 15_000);

  assert.is(await serverId(typed), secondaryId, "the session moved to the secondary");
  assert.equal(await userVariables(typed), typedBefore, "every user variable has its type and value");
  await assertUnsignedArithmetic(typed, "after the failover");

  for (const [c, sort, label] of [
    [viaFunction, 1234, "function"],
    [viaProcedure, 1500, "procedure"],
  ] as const) {
    assert.is(await serverId(c), secondaryId, `${label}: moved`);
    const [[r]] = (await c.query(
      "SELECT @@session.max_sort_length AS m, @@session.div_precision_increment AS d",
    )) as unknown as [{ m: number; d: number }[]];
    assert.is(Number(r.m), sort, `${label}: max_sort_length carried to the secondary`);
    if (label === "procedure") assert.is(Number(r.d), 9, "div_precision_increment carried");
  }
});

test.run();
