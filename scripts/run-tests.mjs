#!/usr/bin/env node
// Runs the whole suite with uvu (TypeScript through tsx) and ends with the line CI reads:
// "N passed, N failed". Extra arguments are passed to uvu as its pattern (e.g. `npm test -- unit`).
import { spawn } from "node:child_process";

const args = ["uvu", "-r", "tsx", "test", ...(process.argv[2] ? [process.argv[2]] : ["\\.test\\.ts$"])];
const limitMs = Number(process.env.PAIRGATE_TEST_TIMEOUT_MS ?? 30 * 60 * 1000);
const child = spawn("npx", args, {
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, FORCE_COLOR: "0" },
});
let out = "";
child.stdout.on("data", (d) => {
  out += d;
  process.stdout.write(d);
});
const timer = setTimeout(() => {
  process.stdout.write(`\nrun-tests: the suite ran past ${limitMs} ms and was stopped\n`);
  child.kill("SIGKILL");
}, limitMs);
child.on("exit", (code, signal) => {
  clearTimeout(timer);
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let failed = total - passed - skipped;
  // A crash before the summary (a suite that threw at load, a kill) is a failure, never a pass.
  if ((code !== 0 || signal) && failed === 0) failed = 1;
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
  process.exit(failed > 0 ? 1 : 0);
});
