/**
 * The audit log (log.ts): the lines of one turn of the event loop go out in one write, in order,
 * after the turn (off the path of the results the events released); close() writes what is left.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type AuditEvent, completeEvent, UuidV7 } from "../../src/audit/event.js";
import { auditLogLine, auditLogTo } from "../../src/audit/log.js";

function event(k: number): AuditEvent {
  return {
    id: `0190b6c4-5d7e-7abc-8def-${String(k).padStart(12, "0")}`,
    occurredAt: 1_700_000_000_000 + k,
    instanceId: "i",
    site: "a",
    operation: "password_retrieval",
    outcome: "ok",
    clientAddr: "127.0.0.1:1",
    dbUser: "u",
    sessionId: "1",
    backend: "primary",
    object: "s.t",
    objectKey: String(k),
    appUser: null,
    digest: "d",
  };
}

test("one write per turn of the event loop, the lines in order; nothing written during the turn", async () => {
  const writes: string[] = [];
  const log = auditLogTo({ write: (s: string) => writes.push(s) });
  for (let k = 0; k < 10; k++) log.write(event(k), "ok");
  assert.is(writes.length, 0, "not during the turn that released the results");
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 1);
  const lines = writes[0]!
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(
    lines.map((l) => l.objectKey),
    Array.from({ length: 10 }, (_, k) => String(k)),
  );
  log.write(event(10), "failed");
  await log.close();
  assert.is(writes.length, 2, "close writes what is left");
  assert.is(JSON.parse(writes[1]!).journal, "failed");
  log.write(event(11), "ok");
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 2, "nothing after close");
});

test("a line made from the journal's JSON equals the one made from the event, on random events", () => {
  const ids = new UuidV7();
  const texts = ["", "a", 'q"uo\\te', "é ü 漢", "\u0000\n\t", "x".repeat(300), ',"instanceId":"z"'];
  const pick = (k: number) => texts[k % texts.length]!;
  let fast = 0;
  for (let k = 0; k < 2000; k++) {
    const r = (n: number) => Math.floor(Math.random() * n);
    const maybe = (v: string) => (r(4) === 0 ? undefined : r(5) === 0 ? null : v);
    const e = completeEvent(
      {
        operation: r(3) === 0 ? pick(r(99)) : "password_retrieval",
        outcome: r(2) === 0 ? "ok" : "error",
        clientAddr: maybe(pick(r(99))),
        dbUser: maybe(pick(r(99))),
        sessionId: maybe(String(k)),
        backend: r(2) === 0 ? "primary" : undefined,
        object: maybe(pick(r(99))),
        objectKey: maybe(pick(r(99))),
        appUser: maybe(pick(r(99))),
        digest: maybe(pick(r(99))),
        ...(r(4) === 0 ? { durationMs: r(100000) / 7 } : {}),
        ...(r(4) === 0 ? { schema: maybe(pick(r(99))) } : {}),
        ...(r(8) === 0 ? { sql: pick(r(99)) } : {}),
        ...(r(8) === 0 ? { detail: { error: pick(r(99)) } } : {}),
      },
      ids,
      pick(r(99)),
      pick(r(99)),
      1_700_000_000_000 + r(1e9),
    );
    const json = JSON.stringify(e);
    if (r(3) > 0)
      e.chain = { id: pick(r(99)), seq: k + 1, prev: "0".repeat(64), hash: "f".repeat(64), alg: "sha256" };
    if (e.sql === undefined && e.detail === undefined) fast++;
    const time = new Date().toISOString();
    assert.is(auditLogLine(e, "ok", json, time), auditLogLine(e, "ok", undefined, time));
  }
  assert.ok(fast > 1000);
});

test.run();
