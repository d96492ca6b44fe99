/** LoginThrottle (listen.loginThrottle) and the audit field limits: issue 11's unauthenticated abuse. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AUDIT_FIELD_LIMITS, completeEvent, truncateField, UuidV7 } from "../../src/audit/event.js";
import { LoginThrottle } from "../../src/frontend/throttle.js";

test("maxFailures within windowMs block the address for blockMs; other addresses are not affected", () => {
  let now = 1_000_000;
  const cfg = { enabled: true, maxFailures: 3, windowMs: 10_000, blockMs: 60_000 };
  const t = new LoginThrottle(
    () => cfg,
    1000,
    () => now,
  );
  assert.is(t.failure("10.0.0.1"), false);
  assert.is(t.failure("10.0.0.1"), false);
  assert.is(t.blockedFor("10.0.0.1"), 0);
  assert.is(t.failure("10.0.0.1"), true, "the third failure blocks");
  assert.is(t.blockedFor("10.0.0.1"), 60_000);
  assert.is(t.blockedFor("10.0.0.2"), 0, "another address is not blocked");
  assert.is(t.failure("10.0.0.1"), false, "failures while blocked do not block again");
  now += 59_999;
  assert.is(t.blockedFor("10.0.0.1"), 1);
  now += 1;
  assert.is(t.blockedFor("10.0.0.1"), 0, "unblocked after blockMs");
  // Failures spread beyond the window do not add up.
  t.failure("10.0.0.3");
  t.failure("10.0.0.3");
  now += 10_001;
  assert.is(t.failure("10.0.0.3"), false);
  assert.is(t.blockedCount(), 0);
  cfg.enabled = false;
  for (let i = 0; i < 10; i++) assert.is(t.failure("10.0.0.4"), false, "disabled: never blocks");
});

test("the table of addresses is bounded", () => {
  const t = new LoginThrottle(
    () => ({ enabled: true, maxFailures: 5, windowMs: 60_000, blockMs: 60_000 }),
    1000,
  );
  for (let i = 0; i < 50_000; i++) t.failure(`fd00::${i.toString(16)}`);
  assert.ok((t as unknown as { entries: Map<string, unknown> }).entries.size <= 1000);
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
