/**
 * What ships for operators: the Prometheus alert rules pass `promtool check rules` and their unit
 * tests (`promtool test rules`), and every pairgate metric named by the rules or the Grafana
 * dashboard is one that pairgate exports.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Metrics } from "../../src/observability/metrics.js";

const OPS = fileURLToPath(new URL("../../ops/", import.meta.url));
const RULES = `${OPS}prometheus/pairgate-alerts.yml`;
const RULE_TESTS = `${OPS}prometheus/pairgate-alerts.test.yml`;
const DASHBOARD = `${OPS}grafana/pairgate-dashboard.json`;

function promtool(args: string[]): { code: number; out: string } {
  const r = spawnSync("promtool", args, { cwd: `${OPS}prometheus`, encoding: "utf8" });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    assert.unreachable(
      "promtool is not installed: `apt-get install -y prometheus` (Debian's package provides promtool)",
    );
  }
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** pairgate_* names exported, with a histogram's _bucket/_sum/_count series. */
async function exportedNames(): Promise<Set<string>> {
  const body = (await new Metrics().render()).body;
  const names = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m[1] + s);
  }
  return names;
}

function referenced(text: string): string[] {
  return [
    ...new Set(
      [...text.matchAll(/\b(pairgate_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+)\b/g)].map((m) => m[1]),
    ),
  ];
}

test("promtool check rules: the alert rules are valid", () => {
  const r = promtool(["check", "rules", RULES]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: \d+ rules found/);
});

test("promtool test rules: the alerts fire (and stay quiet) as specified", () => {
  const r = promtool(["test", "rules", RULE_TESTS]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, "SUCCESS");
});

test("the rules cover the operator's list of alerts", () => {
  const text = readFileSync(RULES, "utf8");
  for (const name of [
    "PairgatePrimaryDown",
    "PairgateReadOnly",
    "PairgatePairDown",
    "PairgateReplicationIOStopped",
    "PairgateReplicationSQLStopped",
    "PairgateReplicationLagging",
    "PairgateSecondaryWritable",
    "PairgateAuditBacklogGrowing",
    "PairgateAuditDeliveryStale",
    "PairgateAuditJournalUnavailable",
    "PairgateAuditChainBroken",
    "PairgateReplicationNotLossless",
    "PairgateAcknowledgedWritesMissing",
    "PairgatePrimaryFenced",
    "PairgateUnhandledError",
  ]) {
    assert.match(text, `alert: ${name}\n`);
  }
});

test("every metric the rules and the dashboard use is exported", async () => {
  const names = await exportedNames();
  for (const file of [RULES, DASHBOARD]) {
    const used = referenced(readFileSync(file, "utf8"));
    assert.ok(used.length > 5, file);
    const missing = used.filter((n) => !names.has(n));
    assert.equal(missing, [], `${file} uses metrics pairgate does not export`);
  }
});

test("the dashboard is importable JSON with the panels an operator looks for", () => {
  const d = JSON.parse(readFileSync(DASHBOARD, "utf8"));
  assert.is(d.uid, "pairgate-overview");
  assert.ok(d.schemaVersion >= 36);
  const panels = d.panels as Array<{
    id: number;
    title: string;
    type: string;
    targets?: Array<{ expr: string }>;
  }>;
  const ids = panels.map((p) => p.id);
  assert.is(new Set(ids).size, ids.length, "unique panel ids");
  const text = JSON.stringify(panels);
  for (const m of [
    "pairgate_mode",
    "pairgate_backend_up",
    "pairgate_failovers_total",
    "pairgate_failover_detection_seconds",
    "pairgate_replication_lag_seconds",
    "pairgate_queries_total",
    "pairgate_query_duration_seconds_bucket",
    "pairgate_write_rejections_total",
    "pairgate_auth_failures_total",
    "pairgate_audit_journal_pending_events",
  ]) {
    assert.ok(text.includes(m), `dashboard shows ${m}`);
  }
  for (const p of panels) {
    if (p.type === "row") continue;
    assert.ok(
      p.targets && p.targets.length > 0 && p.targets.every((t) => t.expr),
      `panel ${p.title} has queries`,
    );
  }
});

test.run();
