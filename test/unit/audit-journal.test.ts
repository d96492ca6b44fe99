import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  encodeRecord,
  JOURNAL_FAILED,
  Journal,
  JournalError,
  type JournalOptions,
  parseRecords,
  segmentName,
  TAIL_MAX,
} from "../../src/audit/journal.js";

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "pairgate-journal-"));
  dirs.push(d);
  return d;
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string, extra: Partial<JournalOptions> = {}) {
  const cap = capturingLogger();
  const j = await Journal.open<{ n: number; pad?: string }>({
    dir,
    logger: cap.logger,
    groupCommitMs: 0,
    ...extra,
  });
  return { j, ...cap };
}

async function readAll(j: Journal<{ n: number }>) {
  const out: number[] = [];
  let pos = j.committed;
  for (;;) {
    const r = await j.read(pos, 1000);
    out.push(...r.events.map((e) => e.n));
    if (r.events.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
    pos = r.next;
  }
  return { out, pos };
}

test("round trip: appended events read back in order, pending counts them", async () => {
  const { j } = await open(tmp());
  await Promise.all(Array.from({ length: 100 }, (_, n) => j.append({ n })));
  assert.is(j.pending(), 100);
  const { out } = await readAll(j);
  assert.equal(
    out,
    Array.from({ length: 100 }, (_, n) => n),
  );
  await j.close();
});

test("a record's CRC is zlib's CRC-32 over its 4 length bytes and then its payload (the format on disk)", () => {
  for (let n = 0; n < 2000; n++) {
    const payload = Buffer.from(Array.from({ length: n % 700 }, (_, i) => (i * 131 + n) & 0xff));
    const rec = encodeRecord(payload);
    assert.is(rec.readUInt32LE(0), payload.length);
    assert.is(rec.readUInt32LE(4), crc32(Buffer.concat([rec.subarray(0, 4), payload])));
  }
});

test("parseRecords: a record cut at every byte offset of the last record is torn, earlier ones kept", () => {
  const recs = [0, 1, 2].map((n) => encodeRecord(Buffer.from(JSON.stringify({ n, s: "x".repeat(n * 7) }))));
  const whole = Buffer.concat(recs);
  const lastStart = recs[0]!.length + recs[1]!.length;
  for (let cut = lastStart; cut < whole.length; cut++) {
    const r = parseRecords(whole.subarray(0, cut), true);
    assert.is(r.records.length, 2, `cut at ${cut}`);
    assert.is(r.consumed, cut);
    if (cut === lastStart) assert.is(r.skipped.length, 0);
    else assert.equal(r.skipped, [{ kind: "torn", from: lastStart, to: cut }], `cut at ${cut}`);
  }
  assert.is(parseRecords(whole, true).records.length, 3);
});

test("journal: a torn last record in a segment is skipped with a log line, the rest delivered", async () => {
  const dir = tmp();
  {
    const { j } = await open(dir);
    for (let n = 0; n < 5; n++) await j.append({ n });
    await j.close();
  }
  const seg = join(dir, readdirSync(dir).filter((f) => f.endsWith(".pgj"))[0]!);
  const size = statSync(seg).size;
  const lastLen = encodeRecord(Buffer.from(JSON.stringify({ n: 4 }))).length;
  for (let cut = size - lastLen + 1; cut < size; cut++) {
    const copy = tmp();
    writeFileSync(join(copy, segmentName(1)), readFileSync(seg).subarray(0, cut));
    const { j, lines } = await open(copy);
    assert.is(j.pending(), 4, `cut at ${cut}`);
    const { out } = await readAll(j);
    assert.equal(out, [0, 1, 2, 3]);
    const warn = lines.filter((l) => l.kind === "torn");
    assert.is(warn.length, 1, "one log line for the torn record");
    assert.match(String(warn[0]!.msg), /torn record/);
    await j.close();
  }
});

test("journal: a CRC mismatch in the middle is skipped with a log line, the records after it kept", async () => {
  const dir = tmp();
  {
    const { j } = await open(dir);
    for (let n = 0; n < 5; n++) await j.append({ n });
    await j.close();
  }
  const seg = join(dir, segmentName(1));
  const buf = readFileSync(seg);
  const one = encodeRecord(Buffer.from(JSON.stringify({ n: 0 }))).length;
  buf[one * 2 + 10]! ^= 0xff; // a payload byte of record n=2
  writeFileSync(seg, buf);
  const { j, lines } = await open(dir);
  const { out } = await readAll(j);
  assert.equal(out, [0, 1, 3, 4]);
  const warn = lines.filter((l) => l.kind === "corrupt");
  assert.is(warn.length, 1);
  assert.match(String(warn[0]!.msg), /checksum/);
  await j.close();
});

test("journal: a damaged length field is resynchronised on the next valid record", async () => {
  const dir = tmp();
  {
    const { j } = await open(dir);
    for (let n = 0; n < 6; n++) await j.append({ n });
    await j.close();
  }
  const seg = join(dir, segmentName(1));
  const buf = readFileSync(seg);
  const one = encodeRecord(Buffer.from(JSON.stringify({ n: 0 }))).length;
  buf.writeUInt32LE(0x00ffffff, one); // record n=1 claims 16 MiB
  writeFileSync(seg, buf);
  const { j } = await open(dir);
  const { out } = await readAll(j);
  assert.equal(out, [0, 2, 3, 4, 5]);
  await j.close();
});

test("group commit: 1000 concurrent appends share far fewer fdatasyncs", async () => {
  let syncs = 0;
  const { fdatasync } = await import("node:fs");
  const { j } = await open(tmp(), {
    groupCommitMs: 2,
    io: {
      fdatasync: (fd) => {
        syncs++;
        return new Promise((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
      },
    },
  });
  await Promise.all(Array.from({ length: 1000 }, (_, n) => j.append({ n })));
  assert.ok(syncs >= 1 && syncs <= 20, `${syncs} fdatasyncs for 1000 appends`);
  assert.is(j.stats.batches, syncs);
  // Appends that arrive while a sync is in flight go together into the next batch.
  syncs = 0;
  const waves: Promise<void>[] = [];
  for (let w = 0; w < 10; w++) {
    for (let i = 0; i < 50; i++) waves.push(j.append({ n: w * 50 + i }));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(waves);
  assert.ok(syncs <= 10, `${syncs} fdatasyncs for 10 waves`);
  await j.close();
});

test("append resolves only after its fdatasync", async () => {
  let release: (() => void) | null = null;
  const { j } = await open(tmp(), {
    io: { fdatasync: () => new Promise<void>((r) => (release = r)) },
  });
  let done = false;
  const p = j.append({ n: 1 }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(done, false);
  assert.is(j.pending(), 0, "not pending (nor readable) before it is durable");
  assert.is((await j.read(j.committed, 10)).events.length, 0);
  release!();
  await p;
  assert.is(done, true);
  assert.is((await j.read(j.committed, 10)).events.length, 1);
  await j.close();
});

test("position survives reopen; delivered segments are removed", async () => {
  const dir = tmp();
  {
    const { j } = await open(dir, { segmentBytes: 200 });
    for (let n = 0; n < 20; n++) await j.append({ n, pad: "p".repeat(40) });
    assert.ok(j.segments().length > 3, `rolled into ${j.segments().length} segments`);
    const r = await j.read(j.committed, 7);
    assert.equal(
      r.events.map((e) => e.n),
      [0, 1, 2, 3, 4, 5, 6],
    );
    const before = j.segments();
    await j.commit(r.next, 7);
    assert.is(j.pending(), 13);
    const after = j.segments();
    assert.ok(after.length < before.length, "fully delivered segments removed");
    assert.ok(after[0]! <= r.next.segment);
    await j.close();
  }
  {
    const { j } = await open(dir, { segmentBytes: 200 });
    assert.is(j.pending(), 13);
    const { out, pos } = await readAll(j);
    assert.equal(
      out,
      Array.from({ length: 13 }, (_, i) => i + 7),
    );
    await j.commit(pos, 13);
    assert.is(j.pending(), 0);
    assert.is(j.segments().length, 1, "only the active segment is left");
    await j.close();
  }
  {
    const { j } = await open(dir);
    assert.is(j.pending(), 0);
    await j.close();
  }
});

test("a write failure rejects with the typed error, nothing of it is delivered, and it recovers", async () => {
  let fail = false;
  const { writeSync } = await import("node:fs");
  const { j, lines } = await open(tmp(), {
    io: {
      write: async (fd, buf, off, len, pos) => {
        if (fail) {
          // A partial write, then ENOSPC, as a full disk does.
          writeSync(fd, buf, off, Math.min(5, len), pos);
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        }
        return writeSync(fd, buf, off, len, pos);
      },
    },
  });
  await j.append({ n: 1 });
  fail = true;
  const err = await j.append({ n: 2 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, JournalError);
  assert.is((err as JournalError).code, JOURNAL_FAILED);
  assert.is((err as JournalError).reason, "ENOSPC");
  assert.is(j.healthy, false);
  assert.is(j.stats.failures, 1);
  assert.ok(lines.some((l) => l.level === 50));
  fail = false;
  await j.append({ n: 3 });
  assert.is(j.healthy, true);
  const { out } = await readAll(j);
  assert.equal(out, [1, 3]);
  assert.is(j.pending(), 2);
  await j.close();
});

test("a directory that cannot be created fails open with the typed error", async () => {
  const file = join(tmp(), "not-a-dir");
  writeFileSync(file, "x");
  const err = await Journal.open({ dir: join(file, "sub"), logger: capturingLogger().logger }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, JournalError);
  assert.is((err as JournalError).code, JOURNAL_FAILED);
});

test("a second journal on the same directory is refused", async () => {
  const dir = tmp();
  const { j } = await open(dir);
  let threw = false;
  try {
    await open(dir);
  } catch {
    threw = true;
  }
  assert.ok(threw);
  await j.close();
  const again = await open(dir);
  await again.j.close();
});

test("group commit is leader/follower: a lone append syncs at once, appends during a sync share the next", async () => {
  const held: Array<() => void> = [];
  const { j } = await open(tmp(), {
    groupCommitMs: undefined, // the default: no fixed wait
    maxSyncsInFlight: 1, // one sync at a time (the default overlaps two: the next test)
    io: { fdatasync: () => new Promise<void>((r) => held.push(r)) },
  });
  const a = j.append({ n: 1 });
  // No timer: the sync is under way by the end of this turn of the event loop.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.is(held.length, 1, "the first append's fdatasync started without waiting");
  const rest = [j.append({ n: 2 }), j.append({ n: 3 }), j.append({ n: 4 })];
  await new Promise((r) => setTimeout(r, 20));
  assert.is(held.length, 1, "no second sync while the first is in flight");
  held[0]!();
  await a;
  // The followers' batch waits at most a moment (≤ 2 ms) for the leader's session to come back.
  for (let i = 0; i < 100 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
  assert.is(held.length, 2, "the followers' batch started once the leader's sync returned");
  held[1]!();
  await Promise.all(rest);
  assert.is(j.stats.batches, 2);
  assert.is(j.stats.appends, 4);
  await j.close();
});

test("overlapping syncs: the next batch syncs while the first is in flight, and settles only after it", async () => {
  const held: Array<{ release: () => void; fail: (e: Error) => void }> = [];
  const { j } = await open(tmp(), {
    groupCommitMs: undefined,
    maxSyncsInFlight: 2,
    io: { fdatasync: () => new Promise<void>((release, fail) => held.push({ release, fail })) },
  });
  const until = async (n: number) => {
    for (let i = 0; i < 200 && held.length < n; i++) await new Promise((r) => setImmediate(r));
  };
  const order: number[] = [];
  const a = j.append({ n: 1 }).then(() => order.push(1));
  await until(1);
  const b = j.append({ n: 2 }).then(() => order.push(2));
  await until(2);
  assert.is(held.length, 2, "the second batch's fdatasync started while the first was in flight");
  const c = j.append({ n: 3 }).then(() => order.push(3));
  await new Promise((r) => setTimeout(r, 10));
  assert.is(held.length, 2, "no third sync while two are in flight");
  // The second sync returns first: its append must still wait for the first batch.
  held[1]!.release();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(order, [], "nothing acknowledged before the batch written before it is durable");
  assert.is((await j.read(j.committed, 10)).events.length, 0, "nothing readable yet");
  held[0]!.release();
  await Promise.all([a, b]);
  assert.equal(order, [1, 2]);
  await until(3);
  held[2]!.release();
  await c;
  assert.equal(
    (await j.read(j.committed, 10)).events.map((e) => e.n),
    [1, 2, 3],
  );
  await j.close();
});

test("overlapping syncs: when the first fails, the batch written after it fails too (even if its own sync succeeded) and is cut away", async () => {
  const dir = tmp();
  const held: Array<{ release: () => void; fail: (e: Error) => void }> = [];
  let hold = true;
  const { j } = await open(dir, {
    groupCommitMs: undefined,
    maxSyncsInFlight: 2,
    io: {
      fdatasync: () =>
        hold ? new Promise<void>((release, fail) => held.push({ release, fail })) : Promise.resolve(),
    },
  });
  const until = async (n: number) => {
    for (let i = 0; i < 200 && held.length < n; i++) await new Promise((r) => setImmediate(r));
  };
  const a = j.append({ n: 1 }).then(
    () => "ok",
    (e: JournalError) => e.code,
  );
  await until(1);
  const b = j.append({ n: 2 }).then(
    () => "ok",
    (e: JournalError) => e.code,
  );
  await until(2);
  held[1]!.release();
  held[0]!.fail(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
  assert.equal(await Promise.all([a, b]), [JOURNAL_FAILED, JOURNAL_FAILED]);
  hold = false;
  await j.append({ n: 3 });
  assert.equal(
    (await j.read(j.committed, 10)).events.map((e) => e.n),
    [3],
    "neither failed batch is ever read (and delivered)",
  );
  await j.close();
  const again = await open(dir);
  assert.equal(
    (await again.j.read(again.j.committed, 10)).events.map((e) => e.n),
    [3],
    "nor found on disk after a reopen",
  );
  await again.j.close();
});

test("reads served from memory equal reads from the segment files (events and positions)", async () => {
  const dir = tmp();
  const { j } = await open(dir, { segmentBytes: 600 });
  // Several batches and segment rolls (600-byte segments).
  for (let w = 0; w < 6; w++)
    await Promise.all(Array.from({ length: 7 }, (_, i) => j.append({ n: w * 7 + i })));
  const steps = async (jj: Journal<{ n: number }>) => {
    const out: Array<{ ns: number[]; next: string }> = [];
    let pos = jj.committed;
    for (;;) {
      const r = await jj.read(pos, 5);
      if (r.events.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
      out.push({ ns: r.events.map((e) => e.n), next: `${r.next.segment}:${r.next.offset}` });
      pos = r.next;
    }
    return out;
  };
  const live = await steps(j);
  assert.equal(
    live.flatMap((s) => s.ns),
    Array.from({ length: 42 }, (_, n) => n),
  );
  // Deliver the first three steps, then read the rest again in this process and after a reopen.
  let pos = j.committed;
  for (let k = 0; k < 3; k++) {
    const r = await j.read(pos, 5);
    await j.commit(r.next, r.events.length);
    pos = r.next;
  }
  const again = await steps(j);
  await j.close();
  const { j: j2 } = await open(dir, { segmentBytes: 600 });
  const fromDisk = await steps(j2);
  // The reopen started a new (empty) segment: the disk read's last step ends at its start.
  assert.equal(fromDisk.at(-1)!.next, `${j2.segments().at(-1)}:0`);
  assert.equal(
    fromDisk.map((s, i) => (i === fromDisk.length - 1 ? s.ns : s)),
    again.map((s, i) => (i === again.length - 1 ? s.ns : s)),
  );
  assert.equal(again, live.slice(3));
  await j2.close();
});
test("group commit keeps a steady load's sessions in one batch (no two cohorts alternating)", async () => {
  const held: Array<() => void> = [];
  const { j } = await open(tmp(), {
    groupCommitMs: undefined,
    maxSyncsInFlight: 1,
    io: { fdatasync: () => new Promise<void>((r) => held.push(r)) },
  });
  const until = async (n: number) => {
    for (let i = 0; i < 200 && held.length < n; i++) await new Promise((r) => setTimeout(r, 1));
  };
  // Four sessions' statements in one batch, whose sync takes ~20 ms.
  const first = [1, 2, 3, 4].map((n) => j.append({ n }));
  await until(1);
  // One session's next statement arrives during that sync ...
  const early = j.append({ n: 5 });
  await new Promise((r) => setTimeout(r, 20));
  held[0]!();
  await Promise.all(first);
  // ... the other three right after the first batch's results went out.
  await new Promise((r) => setImmediate(r));
  const late = [6, 7, 8].map((n) => j.append({ n }));
  await until(2);
  held[1]!();
  // (Should a third batch be made, its sync is let through too, so the assertion below reports it.)
  const extra = setInterval(() => {
    for (const r of held.slice(2)) r();
  }, 2);
  await Promise.all([early, ...late]);
  clearInterval(extra);
  assert.is(j.stats.batches, 2, "the early statement waited for its cohort: one sync for all four");
  await j.close();
});

test("group commit under a steady load: 8 sessions waiting on their statements share a sync (not 4 and 4)", async () => {
  // Each fdatasync takes 6 ms; each session appends, waits until durable, then appends again.
  const { j } = await open(tmp(), {
    groupCommitMs: undefined,
    maxSyncsInFlight: 1,
    io: { fdatasync: () => new Promise<void>((r) => setTimeout(r, 6)) },
  });
  const end = Date.now() + 600;
  // Two groups of four: the second arrives while the first one's sync runs (two cohorts).
  await Promise.all(
    Array.from({ length: 8 }, async (_, s) => {
      if (s >= 4) await new Promise((r) => setTimeout(r, 3));
      for (let n = 0; Date.now() < end; n++) {
        await j.append({ n: s * 1_000_000 + n });
        await new Promise((r) => setTimeout(r, 1)); // the result goes out, the next statement comes in
      }
    }),
  );
  const perSync = j.stats.appends / j.stats.batches;
  assert.ok(perSync > 6, `${perSync.toFixed(1)} events per fdatasync with 8 sessions`);
  await j.close();
});

test("more undelivered events than the memory keeps: the oldest come from disk, the rest from memory, in order", async () => {
  const { j } = await open(tmp(), { segmentBytes: 64 * 1024 * 1024 });
  const total = TAIL_MAX + 1500;
  for (let w = 0; w < total; w += 1000)
    await Promise.all(Array.from({ length: Math.min(1000, total - w) }, (_, i) => j.append({ n: w + i })));
  const out: number[] = [];
  let pos = j.committed;
  for (;;) {
    const r = await j.read(pos, 700);
    if (r.events.length === 0) break;
    for (const e of r.events) out.push(e.n);
    await j.commit(r.next, r.events.length);
    pos = r.next;
  }
  assert.is(out.length, total);
  assert.ok(
    out.every((n, i) => n === i),
    "every event once, in order",
  );
  assert.is(j.pending(), 0);
  await j.close();
});

test.run();
