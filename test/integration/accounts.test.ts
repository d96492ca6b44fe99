/**
 * Accounts read from the servers (issue 21), against a real MariaDB pair: a config with no `users`,
 * every login checked against the account the server has — its password, its host pattern, its
 * lock, its plugin — and rotations and revocations made on the server seen without touching
 * pairgate. Each refusal is compared with what the server itself answers to the same login.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import mysql, { type Connection, type ConnectionOptions } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatStatusText } from "../../src/admin/status.js";
import { tlsFiles } from "../../src/lab/tls.js";
import { JdbcShell, jdbcMissing } from "../helpers/jdbc.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";

const run = promisify(execFile);
let pair: TestPair;
let px: RunningProxy;
let root: Connection;
const extra: RunningProxy[] = [];
const REFRESH_MS = 1000;

test.before(async () => {
  pair = await startPair();
  root = await pair.rootConnection("primary");
  px = await serversProxy();
});

test.after(async () => {
  for (const p of extra) await p.stop().catch(() => {});
  await px?.stop();
  await root?.end().catch(() => {});
  await pair?.stop();
});

/** A pairgate whose config lists no users (listen.tls on, not required). */
async function serversProxy(overrides: Record<string, unknown> = {}): Promise<RunningProxy> {
  const port = await freePort();
  const t = tlsFiles(pair.lab.tlsDir);
  const p = await startProxy(
    pair,
    pair.proxyConfig({
      users: [],
      accounts: { refreshIntervalMs: REFRESH_MS, failedLoginRefreshMs: 200 },
      // Many refused logins on purpose: the per-address throttle would block the test's client.
      listen: { port, tls: { cert: t.cert, key: t.key, require: false }, loginThrottle: { enabled: false } },
      audit: { journalDir: `${pair.dir}/audit-${port}` },
      ...overrides,
    }),
    `${pair.dir}/proxy-${port}.config.json`,
  );
  if (px) extra.push(p);
  return p;
}

type Outcome = { ok: true; currentUser: string } | { ok: false; errno: number; message: string };

/** Log in as `user`/`password` to `port` (pairgate or a server) and say who the server made of it. */
async function login(
  port: number,
  user: string,
  password: string,
  options: ConnectionOptions = {},
): Promise<Outcome> {
  let c: Connection | undefined;
  try {
    c = await mysql.createConnection({
      host: "127.0.0.1",
      port,
      user,
      password,
      connectTimeout: 10_000,
      ...options,
    });
    const [rows] = await c.query("SELECT CURRENT_USER() AS cu");
    return { ok: true, currentUser: (rows as { cu: string }[])[0]!.cu };
  } catch (e) {
    const err = e as { errno?: number; message: string };
    return { ok: false, errno: err.errno ?? 0, message: err.message };
  } finally {
    await c?.end().catch(() => {});
  }
}

/** The same login through pairgate and straight to the primary: the same outcome. */
async function sameAsServer(user: string, password: string): Promise<Outcome> {
  const direct = await login(pair.primary.port, user, password);
  const via = await login(px.port, user, password);
  const brief = (o: Outcome) => (o.ok ? `ok ${o.currentUser}` : `errno ${o.errno}`);
  assert.is(
    brief(via),
    brief(direct),
    `${user}/${password}: pairgate said ${JSON.stringify(via)}, the server ${JSON.stringify(direct)}`,
  );
  return via;
}

async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("the config lists no users: the app user logs in with the server's password; a wrong one gets the server's 1045", async () => {
  const ok = await sameAsServer(pair.appUser.username, pair.appUser.password);
  assert.equal(ok, { ok: true, currentUser: `${pair.appUser.username}@%` });
  const bad = await sameAsServer(pair.appUser.username, "not-the-password");
  assert.ok(!bad.ok && bad.errno === 1045);
  assert.ok(
    !bad.ok && /Access denied for user 'pmpuser'@'127\.0\.0\.1' \(using password: YES\)/.test(bad.message),
  );
  const st = px.proxy.accountsInfo().fromServers!;
  assert.is(st.source, "primary");
  assert.ok(st.accounts >= 3, `accounts held: ${st.accounts}`);
});

test("ALTER USER on the server: the new password works through pairgate, the old one fails — no config change, no SIGHUP", async () => {
  await root.query("CREATE USER 'rot'@'%' IDENTIFIED BY 'first-pw'");
  await root.query("GRANT SELECT ON passtrix.* TO 'rot'@'%'");
  const created = await eventually(
    "a created account logs in",
    REFRESH_MS * 3,
    async () => (await login(px.port, "rot", "first-pw")).ok,
  );
  assert.ok(created <= REFRESH_MS * 3);
  await root.query("ALTER USER 'rot'@'%' IDENTIFIED BY 'second-pw'");
  const tookMs = await eventually(
    "the new password",
    REFRESH_MS * 3,
    async () => (await login(px.port, "rot", "second-pw")).ok,
  );
  const old = await login(px.port, "rot", "first-pw");
  assert.ok(!old.ok && old.errno === 1045, JSON.stringify(old));
  assert.ok(tookMs <= REFRESH_MS * 3, `the new password took ${tookMs} ms`);
});

test("a password changed through pairgate (SET PASSWORD) works at the next login: the accounts are read again at once", async () => {
  await root.query("CREATE USER 'self'@'%' IDENTIFIED BY 'self-1'");
  await eventually("created", REFRESH_MS * 3, async () => (await login(px.port, "self", "self-1")).ok);
  // No failed-login refresh can help here: that refresh is rate-limited away by a long interval.
  const slow = await serversProxy({
    accounts: { refreshIntervalMs: 600_000, failedLoginRefreshMs: 600_000 },
  });
  const c = await mysql.createConnection({
    host: "127.0.0.1",
    port: slow.port,
    user: "self",
    password: "self-1",
  });
  await c.query("SET PASSWORD = PASSWORD('self-2')");
  await c.end();
  await new Promise((r) => setTimeout(r, 200)); // the refresh runs after the OK was relayed
  const next = await login(slow.port, "self", "self-2");
  assert.ok(next.ok, JSON.stringify(next));
  assert.ok(slow.proxy.accountsInfo().fromServers!.refreshes >= 2);
});

test("DROP USER and ACCOUNT LOCK: refused with the server's own errors (1045, 4151)", async () => {
  await root.query("CREATE USER 'gone'@'%' IDENTIFIED BY 'gone-pw'");
  await root.query("CREATE USER 'locked'@'%' IDENTIFIED BY 'locked-pw'");
  await eventually("created", REFRESH_MS * 3, async () => (await login(px.port, "locked", "locked-pw")).ok);
  await root.query("DROP USER 'gone'@'%'");
  await root.query("ALTER USER 'locked'@'%' ACCOUNT LOCK");
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
  const gone = await sameAsServer("gone", "gone-pw");
  assert.ok(!gone.ok && gone.errno === 1045);
  const locked = await sameAsServer("locked", "locked-pw");
  assert.ok(!locked.ok && locked.errno === 4151, JSON.stringify(locked));
  assert.match((locked as { message: string }).message, /this account is locked/);
  // As the server: the lock is told only to whoever knows the password.
  const guess = await sameAsServer("locked", "wrong");
  assert.ok(!guess.ok && guess.errno === 1045);
});

test("an expired password: refused with 1862 and the server's text (its answer with disconnect_on_expired_password), not a sandbox; a new password set on the server logs in", async () => {
  await root.query("CREATE USER 'exp'@'%' IDENTIFIED BY 'exp-old'");
  await root.query("ALTER USER 'exp'@'%' PASSWORD EXPIRE");
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
  // The server itself (disconnect_on_expired_password OFF, the default) opens a sandbox where
  // only SET PASSWORD runs: 1820 for anything else. pairgate's own session set-up cannot run in it.
  const direct = await login(pair.primary.port, "exp", "exp-old");
  assert.ok(!direct.ok && direct.errno === 1820, JSON.stringify(direct));
  const via = await login(px.port, "exp", "exp-old");
  assert.ok(!via.ok && via.errno === 1862, JSON.stringify(via));
  assert.match(
    (via as { message: string }).message,
    /^Your password has expired\. To log in you must change it/,
  );
  // A wrong password is told nothing about the expiry, as by the server.
  const wrong = await sameAsServer("exp", "nope");
  assert.ok(!wrong.ok && wrong.errno === 1045);
  await root.query("ALTER USER 'exp'@'%' IDENTIFIED BY 'exp-new'");
  await eventually(
    "the new password",
    REFRESH_MS * 3,
    async () => (await login(px.port, "exp", "exp-new")).ok,
  );
});

test("'hu'@'127.0.0.1' and 'hu'@'%' with different passwords: pairgate picks the account the server picks", async () => {
  await root.query("CREATE USER 'hu'@'%' IDENTIFIED BY 'pct-pw'");
  await root.query("CREATE USER 'hu'@'127.0.0.1' IDENTIFIED BY 'lit-pw'");
  await root.query("CREATE USER 'hu'@'10.%' IDENTIFIED BY 'ten-pw'");
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
  const lit = await sameAsServer("hu", "lit-pw");
  assert.equal(lit, { ok: true, currentUser: "hu@127.0.0.1" });
  const pct = await sameAsServer("hu", "pct-pw");
  assert.ok(!pct.ok && pct.errno === 1045);
  const ten = await sameAsServer("hu", "ten-pw");
  assert.ok(!ten.ok);
});

test("an account without a password logs in without one; a locked role is no account", async () => {
  await root.query("CREATE USER 'nopw'@'%'");
  await root.query("CREATE ROLE IF NOT EXISTS 'app_role'");
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
  assert.equal(await sameAsServer("nopw", ""), { ok: true, currentUser: "nopw@%" });
  const withPw = await sameAsServer("nopw", "something");
  assert.ok(!withPw.ok && withPw.errno === 1045);
  const role = await sameAsServer("app_role", "");
  assert.ok(!role.ok && role.errno === 1045);
});

test("plugins pairgate cannot log in with on the client's behalf are refused by name (1251), never by a silent fallback", async () => {
  await root.query("CREATE USER 'sock'@'%' IDENTIFIED VIA unix_socket");
  // On both servers: the CREATE USER below replicates, and a secondary without the plugin would
  // stop its SQL thread on it.
  let ed25519 = true;
  const secondaryRoot = await pair.rootConnection("secondary");
  try {
    for (const c of [root, secondaryRoot])
      await c.query("INSTALL SONAME 'auth_ed25519'").catch((e: Error) => {
        if (!/already|exists/i.test(e.message)) ed25519 = false;
      });
  } finally {
    await secondaryRoot.end();
  }
  if (ed25519) await root.query("CREATE USER 'ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-pw')");
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
  const sock = await login(px.port, "sock", "");
  assert.ok(!sock.ok && sock.errno === 1251, JSON.stringify(sock));
  assert.match((sock as { message: string }).message, /unix_socket/);
  if (ed25519) {
    const ed = await login(px.port, "ed", "ed-pw");
    assert.ok(!ed.ok && ed.errno === 1251, JSON.stringify(ed));
    assert.match((ed as { message: string }).message, /ed25519/);
  } else console.warn("accounts.test: auth_ed25519 is not available here; the ed25519 case was not run");
});

test("COM_CHANGE_USER to an account of the servers is checked the same way", async () => {
  const c = await mysql.createConnection({
    host: "127.0.0.1",
    port: px.port,
    user: pair.appUser.username,
    password: pair.appUser.password,
  });
  try {
    await c.changeUser({ user: "hu", password: "lit-pw" });
    const [rows] = await c.query("SELECT CURRENT_USER() AS cu");
    assert.is((rows as { cu: string }[])[0]!.cu, "hu@127.0.0.1");
    let err: { errno?: number } | null = null;
    await c.changeUser({ user: "hu", password: "pct-pw" }).catch((e) => {
      err = e;
    });
    assert.is(err?.errno, 1045);
  } finally {
    c.destroy();
  }
});

test("a static users list and the servers' accounts together: the listed user is checked against the config, the others against the servers", async () => {
  const both = await serversProxy({
    users: [{ username: pair.appUser.username, password: "the-config-password" }],
  });
  // The config wins for its name: the server's password is not accepted for it...
  const serverPw = await login(both.port, pair.appUser.username, pair.appUser.password);
  assert.ok(!serverPw.ok && serverPw.errno === 1045, JSON.stringify(serverPw));
  // ...the config's is (the server then refuses pairgate's login with it, and says so).
  const configPw = await login(both.port, pair.appUser.username, "the-config-password");
  assert.ok(!configPw.ok && configPw.errno === 1045 && /Access denied/.test(configPw.message));
  // A name the config does not list comes from the servers.
  assert.equal(await login(both.port, "hu", "lit-pw"), { ok: true, currentUser: "hu@127.0.0.1" });
  assert.is(both.proxy.accountsInfo().configUsers, 1);
});

test("listen.authPlugin caching_sha2_password: a client answering with it is switched to the account's mysql_native_password, as the server does", async () => {
  const sha2 = await serversProxy({
    listen: {
      port: await freePort(),
      authPlugin: "caching_sha2_password",
      loginThrottle: { enabled: false },
    },
  });
  const ok = await login(sha2.port, pair.appUser.username, pair.appUser.password);
  assert.equal(ok, { ok: true, currentUser: `${pair.appUser.username}@%` });
  const bad = await login(sha2.port, pair.appUser.username, "wrong");
  assert.ok(!bad.ok && bad.errno === 1045);
  // The MariaDB client answers the greeting with the plugin it announces (caching_sha2_password).
  const { stdout } = await run(
    "/usr/bin/mariadb",
    [
      "--no-defaults",
      "-h127.0.0.1",
      `-P${sha2.port}`,
      `-u${pair.appUser.username}`,
      `-p${pair.appUser.password}`,
      "-N",
      "-e",
      "SELECT CURRENT_USER()",
    ],
    { timeout: 30_000 },
  );
  assert.is(stdout.trim(), `${pair.appUser.username}@%`);
});

test("the CLI over TLS, PyMySQL and JDBC log in with the server's password", async () => {
  const { stdout } = await run(
    "/usr/bin/mariadb",
    [
      "--no-defaults",
      "-h127.0.0.1",
      `-P${px.port}`,
      `-u${pair.appUser.username}`,
      `-p${pair.appUser.password}`,
      "--ssl",
      `--ssl-ca=${pair.caFile}`,
      "-N",
      "-e",
      "SELECT CURRENT_USER(); \\s",
    ],
    { timeout: 30_000 },
  );
  assert.match(stdout, /pmpuser@%/);
  assert.match(stdout, /SSL:\s+Cipher in use is \S+/, "the client's hop is TLS");
  const py = await run(
    "/usr/bin/python3",
    [
      "-c",
      "import sys, pymysql\n" +
        "c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3], ssl={'ca': sys.argv[4]})\n" +
        "cur = c.cursor(); cur.execute('SELECT CURRENT_USER()'); print(cur.fetchone()[0])",
      String(px.port),
      pair.appUser.username,
      pair.appUser.password,
      pair.caFile,
    ],
    { timeout: 30_000 },
  );
  assert.is(py.stdout.trim(), "pmpuser@%");
  const missing = jdbcMissing();
  if (missing) throw new Error(`JDBC: ${missing}`);
  const jdbc = await JdbcShell.start();
  try {
    const url = `jdbc:mariadb://127.0.0.1:${px.port}/passtrix?useSsl=true&trustServerCertificate=true`;
    await jdbc.expect(`connect ${url}\t${pair.appUser.username}\t${pair.appUser.password}`, "ok");
    const r = await jdbc.expect("query SELECT CURRENT_USER()", "rows");
    assert.equal(r.rows, [["pmpuser@%"]]);
    const bad = await jdbc.run(`connect ${url}\t${pair.appUser.username}\twrong`);
    assert.ok(bad.kind === "error" && bad.error.code === 1045, JSON.stringify(bad));
  } finally {
    jdbc.stop();
  }
});

test("no hash and no password in /status or /metrics", async () => {
  const [rows] = await root.query("SELECT Priv AS p FROM mysql.global_priv");
  const hashes = (rows as { p: string }[])
    .map(
      (r) =>
        /"authentication_string":"(\*[0-9A-F]{40})"/.exec(
          typeof r.p === "string" ? r.p : JSON.stringify(r.p),
        )?.[1],
    )
    .filter((h): h is string => !!h);
  assert.ok(hashes.length > 3);
  const admin = px.proxy.adminPort!;
  const status = await (await fetch(`http://127.0.0.1:${admin}/status`)).text();
  const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  for (const text of [status, metrics]) {
    for (const h of hashes) {
      assert.not.ok(text.includes(h), "a hash");
      assert.not.ok(text.includes(h.slice(1).toLowerCase()), "a hash in hex");
    }
    for (const pw of [pair.appUser.password, pair.serviceUser.password, "lit-pw", "second-pw"])
      assert.not.ok(text.includes(pw), "a password");
  }
  const doc = JSON.parse(status);
  assert.is(doc.accounts.configUsers, 0);
  assert.is(doc.accounts.fromServers.source, "primary");
  // `pairgate status` prints the same in words.
  assert.match(formatStatusText(doc), /^accounts: \d+ read from the primary (just now|\d+ s ago)$/m);
  assert.match(metrics, /^pairgate_accounts \d+$/m);
  assert.match(metrics, /^pairgate_accounts_refreshes_total\{result="ok",reason="interval"\} [1-9]/m);
  assert.match(metrics, /^pairgate_accounts_source\{role="primary"\} 1$/m);
});

test("an anonymous account takes the names no account has, as the server's does; a named account keeps its own", async () => {
  // ''@'%' and not ''@'127.0.0.1': a more specific anonymous account would shadow every '%'
  // account from this host on the server — pairgate's service user too (the unit tests cover
  // that order; here the server's answer is the reference).
  await root.query("CREATE USER ''@'%' IDENTIFIED BY 'anon-pw'");
  try {
    await new Promise((r) => setTimeout(r, REFRESH_MS * 2.5));
    assert.equal(await sameAsServer("whoever", "anon-pw"), { ok: true, currentUser: "@%" });
    assert.equal(await sameAsServer(pair.appUser.username, pair.appUser.password), {
      ok: true,
      currentUser: `${pair.appUser.username}@%`,
    });
    const notForNamed = await sameAsServer(pair.appUser.username, "anon-pw");
    assert.ok(!notForNamed.ok && notForNamed.errno === 1045);
  } finally {
    await root.query("DROP USER ''@'%'");
  }
});

test("primary killed: new logins succeed from the secondary's accounts, also for a pairgate started after the kill", async () => {
  await root.query("CREATE USER 'late'@'%' IDENTIFIED BY 'late-pw'");
  await eventually(
    "replicated",
    10_000,
    async () => (await login(pair.secondary.port, "late", "late-pw")).ok,
  );
  await root.end();
  await pair.lab.kill("primary");
  // The running pairgate: its next reads of the accounts come from the secondary; it keeps serving.
  await eventually(
    "accounts read from the secondary",
    15_000,
    async () => px.proxy.accountsInfo().fromServers!.source === "secondary",
  );
  const st = px.proxy.accountsInfo().fromServers!;
  assert.ok(st.accounts >= 3, "the cache did not empty");
  const again = await login(px.port, "late", "late-pw");
  assert.ok(again.ok, JSON.stringify(again));
  // A pairgate that starts now has never seen the primary: its accounts are the secondary's.
  const fresh = await serversProxy({
    monitor: { intervalMs: 250, connectTimeoutMs: 500, queryTimeoutMs: 500, fall: 1, rise: 2 },
  });
  assert.is(fresh.proxy.accountsInfo().fromServers!.source, "secondary");
  const viaFresh = await login(fresh.port, pair.appUser.username, pair.appUser.password);
  assert.ok(viaFresh.ok, JSON.stringify(viaFresh));
  const wrong = await login(fresh.port, pair.appUser.username, "nope");
  assert.ok(!wrong.ok && wrong.errno === 1045);
});

test.run();
