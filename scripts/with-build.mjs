#!/usr/bin/env node
// `node scripts/with-build.mjs FILE.ts [args...]`: builds dist/ (npx tsc -p .), then runs FILE.ts
// with tsx, passing the remaining arguments on. Used by `npm run bench`, which starts the built
// proxy (bin/pairgate.js → dist/) as a separate process and must never measure a stale build.
// Ctrl-C reaches both processes (same process group); this one only waits for the child's exit,
// so the child's own teardown finishes before the shell prompt comes back.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node scripts/with-build.mjs FILE.ts [args...]\n");
  process.exit(2);
}

// `--help` only prints the script's usage: no build needed for that.
const help = args.includes("--help") || args.includes("-h");
if (!help) process.stderr.write("with-build: building dist/ (npx tsc -p .)\n");
const build = help ? { status: 0 } : spawnSync("npx", ["tsc", "-p", "."], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  process.stderr.write(
    `with-build: the build failed (exit ${build.status ?? build.signal}); not running ${file}\n`,
  );
  process.exit(build.status || 1);
}

// `node --import tsx` runs the file in this one child process (the tsx CLI would add another).
const child = spawn(process.execPath, ["--import", "tsx", file, ...args], { cwd: root, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  // The child gets SIGINT from the terminal itself; forward the others, and never die first.
  process.on(sig, () => {
    if (sig !== "SIGINT") child.kill(sig);
  });
}
child.on("exit", (code, signal) => {
  process.exit(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1) : 1));
});
