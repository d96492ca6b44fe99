/** A bench run's scratch folder, removed at exit; Ctrl-C and friends exit through the 'exit' hooks. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function benchWorkspace(prefix: string, log: (msg: string) => void): string {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    // process.exit runs the 'exit' hooks: child processes (children.ts) and the pair (pair.ts) are killed.
    process.on(sig, () => {
      log(`${sig}: tearing down`);
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
  return tmp;
}
