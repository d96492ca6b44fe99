/**
 * `npm run bench:hostile-generative`: the generative hostile-SQL run of issue 19, longer than CI's.
 * Prints the seed first (replay: PAIRGATE_HOSTILE_SEED=<seed>), every failure as it is found,
 * then the statement count, the outcome mix and one line per distinct failure with its smallest
 * reproduction. Options: --cycles=N (failovers; default 6), --chains=N (chains per phase; default
 * 400), --max-findings=N (default 500). Exit code 1 when anything was found.
 */
import { distinctFindings, formatFinding, runGenerative, seedFromEnv } from "../test/helpers/hostile-run.js";
import { startPair } from "../test/helpers/pair.js";
import { benchArgs } from "./lib/args.js";

const { values } = benchArgs(import.meta.url, {
  cycles: { type: "string", default: "6" },
  chains: { type: "string", default: "400" },
  "max-findings": { type: "string", default: "500" },
});
const seed = seedFromEnv();
console.log(`hostile-generative: seed ${seed} (replay with PAIRGATE_HOSTILE_SEED=${seed})`);
const pair = await startPair();
let failed = false;
try {
  const r = await runGenerative(pair, {
    seed,
    cycles: Number(values.cycles),
    chainsPerPhase: Number(values.chains),
    maxFindings: Number(values["max-findings"]),
    log: (l) => console.log(l),
  });
  const distinct = distinctFindings(r.findings);
  failed = r.findings.length > 0;
  console.log(
    `\nhostile-generative: ${r.statements} statements in ${r.chains} chains, ${(r.ms / 1000).toFixed(1)} s, seed ${seed}`,
  );
  console.log(`outcomes: ${JSON.stringify(r.outcomes)}`);
  console.log(`${r.findings.length} failures, ${distinct.length} distinct:`);
  for (const f of distinct) console.log(formatFinding(f));
} finally {
  await pair.stop();
}
process.exit(failed ? 1 : 0);
