/**
 * The audit hash chain: sealing in the journal (sequence without gaps through failed batches and
 * restarts, the head kept after delivered segments are removed) and the verifier's findings on
 * rows changed each way an attacker can change them.
 */
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type ChainKey,
  ChainWriter,
  chainHash,
  GENESIS,
  loadChainKey,
  makeChainKey,
} from "../../src/audit/chain.js";
import { eventRow, hashedValues } from "../../src/audit/delivery.js";
import { type AuditEvent, completeEvent, UuidV7 } from "../../src/audit/event.js";
import { Audit, JournalError } from "../../src/audit/index.js";
import { Journal, segmentName } from "../../src/audit/journal.js";
import { type ChainRow, ChainVerifier } from "../../src/audit/verify.js";
import { rowFromColumns, rowFromEvent, runVerify } from "../../src/audit/verify-run.js";

const quiet = pino({ level: "silent" });
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "pairgate-chain-"));
  dirs.push(d);
  return d;
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ids = new UuidV7();
function event(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    ...completeEvent(
      {
        operation: "password_retrieval",
        objectKey: String(i),
        object: "passtrix.ptrx_passwords",
        dbUser: "pmpuser",
        detail: i % 3 === 0 ? { note: `n${i}`, gone: undefined } : undefined,
        durationMs: i % 5 === 0 ? i * 1.5 : undefined,
      },
      ids,
      "inst-a",
      "site-a",
      1_700_000_000_000 + i,
    ),
    ...extra,
  };
}

async function openChained(dir: string, key: ChainKey | null = null, io = {}, maxSyncsInFlight = 1) {
  const chain = new ChainWriter({ dir, key, rowValues: hashedValues });
  const j = await Journal.open<AuditEvent>({
    dir,
    logger: quiet,
    groupCommitMs: 0,
    sealer: chain,
    io,
    maxSyncsInFlight,
  });
  return { j, chain };
}

async function readAll(j: Journal<AuditEvent>): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let pos = j.committed;
  for (;;) {
    const r = await j.read(pos, 1000);
    out.push(...r.events);
    if (r.events.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
    pos = r.next;
  }
  return out;
}

function verify(rows: ChainRow[], opts: ConstructorParameters<typeof ChainVerifier>[0] = {}) {
  const v = new ChainVerifier(opts);
  for (const r of rows) if (r.chain) v.push(r);
  v.endChained();
  for (const r of rows) if (!r.chain) v.pushUnchained(r);
  return v.finish();
}

/** Rows as the table would hold them after delivery. */
function tableRows(events: AuditEvent[]): unknown[][] {
  return events.map((e) => eventRow(e));
}

test("journal seals events in order: seq 1…n, each names the previous hash, the verifier finds nothing", async () => {
  const { j, chain } = await openChained(tmp());
  await Promise.all(Array.from({ length: 50 }, (_, i) => j.append(event(i))));
  const evs = await readAll(j);
  assert.equal(
    evs.map((e) => e.chain!.seq),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.is(evs[0]!.chain!.prev, GENESIS);
  for (let i = 1; i < evs.length; i++) assert.is(evs[i]!.chain!.prev, evs[i - 1]!.chain!.hash);
  assert.is(chain.head().seq, 50);
  assert.is(chain.head().hash, evs[49]!.chain!.hash);
  const r = verify(tableRows(evs).map((v) => rowFromColumns(v)));
  assert.ok(r.ok, JSON.stringify(r.problems));
  assert.is(r.events, 50);
  assert.is(r.chains[0]!.lastSeq, 50);
  await j.close();
});

test("a batch that cannot be made durable spends no sequence number", async () => {
  let fail = false;
  const { j } = await openChained(tmp(), null, {
    fdatasync: (fd: number) =>
      fail
        ? Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" }))
        : new Promise<void>((res) => import("node:fs").then((fs) => fs.fdatasync(fd, () => res()))),
  });
  await j.append(event(1));
  fail = true;
  await j.append(event(2)).then(
    () => assert.unreachable("should fail"),
    () => {},
  );
  fail = false;
  await j.append(event(3));
  const evs = await readAll(j);
  assert.equal(
    evs.map((e) => [e.objectKey, e.chain!.seq]),
    [
      ["1", 1],
      ["3", 2],
    ],
  );
  assert.is(evs[1]!.chain!.prev, evs[0]!.chain!.hash);
  await j.close();
});

test("overlapping syncs: a failed batch and the one sealed after it spend no sequence number; the durable head stops before them", async () => {
  const held: Array<{ release: () => void; fail: (e: Error) => void }> = [];
  let hold = false;
  const { j, chain } = await openChained(
    tmp(),
    null,
    {
      fdatasync: (fd: number) =>
        hold
          ? new Promise<void>((release, fail) => held.push({ release, fail }))
          : new Promise<void>((res) => import("node:fs").then((fs) => fs.fdatasync(fd, () => res()))),
    },
    2,
  );
  await j.append(event(1));
  hold = true;
  const until = async (n: number) => {
    for (let i = 0; i < 200 && held.length < n; i++) await new Promise((r) => setImmediate(r));
  };
  const settled = (p: Promise<void>) =>
    p.then(
      () => "ok",
      () => "failed",
    );
  const a = settled(j.append(event(2)));
  await until(1);
  const b = settled(j.append(event(3)));
  await until(2);
  // Both batches are sealed (seq 2 and 3) and in flight; neither is durable yet.
  assert.is(chain.head().seq, 1, "the published head names durable events only");
  held[1]!.release();
  await new Promise((r) => setTimeout(r, 5));
  assert.is(chain.head().seq, 1, "not the later batch's, while the one before it is in flight");
  held[0]!.fail(Object.assign(new Error("EIO"), { code: "EIO" }));
  assert.equal(await Promise.all([a, b]), ["failed", "failed"]);
  hold = false;
  await j.append(event(4));
  const evs = await readAll(j);
  assert.equal(
    evs.map((e) => [e.objectKey, e.chain!.seq]),
    [
      ["1", 1],
      ["4", 2],
    ],
  );
  assert.is(evs[1]!.chain!.prev, evs[0]!.chain!.hash);
  assert.is(chain.head().seq, 2);
  await j.close();
});

test("an event that cannot be hashed fails its own append only, not its batch-mates", async () => {
  const { j } = await openChained(tmp());
  const bad = event(2, { occurredAt: Number.NaN }); // no DATETIME for it: eventRow throws
  const results = await Promise.allSettled([j.append(event(1)), j.append(bad), j.append(event(3))]);
  assert.equal(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
  assert.equal(
    (await readAll(j)).map((e) => [e.objectKey, e.chain!.seq]),
    [
      ["1", 1],
      ["3", 2],
    ],
  );
  await j.close();
});

test("the chain continues across restarts, also once every delivered segment is removed", async () => {
  const dir = tmp();
  let { j } = await openChained(dir);
  for (let i = 0; i < 5; i++) await j.append(event(i));
  const first = await readAll(j);
  await j.close();
  ({ j } = await openChained(dir));
  await j.append(event(5));
  // Deliver everything and let the journal remove the segments it no longer needs.
  let pos = j.committed;
  let all: AuditEvent[] = [];
  for (;;) {
    const r = await j.read(pos, 1000);
    all = all.concat(r.events);
    if (r.events.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
    await j.commit(r.next, r.events.length);
    pos = r.next;
  }
  await j.close();
  // The next open starts a new segment; the one holding seq 6 can go once delivered past.
  ({ j } = await openChained(dir));
  pos = j.committed;
  for (;;) {
    const r = await j.read(pos, 1000);
    if (r.events.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
    await j.commit(r.next, r.events.length);
    pos = r.next;
  }
  await j.close();
  // Segments 1 and 2 (seq 1–6) are gone: only chain.json knows the head now.
  assert.not.ok(existsSync(join(dir, segmentName(1))) || existsSync(join(dir, segmentName(2))));
  ({ j } = await openChained(dir));
  await j.append(event(6));
  const last = (await readAll(j)).at(-1)!;
  assert.is(last.chain!.seq, 7);
  assert.is(last.chain!.id, first[0]!.chain!.id);
  assert.is(last.chain!.prev, all.at(-1)!.chain!.hash);
  await j.close();
});

test("the row's hashed values are the same before and after the journal's JSON round trip", async () => {
  const e = event(3, { detail: { a: undefined, b: [1, "x"], c: null }, durationMs: 12.6 });
  const before = hashedValues(e);
  const after = hashedValues(JSON.parse(JSON.stringify(e)));
  assert.equal(before, after);
  const empty = event(4, { detail: { only: undefined } });
  assert.is(hashedValues(empty)[15], null);
  assert.is(hashedValues(JSON.parse(JSON.stringify(empty)))[15], null);
});

/** A clean chain of n rows made with the writer's hash function. */
function chainRows(n: number, key: ChainKey | null = null, chainId = "a".repeat(32)): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const e = event(i);
    const hash = chainHash(key, chainId, i, prev, hashedValues(e));
    e.chain = { id: chainId, seq: i, prev, hash, alg: key ? `hmac-sha256:${key.id}` : "sha256" };
    rows.push(rowFromEvent(e, "table"));
    prev = hash;
  }
  return rows;
}

function withValue(r: ChainRow, col: number, v: string): ChainRow {
  const values = [...r.values];
  values[col] = v;
  return { ...r, values };
}

test("modified: one row's object_key changed is reported at its seq with its id, the rest verify", () => {
  const rows = chainRows(200);
  rows[99] = withValue(rows[99]!, 8, "999999");
  const r = verify(rows);
  assert.not.ok(r.ok);
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  const p = r.problems[0]!;
  assert.is(p.kind, "modified");
  assert.is(p.fromSeq, 100);
  assert.equal(p.rowIds, [rows[99]!.rowId]);
});

test("deleted: a middle row missing is reported as its seq, between the ids around it", () => {
  const rows = chainRows(200);
  const gone = rows.splice(49, 2);
  const r = verify(rows);
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  const p = r.problems[0]!;
  assert.is(p.kind, "deleted");
  assert.equal([p.fromSeq, p.toSeq], [50, 51]);
  assert.equal(p.rowIds, [rows[48]!.rowId, rows[49]!.rowId]);
  assert.not.ok(p.rowIds.includes(gone[0]!.rowId));
});

test("truncated: the newest rows missing are found against an anchor (and only then)", () => {
  const rows = chainRows(100);
  const head = rows[99]!.chain!;
  const cut = rows.slice(0, 95);
  assert.ok(verify(cut).ok, "without an anchor a shorter chain looks whole");
  const anchors = [{ chainId: head.id, seq: head.seq, hash: head.hash, source: "test" }];
  const r = verify(cut, { anchors });
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  assert.is(r.problems[0]!.kind, "truncated");
  assert.equal([r.problems[0]!.fromSeq, r.problems[0]!.toSeq], [96, 100]);
  // A bare hash prefix works too.
  const r2 = verify(cut, {
    anchors: [{ chainId: null, seq: null, hash: head.hash.slice(0, 12), source: "cli" }],
  });
  assert.is(r2.problems[0]!.kind, "anchor");
  assert.ok(verify(rows, { anchors }).ok);
});

test("reordered: two rows' sequence numbers swapped are reported as reordered, nothing else", () => {
  const rows = chainRows(50);
  const a = rows[20]!;
  const b = rows[21]!;
  // The table says b is seq 21 and a is seq 22 (walked by seq: b first).
  rows[20] = { ...b, chain: { ...b.chain!, seq: 21 } };
  rows[21] = { ...a, chain: { ...a.chain!, seq: 22 } };
  const r = verify(rows);
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  assert.is(r.problems[0]!.kind, "reordered");
  assert.equal([r.problems[0]!.fromSeq, r.problems[0]!.toSeq], [21, 22]);
  assert.equal(r.problems[0]!.rowIds.sort(), [a.rowId, b.rowId].sort());
});

test("past maxProblems a finding is dropped without rewording the last one listed", () => {
  const rows = chainRows(50);
  const copy = { ...rows[10]!, rowId: "0190b6c4-5d7e-7abc-8def-0123456789ab" };
  copy.values = [copy.rowId, ...copy.values.slice(1)];
  const a = rows[20]!;
  const b = rows[21]!;
  rows[20] = { ...b, chain: { ...b.chain!, seq: 21 } };
  rows[21] = { ...a, chain: { ...a.chain!, seq: 22 } };
  // The copy's values do not match its hash (modified), it doubles seq 11 (inserted), and the
  // reordered pair after them is one finding too many.
  const r = verify([...rows.slice(0, 11), copy, ...rows.slice(11)], { maxProblems: 2 });
  assert.equal(
    r.problems.map((p) => p.kind),
    ["modified", "inserted"],
  );
  assert.match(r.problems[1]!.message, /is a second row at seq 11/);
  assert.ok(r.problemsDropped > 0);
});

test("inserted: a row without chain members newer than the chain, and a second row at one seq", () => {
  const rows = chainRows(30);
  const fake = rowFromColumns(eventRow(event(1000)).map((v, i) => (i >= 16 ? null : v)));
  const legacy = rowFromColumns(
    eventRow({ ...event(0), id: "01800000-0000-7000-8000-000000000000", occurredAt: 1_600_000_000_000 }),
  );
  let r = verify([...rows, fake, legacy]);
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  assert.is(r.problems[0]!.kind, "inserted");
  assert.equal(r.problems[0]!.rowIds, [fake.rowId]);
  assert.is(r.beforeChain.rows, 1);
  const copy = { ...rows[10]!, rowId: "0190b6c4-5d7e-7abc-8def-0123456789ab" };
  copy.values = [copy.rowId, ...copy.values.slice(1)];
  r = verify([...rows.slice(0, 11), copy, ...rows.slice(11)]);
  assert.ok(
    r.problems.some((p) => p.kind === "inserted" && p.fromSeq === 11 && p.rowIds.includes(copy.rowId)),
    JSON.stringify(r.problems),
  );
});

test("with a key: a chain recomputed with plain SHA-256 by someone without the key is forged", () => {
  const key = makeChainKey(Buffer.from("0123456789abcdef0123456789abcdef"));
  const rows = chainRows(40, key);
  assert.ok(verify(rows, { keys: [key] }).ok);
  // Change seq 30's object_key and recompute 30…40 as the documented algorithm says, without the key.
  let prev = rows[28]!.chain!.hash;
  for (let i = 29; i < 40; i++) {
    let r = rows[i]!;
    if (i === 29) r = withValue(r, 8, "42");
    const hash = chainHash(null, r.chain!.id, r.chain!.seq, prev, r.values);
    rows[i] = { ...r, chain: { ...r.chain!, prev, hash } };
    prev = hash;
  }
  const r = verify(rows, { keys: [key] });
  assert.is(r.problems.length, 1, JSON.stringify(r.problems));
  assert.is(r.problems[0]!.kind, "forged");
  assert.equal([r.problems[0]!.fromSeq, r.problems[0]!.toSeq], [30, 40]);
  // An algorithm no writer uses is forged too, and its neighbours are not blamed.
  const clean = chainRows(10);
  clean[4] = { ...clean[4]!, chain: { ...clean[4]!.chain!, alg: "md5" } };
  const odd = verify(clean);
  assert.equal(
    odd.problems.map((p) => [p.kind, p.fromSeq]),
    [["forged", 5]],
  );
  // Without the key the verifier cannot check keyed rows, and says so.
  const nokey = verify(rows);
  assert.is(nokey.problems[0]!.kind, "no_key");
});

test("a tab-separated dump of the table (mysqldump --tab) verifies, and a changed value in it is found", async () => {
  const dir = tmp();
  const rows = chainRows(300);
  const esc = (v: string | null | undefined) =>
    v == null ? "\\N" : v.replace(/\\/g, "\\\\").replace(/\t/g, "\\\t").replace(/\n/g, "\\\n");
  // As SELECT … INTO OUTFILE writes it: a backslash before a backslash, a tab, a newline; \N is NULL.
  // The table's column order: id … detail, delivered_at, chain_*. A value with a tab and a newline.
  const line = (r: ChainRow, key?: string) => {
    const v = [...r.values];
    if (key) v[8] = key;
    const c = r.chain!;
    return [
      ...v.map((x) => esc(x == null ? null : String(x))),
      "2026-01-01 00:00:00.000",
      c.id,
      String(c.seq),
      c.prev,
      c.hash,
      c.alg,
    ].join("\t");
  };
  const withTab = chainRows(1, null, "d".repeat(32));
  const e = event(7, { appUser: "a\tb\nc\\d" });
  e.chain = {
    id: "e".repeat(32),
    seq: 1,
    prev: GENESIS,
    hash: chainHash(null, "e".repeat(32), 1, GENESIS, hashedValues(e)),
    alg: "sha256",
  };
  const lines = [...rows.map((r) => line(r)), line(withTab[0]!), line(rowFromEvent(e, "dump"))];
  writeFileSync(join(dir, "clean.txt"), `${lines.join("\n")}\n`);
  const ok = await runVerify({ dump: join(dir, "clean.txt") });
  assert.ok(ok.ok, JSON.stringify(ok.problems));
  assert.is(ok.events, 302);
  lines[120] = line(rows[120]!, "changed");
  writeFileSync(join(dir, "changed.txt"), `${lines.join("\n")}\n`);
  const bad = await runVerify({ dump: join(dir, "changed.txt") });
  assert.equal(
    bad.problems.map((p) => [p.kind, p.fromSeq, p.rowIds]),
    [["modified", 121, [rows[120]!.rowId]]],
  );
});

test("chainHash is the documented HMAC-SHA-256 / SHA-256 over the documented encoding", () => {
  const key = makeChainKey(Buffer.from("a key that is long enough, ünïcode"));
  const long = makeChainKey(Buffer.alloc(100, 7)); // longer than a block: hashed first (RFC 2104)
  const values = [
    "0190b6c4-5d7e-7abc-8def-0123456789ab",
    null,
    "ünï😀",
    "",
    42,
    "x\u0000y",
    "a\ud800",
    "\udc00b",
  ];
  const ascii = ["0190b6c4-5d7e-7abc-8def-0123456789ab", null, "", 42, "x\u0000y"];
  const chainId = "c".repeat(32);
  const prev = "ab".repeat(32);
  const seq = 2 ** 40 + 7;
  const parts: Buffer[] = [Buffer.from("pairgate-audit-chain-v1\0", "latin1")];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  parts.push(u32(chainId.length), Buffer.from(chainId));
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(seq));
  parts.push(s, Buffer.from(prev, "hex"));
  for (const v of values) {
    if (v === null) parts.push(Buffer.from([0]));
    else parts.push(Buffer.from([1]), u32(Buffer.byteLength(String(v))));
  }
  for (const v of values) if (v !== null) parts.push(Buffer.from(String(v), "utf8"));
  const msg = Buffer.concat(parts);
  assert.is(chainHash(null, chainId, seq, prev, values), createHash("sha256").update(msg).digest("hex"));
  assert.is(
    chainHash(key, chainId, seq, prev, values),
    createHmac("sha256", key.key).update(msg).digest("hex"),
  );
  assert.is(
    chainHash(long, chainId, seq, prev, values),
    createHmac("sha256", long.key).update(msg).digest("hex"),
  );
  // The ASCII fast path encodes the same way.
  const parts2: Buffer[] = parts.slice(0, 5);
  for (const v of ascii)
    parts2.push(...(v === null ? [Buffer.from([0])] : [Buffer.from([1]), u32(String(v).length)]));
  for (const v of ascii) if (v !== null) parts2.push(Buffer.from(String(v)));
  assert.is(
    chainHash(key, chainId, seq, prev, ascii),
    createHmac("sha256", key.key).update(Buffer.concat(parts2)).digest("hex"),
  );
  // A value ending in a lone high surrogate, the next starting with a lone low one: what the table
  // gives back (U+FFFD each) hashes the same.
  assert.is(
    chainHash(null, chainId, seq, prev, ["a\ud800", "\udc00b"]),
    chainHash(null, chainId, seq, prev, ["a\ufffd", "\ufffdb"]),
  );
});

test("a key that cannot be read keeps the journal shut (audited statements refused, the reason named); fixed, it opens", async () => {
  const dir = tmp();
  const keyFile = join(dir, "chain.key");
  const audit = new Audit({
    config: {
      audit: {
        enabled: true,
        journalDir: join(dir, "journal"),
        table: "passtrix.pairgate_audit",
        rules: [],
        captureTables: [],
        onJournalFailure: "refuse",
        groupCommitMs: 1,
        deliveryBatchSize: 100,
        deliveryIntervalMs: 60_000,
        chain: { keyFile },
      },
      instanceId: "pg-a",
      site: "site-a",
      primary: { host: "127.0.0.1", port: 1, user: "u", password: "p" },
    },
    logger: quiet,
    tablesOf: () => ({ read: [], written: [] }),
    connect: () => Promise.reject(new Error("no primary in unit tests")),
  });
  try {
    await audit.start({ isPrimaryUp: () => false });
    assert.match(audit.journalProblem ?? "", /audit chain key file .*chain\.key/);
    const err = await audit.record({ operation: "password_retrieval" }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err instanceof JournalError);
    writeFileSync(keyFile, "0123456789abcdef0123456789\n", { mode: 0o600 });
    await new Promise((r) => setTimeout(r, 150)); // record() retries opening after 100 ms
    const ev = await audit.record({ operation: "password_retrieval" });
    assert.is(ev.chain?.seq, 1);
    assert.match(ev.chain!.alg, /^hmac-sha256:[0-9a-f]{16}$/);
    assert.is(audit.journalProblem, null);
  } finally {
    await audit.stop();
  }
  // Stopping published the head in the anchor file.
  const anchors = readFileSync(join(dir, "journal", "anchors.jsonl"), "utf8")
    .trim()
    .split("\n");
  const last = JSON.parse(anchors.at(-1)!);
  assert.equal([last.seq, last.reason, last.site], [1, "shutdown", "site-a"]);
});

test("the key comes from a file or an environment variable, never from config text", () => {
  const dir = tmp();
  writeFileSync(join(dir, "k"), "0123456789abcdef0123\n");
  const a = loadChainKey({ keyFile: "k" }, dir)!;
  const b = loadChainKey({ keyEnv: "PG_TEST_KEY" }, dir, { PG_TEST_KEY: "0123456789abcdef0123" })!;
  assert.is(a.id, b.id);
  assert.is(loadChainKey({}, dir), null);
  assert.throws(() => loadChainKey({ keyEnv: "PG_NOPE" }, dir, {}), /PG_NOPE is not set/);
  assert.throws(() => loadChainKey({ keyFile: "missing" }, dir), /missing/);
  writeFileSync(join(dir, "short"), "abc");
  assert.throws(() => loadChainKey({ keyFile: "short" }, dir), /at least 16 bytes/);
});

test.run();
