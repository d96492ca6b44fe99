/**
 * kill -9 while several fdatasyncs are in flight (the journal overlaps them, journal.ts
 * #runBatch): every append that resolved before the kill is in the journal after a reopen, once,
 * and the hash chain over what survived is unbroken (sequence 1, 2, 3, … each hash recomputed).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ChainWriter, chainHash, GENESIS } from "../../src/audit/chain.js";
import { hashedValues } from "../../src/audit/delivery.js";
import type { AuditEvent } from "../../src/audit/event.js";
import { Journal } from "../../src/audit/journal.js";

const CHILD = join(import.meta.dirname, "..", "helpers", "journal-crash-child.ts");

/**
 * Run the child until it has acknowledged `acks` events (with syncs seen overlapping, unless it
 * runs the production calls, which cannot be watched), then SIGKILL it.
 */
function crashRun(
  dir: string,
  acks: number,
  production: boolean,
): Promise<{ acked: Set<number>; overlap: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, ...(production ? ["dsync"] : [])], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acked = new Set<number>();
    let overlap = 0;
    let rest = "";
    let err = "";
    let killed = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      if (killed) return; // what the child printed after the kill was sent is not counted as acknowledged
      const lines = (rest + d.toString()).split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith("ack ")) acked.add(Number(l.slice(4)));
        else if (l.startsWith("overlap ")) overlap = Math.max(overlap, Number(l.slice(8)));
      }
      // Killed at a random moment once syncs overlapped: mid-sync whenever one is in flight.
      if (!killed && acked.size >= acks && (production || overlap >= 2) && Math.random() < 0.3) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (_code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL" || !killed)
        reject(new Error(`child ended (${signal}) before the kill: ${err}`));
      else resolve({ acked, overlap });
    });
  });
}

test("kill -9 during overlapping syncs: no acknowledged event lost, the chain unbroken", async () => {
  // Rounds 0–2: held fdatasyncs, seen overlapping; 3–4: the production calls, unwatched.
  for (let round = 0; round < 5; round++) {
    const production = round >= 3;
    const dir = mkdtempSync(join(tmpdir(), "pairgate-journal-crash-"));
    try {
      const { acked, overlap } = await crashRun(dir, 300 + (round % 3) * 200, production);
      if (!production) assert.ok(overlap >= 2, `syncs overlapped (${overlap} at once)`);
      const j = await Journal.open<AuditEvent>({
        dir,
        logger: pino({ level: "silent" }),
        sealer: new ChainWriter({ dir, key: null, rowValues: hashedValues }),
      });
      const events: AuditEvent[] = [];
      let pos = j.committed;
      for (;;) {
        const r = await j.read(pos, 10_000);
        if (r.events.length === 0) break;
        events.push(...r.events);
        pos = r.next;
      }
      await j.close();
      const found = new Map<number, number>();
      for (const e of events) found.set(Number(e.objectKey), (found.get(Number(e.objectKey)) ?? 0) + 1);
      const lost = [...acked].filter((k) => !found.has(k));
      assert.equal(lost, [], `acknowledged events missing after kill -9 (${acked.size} acknowledged)`);
      assert.ok(
        [...found.values()].every((c) => c === 1),
        "each event once",
      );
      let prev = GENESIS;
      events.forEach((e, i) => {
        const c = e.chain!;
        assert.is(c.seq, i + 1, "sequence without a gap");
        assert.is(c.prev, prev, `event ${c.seq} links to the one before it`);
        const { chain: _, ...bare } = e;
        assert.is(
          chainHash(null, c.id, c.seq, c.prev, hashedValues(bare as AuditEvent)),
          c.hash,
          "hash recomputes",
        );
        prev = c.hash;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test.run();
