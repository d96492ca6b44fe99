/** LoginThrottle (listen.loginThrottle) and the audit field limits: issue 11's unauthenticated abuse. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AUDIT_FIELD_LIMITS, completeEvent, truncateField, UuidV7 } from "../../src/audit/event.js";
import { LoginThrottle } from "../../src/frontend/throttle.js";

test("maxFailures for one user within windowMs block that user at that address for blockMs", () => {
  let now = 1_000_000;
  const cfg = { enabled: true, maxFailures: 3, addressMaxFailures: 100, windowMs: 10_000, blockMs: 60_000 };
  const t = new LoginThrottle(
    () => cfg,
    1000,
    () => now,
  );
  assert.is(t.failure("10.0.0.1", "app"), null);
  assert.is(t.failure("10.0.0.1", "app"), null);
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 0);
  assert.is(t.failure("10.0.0.1", "app"), "user", "the third failure blocks");
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 60_000);
  assert.is(t.blockedUserFor("10.0.0.1", "other"), 0, "another user at that address is not blocked");
  assert.is(t.blockedUserFor("10.0.0.2", "app"), 0, "the user at another address is not blocked");
  assert.is(t.blockedFor("10.0.0.1"), 0, "the address itself is greeted");
  assert.is(t.failure("10.0.0.1", "app"), null, "failures while blocked do not block again");
  now += 59_999;
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 1);
  now += 1;
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 0, "unblocked after blockMs");
  // Failures spread beyond the window do not add up.
  t.failure("10.0.0.3", "u");
  t.failure("10.0.0.3", "u");
  now += 10_001;
  assert.is(t.failure("10.0.0.3", "u"), null);
  assert.is(t.blockedCount(), 0);
  cfg.enabled = false;
  for (let i = 0; i < 10; i++) assert.is(t.failure("10.0.0.4", "u"), null, "disabled: never blocks");
});

test("a storm of other names blocks the address, but not a user that logged in from it", () => {
  let now = 1_000_000;
  const cfg = { enabled: true, maxFailures: 10, addressMaxFailures: 20, windowMs: 60_000, blockMs: 60_000 };
  const t = new LoginThrottle(
    () => cfg,
    1000,
    () => now,
  );
  t.success("10.0.0.1", "app");
  let blocked: string | null = null;
  for (let i = 0; i < 20; i++) blocked = t.failure("10.0.0.1", `ghost${i}`);
  assert.is(blocked, "address", "the 20th failure for any names blocks the address");
  assert.is(t.blockedFor("10.0.0.1"), 0, "greeted: a trusted user may log in from it");
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 0, "the app keeps logging in");
  assert.is(
    t.blockedUserFor("10.0.0.1", "ghost99"),
    60_000,
    "a new name is refused without a password check",
  );
  assert.is(t.blockedUserFor("10.0.0.1", "intruder"), 60_000);
  // An address nobody logged in from is refused before the greeting.
  for (let i = 0; i < 20; i++) t.failure("10.0.0.9", `ghost${i}`);
  assert.is(t.blockedFor("10.0.0.9"), 60_000);
  // Trust lasts TRUST_MS after the last success.
  now += 24 * 3_600_000;
  for (let i = 0; i < 20; i++) t.failure("10.0.0.1", `ghost${i}`);
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 60_000, "trust expired");
  t.success("10.0.0.1", "app");
  assert.is(t.blockedUserFor("10.0.0.1", "app"), 0);
});

test("the throttle's tables are bounded", () => {
  const t = new LoginThrottle(
    () => ({ enabled: true, maxFailures: 5, addressMaxFailures: 50, windowMs: 60_000, blockMs: 60_000 }),
    1000,
  );
  for (let i = 0; i < 50_000; i++) {
    t.failure(`fd00::${i.toString(16)}`, `u${i}`);
    t.success(`fd01::${i.toString(16)}`, `u${i}`);
  }
  const sizes = t as unknown as {
    pairs: Map<string, unknown>;
    addresses: Map<string, unknown>;
    trusted: Map<string, unknown>;
    trustedPerAddress: Map<string, unknown>;
  };
  assert.ok(sizes.pairs.size <= 1000);
  assert.ok(sizes.addresses.size <= 1000);
  assert.ok(sizes.trusted.size <= 1000);
  assert.ok(sizes.trustedPerAddress.size <= 1000);
});

test("client-supplied audit fields are cut to AUDIT_FIELD_LIMITS (a 65,000-byte user name)", () => {
  const huge = "u".repeat(65_000);
  const e = completeEvent(
    {
      operation: "login_failed",
      dbUser: huge,
      clientAddr: huge,
      appUser: huge,
      objectKey: huge,
      object: huge,
      schema: huge,
      sessionId: huge,
      digest: huge,
      detail: { error: huge, n: 1 },
    },
    new UuidV7(),
    "i",
    "s",
  );
  assert.is(e.dbUser!.length, AUDIT_FIELD_LIMITS.dbUser);
  assert.ok(e.dbUser!.endsWith("…"));
  assert.is(e.clientAddr!.length, AUDIT_FIELD_LIMITS.clientAddr);
  assert.is(e.appUser!.length, AUDIT_FIELD_LIMITS.appUser);
  assert.is(e.objectKey!.length, AUDIT_FIELD_LIMITS.objectKey);
  assert.is(e.object!.length, AUDIT_FIELD_LIMITS.object);
  assert.is(e.schema!.length, AUDIT_FIELD_LIMITS.schema);
  assert.is(e.sessionId!.length, AUDIT_FIELD_LIMITS.sessionId);
  assert.is(e.digest!.length, AUDIT_FIELD_LIMITS.digest);
  assert.is((e.detail!.error as string).length, AUDIT_FIELD_LIMITS.detailValue);
  assert.is(e.detail!.n, 1);
  assert.ok(JSON.stringify(e).length < 4096, `event is ${JSON.stringify(e).length} bytes`);
  // Short values are untouched; a cut never splits a surrogate pair.
  assert.is(truncateField("alice", 128), "alice");
  const emoji = "😀".repeat(100);
  const cut = truncateField(emoji, 64);
  assert.ok(cut.length <= 64);
  assert.not.ok(/[\ud800-\udbff]…$/.test(cut));
});

test.run();
