#!/usr/bin/env node
// Runs the whole suite with uvu (TypeScript through tsx) and ends with the line CI reads:
// "N passed, N failed". Extra arguments are passed to uvu as its pattern (e.g. `npm test -- unit`).
//
// uvu runs in a process group of its own, so that a stop reaches every process under npx (an
// orphaned test process would keep the output pipe open and hang CI's `| tee`). Once uvu has
// printed its summary the tests are over: a process that then does not exit within EXIT_GRACE_MS
// (seen once: Node spinning in its exit-time handle cleanup) is stopped, and the summary counts —
// the hang is reported on its own line, not hidden.
import { spawn } from "node:child_process";

const args = ["uvu", "-r", "tsx", "test", ...(process.argv[2] ? [process.argv[2]] : ["\\.test\\.ts$"])];
const limitMs = Number(process.env.PAIRGATE_TEST_TIMEOUT_MS ?? 30 * 60 * 1000);
const EXIT_GRACE_MS = Number(process.env.PAIRGATE_TEST_EXIT_GRACE_MS ?? 60_000);
const child = spawn("npx", args, {
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, FORCE_COLOR: "0" },
  detached: true,
});
let out = "";
let summaryAt = 0;
let stoppedAfterSummary = false;
const stopAll = () => {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
};
child.stdout.on("data", (d) => {
  out += d;
  process.stdout.write(d);
  if (!summaryAt && /Duration:\s+[\d.]+ms/.test(out.replace(/\x1b\[[0-9;]*m/g, ""))) {
    summaryAt = Date.now();
    setTimeout(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stoppedAfterSummary = true;
      process.stdout.write(
        `\nrun-tests: uvu printed its summary but had not exited ${EXIT_GRACE_MS} ms later; stopped it (the results above stand)\n`,
      );
      stopAll();
    }, EXIT_GRACE_MS).unref();
  }
});
// Ctrl-C or a stop reaches run-tests only (uvu has a group of its own): pass it on.
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    stopAll();
    process.exit(130);
  });
}
const timer = setTimeout(() => {
  process.stdout.write(`\nrun-tests: the suite ran past ${limitMs} ms and was stopped\n`);
  stopAll();
}, limitMs);
child.on("exit", (code, signal) => {
  clearTimeout(timer);
  // Whatever is left of the group (a stray child of a test) goes too.
  stopAll();
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let failed = total - passed - skipped;
  // A crash before the summary (a suite that threw at load, a kill) is a failure, never a pass.
  if ((code !== 0 || signal) && failed === 0 && !stoppedAfterSummary) failed = 1;
  if (total === 0) failed = Math.max(failed, 1);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
  process.exit(failed > 0 ? 1 : 0);
});
