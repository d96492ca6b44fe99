/**
 * frontend/authenticate.ts with accounts read from the servers, driven through a scripted
 * exchange (no socket): which credential a login yields, what is asked of the client, and the
 * refusals — with hostile answers (a replayed token, a token of the wrong length, an empty one).
 */
import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { accountSort, compareAccounts, parseHostPattern } from "../../src/accounts/host.js";
import type { Account } from "../../src/accounts/read.js";
import { AccountStore } from "../../src/accounts/store.js";
import { type AuthRequest, type AuthResult, authenticate } from "../../src/frontend/authenticate.js";
import { createLogger } from "../../src/observability/logger.js";
import {
  cachingSha2Token,
  nativePasswordToken,
  newScramble,
  parseNativeHash,
} from "../../src/protocol/auth.js";
import type { Packet } from "../../src/protocol/framer.js";
import { decodeAuthSwitch } from "../../src/protocol/messages.js";

const sha1 = (b: Buffer | string) => createHash("sha1").update(b).digest();
const stored = (pw: string) => `*${sha1(sha1(pw)).toString("hex").toUpperCase()}`;

function account(user: string, host: string, over: Partial<Account> & { password?: string } = {}): Account {
  const { password = "pw", ...rest } = over;
  return {
    user,
    host,
    pattern: parseHostPattern(host),
    sort: accountSort(user, host),
    plugin: "mysql_native_password",
    stage2: password === "" ? Buffer.alloc(0) : parseNativeHash(stored(password)),
    locked: false,
    expired: false,
    ...rest,
  };
}

/** A store whose reads return `sets[i]` in turn (the last one from then on). */
async function store(...sets: Account[][]): Promise<{ s: AccountStore; reads: () => number }> {
  let i = 0;
  const s = new AccountStore({
    read: async () => ({
      kind: "mariadb",
      resolvesNames: false,
      accounts: [...sets[Math.min(i++, sets.length - 1)]!].sort(compareAccounts),
    }),
    order: () => ["primary"],
    refreshIntervalMs: () => 3_600_000,
    failedLoginRefreshMs: () => 0,
    logger: createLogger("silent"),
  });
  await s.start();
  s.stop();
  return { s, reads: () => i };
}

/** Run authenticate with the client's scripted answers; what pairgate wrote is recorded. */
async function run(
  r: Partial<AuthRequest> & Pick<AuthRequest, "username" | "answer" | "accounts">,
  answers: Buffer[] = [],
): Promise<{ result: AuthResult; written: Buffer[] }> {
  const written: Buffer[] = [];
  let seq = 0;
  const result = await authenticate(
    {
      write: (payload, s) => {
        written.push(payload);
        seq = s;
      },
      next: async (): Promise<Packet> => {
        const payload = answers.shift();
        if (!payload) throw new Error("the test gave no more answers");
        return { seq: seq + 1, payload } as Packet;
      },
    },
    {
      seq: 2,
      secure: false,
      plugin: "mysql_native_password",
      users: new Map(),
      sha2Cache: new Set(),
      host: "10.0.0.7",
      ...r,
    },
  );
  return { result, written };
}

test("the right password yields SHA1(password) and asks the client nothing more", async () => {
  const { s } = await store([account("app", "%", { password: "s3cret" })]);
  const scramble = newScramble();
  const { result, written } = await run({
    username: "app",
    accounts: s,
    answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken("s3cret", scramble) },
  });
  assert.ok(result.ok);
  assert.equal((result as { password: unknown }).password, { nativeStage1: sha1("s3cret") });
  assert.is(written.length, 0);
});

test("hostile answers: a token for another scramble, a token one byte long, an empty token — refused with 1045", async () => {
  const { s } = await store([account("app", "%", { password: "s3cret" })]);
  const scramble = newScramble();
  for (const token of [
    nativePasswordToken("s3cret", newScramble()),
    nativePasswordToken("s3cret", scramble).subarray(0, 19),
    Buffer.concat([nativePasswordToken("s3cret", scramble), Buffer.from([0])]),
    Buffer.alloc(0),
  ]) {
    const { result } = await run({
      username: "app",
      accounts: s,
      answer: { plugin: "mysql_native_password", scramble, token },
    });
    assert.not.ok(result.ok);
    assert.is((result as { errno: number }).errno, 1045);
  }
});

test("a client answering with caching_sha2_password is switched to mysql_native_password (the account's plugin)", async () => {
  const { s } = await store([account("app", "%", { password: "pw2" })]);
  const scramble = newScramble();
  const { result, written } = await run(
    {
      username: "app",
      accounts: s,
      plugin: "caching_sha2_password",
      answer: { plugin: "caching_sha2_password", scramble, token: cachingSha2Token("pw2", scramble) },
    },
    [nativePasswordToken("pw2", scramble)],
  );
  assert.is(written.length, 1);
  const sw = decodeAuthSwitch(written[0]!);
  assert.is(sw.plugin, "mysql_native_password");
  assert.equal(sw.data.subarray(0, 20), scramble, "the same scramble, as the server does at login");
  assert.ok(result.ok);
});

test("another plugin is refused by name with 1251 before the client is asked anything", async () => {
  const { s } = await store([account("ed", "%", { plugin: "ed25519", stage2: null })]);
  const { result, written } = await run({
    username: "ed",
    accounts: s,
    answer: { plugin: "mysql_native_password", scramble: newScramble(), token: Buffer.alloc(20) },
  });
  assert.is(written.length, 0);
  assert.not.ok(result.ok);
  assert.is((result as { errno: number }).errno, 1251);
  assert.match((result as { message: string }).message, /ed25519/);
});

test("locked and expired: told only to a client that knew the password (4151, 1862); else 1045", async () => {
  const { s } = await store([
    account("lk", "%", { password: "a", locked: true }),
    account("ex", "%", { password: "b", expired: true }),
  ]);
  const scramble = newScramble();
  const attempt = async (username: string, pw: string) =>
    (
      await run({
        username,
        accounts: s,
        answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken(pw, scramble) },
      })
    ).result as { ok: boolean; errno?: number };
  assert.is((await attempt("lk", "a")).errno, 4151);
  assert.is((await attempt("lk", "x")).errno, 1045);
  assert.is((await attempt("ex", "b")).errno, 1862);
  assert.is((await attempt("ex", "x")).errno, 1045);
});

test("a failed check reads the accounts again and checks the same answer against the new hash (a rotation)", async () => {
  const { s, reads } = await store(
    [account("app", "%", { password: "old" })],
    [account("app", "%", { password: "new" })],
  );
  const scramble = newScramble();
  const { result, written } = await run({
    username: "app",
    accounts: s,
    answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken("new", scramble) },
  });
  assert.ok(result.ok, JSON.stringify(result));
  assert.is(reads(), 2);
  assert.is(written.length, 0, "the client is not asked again");
});

test("a user of the config's users wins over the servers' account of the same name", async () => {
  const { s } = await store([account("app", "%", { password: "server-pw" })]);
  const scramble = newScramble();
  const users = new Map([["app", "config-pw"]]);
  const withServerPw = await run({
    username: "app",
    accounts: s,
    users,
    answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken("server-pw", scramble) },
  });
  assert.not.ok(withServerPw.result.ok);
  const withConfigPw = await run({
    username: "app",
    accounts: s,
    users,
    answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken("config-pw", scramble) },
  });
  assert.ok(withConfigPw.result.ok);
  assert.is((withConfigPw.result as { password: unknown }).password, "config-pw");
});

test("an account without a password: an empty answer logs in (credential ''), any other is refused", async () => {
  const { s } = await store([account("nopw", "%", { password: "" })]);
  const scramble = newScramble();
  const empty = await run({
    username: "nopw",
    accounts: s,
    answer: { plugin: "mysql_native_password", scramble, token: Buffer.alloc(0) },
  });
  assert.ok(empty.result.ok);
  assert.is((empty.result as { password: unknown }).password, "");
  const some = await run({
    username: "nopw",
    accounts: s,
    answer: { plugin: "mysql_native_password", scramble, token: nativePasswordToken("x", scramble) },
  });
  assert.not.ok(some.result.ok);
});

test.run();
