/**
 * The audit log (log.ts): the lines of one turn of the event loop go out in one write, in order,
 * after the turn (off the path of the results the events released); close() writes what is left.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AuditEvent } from "../../src/audit/event.js";
import { auditLogTo } from "../../src/audit/log.js";

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

test.run();
