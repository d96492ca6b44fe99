/**
 * src/accounts and the native-hash path of protocol/auth.ts: which account a login is (the server's
 * order and host matching), global_priv rows read as the server reads them, and the check of a
 * client's mysql_native_password answer against only the stored SHA1(SHA1(password)).
 * The same choices are compared with a real server in test/integration/accounts.test.ts.
 */
import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  accountSort,
  compareAccounts,
  hostMatches,
  parseHostPattern,
  pickAccount,
  wildMatch,
} from "../../src/accounts/host.js";
import { type Account, mariadbAccount, mysqlAccount, passwordExpired } from "../../src/accounts/read.js";
import { mayChangeAccounts } from "../../src/accounts/statements.js";
import { AccountStore } from "../../src/accounts/store.js";
import { createLogger } from "../../src/observability/logger.js";
import {
  nativePasswordToken,
  nativeTokenFromStage1,
  newScramble,
  parseNativeHash,
  recoverNativeStage1,
} from "../../src/protocol/auth.js";
import { classify } from "../../src/sql/index.js";

const sha1 = (b: Buffer | string) => createHash("sha1").update(b).digest();
/** What the server stores for `password`: '*' + HEX(SHA1(SHA1(password))). */
const stored = (password: string) => `*${sha1(sha1(password)).toString("hex").toUpperCase()}`;

test("a native answer checked against the stored hash yields SHA1(password), and only for the right password", () => {
  const stage2 = parseNativeHash(stored("s3cret"))!;
  const scramble = newScramble();
  const stage1 = recoverNativeStage1(stage2, scramble, nativePasswordToken("s3cret", scramble));
  assert.ok(stage1);
  assert.equal(stage1, sha1("s3cret"));
  assert.is(recoverNativeStage1(stage2, scramble, nativePasswordToken("s3creT", scramble)), null);
  // The answer to another scramble (a replay) does not pass.
  assert.is(recoverNativeStage1(stage2, newScramble(), nativePasswordToken("s3cret", scramble)), null);
  assert.is(recoverNativeStage1(stage2, scramble, Buffer.alloc(0)), null);
  assert.is(recoverNativeStage1(stage2, scramble, Buffer.alloc(21)), null);
});

test("SHA1(password) answers a new scramble exactly as the password does (the backend login)", () => {
  const scramble = newScramble();
  assert.equal(nativeTokenFromStage1(sha1("pw"), scramble), nativePasswordToken("pw", scramble));
});

test("parseNativeHash takes only '*' + 40 hex digits", () => {
  assert.is(parseNativeHash(stored("x"))!.length, 20);
  for (const bad of ["", "invalid", "*ABC", "6f8c114b58f2ce9e", `${stored("x")}0`])
    assert.is(parseNativeHash(bad), null);
});

test("wildMatch: % and _ as the server's wild_compare, \\ escapes", () => {
  assert.ok(wildMatch("10.1.2.3", "10.%", false));
  assert.ok(wildMatch("10.1.2.3", "10.1.2._", false));
  assert.not.ok(wildMatch("10.1.2.33", "10.1.2._", false));
  assert.ok(wildMatch("anything", "%", false));
  assert.ok(wildMatch("a_b", "a\\_b", false));
  assert.not.ok(wildMatch("axb", "a\\_b", false));
  assert.ok(wildMatch("LocalHost", "localhost", true));
  assert.not.ok(wildMatch("10.1.2.3", "10.1.2", false));
  assert.ok(wildMatch("10.1.2.3", "%.2.%", false));
});

test("host patterns: netmask and CIDR, '' for any host, localhost only when the server resolves names", () => {
  assert.ok(hostMatches(parseHostPattern("10.0.0.0/255.0.0.0"), "10.9.8.7", false));
  assert.not.ok(hostMatches(parseHostPattern("10.0.0.0/255.0.0.0"), "11.9.8.7", false));
  assert.ok(hostMatches(parseHostPattern("192.168.1.0/24"), "192.168.1.200", false));
  assert.not.ok(hostMatches(parseHostPattern("192.168.1.0/24"), "192.168.2.1", false));
  assert.ok(hostMatches(parseHostPattern(""), "1.2.3.4", false));
  assert.not.ok(hostMatches(parseHostPattern("localhost"), "127.0.0.1", false));
  assert.ok(hostMatches(parseHostPattern("localhost"), "127.0.0.1", true));
  assert.not.ok(hostMatches(parseHostPattern("localhost"), "10.0.0.1", true));
});

const acct = (user: string, host: string, password = "pw"): Account => ({
  user,
  host,
  pattern: parseHostPattern(host),
  sort: accountSort(user, host),
  plugin: "mysql_native_password",
  stage2: parseNativeHash(stored(password)),
  locked: false,
  expired: false,
});

const sorted = (...a: Account[]) => a.sort(compareAccounts);

test("the server's order: literal host before wildcards, later wildcard before earlier, '' last", () => {
  const list = sorted(
    acct("u", "%"),
    acct("u", "10.%"),
    acct("u", ""),
    acct("u", "10.0.0.1"),
    acct("u", "10.0.0.%"),
  );
  assert.equal(
    list.map((a) => a.host),
    ["10.0.0.1", "10.0.0.%", "10.%", "%", ""],
  );
});

test("pickAccount: the most specific host wins for the user", () => {
  const list = sorted(acct("u", "%", "pct"), acct("u", "127.0.0.1", "lit"));
  assert.is(pickAccount(list, "u", "127.0.0.1", false)!.host, "127.0.0.1");
  assert.is(pickAccount(list, "u", "10.0.0.5", false)!.host, "%");
  assert.is(pickAccount(list, "v", "127.0.0.1", false), null);
});

test("pickAccount: an anonymous account wins only with a strictly more specific host", () => {
  const list = sorted(acct("u", "%"), acct("", "127.0.0.1"), acct("", "%"));
  // ''@'127.0.0.1' is more specific than 'u'@'%': the server picks the anonymous account.
  assert.is(pickAccount(list, "u", "127.0.0.1", false)!.user, "");
  // Same host: the named user first.
  assert.is(pickAccount(sorted(acct("u", "%"), acct("", "%")), "u", "10.1.1.1", false)!.user, "u");
  // A name with no account of its own falls to an anonymous one.
  assert.is(pickAccount(list, "nobody", "10.1.1.1", false)!.host, "%");
  // 'u'@'127.0.0.1' beats ''@'127.0.0.1'.
  assert.is(
    pickAccount(sorted(acct("", "127.0.0.1"), acct("u", "127.0.0.1")), "u", "127.0.0.1", false)!.user,
    "u",
  );
});

test("user names are case-sensitive, as the server's", () => {
  assert.is(pickAccount(sorted(acct("App", "%")), "app", "1.2.3.4", false), null);
});

test("global_priv rows: plugin, hash, lock, roles, auth_or, no plugin = old native", () => {
  const a = mariadbAccount(
    "u",
    "%",
    JSON.stringify({
      plugin: "mysql_native_password",
      authentication_string: stored("x"),
      account_locked: true,
    }),
  )!;
  assert.is(a.plugin, "mysql_native_password");
  assert.equal(a.stage2, parseNativeHash(stored("x")));
  assert.ok(a.locked);
  assert.is(mariadbAccount("r", "", { is_role: true }), null);
  const ed = mariadbAccount("e", "%", {
    plugin: "ed25519",
    authentication_string: "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY",
  })!;
  assert.is(ed.plugin, "ed25519");
  assert.is(ed.stage2, null);
  const or = mariadbAccount("o", "%", {
    plugin: "mysql_native_password",
    authentication_string: stored("y"),
    auth_or: [{ plugin: "unix_socket" }, {}],
  })!;
  assert.is(or.plugin, "mysql_native_password");
  assert.equal(or.stage2, parseNativeHash(stored("y")));
  const old = mariadbAccount("root", "localhost", { access: 1 })!;
  assert.is(old.plugin, "mysql_native_password");
  assert.is(old.stage2!.length, 0, "no password");
  assert.is(
    mariadbAccount("i", "%", { plugin: "mysql_native_password", authentication_string: "invalid" })!.stage2,
    null,
  );
});

test("password expiry: PASSWORD EXPIRE (last changed 0), the account's lifetime, else the server's default", () => {
  const now = 1_800_000_000;
  const day = 86_400;
  assert.ok(passwordExpired(0, null, 0, now));
  assert.not.ok(passwordExpired(now - 400 * day, null, 0, now), "default 0: never");
  assert.ok(passwordExpired(now - 400 * day, null, 360, now), "the server's default_password_lifetime");
  assert.ok(passwordExpired(now - 31 * day, 30, 0, now), "the account's own");
  assert.not.ok(passwordExpired(now - 29 * day, 30, 0, now));
  assert.not.ok(passwordExpired(now - 400 * day, 0, 360, now), "the account's 0: never");
  assert.ok(passwordExpired(now - 400 * day, -1, 360, now), "-1: the default");
  assert.ok(
    mariadbAccount("e", "%", { authentication_string: stored("x"), password_last_changed: 0 })!.expired,
  );
  assert.not.ok(
    mariadbAccount("e", "%", { authentication_string: stored("x"), password_last_changed: now }, 0, now)!
      .expired,
  );
});

test("mysql.user rows: caching_sha2 is another plugin, account_locked Y", () => {
  const a = mysqlAccount("u", "%", "caching_sha2_password", "$A$005$xxxx", "Y");
  assert.is(a.plugin, "caching_sha2_password");
  assert.is(a.stage2, null);
  assert.ok(a.locked);
  assert.not.ok(mysqlAccount("u", "%", "mysql_native_password", stored("z"), "N").locked);
});

test("statements after which the accounts are read again", () => {
  const yes = (sql: string) => mayChangeAccounts(classify(sql), Buffer.from(`\x03${sql}`, "latin1"));
  for (const sql of [
    "ALTER USER 'u'@'%' IDENTIFIED BY 'x'",
    "SET PASSWORD FOR 'u'@'%' = PASSWORD('x')",
    "set password = password('x')",
    "CREATE USER u IDENTIFIED BY 'x'",
    "DROP USER u",
    "RENAME USER a TO b",
    "GRANT SELECT ON db.* TO u",
    "REVOKE ALL ON *.* FROM u",
    "CREATE ROLE r",
    "SELECT 1; DROP USER u",
  ])
    assert.ok(yes(sql), sql);
  for (const sql of [
    "SELECT * FROM users",
    "ALTER TABLE users ADD c INT",
    "INSERT INTO t VALUES (1)",
    "SET @a = 1",
  ])
    assert.not.ok(yes(sql), sql);
});

function fakeStore(
  reads: Array<() => Promise<Account[]>>,
  order: ("primary" | "secondary")[] = ["primary", "secondary"],
) {
  let i = 0;
  const calls: string[] = [];
  const store = new AccountStore({
    read: async (role) => {
      calls.push(role);
      const accounts = await reads[Math.min(i++, reads.length - 1)]();
      return { kind: "mariadb", resolvesNames: false, accounts: sorted(...accounts) };
    },
    order: () => order,
    refreshIntervalMs: () => 3_600_000,
    failedLoginRefreshMs: () => 50,
    logger: createLogger("silent"),
  });
  return { store, calls };
}

test("store: a refresh that reaches no server keeps the accounts it had", async () => {
  const { store, calls } = fakeStore([
    async () => [acct("u", "%")],
    async () => {
      throw new Error("ECONNREFUSED");
    },
  ]);
  await store.start();
  assert.is(store.status().source, "primary");
  await store.refresh("interval");
  assert.ok(store.find("u", "1.2.3.4"), "kept");
  assert.is(store.status().failures, 1);
  assert.match(store.status().lastError!, /ECONNREFUSED/);
  assert.equal(calls, ["primary", "primary", "secondary"]);
  store.stop();
});

test("store: a refresh asked for while one runs makes one more after it; a login waits for both", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { store, calls } = fakeStore([
    async () => [acct("u", "%")],
    async () => {
      await gate;
      return [acct("u", "%")];
    },
    async () => [acct("u", "%"), acct("new", "%")],
  ]);
  await store.start();
  const first = store.refresh("interval");
  const second = store.refresh("statement");
  const third = store.refresh("statement"); // coalesced into the second
  assert.is(second, third);
  let settled = false;
  const login = store.settled().then(() => {
    settled = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(settled, "the login waits for the refresh");
  release();
  await Promise.all([first, second, login]);
  assert.ok(store.find("new", "1.1.1.1"), "the follow-up read saw the change");
  assert.is(calls.length, 3);
  store.stop();
});

test("store: failed logins refresh at most once per failedLoginRefreshMs", async () => {
  const { store, calls } = fakeStore([async () => [acct("u", "%")]]);
  await store.start();
  assert.ok(await store.afterFailedLogin());
  assert.not.ok(await store.afterFailedLogin(), "rate-limited");
  assert.is(calls.length, 2);
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(await store.afterFailedLogin());
  store.stop();
});

test.run();
