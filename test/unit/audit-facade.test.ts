import { mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventRow, utcDatetime } from "../../src/audit/delivery.js";
import { isUuidV7 } from "../../src/audit/event.js";
import { Audit, type AuditConfig, JOURNAL_FAILED, JournalError } from "../../src/audit/index.js";

const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(dir: string, audit: Partial<AuditConfig["audit"]> = {}): AuditConfig {
  return {
    audit: {
      enabled: true,
      journalDir: join(dir, "journal"),
      table: "passtrix.pairgate_audit",
      rules: [
        { operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"], appUserTag: "app_user" },
      ],
      captureTables: ["passtrix.ptrx_audit"],
      onJournalFailure: "refuse",
      groupCommitMs: 1,
      deliveryBatchSize: 100,
      deliveryIntervalMs: 60_000,
      ...audit,
    },
    instanceId: "pg-a",
    site: "site-a",
    primary: { host: "127.0.0.1", port: 1, user: "u", password: "p" },
  };
}

const tablesOf = (sql: string) => ({
  read: [...sql.matchAll(/\bfrom\s+([\w.]+)/gi)].map((m) => m[1]!.toLowerCase()),
  written: [...sql.matchAll(/\binto\s+([\w.]+)/gi)].map((m) => m[1]!.toLowerCase()),
});

const quiet = pino({ level: "silent" });
const neverConnect = () => Promise.reject(new Error("no primary in unit tests"));

test("record: fills id, time, instance and site; journals; writes the audit log; counts per operation", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-"));
  dirs.push(dir);
  const audit = new Audit({ config: config(dir), logger: quiet, tablesOf, connect: neverConnect });
  await audit.start({ isPrimaryUp: () => false });
  const m = audit.matchStatement(
    "SELECT * FROM ptrx_passwords WHERE account_id=3 /* app_user=alice */",
    "passtrix",
  );
  assert.ok(m);
  const ev = await audit.record({
    operation: m.operation,
    object: m.object,
    appUser: m.appUser,
    dbUser: "pmpuser",
    clientAddr: "10.0.0.5:51234",
    sessionId: "17",
    backend: "secondary",
    digest: "abc",
  });
  assert.ok(isUuidV7(ev.id));
  assert.is(ev.instanceId, "pg-a");
  assert.is(ev.site, "site-a");
  assert.is(ev.outcome, "ok");
  await audit.record({ operation: "login", dbUser: "pmpuser", backend: "secondary" });
  await audit.record({ operation: "logout", dbUser: "pmpuser", durationMs: 1234 });
  assert.equal(audit.counts(), { password_retrieval: 1, login: 1, logout: 1 });
  assert.is(audit.pending(), 3);
  assert.is(audit.healthy, true);
  assert.is(audit.captureTable("INSERT INTO ptrx_audit (a) VALUES (1)", "passtrix"), "passtrix.ptrx_audit");
  await audit.stop();
  const lines = readFileSync(join(dir, "journal", "audit.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.is(lines.length, 3);
  assert.is(lines[0].operation, "password_retrieval");
  assert.is(lines[0].appUser, "alice");
  assert.is(lines[0].journal, "ok");
  assert.is(lines[2].durationMs, 1234);
  // The events survive a restart.
  const again = new Audit({ config: config(dir), logger: quiet, tablesOf, connect: neverConnect });
  await again.start({ isPrimaryUp: () => false });
  assert.is(again.pending(), 3);
  await again.stop();
});

test("record rejects with the typed error when the journal cannot write; the failure is counted and logged", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-"));
  dirs.push(dir);
  let full = false;
  const audit = new Audit({
    config: config(dir, { logFile: join(dir, "audit-log", "a.log") }),
    logger: quiet,
    tablesOf,
    connect: neverConnect,
    journalIo: {
      write: async (fd, buf, off, len, pos) => {
        if (full) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        return writeSync(fd, buf, off, len, pos);
      },
    },
  });
  await audit.start({ isPrimaryUp: () => false });
  assert.ok(audit.refuseOnJournalFailure);
  await audit.record({ operation: "login" });
  full = true;
  const err = await audit.record({ operation: "password_retrieval" }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, JournalError);
  assert.is((err as JournalError).code, JOURNAL_FAILED);
  assert.is(audit.healthy, false);
  assert.is(audit.journalFailures, 1);
  full = false;
  await audit.record({ operation: "logout" });
  assert.is(audit.healthy, true);
  assert.is(audit.pending(), 2);
  await audit.stop();
  const lines = readFileSync(join(dir, "audit-log", "a.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(
    lines.map((l) => [l.operation, l.journal]),
    [
      ["login", "ok"],
      ["password_retrieval", "failed"],
      ["logout", "ok"],
    ],
  );
});

test("a journal directory that cannot be opened: the audit starts unhealthy and record rejects", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-"));
  dirs.push(dir);
  const file = join(dir, "file");
  writeFileSync(file, "x");
  const audit = new Audit({
    config: config(dir, { journalDir: join(file, "journal"), logFile: join(dir, "a.log") }),
    logger: quiet,
    tablesOf,
    connect: neverConnect,
  });
  await audit.start({ isPrimaryUp: () => false });
  assert.is(audit.healthy, false);
  const err = await audit.record({ operation: "login" }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((err as JournalError).code, JOURNAL_FAILED);
  await audit.stop();
});

test("transition: failover and failback are recorded; startup is not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-"));
  dirs.push(dir);
  const audit = new Audit({ config: config(dir), logger: quiet, tablesOf, connect: neverConnect });
  await audit.start({ isPrimaryUp: () => false });
  const t = { at: Date.now(), cause: "primary: connection refused", detectionSeconds: 0.01 };
  audit.transition({ ...t, from: "read_write", to: "read_write", kind: "startup" });
  audit.transition({ ...t, from: "read_write", to: "read_only", kind: "failover" });
  audit.transition({ ...t, from: "read_only", to: "read_write", kind: "failback" });
  await audit.stop();
  assert.equal(audit.counts(), { failover: 1, failback: 1 });
  const lines = readFileSync(join(dir, "journal", "audit.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(
    lines.map((l) => [l.operation, l.backend, l.detail.to]),
    [
      ["failover", "secondary", "read_only"],
      ["failback", "primary", "read_write"],
    ],
  );
});

test("disabled: nothing is journaled, nothing matches", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-audit-"));
  dirs.push(dir);
  const audit = new Audit({ config: config(dir, { enabled: false }), logger: quiet, tablesOf });
  await audit.start();
  assert.is(audit.matchStatement("SELECT * FROM ptrx_passwords", "passtrix"), null);
  await audit.record({ operation: "login" });
  assert.is(audit.pending(), 0);
  await audit.stop();
});

test("eventRow: UTC datetime, clipped columns, detail JSON", () => {
  assert.is(utcDatetime(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), "2024-01-02 03:04:05.006");
  const row = eventRow({
    id: "x",
    occurredAt: 0,
    instanceId: "i",
    site: "s",
    operation: "captured_write",
    outcome: "ok",
    clientAddr: null,
    dbUser: "u".repeat(300),
    sessionId: "1",
    backend: "secondary",
    object: "passtrix.ptrx_audit",
    objectKey: null,
    appUser: null,
    digest: null,
    sql: "INSERT INTO ptrx_audit VALUES (1)",
    schema: "passtrix",
  });
  assert.is((row[4] as string).length, 255);
  assert.equal(JSON.parse(row[15] as string), {
    sql: "INSERT INTO ptrx_audit VALUES (1)",
    schema: "passtrix",
  });
});

test.run();
