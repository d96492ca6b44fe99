/**
 * `npm run bench:hostile`: the hostile inputs of issue 11, each against a fresh pairgate process,
 * while another client measures its `SELECT 1` latency through the same pairgate. Prints, per
 * input: the other client's max and p99 latency, pairgate's CPU and RSS (before, peak, 2 s
 * after), and what the hostile client got. `--only=hashTail,loginStorm` runs some of them.
 * PAIRGATE_HOSTILE_CLI="node --import tsx /path/to/old/test/helpers/pairgate-cli.ts" measures
 * another pairgate build (how the before figures of issue 11 were taken).
 */
import { formatResult, HOSTILE_PHASES, type HostilePhase, runHostile } from "../test/helpers/hostile.js";
import { startPair } from "../test/helpers/pair.js";
import { benchArgs } from "./lib/args.js";

const { values } = benchArgs(import.meta.url, { only: { type: "string" } });
const phases = (values.only ? values.only.split(",") : [...HOSTILE_PHASES]) as HostilePhase[];
const pair = await startPair();
let worst = 0;
try {
  for (const p of phases) {
    const r = await runHostile(pair, p);
    worst = Math.max(worst, r.probe.maxMs);
    console.log(formatResult(r));
  }
} finally {
  await pair.stop();
}
console.log(`worst wait of another client's SELECT 1: ${worst.toFixed(1)} ms (bound: 200 ms)`);
