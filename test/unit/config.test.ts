import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig, parseConfig } from "../../src/config/load.js";

const base = {
  primary: { host: "127.0.0.1", port: 1, user: "u", password: "p" },
  secondary: { host: "127.0.0.1", port: 2, user: "u", password: "p" },
  users: [{ username: "app", password: "pw" }],
};

test("the shipped proxy.config.json is valid and uses the lab", () => {
  const c = loadConfig("proxy.config.json");
  assert.is(c.listen.port, 2345);
  assert.is(c.admin.port, 9345);
  assert.is(c.lab?.dir, ".pairgate/lab");
  assert.is(c.monitor.intervalMs, 250);
  // No application password in the shipped config: logins are checked against the servers' accounts.
  assert.equal(c.users, []);
  assert.ok(c.accounts.fromServers);
  assert.not.match(JSON.stringify(c), /pmp-lab-secret/);
});

test("accounts: read from the servers by default; no users and no servers is refused", () => {
  const { users: _, ...noUsers } = base;
  const c = parseConfig(noUsers, "t.json");
  assert.equal(c.users, []);
  assert.equal(c.accounts, { fromServers: true, refreshIntervalMs: 30_000, failedLoginRefreshMs: 1000 });
  assert.throws(
    () => parseConfig({ ...noUsers, accounts: { fromServers: false } }, "t.json"),
    /users: empty while accounts.fromServers is false/,
  );
  assert.throws(
    () => parseConfig({ ...base, accounts: { refreshIntervalMs: 10 } }, "t.json"),
    /refreshIntervalMs/,
  );
});

test("failover: caught-up reads by default, bounded; immediate on request; bad values named", () => {
  const c = parseConfig(base, "t.json");
  assert.equal(c.failover, { readConsistency: "caught_up", catchUpTimeoutMs: 5000, verdictTimeoutMs: 2000 });
  const i = parseConfig(
    { ...base, failover: { readConsistency: "immediate", catchUpTimeoutMs: 0 } },
    "t.json",
  );
  assert.is(i.failover.readConsistency, "immediate");
  assert.is(i.failover.catchUpTimeoutMs, 0);
  try {
    parseConfig({ ...base, failover: { readConsistency: "eventual" } }, "t.json");
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.match((e as Error).message, "failover.readConsistency");
  }
});

test("wrong types and unknown keys are named with their path", () => {
  try {
    parseConfig({ ...base, primary: { ...base.primary, port: "x" }, bogus: 1 }, "t.json");
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.instance(e, ConfigError);
    const msg = (e as Error).message;
    assert.match(msg, 'primary.port: expected a number, got "x"');
    assert.match(msg, "bogus: unknown key");
  }
});

test("secrets resolve from env and file; a missing env var is named", () => {
  process.env.PAIRGATE_TEST_SECRET = "from-env";
  const c = parseConfig(
    { ...base, users: [{ username: "a", password: { env: "PAIRGATE_TEST_SECRET" } }] },
    "t.json",
  );
  assert.is(c.users[0].password, "from-env");
  assert.throws(
    () =>
      parseConfig({ ...base, users: [{ username: "a", password: { env: "PAIRGATE_NOPE_X" } }] }, "t.json"),
    /users\.0\.password: environment variable PAIRGATE_NOPE_X is not set/,
  );
});

test("a missing required section is reported", () => {
  assert.throws(
    () => parseConfig({ users: base.users }, "t.json"),
    /primary: expected an object, is missing/,
  );
});

test.run();
