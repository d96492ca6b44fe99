/**
 * Issue 19, "a generative hostile-SQL suite against the real servers": thousands of generated
 * hostile statements (test/helpers/hostile-sql.ts) from an application user holding SUPER and
 * READ_ONLY ADMIN, through pairgate in front of a real pair, across reconnects and failovers (link
 * cut; kill -9 of the primary on the last cycle), with two strict oracles after every statement
 * (test/helpers/hostile-oracle.ts): nothing changes on the secondary while it serves, and no byte
 * of the audited table's canary reaches a client without an audit event.
 *
 * The seed is printed on every run and with every failure; PAIRGATE_HOSTILE_SEED=<seed> replays a
 * run, PAIRGATE_HOSTILE_CHAINS=<n> sets the chains per phase (default 120: about 1,500
 * statements). `npm run bench:hostile-generative` is the long run.
 *
 * The first tests prove the oracles themselves: a canary read straight from the secondary (no
 * pairgate, so no event) is caught, and each kind of change made behind pairgate's back on the
 * secondary — a write with a GTID, one without (sql_log_bin=0), read_only lifted, a global
 * variable changed, the SQL thread stopped, an account changed, a file in the datadir — is caught.
 *
 * At fd3936b the generative run fails (its first job): see the issue 19 closing note for the list.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { makeCanary } from "../helpers/hostile-oracle.js";
import {
  distinctFindings,
  type Finding,
  formatFinding,
  type Primed,
  prepareLab,
  runGenerative,
  seedFromEnv,
  withRun,
} from "../helpers/hostile-run.js";
import type { Chain } from "../helpers/hostile-sql.js";
import { startPair, type TestPair } from "../helpers/pair.js";

let pair: TestPair;
let primed: Primed;

test.before(async () => {
  pair = await startPair();
  const canary = makeCanary(Math.random().toString(16).slice(2, 14).padEnd(12, "0"));
  primed = { canary, primaryServerId: await prepareLab(pair, canary) };
});

test.after(async () => {
  await pair?.stop();
});

const chainOf = (id: number, ...sql: string[]): Chain => ({
  id,
  family: "self_test",
  statements: sql.map((s) => ({ sql: Buffer.from(s), protocol: "text" as const, raw: false })),
  later: [],
});

const kinds = (fs: Finding[]) => fs.map((f) => `${f.oracle}: ${f.detail}`).join("\n");

test("self-test, audit oracle: the canary read straight from the secondary (no pairgate, no event) is caught", async () => {
  await withRun(pair, primed, { seed: 1, cycles: 0, chainsPerPhase: 0, direct: true }, async (run) => {
    const caught = await run.runChains([
      chainOf(900001, "SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = 1"),
      chainOf(900002, "SELECT HEX(encrypted_password) FROM passtrix.ptrx_passwords LIMIT 1"),
      chainOf(
        900003,
        "SELECT ExtractValue('<a/>', CONCAT('~', (SELECT encrypted_password FROM passtrix.ptrx_passwords LIMIT 1)))",
      ),
    ]);
    const audit = caught.filter((f) => f.oracle === "audit");
    assert.is(audit.length, 3, `each of the three was caught:\n${kinds(caught)}`);
    // And what does not hold it is not flagged.
    const quiet = await run.runChains([chainOf(900004, "SELECT account_id FROM passtrix.ptrx_passwords")]);
    assert.equal(quiet, [], kinds(quiet));
  });
});

test("self-test, audit oracle through pairgate: an audited SELECT of the canary has its event and passes", async () => {
  await withRun(pair, primed, { seed: 2, cycles: 0, chainsPerPhase: 0 }, async (run) => {
    const r = await run.runChains([
      chainOf(900010, "SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 2"),
    ]);
    assert.equal(r, [], kinds(r));
  });
});

test("self-test, read_only oracle: every change behind pairgate's back on the serving secondary is caught", async () => {
  await withRun(pair, primed, { seed: 3, cycles: 0, chainsPerPhase: 0 }, async (run) => {
    await run.enterReadOnly(false);
    const root = await pair.rootConnection("secondary");
    try {
      const cases: [string, () => Promise<unknown>, RegExp[]][] = [
        [
          "a write with a GTID of the secondary's own",
          () => root.query("INSERT INTO passtrix.gen_t VALUES (700001, 'injected')"),
          [/binlogState/, /table passtrix\.gen_t/],
        ],
        [
          "a write with sql_log_bin=0 (no GTID at all)",
          async () => {
            await root.query("SET SESSION sql_log_bin = 0");
            await root.query("UPDATE passtrix.gen_t SET v = 'quiet' WHERE id = 3");
            await root.query("SET SESSION sql_log_bin = 1");
          },
          [/table passtrix\.gen_t/],
        ],
        ["read_only lifted", () => root.query("SET GLOBAL read_only = 0"), [/readOnly: 1 → 0/]],
        [
          "the configuration changed",
          () => root.query("SET GLOBAL max_connect_errors = 12345"),
          [/global MAX_CONNECT_ERRORS: "\d+" → "12345"/i],
        ],
        ["the SQL thread stopped", () => root.query("STOP SLAVE SQL_THREAD"), [/sqlRunning/]],
        [
          "an account changed",
          async () => {
            await root.query("SET SESSION sql_log_bin = 0");
            await root.query("CREATE USER 'gen_injected'@'%'");
            await root.query("SET SESSION sql_log_bin = 1");
          },
          [/privChecksum/],
        ],
        [
          "a file in the datadir",
          async () => writeFileSync(join(pair.dir, "secondary", "data", "passtrix", "gen_injected.txt"), "x"),
          [/files added: passtrix\/gen_injected\.txt/],
        ],
      ];
      for (const [label, change, expect] of cases) {
        const found = await run.inject(label, change);
        const text = kinds(found);
        for (const re of expect) assert.match(text, re, `${label}: caught (${re}):\n${text}`);
      }
      // And the oracle is quiet when nothing changed.
      assert.equal(await run.inject("nothing", async () => {}), []);
    } finally {
      await root.end();
    }
    await run.leaveReadOnly(false, 0);
  });
});

test("the generative hostile-SQL run: nothing changes on the secondary, no canary leaves without an event", async () => {
  const seed = seedFromEnv();
  const chainsPerPhase = Number(process.env.PAIRGATE_HOSTILE_CHAINS ?? 120);
  console.log(`hostile-generative: seed ${seed} (replay with PAIRGATE_HOSTILE_SEED=${seed})`);
  const r = await runGenerative(
    pair,
    {
      seed,
      cycles: 3,
      chainsPerPhase,
      maxFindings: 100,
      log: (l) => (l.startsWith("slow") ? undefined : console.log(l)),
    },
    primed,
  );
  const distinct = distinctFindings(r.findings);
  console.log(
    `hostile-generative: ${r.statements} statements in ${r.chains} chains, ${(r.ms / 1000).toFixed(1)} s, seed ${seed}; ${r.findings.length} failures, ${distinct.length} distinct`,
  );
  console.log(`outcomes: ${JSON.stringify(r.outcomes)}`);
  assert.ok(r.statements >= 1000 || r.findings.length >= 100, `${r.statements} statements ran`);
  assert.equal(
    distinct.map((f) => f.signature),
    [],
    `seed ${seed} (replay with PAIRGATE_HOSTILE_SEED=${seed}), ${r.statements} statements:\n${distinct.map(formatFinding).join("\n")}`,
  );
});

test.run();
