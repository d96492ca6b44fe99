/**
 * The audit hash chain against real servers: two pairgate instances (two sites, one keyed, one
 * not) record password retrievals before, during and after an outage of the primary (killed and
 * restarted through the lab), into a table an earlier version made (migrated on first delivery).
 * `pairgate audit verify` finds the whole trail clean; then each change an attacker with write
 * access to the table (or to the journal's folder) can make is reported precisely, with a non-zero
 * exit, while the rest still verifies. The background verification and the status page see it too.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chainHash } from "../../src/audit/chain.js";
import { Audit } from "../../src/audit/index.js";
import { encodeRecord, parseRecords } from "../../src/audit/journal.js";
import type { VerifyResult } from "../../src/audit/verify-run.js";
import { rowFromColumns } from "../../src/audit/verify-run.js";
import { parseConfig } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { tablesOf } from "../../src/sql/index.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { pairgateCommand, type RunningProxy, startProxy } from "../helpers/proxy.js";

const TABLE = "passtrix.pairgate_audit";
const quiet = pino({ level: "silent" });
const monitor = { intervalMs: 100, connectTimeoutMs: 500, queryTimeoutMs: 500, fall: 2, rise: 2 };
const rules = [
  {
    operation: "password_retrieval",
    tables: ["passtrix.ptrx_passwords"],
    keyPattern: "account_id\\s*=\\s*(\\d+)",
  },
];
const RETRIEVE = (id: number) => `SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ${id}`;
const SELECT =
  "id, occurred_at, operation, outcome, db_user, client_addr, backend, object, object_key, app_user, digest, session_id, instance_id, site, duration_ms, detail, chain_id, chain_seq, chain_prev, chain_hash, chain_alg";

/** The table as pairgate made it before the chain (the DDL of the previous release). */
const LEGACY_DDL = `CREATE TABLE ${TABLE} (
  id CHAR(36) NOT NULL, occurred_at DATETIME(3) NOT NULL, operation VARCHAR(64) NOT NULL,
  outcome VARCHAR(16) NOT NULL, db_user VARCHAR(255) NULL, client_addr VARCHAR(255) NULL,
  backend VARCHAR(16) NULL, object VARCHAR(255) NULL, object_key VARCHAR(255) NULL,
  app_user VARCHAR(255) NULL, digest VARCHAR(64) NULL, session_id VARCHAR(64) NULL,
  instance_id VARCHAR(128) NOT NULL, site VARCHAR(128) NOT NULL, duration_ms BIGINT NULL,
  detail MEDIUMTEXT NULL, delivered_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id), KEY ix_pairgate_audit_time (occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

let pair: TestPair;
interface Site {
  name: string;
  raw: ConfigInput;
  file: string;
  journalDir: string;
  px: RunningProxy | null;
}
let a: Site;
let b: Site;
let keyFile: string;

test.before(async () => {
  pair = await startPair();
});
test.after(async () => {
  for (const s of [a, b]) await s?.px?.stop().catch(() => {});
  await pair?.stop();
});

async function root<T>(f: (c: Awaited<ReturnType<TestPair["rootConnection"]>>) => Promise<T>): Promise<T> {
  const c = await pair.rootConnection("primary");
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

async function site(name: string, withKey: boolean): Promise<Site> {
  const [listen, admin] = await freePorts(2);
  const journalDir = join(pair.dir, `audit-${name}`);
  const raw = pair.proxyConfig({
    monitor,
    instanceId: `chain-${name}`,
    site: name,
    listen: { port: listen },
    admin: { port: admin },
    audit: {
      rules,
      journalDir,
      deliveryIntervalMs: 100,
      chain: withKey ? { keyFile, verifyIntervalMs: 0 } : { verifyIntervalMs: 0 },
    },
  });
  const file = join(pair.dir, `${name}.config.json`);
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return { name, raw, file, journalDir, px: null };
}

function verifyCli(args: string[]): { code: number; report: VerifyResult | null; out: string } {
  const cmd = pairgateCommand();
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), "audit", "verify", "--json", ...args], {
    encoding: "utf8",
    timeout: 120_000,
  });
  let report: VerifyResult | null = null;
  try {
    report = JSON.parse(r.stdout);
  } catch {}
  return { code: r.status ?? -1, report, out: `${r.stdout}\n${r.stderr}` };
}

const anchorArgs = () => [
  "--anchor",
  join(a.journalDir, "anchors.jsonl"),
  "--anchor",
  join(b.journalDir, "anchors.jsonl"),
];

async function chainRows(instance: string): Promise<unknown[][]> {
  return root(async (c) => {
    const [rows] = await c.query({
      sql: `SELECT ${SELECT} FROM ${TABLE} WHERE instance_id = ? AND chain_id IS NOT NULL ORDER BY chain_seq`,
      values: [instance],
      rowsAsArray: true,
      dateStrings: true,
    });
    return rows as unknown[][];
  });
}

async function restore(): Promise<void> {
  await root(async (c) => {
    await c.query(`DELETE FROM ${TABLE}`);
    await c.query(`INSERT INTO ${TABLE} SELECT * FROM passtrix.audit_backup`);
  });
}

let total = 0;
let chainA = "";
let chainB = "";

test("two sites through an outage of the primary: the migrated table and the journals verify clean", async () => {
  keyFile = join(pair.dir, "chain.key");
  writeFileSync(keyFile, "a-test-key-of-32-bytes-0123456789\n", { mode: 0o600 });
  // The table an earlier version made, with three events in it.
  await root(async (c) => {
    await c.query(LEGACY_DDL);
    for (const [i, t] of [
      "2024-01-01 10:00:00.000",
      "2024-01-01 10:00:01.000",
      "2024-01-01 10:00:02.000",
    ].entries())
      await c.query(
        `INSERT INTO ${TABLE} (id, occurred_at, operation, outcome, instance_id, site) VALUES (?, ?, 'login', 'ok', 'chain-a', 'a')`,
        [`018cc251-f400-7000-8000-00000000000${i}`, t],
      );
  });
  a = await site("a", true);
  b = await site("b", false);
  a.px = await startProxy(pair, a.raw, a.file);
  b.px = await startProxy(pair, b.raw, b.file);
  const retrieve = async (s: Site, ids: number[]) => {
    const c = await s.px!.connect();
    for (const id of ids) await c.query(RETRIEVE(id));
    await c.end();
  };
  await retrieve(a, [1, 2, 3]);
  await retrieve(b, [4, 5]);
  for (const s of [a, b]) await s.px!.proxy.audit!.deliverNow();

  await pair.lab.kill("primary");
  for (const s of [a, b]) await s.px!.proxy.topology.waitFor("read_only", 15_000);
  await retrieve(a, [1, 2, 3, 4]);
  await retrieve(b, [5, 1, 2]);
  await new Promise((r) => setTimeout(r, 300)); // logouts are posted, not awaited
  for (const s of [a, b])
    assert.ok(s.px!.proxy.audit!.pending() > 0, `${s.name}: events wait in the journal`);

  await pair.lab.start("primary");
  for (const s of [a, b]) await s.px!.proxy.topology.waitFor("read_write", 20_000);
  await retrieve(a, [5]);
  await retrieve(b, [3]);
  await new Promise((r) => setTimeout(r, 300));
  for (const s of [a, b]) {
    await s.px!.proxy.audit!.deliverNow();
    assert.is(s.px!.proxy.audit!.pending(), 0);
  }

  // Migrated: the three old rows have no chain; every new one has.
  const counts = await root(async (c) => {
    const [rows] = await c.query(
      `SELECT instance_id, COUNT(*) AS n, SUM(chain_id IS NULL) AS unchained, SUM(backend = 'secondary' AND chain_id IS NOT NULL) AS outage FROM ${TABLE} GROUP BY instance_id ORDER BY instance_id`,
    );
    return rows as Array<{ instance_id: string; n: number; unchained: string; outage: string }>;
  });
  assert.equal(
    counts.map((r) => [r.instance_id, Number(r.unchained)]),
    [
      ["chain-a", 3],
      ["chain-b", 0],
    ],
  );
  assert.ok(
    counts.every((r) => Number(r.outage) >= 3),
    "the outage's retrievals are chained",
  );
  total = counts.reduce((n, r) => n + Number(r.n), 0) - 3;

  // The background verification and the status page.
  const v = await a.px!.proxy.audit!.verifyNow();
  assert.ok(v?.ok, JSON.stringify(v));
  assert.is(v!.chains.length, 2);
  const status = await (await fetch(`http://127.0.0.1:${a.px!.proxy.adminPort}/status`)).json();
  const head = a.px!.proxy.audit!.chainHead()!;
  assert.is(status.audit.chain.seq, head.seq);
  assert.is(status.audit.chain.hash, head.hash);
  assert.ok(status.audit.chain.alg.startsWith("hmac-sha256:"));
  assert.is(status.audit.verification.ok, true);
  chainA = head.chainId;
  chainB = b.px!.proxy.audit!.chainHead()!.chainId;

  // Someone changes a row: the next background verification fails, the metric and the page say so.
  await root((c) =>
    c.query(`UPDATE ${TABLE} SET object_key = '77' WHERE chain_id = ? AND chain_seq = 2`, [chainB]),
  );
  const bad = await a.px!.proxy.audit!.verifyNow();
  assert.is(bad?.ok, false);
  assert.match(bad!.problems[0]!, /modified/);
  const metrics = await (await fetch(`http://127.0.0.1:${a.px!.proxy.adminPort}/metrics`)).text();
  assert.match(metrics, /^pairgate_audit_chain_verify_ok 0$/m);
  assert.match(
    metrics,
    new RegExp(`^pairgate_audit_chain_head_sequence\\{chain="${chainA}"\\} ${head.seq}$`, "m"),
  );
  const st2 = await (await fetch(`http://127.0.0.1:${a.px!.proxy.adminPort}/status`)).json();
  assert.match(st2.warnings[0], /audit trail was changed/);
  for (const s of [a, b]) {
    await s.px!.proxy.audit!.deliverNow();
    assert.is(s.px!.proxy.audit!.pending(), 0);
  }
  for (const s of [a, b]) {
    await s.px!.stop();
    s.px = null;
  }
  // Undo the change (the event's real key is in the journal) and keep a copy of the clean table.
  const jRow = readJournalEvents(b.journalDir).find((e) => e.chain?.seq === 2)!;
  await root(async (c) => {
    await c.query(`UPDATE ${TABLE} SET object_key = ? WHERE chain_id = ? AND chain_seq = 2`, [
      jRow.objectKey,
      chainB,
    ]);
    await c.query(`CREATE TABLE passtrix.audit_backup AS SELECT * FROM ${TABLE}`);
  });

  // Anchors were written at shutdown.
  for (const s of [a, b]) {
    const lines = readFileSync(join(s.journalDir, "anchors.jsonl"), "utf8").trim().split("\n");
    assert.ok(lines.some((l) => JSON.parse(l).reason === "shutdown"));
  }
  const r = verifyCli(["--config", a.file, ...anchorArgs()]);
  assert.is(r.code, 0, r.out);
  const rep = r.report!;
  assert.is(rep.chains.length, 2);
  assert.is(rep.events, total);
  assert.is(rep.beforeChain.rows, 3);
  assert.ok(rep.journal && rep.journal.records > 0, "site a's journal was read too");
  assert.ok(rep.lastDigest);
  // The text form says the same.
  const text = spawnSync(
    pairgateCommand()[0]!,
    [...pairgateCommand().slice(1), "audit", "verify", "--config", a.file],
    {
      encoding: "utf8",
    },
  );
  assert.is(text.status, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /result: OK/);
  assert.match(text.stdout, /before the chain: 3 row/);
});

interface JEvent {
  id: string;
  objectKey: string | null;
  chain?: { id: string; seq: number; hash: string };
}

function readJournalEvents(dir: string): JEvent[] {
  const out: JEvent[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith(".pgj"))
    .sort()) {
    for (const r of parseRecords(readFileSync(join(dir, f)), true).records)
      out.push(JSON.parse(r.payload.toString("utf8")));
  }
  return out;
}

/** Verify the table (not the journal) with both sites' anchors; exactly one problem expected. */
function expectOne(kind: string, extra: string[] = []) {
  const r = verifyCli(["--config", a.file, "--no-journal", ...extra]);
  assert.is(r.code, 1, r.out);
  const rep = r.report!;
  assert.is(rep.problems.length, 1, JSON.stringify(rep.problems, null, 2));
  const p = rep.problems[0]!;
  assert.is(p.kind, kind, JSON.stringify(p));
  assert.is(rep.chains.length, 2, "both chains are still walked");
  return { p, rep };
}

test("UPDATE of one row's object_key: modified, at its seq, with its id", async () => {
  await restore();
  const rows = await chainRows("chain-a");
  const victim = rows[3]!;
  await root((c) => c.query(`UPDATE ${TABLE} SET object_key = '999' WHERE id = ?`, [victim[0]]));
  const { p } = expectOne("modified", anchorArgs());
  assert.is(p.chain, chainA);
  assert.equal([p.fromSeq, p.toSeq], [Number(victim[17]), Number(victim[17])]);
  assert.equal(p.rowIds, [victim[0]]);
});

test("DELETE of one row in the middle: deleted, its seq, between the ids around it", async () => {
  await restore();
  const rows = await chainRows("chain-b");
  const mid = Math.floor(rows.length / 2);
  await root((c) => c.query(`DELETE FROM ${TABLE} WHERE id = ?`, [rows[mid]![0]]));
  const { p } = expectOne("deleted", anchorArgs());
  assert.is(p.chain, chainB);
  assert.equal([p.fromSeq, p.toSeq], [mid + 1, mid + 1]);
  assert.equal(p.rowIds, [rows[mid - 1]![0], rows[mid + 1]![0]]);
});

test("DELETE of the newest rows: nothing shows without an anchor; the anchor file and a published hash find it", async () => {
  await restore();
  const rows = await chainRows("chain-a");
  const head = rows.at(-1)!;
  const cut = rows.slice(-3);
  await root((c) => c.query(`DELETE FROM ${TABLE} WHERE id IN (?)`, [cut.map((r) => r[0])]));
  const blind = verifyCli(["--config", a.file, "--no-journal"]);
  assert.is(blind.code, 0, "a chain cut at its end looks whole without an anchor");
  const { p } = expectOne("truncated", anchorArgs());
  assert.is(p.chain, chainA);
  assert.equal([p.fromSeq, p.toSeq], [rows.length - 2, rows.length]);
  assert.equal(p.rowIds, [rows.at(-4)![0]]);
  // The head as the log, /status or the metric pair published it.
  const byHash = expectOne("anchor", ["--anchor", `${head[17]}:${String(head[19]).slice(0, 12)}`]);
  assert.match(byHash.p.message, /deleted or the chain was rewritten/);
  // With the journal: its records say they were delivered, and they are not in the table.
  const withJournal = verifyCli(["--config", a.file]);
  assert.is(withJournal.code, 1);
  assert.ok(
    withJournal.report!.problems.some((x) => x.kind === "truncated" && x.toSeq === rows.length),
    withJournal.out,
  );
});

test("two rows' order swapped (their chain_seq): reordered, both ids", async () => {
  await restore();
  const rows = await chainRows("chain-b");
  const [x, y] = [rows[2]!, rows[3]!];
  await root((c) =>
    c.query(`UPDATE ${TABLE} SET chain_seq = IF(id = ?, ?, ?) WHERE id IN (?, ?)`, [
      x[0],
      y[17],
      x[17],
      x[0],
      y[0],
    ]),
  );
  const { p } = expectOne("reordered", anchorArgs());
  assert.is(p.chain, chainB);
  assert.equal([p.fromSeq, p.toSeq], [3, 4]);
  assert.equal([...p.rowIds].sort(), [x[0], y[0]].sort());
});

test("a row inserted by hand: inserted, with its id; the events before the chain are not", async () => {
  await restore();
  const id = "0193a000-0000-7000-8000-00000000beef";
  await root((c) =>
    c.query(
      `INSERT INTO ${TABLE} (id, occurred_at, operation, outcome, object, object_key, instance_id, site) VALUES (?, UTC_TIMESTAMP(3), 'password_retrieval', 'ok', 'passtrix.ptrx_passwords', '3', 'chain-a', 'a')`,
      [id],
    ),
  );
  const { p, rep } = expectOne("inserted", anchorArgs());
  assert.equal(p.rowIds, [id]);
  assert.is(rep.beforeChain.rows, 3);
});

test("a journal record edited on disk (checksum fixed): modified, in that segment, at its seq", async () => {
  await restore();
  const dir = b.journalDir;
  const seg = readdirSync(dir)
    .filter((n) => n.endsWith(".pgj"))
    .sort()
    .at(-1)!;
  const path = join(dir, seg);
  const buf = readFileSync(path);
  const { records } = parseRecords(buf, true);
  const parts: Buffer[] = [];
  let edited: JEvent | null = null;
  for (const r of records) {
    const e = JSON.parse(r.payload.toString("utf8"));
    if (!edited && e.operation === "password_retrieval" && e.chain.seq > 2) {
      edited = e;
      e.objectKey = "12345";
      parts.push(encodeRecord(Buffer.from(JSON.stringify(e))));
    } else parts.push(encodeRecord(r.payload));
  }
  writeFileSync(path, Buffer.concat(parts));
  const r = verifyCli(["--config", b.file, "--key-file", keyFile]);
  assert.is(r.code, 1, r.out);
  const probs = r.report!.problems;
  assert.is(probs.length, 1, JSON.stringify(probs, null, 2));
  assert.is(probs[0]!.kind, "modified");
  assert.is(probs[0]!.source, `journal ${seg}`);
  assert.equal([probs[0]!.fromSeq, probs[0]!.rowIds], [edited!.chain!.seq, [edited!.id]]);
  // Put it back for the next test.
  writeFileSync(path, buf);
});

test("with a key: a chain recomputed with plain SHA-256 (no key) from a changed row on is forged", async () => {
  await restore();
  const rows = await chainRows("chain-a");
  const from = 4;
  let prev = String(rows[from - 2]![19]);
  await root(async (c) => {
    for (let i = from - 1; i < rows.length; i++) {
      const r = [...rows[i]!];
      if (i === from - 1) r[8] = "31337";
      const row = rowFromColumns(r);
      const hash = chainHash(null, row.chain!.id, row.chain!.seq, prev, row.values);
      await c.query(`UPDATE ${TABLE} SET object_key = ?, chain_prev = ?, chain_hash = ? WHERE id = ?`, [
        r[8],
        prev,
        hash,
        r[0],
      ]);
      prev = hash;
    }
  });
  const { p } = expectOne("forged");
  assert.is(p.chain, chainA);
  assert.equal([p.fromSeq, p.toSeq], [from, rows.length]);
  assert.is(p.rowIds[0], rows[from - 1]![0]);
  // The anchors see the rewrite too, even without the key.
  const anchored = verifyCli(["--config", b.file, "--no-journal", ...anchorArgs()]);
  assert.is(anchored.code, 1);
  assert.ok(
    anchored.report!.problems.some((x) => x.kind === "anchor" && x.chain === chainA),
    anchored.out,
  );
});

test("a table that cannot be migrated (no ALTER): delivery waits with the statement to run; once it is run, the events arrive chained", async () => {
  const table = "passtrix.pairgate_audit_noalter";
  await root(async (c) => {
    await c.query(LEGACY_DDL.replace(TABLE, table));
    await c.query(`REVOKE ALTER ON passtrix.* FROM '${pair.serviceUser.username}'@'%'`);
  });
  const raw = pair.proxyConfig({
    instanceId: "chain-noalter",
    audit: { journalDir: join(pair.dir, "audit-noalter"), table, deliveryIntervalMs: 60_000 },
  });
  const audit = new Audit({
    config: parseConfig(raw, join(pair.dir, "noalter.json")),
    logger: quiet,
    tablesOf,
  });
  try {
    await audit.start();
    await audit.record({ operation: "password_retrieval", objectKey: "1" });
    const err = await audit.deliverNow().then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err, "delivery into an unmigrated table must not go through");
    assert.match(err!.message, /lacks the hash-chain columns/);
    assert.match(err!.message, /ALTER TABLE `passtrix`.`pairgate_audit_noalter` ADD COLUMN chain_id/);
    assert.is(audit.pending(), 1, "the event stays in the journal");
    // An administrator runs the statement from the message.
    const ddl = err!.message.slice(err!.message.indexOf("ALTER TABLE"));
    await root((c) => c.query(ddl));
    await audit.deliverNow();
    assert.is(audit.pending(), 0);
    const [rows] = await root((c) => c.query(`SELECT chain_seq, chain_alg FROM ${table}`));
    assert.equal(rows, [{ chain_seq: 1, chain_alg: "sha256" }]);
  } finally {
    await audit.stop();
    await root((c) => c.query(`GRANT ALTER ON passtrix.* TO '${pair.serviceUser.username}'@'%'`));
  }
});

test.run();
