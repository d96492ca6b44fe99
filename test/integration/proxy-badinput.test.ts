/**
 * Bad input at pairgate's listener, against the real pair: garbage before the handshake response,
 * truncated packets, wrong sequence ids, a header that announces 16 MiB and sends 10 bytes, clients
 * that stop mid-handshake, more clients than maxConnections, and a randomised run that throws at
 * least FUZZ_PACKETS mutated and truncated packets (before and after login) at a pairgate process
 * while a live session next to it keeps getting correct answers. Each bad client gets a clear ERR
 * or a close; the proxy and every other session keep running.
 */
import { randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import * as mariadb from "mariadb";
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { prng, type Rng } from "../helpers/prng.js";
import { type ProxyProcess, type RunningProxy, startProxy, startProxyProcess } from "../helpers/proxy.js";
import {
  CAP,
  comExecute,
  comPrepare,
  comQuery,
  DEFAULT_CAPS,
  errOf,
  frame,
  handshakeResponse,
  isErr,
  nativeToken,
  RawConnection,
  type RawPacket,
  rawLogin,
  readPrepareOk,
  sslRequest,
  textRow,
} from "../helpers/raw-client.js";
import { startTap } from "../helpers/tap.js";

/** At least this many mutated or truncated packets are thrown at the listener by the fuzz test. */
const FUZZ_PACKETS = 100_000;
/** The fuzz test stops early (and fails) if it has not reached FUZZ_PACKETS by then. */
const FUZZ_DEADLINE_MS = 120_000; // ~20 s on an idle 2-core machine; room for a loaded one

let pair: TestPair;
let px: RunningProxy;
const stopLater: { stop(): Promise<void> }[] = [];

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig({ handshakeTimeoutMs: 500 }));
});

test.after(async () => {
  for (const p of stopLater) await p.stop().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

const user = () => ({ user: pair.appUser.username, password: pair.appUser.password, database: "passtrix" });

let stillServesCalls = 0;

/** Proof that pairgate serves: a fresh mysql2 login and a query with a known answer. */
async function stillServes(port = px.port): Promise<void> {
  const c = await px.connect({ port });
  try {
    const n = 1_000_003 * ++stillServesCalls;
    const [rows] = await c.query(
      "SELECT ? AS n, MD5(?) AS h, (SELECT COUNT(*) FROM ptrx_resources) > 0 AS r",
      [n, String(n)],
    );
    const row = (rows as { n: number; h: string; r: number }[])[0];
    assert.is(Number(row.n), n);
    assert.match(row.h, /^[0-9a-f]{32}$/);
    assert.is(Number(row.r), 1);
  } finally {
    await c.end();
  }
}

/** The first packet the server sends after what the client did: it must be an ERR, then a close. */
async function expectErrThenClose(
  c: RawConnection,
  codes: number[],
  timeoutMs = 3000,
): Promise<{ code: number; sqlState: string; message: string; seq: number }> {
  let p: RawPacket;
  try {
    p = await c.read(timeoutMs);
  } catch (e) {
    throw new Error(`expected an ERR ${codes.join("/")}, got ${(e as Error).message}`);
  }
  assert.ok(isErr(p), `expected an ERR, got a packet starting 0x${p.payload[0]?.toString(16)}`);
  const e = errOf(p);
  assert.ok(codes.includes(e.code), `ERR ${e.code} (${e.message}) is not one of ${codes.join(", ")}`);
  await c.waitClosed(timeoutMs);
  return { code: e.code, sqlState: e.sqlState, message: e.message, seq: p.seq };
}

/** A well-formed HandshakeResponse41 for the app user on this greeting. */
function goodResponse(c: RawConnection, caps = DEFAULT_CAPS): Buffer {
  return handshakeResponse({
    capabilities: caps,
    user: pair.appUser.username,
    authResponse: nativeToken(pair.appUser.password, c.greeting!.scramble),
    database: "passtrix",
    plugin: "mysql_native_password",
  });
}

async function greeted(port = px.port): Promise<RawConnection> {
  const c = await RawConnection.connect(port);
  await c.readGreeting();
  return c;
}

// ---------------------------------------------------------------- before the login

test("garbage bytes instead of a handshake response: ERR 1043 (or a login refusal), then close", async () => {
  const cases: [string, Buffer][] = [
    ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: pairgate\r\n\r\n")],
    [
      "a TLS hello without an SSLRequest",
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), randomBytes(200)]),
    ],
    ["a packet of zeros", frame(1, Buffer.alloc(40))],
    ["a pre-4.1 client", frame(1, Buffer.from([0x05, 0xa6, 0x00, 0x00, 0x00, 0x70, 0x6d, 0x70, 0x00]))],
    ["a packet of random bytes", frame(1, randomBytes(120))],
    ["random bytes", randomBytes(300)],
    ["one byte", Buffer.from([0x42])],
    ["an SSLRequest to a pairgate without TLS", frame(1, sslRequest(DEFAULT_CAPS))],
  ];
  for (const [label, bytes] of cases) {
    const c = await greeted();
    try {
      c.write(bytes);
      const e = await expectErrThenClose(c, [1043, 1045, 1156]).catch((x: Error) => {
        throw new Error(`${label}: ${x.message}`);
      });
      if (e.code === 1043) assert.is(e.sqlState, "08S01", label);
    } finally {
      c.close();
    }
  }
  await stillServes();
});

test("truncated packets: a short handshake response gets Bad handshake; a cut packet and a close end the session", async () => {
  // Complete packet, contents cut short: the response decoder must notice.
  for (const keep of [0, 4, 9, 31, 33, 40]) {
    const c = await greeted();
    try {
      const full = goodResponse(c);
      c.send(1, full.subarray(0, keep));
      const e = await expectErrThenClose(c, [1043, 1045]);
      assert.ok(e.code === 1043 || keep >= 33, `cut at ${keep}: ${e.message}`);
    } finally {
      c.close();
    }
  }
  // A header that promises more than comes, then the client leaves: closed, nothing hangs.
  {
    const c = await greeted();
    const full = goodResponse(c);
    const f = frame(1, full);
    c.write(f.subarray(0, 20));
    c.socket.end();
    await c.waitClosed(3000);
  }
  // After login: half a command, then the client leaves; the session and its backend go away.
  const before = px.proxy.sessionCount;
  const c = await rawLogin(px.port, user());
  assert.is(px.proxy.sessionCount, before + 1);
  c.write(frame(0, comQuery("SELECT 'this is never finished'")).subarray(0, 12));
  await new Promise((r) => setTimeout(r, 100));
  c.socket.end();
  await c.waitClosed(3000);
  for (let i = 0; i < 50 && px.proxy.sessionCount > before; i++) await new Promise((r) => setTimeout(r, 50));
  assert.is(px.proxy.sessionCount, before, "the session was closed");
  await stillServes();
});

test("malformed commands after login get an ERR and the session keeps working", async () => {
  const c = await rawLogin(px.port, user());
  try {
    const prep = await readPrepareOk(c, await c.command(comPrepare("SELECT ? + 1")));
    const malformed: [string, Buffer][] = [
      ["COM_STMT_EXECUTE without a statement id", Buffer.from([0x17, 0x01])],
      ["COM_STMT_FETCH without a statement id", Buffer.from([0x1c])],
      ["COM_STMT_RESET without a statement id", Buffer.from([0x1a, 0x00, 0x00])],
      ["COM_STMT_EXECUTE cut after the statement id", comExecute(prep.statementId).subarray(0, 5)],
      ["COM_STMT_EXECUTE without its parameters", comExecute(prep.statementId)],
      ["COM_INIT_DB without a name", Buffer.from([0x02])],
      ["COM_QUERY without SQL", Buffer.from([0x03])],
      ["COM_FIELD_LIST without a table", Buffer.from([0x04])],
      ["COM_SET_OPTION cut short", Buffer.from([0x1b, 0x05])],
      ["COM_CHANGE_USER cut short", Buffer.from([0x11, 0x70, 0x6d])],
    ];
    for (const [label, payload] of malformed) {
      const p = await c.command(payload, 5000).catch((e: Error) => {
        throw new Error(`${label}: ${e.message}`);
      });
      assert.ok(isErr(p), `${label}: an ERR`);
      assert.is(p.seq, 1, `${label}: the ERR answers the command (sequence id 1)`);
      const r = await c.query(comQuery("SELECT 'ok' AS s"));
      assert.equal(r.rows.map(textRow), [["ok"]], `${label}: the session still works`);
    }
  } finally {
    c.close();
  }
});

test("wrong sequence ids: ERR 1156 / 08S01, then close (in the login and after it)", async () => {
  // In the login: the handshake response must be packet 1.
  for (const seq of [0, 2, 7, 255]) {
    const c = await greeted();
    try {
      c.send(seq, goodResponse(c));
      const e = await expectErrThenClose(c, [1156]);
      assert.is(e.sqlState, "08S01");
    } finally {
      c.close();
    }
  }
  // After login: a command must start at sequence id 0.
  for (const seq of [1, 3, 200]) {
    const c = await rawLogin(px.port, user());
    try {
      c.send(seq, comQuery("SELECT 1"));
      const e = await expectErrThenClose(c, [1156]);
      assert.is(e.sqlState, "08S01");
      assert.match(e.message, /out of order/);
    } finally {
      c.close();
    }
  }
  await stillServes();
});

test("a header announcing 16 MiB followed by 10 bytes: no other session hangs; in the login, an ERR", async () => {
  const sixteenMiB = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x00]), Buffer.from("0123456789")]);
  // After login: the stalled session waits for its packet (as the server would), alone.
  const stalled = await rawLogin(px.port, user());
  stalled.write(sixteenMiB);
  const others: Connection[] = [];
  try {
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) others.push(await px.connect());
    const results = await Promise.all(
      others.map((o, i) => o.query("SELECT ? AS i, LENGTH(REPEAT('z', 1000000)) AS n", [i])),
    );
    for (const [i, [rows]] of results.entries()) assert.equal(rows, [{ i, n: 1000000 }]);
    assert.ok(Date.now() - t0 < 10_000, "the other sessions were not held up");
    assert.not.ok(stalled.closed, "the stalled session is simply waiting");
  } finally {
    for (const o of others) await o.end();
  }
  stalled.close();
  // Every client of this pairgate has left by now (the other tests' too): no session may linger.
  for (let i = 0; i < 60 && px.proxy.sessionCount > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.is(px.proxy.sessionCount, 0, "the stalled session is gone once its client is");

  // In the login: over the login packet limit at once, an ERR without waiting for the bytes.
  const big = await greeted();
  big.write(Buffer.from([0xff, 0xff, 0xff, 0x01, ...Buffer.from("0123456789")]));
  const e = await expectErrThenClose(big, [1043, 1153], 2000);
  assert.match(e.message, /bigger than|too large|Bad handshake/i);

  // In the login, a packet under the limit that never completes: the handshake timeout's ERR.
  const slow = await greeted();
  const t0 = Date.now();
  slow.write(Buffer.from([0x60, 0xea, 0x00, 0x01, ...Buffer.from("0123456789")])); // 60,000 bytes announced
  const t = await expectErrThenClose(slow, [1043], 3000);
  const waited = Date.now() - t0;
  assert.match(t.message, /not completed within 500 ms/);
  assert.ok(waited >= 400 && waited < 3000, `closed after ${waited} ms (handshakeTimeoutMs 500)`);
  await stillServes();
});

test("netReadTimeoutMs: a client stalled mid-packet after login gets ERR 1159 / 08S01 and is closed; a slow trickle and an idle client are not", async () => {
  const port = await freePort();
  const short = await startProxy(
    pair,
    pair.proxyConfig({
      listen: { port },
      netReadTimeoutMs: 400,
      audit: { journalDir: `${pair.dir}/audit-netread` },
    }),
  );
  try {
    const stalled = await rawLogin(port, user());
    const idle = await rawLogin(port, user());
    const trickle = await rawLogin(port, user());
    const t0 = Date.now();
    stalled.write(Buffer.from([0x20, 0x00, 0x00, 0x00, 0x03, 0x53])); // 32 bytes announced, 2 sent
    // The trickle sends "SELECT 42" a byte every 150 ms: each byte restarts the wait.
    const query = frame(0, Buffer.from("\x03SELECT 42", "latin1"));
    const trickling = (async () => {
      for (const b of query) {
        trickle.write(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const e = await expectErrThenClose(stalled, [1159], 5000);
    const waited = Date.now() - t0;
    assert.is(e.sqlState, "08S01");
    assert.match(e.message, /timeout reading communication packets/i);
    assert.ok(waited >= 350, `closed after ${waited} ms, not before netReadTimeoutMs`);
    await trickling; // 15 bytes × 150 ms: far longer than 400 ms in all
    const answer = await trickle.read(3000);
    assert.not.ok(isErr(answer), "the trickled query was answered");
    assert.not.ok(trickle.closed, "the trickling client stays");
    await new Promise((r) => setTimeout(r, 200));
    assert.not.ok(idle.closed, "an idle client between commands is not touched");
    const ping = await idle.command(Buffer.from([0x0e]));
    assert.is(ping.payload[0], 0x00, "the idle client still gets OK to a ping");
    idle.close();
    trickle.close();
    await stillServes(port);
  } finally {
    await short.stop();
  }
});

test("a command sent after the login response but before the OK waits and is answered after the OK", async () => {
  // The primary through a relay that, once asked, holds each new connection's greeting 300 ms:
  // pairgate's login to the backend is then slow, and the client's command arrives in between.
  let holdGreetings = false;
  const relay = createServer((down) => {
    const up = connect(pair.primary.port, "127.0.0.1");
    const held = holdGreetings;
    const early: Buffer[] = [];
    let release = !held;
    if (held)
      setTimeout(() => {
        release = true;
        for (const b of early) down.write(b);
      }, 300);
    up.on("data", (b: Buffer) => (release ? down.write(b) : early.push(b)));
    down.on("data", (b: Buffer) => up.write(b));
    const close = () => {
      up.destroy();
      down.destroy();
    };
    up.on("close", close);
    down.on("close", close);
    up.on("error", close);
    down.on("error", close);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const relayPort = (relay.address() as { port: number }).port;
  const port = await freePort();
  const slow = await startProxy(
    pair,
    pair.proxyConfig({
      listen: { port },
      primary: { port: relayPort },
      audit: { journalDir: `${pair.dir}/audit-early` },
    }),
  );
  try {
    holdGreetings = true;
    const c = await greeted(port);
    c.write(frame(1, goodResponse(c)));
    await new Promise((r) => setTimeout(r, 100)); // pairgate is now waiting for the backend's greeting
    c.write(frame(0, comQuery("SELECT 7 AS seven")));
    const ok = await c.read(5000);
    assert.is(ok.payload[0], 0x00, "the login's OK comes first");
    const columns = await c.read(5000);
    assert.is(columns.payload[0], 1, "then the result set of the command sent early: one column");
    c.close();
  } finally {
    holdGreetings = false;
    await slow.stop();
    relay.close();
  }
});

test("clients that stop mid-handshake are closed with ERR 1043 after handshakeTimeoutMs; others log in meanwhile", async () => {
  const stuck: RawConnection[] = [];
  try {
    for (let i = 0; i < 10; i++) stuck.push(await RawConnection.connect(px.port)); // never read the greeting
    for (let i = 0; i < 10; i++) {
      const c = await greeted();
      if (i % 2) c.write(frame(1, goodResponse(c)).subarray(0, 30)); // half a response
      stuck.push(c);
    }
    const t0 = Date.now();
    await stillServes();
    assert.ok(Date.now() - t0 < 5000, "a normal login is not held up by the stuck ones");
    for (const [i, c] of stuck.entries()) {
      if (i < 10) await c.readGreeting();
      const e = await expectErrThenClose(c, [1043], 4000);
      assert.is(e.sqlState, "08S01");
      assert.match(e.message, /Bad handshake: login not completed within 500 ms/);
    }
  } finally {
    for (const c of stuck) c.close();
  }
});

test("more clients than maxConnections (5): ERR 1040 / 08004, then close; when one leaves a new one gets in", async () => {
  const port = await freePort();
  const limited = await startProxy(
    pair,
    pair.proxyConfig({
      listen: { port },
      maxConnections: 5,
      audit: { journalDir: `${pair.dir}/audit-${port}` },
    }),
    `${pair.dir}/proxy-${port}.config.json`,
  );
  stopLater.push(limited);
  const five: Connection[] = [];
  try {
    for (let i = 0; i < 5; i++) five.push(await limited.connect());
    const refused = await limited.connect().catch((e) => e);
    assert.is(refused.errno, 1040, String(refused));
    assert.is(refused.sqlState, "08004");
    assert.match(refused.message, /Too many connections/);
    const raw = await RawConnection.connect(port);
    const p = await raw.read(3000);
    assert.ok(isErr(p));
    assert.is(errOf(p).code, 1040);
    assert.is(p.seq, 0, "the ERR comes instead of the greeting");
    await raw.waitClosed(3000);
    const viaMariadb = await mariadb
      .createConnection({ host: "127.0.0.1", port, ...user(), connectTimeout: 5000 })
      .catch((e) => e);
    assert.is(viaMariadb.errno, 1040);

    // The five still work.
    for (const c of five) assert.equal((await c.query("SELECT 5 AS five"))[0], [{ five: 5 }]);

    await five.pop()!.end();
    let sixth: Connection | null = null;
    for (let i = 0; i < 40 && !sixth; i++) {
      sixth = await limited.connect().catch(() => null);
      if (!sixth) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(sixth, "a new client got in once one left");
    assert.equal((await sixth.query("SELECT 6 AS six"))[0], [{ six: 6 }]);
    five.push(sixth);
  } finally {
    for (const c of five) await c.end().catch(() => {});
  }
});

// ---------------------------------------------------------------- the randomised run

/** Change a captured payload: flip bytes or bits, cut it, grow it, or replace it. */
function mutate(rng: Rng, base: Buffer): Buffer {
  const b = Buffer.from(base);
  switch (rng.int(8)) {
    case 0:
    case 1: {
      for (let i = rng.int(4) + 1; i > 0 && b.length > 0; i--) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 2: {
      for (let i = rng.int(8) + 1; i > 0 && b.length > 0; i--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 3:
      return b.subarray(0, rng.int(b.length + 1));
    case 4:
      return Buffer.concat([b, rng.bytes(rng.int(64))]);
    case 5:
      return rng.bytes(rng.int(80));
    case 6: {
      // Keep the command byte, scramble the rest.
      const r = rng.bytes(Math.max(0, b.length - 1));
      return Buffer.concat([b.subarray(0, 1), r]);
    }
    default:
      return b; // unchanged: a real packet in the wrong place is bad input too
  }
}

/** Frame a payload, sometimes with a wrong sequence id, a lying length, or cut short. */
function badPacket(rng: Rng, payload: Buffer, seq: number): Buffer {
  const r = rng.next();
  const s = r < 0.04 ? rng.int(256) : seq;
  const f = frame(s, payload);
  const t = rng.next();
  if (t < 0.03)
    f.writeUIntLE(rng.int(0x1000000), 0, 3); // a length that lies
  else if (t < 0.05) return f.subarray(0, rng.int(f.length)); // truncated
  return f;
}

interface Captured {
  logins: Buffer[];
  commands: Buffer[];
}

/** Real traffic from mysql2 and the mariadb connector, captured through a tap in front of `port`. */
async function captureTraffic(port: number): Promise<Captured> {
  const tap = await startTap({ host: "127.0.0.1", port });
  try {
    const m = await px.connect({ port: tap.port, multipleStatements: true });
    await m.query("SELECT 1 AS one; SELECT @@version");
    await m.query("SELECT id, name FROM ptrx_resources WHERE id IN (?, ?, ?)", [1, 2, 3]);
    await m.execute("SELECT id, name FROM ptrx_resources WHERE id = ? AND name <> ?", [1, "x"]);
    await m.execute("SELECT ? AS a, ? AS b, ? AS c", [1.5, "text", null]);
    await m.query("SHOW TABLES");
    await m.query("SET @fuzz = 1");
    await m.ping();
    await m.query("USE passtrix");
    await m.changeUser({
      user: pair.appUser.username,
      password: pair.appUser.password,
      database: "passtrix",
    });
    await m.end();
    const md = await mariadb.createConnection({ host: "127.0.0.1", port: tap.port, ...user() });
    await md.query("SELECT ? AS x", ["mariadb"]);
    await md.execute("SELECT id FROM ptrx_resources WHERE id = ?", [2]);
    await md.query("SELECT COUNT(*) FROM ptrx_resources");
    await md.ping();
    await md.end();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await tap.close();
  }
  const logins: Buffer[] = [];
  const commands: Buffer[] = [];
  for (const conn of tap.connections()) {
    let loggedIn = false;
    for (const p of conn) {
      if (p.seq === 0) loggedIn = true;
      (loggedIn ? commands : logins).push(p.payload);
    }
  }
  // Commands no driver above sends, so the fuzz reaches their code too.
  commands.push(
    Buffer.from([0x09]), // COM_STATISTICS
    Buffer.from("\x04ptrx_resources\x00", "latin1"), // COM_FIELD_LIST
    Buffer.from([0x1c, 1, 0, 0, 0, 5, 0, 0, 0]), // COM_STMT_FETCH
    Buffer.from([0x1a, 1, 0, 0, 0]), // COM_STMT_RESET
    Buffer.from([0x18, 1, 0, 0, 0, 0, 0, 0x61]), // COM_STMT_SEND_LONG_DATA
    Buffer.from([0x1b, 0x00, 0x00]), // COM_SET_OPTION
    Buffer.from([0x1f]), // COM_RESET_CONNECTION
    Buffer.from([0xee, 1, 2]), // unknown
    comPrepare("SELECT ? AS p"),
  );
  return { logins, commands };
}

/** Write, then wait until the server closes or has been quiet for `quietMs`. */
function drainUntilQuiet(s: Socket, quietMs: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(cap);
      s.off("data", onData);
      s.off("close", done);
      resolve();
    };
    const onData = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    const cap = setTimeout(done, maxMs);
    timer = setTimeout(done, quietMs);
    s.on("data", onData);
    s.on("close", done);
  });
}

test(`fuzz: ${FUZZ_PACKETS} mutated and truncated packets, before and after login, while a live session keeps answering`, async () => {
  const port = await freePort();
  const proc: ProxyProcess = await startProxyProcess(
    pair,
    pair.proxyConfig({
      // Mutated logins are mostly refused passwords: the throttle (tested in hostile.test.ts)
      // would block 127.0.0.1 after ten and leave nothing to fuzz after login.
      listen: { port, loginThrottle: { enabled: false } },
      handshakeTimeoutMs: 2000,
      audit: { journalDir: `${pair.dir}/audit-fuzz` },
    }),
  );
  stopLater.push(proc);
  const seed = Number(process.env.PAIRGATE_FUZZ_SEED ?? Date.now() % 0xffffffff) >>> 0;
  const captured = await captureTraffic(port);
  assert.ok(captured.logins.length >= 2 && captured.commands.length >= 20, "traffic was captured");

  // The live session: checked every 100 ms, text and prepared, each answer verified.
  const live = await proc.connect();
  let checks = 0;
  const failures: string[] = [];
  let stopLive = false;
  const liveRng = prng(seed ^ 0x5eed);
  const liveLoop = (async () => {
    while (!stopLive) {
      const n = liveRng.int(1e9);
      try {
        const [a] = await live.query("SELECT ? AS n, CONCAT('v', ?) AS s", [n, n]);
        const [b] = await live.execute("SELECT ? + 1 AS m", [n]);
        const ra = (a as { n: number; s: string }[])[0];
        const rb = (b as { m: number }[])[0];
        if (Number(ra.n) !== n || ra.s !== `v${n}` || Number(rb.m) !== n + 1)
          failures.push(`wrong answer for ${n}: ${JSON.stringify([ra, rb])}`);
        checks++;
      } catch (e) {
        failures.push((e as Error).message);
        if (failures.length > 5) return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // One generator per worker, each with its own share of the packets: what a worker sends does not
  // depend on how the workers interleave, so PAIRGATE_FUZZ_SEED replays a run.
  let sent = 0;
  let connections = 0;
  let loggedIn = 0;
  const deadline = Date.now() + FUZZ_DEADLINE_MS;

  async function preLogin(rng: Rng): Promise<number> {
    const c = await RawConnection.connect(port).catch(() => null);
    if (!c) return 0;
    connections++;
    try {
      if (rng.next() < 0.8) await c.readGreeting(3000).catch(() => {});
      const n = 1 + rng.int(4);
      const chunks: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const base = rng.next() < 0.85 ? rng.pick(captured.logins) : rng.pick(captured.commands);
        chunks.push(badPacket(rng, mutate(rng, base), i === 0 ? 1 : rng.int(4)));
      }
      c.write(Buffer.concat(chunks));
      sent += n;
      await drainUntilQuiet(c.socket, 30, 300);
      return n;
    } finally {
      c.close();
    }
  }

  async function postLogin(rng: Rng): Promise<number> {
    const c = await rawLogin(port, {
      ...user(),
      capabilities: rng.next() < 0.5 ? DEFAULT_CAPS : DEFAULT_CAPS | CAP.DEPRECATE_EOF,
    }).catch(() => null);
    if (!c) return 0;
    connections++;
    loggedIn++;
    let mine = 0;
    try {
      const n = 40 + rng.int(120);
      for (let done = 0; done < n && !c.closed; ) {
        const burst = Math.min(n - done, 1 + rng.int(12));
        const chunks: Buffer[] = [];
        for (let i = 0; i < burst; i++)
          chunks.push(badPacket(rng, mutate(rng, rng.pick(captured.commands)), 0));
        c.write(Buffer.concat(chunks));
        sent += burst;
        mine += burst;
        done += burst;
        await drainUntilQuiet(c.socket, 5, 100);
      }
      await drainUntilQuiet(c.socket, 20, 200);
      return mine;
    } finally {
      c.close();
    }
  }

  const WORKERS = 16;
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    const rng = prng((seed + Math.imul(w + 1, 0x9e3779b9)) >>> 0);
    const share = Math.ceil(FUZZ_PACKETS / WORKERS);
    for (let mine = 0; mine < share && Date.now() < deadline && proc.exit() === null; ) {
      mine += rng.next() < 0.6 ? await preLogin(rng) : await postLogin(rng);
    }
  });
  await Promise.all(workers);
  stopLive = true;
  await liveLoop;
  await live.end().catch(() => {});

  const why = `seed ${seed}, ${sent} packets, ${connections} connections (${loggedIn} logged in)`;
  process.stdout.write(`\n  fuzz: ${why}, ${checks} live checks, pairgate RSS ${proc.rssKiB()} KiB\n`);
  assert.is(proc.exit(), null, `pairgate exited (${why}):\n${proc.output()}`);
  assert.ok(sent >= FUZZ_PACKETS, `only ${sent} packets before the deadline (${why})`);
  assert.equal(failures, [], `the live session failed (${why})`);
  assert.ok(checks >= 20, `the live session was checked ${checks} times (${why})`);
  // Still accepting a normal login, and no runaway memory.
  const after = await proc.connect();
  const [rows] = await after.query("SELECT 'still serving' AS s");
  assert.equal(rows, [{ s: "still serving" }]);
  await after.end();
  assert.ok(proc.rssKiB() < 400 * 1024, `pairgate's RSS is ${proc.rssKiB()} KiB after the run`);
  assert.not.match(proc.output(), /uncaught|unhandled|FATAL|"level":60/i, proc.output());
  await proc.stop();
});

test.run();
