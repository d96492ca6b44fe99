/**
 * Classifier throughput on one core: `npx tsx bench/classifier.ts [rounds] [statementsPerRound]`.
 *
 * The mix is an OLTP transaction in the shape of sysbench oltp_read_write (point selects, range
 * selects, an update by key, a delete and an insert, BEGIN/COMMIT) plus what applications and
 * connectors add around it: SET autocommit, a multi-join select, a locking read, a ping.
 * Each mode runs `rounds` rounds after a warm-up; the median round is the figure to quote.
 *
 * Rates are statements per second of this process's CPU time (user + system, `process.cpuUsage`),
 * which is what "on one core" means and stays meaningful on a shared, busy machine; the wall-clock
 * rate is printed beside it and matches it only when the core is not shared.
 */
import { AuditRules } from "../src/audit/rules.js";
import { classify } from "../src/sql/classify.js";
import { digest } from "../src/sql/digest.js";
import { tablesOf } from "../src/sql/tables.js";
import { benchArgs } from "./lib/args.js";

const TRANSACTION = [
  "BEGIN",
  "SELECT c FROM sbtest1 WHERE id=5012",
  "SELECT c FROM sbtest3 WHERE id=498",
  "SELECT c FROM sbtest1 WHERE id=77",
  "SELECT c FROM sbtest2 WHERE id=4141",
  "SELECT c FROM sbtest1 WHERE id=912",
  "SELECT c FROM sbtest4 WHERE id=3",
  "SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111",
  "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 18 AND 117",
  "SELECT c FROM sbtest1 WHERE id BETWEEN 900 AND 999 ORDER BY c",
  "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 30 AND 129 ORDER BY c",
  "UPDATE sbtest1 SET k=k+1 WHERE id=5012",
  "UPDATE sbtest1 SET c='83868641912-28773972837-60736120486' WHERE id=498",
  "DELETE FROM sbtest1 WHERE id=77",
  "INSERT INTO sbtest1 (id, k, c, pad) VALUES (77, 4994, '68487932199-96439406143-93774651418', '22195207048-70116052123')",
  "COMMIT",
  "SET autocommit=0",
  "START TRANSACTION",
  "SELECT u.id, u.name, g.name AS grp FROM users u JOIN user_groups ug ON ug.user_id = u.id JOIN `groups` g ON g.id = ug.group_id WHERE u.id = 42 ORDER BY g.name",
  "SELECT id, secret FROM resources WHERE owner_id = 42 AND id IN (1, 2, 3) FOR UPDATE",
  "INSERT INTO audit_log (user_id, action, created_at) VALUES (42, 'password_view', NOW())",
  "COMMIT",
  "SET autocommit=1",
  "SELECT 1",
];

type Mode = { name: string; run: (sql: string) => number };

/** The lab's audit rule: the per-statement audit check the session makes after classifying. */
const rules = new AuditRules(
  [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"], appUserTag: "app_user" }],
  tablesOf,
);

const modes: Mode[] = [
  { name: "classify", run: (s) => classify(s).verb.length },
  {
    name: "classify+tables",
    run: (s) => {
      const c = classify(s);
      const t = tablesOf(s);
      return c.verb.length + t.read.length + t.written.length;
    },
  },
  {
    name: "classify+audit",
    run: (s) => {
      const c = classify(s);
      const m = rules.match(s, { defaultSchema: "passtrix", classification: c });
      return c.verb.length + (m === null ? 0 : 1);
    },
  },
  { name: "digest", run: (s) => digest(s).length },
];

const { positionals } = benchArgs(import.meta.url, {}, true);
const rounds = Number(positionals[0] ?? 7);
const perRound = Number(positionals[1] ?? 500_000);

/** Runs `count` statements; returns [statements per CPU second, statements per wall second]. */
function round(mode: Mode, count: number): [number, number] {
  const mix = TRANSACTION;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0, j = 0; i < count; i++) {
    sink += mode.run(mix[j]);
    if (++j === mix.length) j = 0;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (sink === -1) console.log(sink); // keep the work observable
  return [(count / (cpu.user + cpu.system)) * 1e6, (count / ns) * 1e9];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `node ${process.version}, ${TRANSACTION.length} statements in the mix, ${rounds} rounds x ${fmt(perRound)}`,
);
for (const mode of modes) {
  round(mode, Math.min(perRound, 200_000)); // warm-up: let the JIT settle
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [c, w] = round(mode, perRound);
    cpu.push(c);
    wall.push(w);
  }
  console.log(
    `${mode.name.padEnd(16)} median ${fmt(median(cpu)).padStart(10)} statements/CPU-s` +
      `  (wall ${fmt(median(wall))}/s; rounds: ${cpu.map(fmt).join(", ")})`,
  );
}
