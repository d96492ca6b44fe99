/**
 * How `promote` finds a running pairgate to reload: `pairgate start` writes its pid to
 * `.pairgate/pairgate.pid` next to its config file and removes it when it stops. A pid is only
 * signalled when that process is still a pairgate started with this config file (its command line,
 * where /proc shows it), so a stale file never hands SIGHUP to an unrelated process.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { commandLine, isAlive } from "../lab/process.js";

export const PID_FILE = join(".pairgate", "pairgate.pid");

export function pidFilePath(configFile: string): string {
  return join(dirname(resolve(configFile)), PID_FILE);
}

/** Writes this process's pid; returns the file, or null when it cannot be written (logged by the caller). */
export function writePidFile(configFile: string): string | null {
  const file = pidFilePath(configFile);
  try {
    mkdirSync(dirname(file), { recursive: true });
    // Written aside and renamed: a reader (promote, a test) never sees the file empty.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`);
    renameSync(tmp, file);
    return file;
  } catch {
    return null;
  }
}

/** Removes the pid file if it still names this process. */
export function removePidFile(file: string | null): void {
  if (!file) return;
  try {
    if (Number(readFileSync(file, "utf8").trim()) === process.pid) rmSync(file, { force: true });
  } catch {}
}

export interface RunningPairgate {
  pid: number;
  pidFile: string;
}

export type PairgateLookup =
  | { found: true; pid: number; pidFile: string }
  | { found: false; pidFile: string; reason: string };

/** The pairgate serving `configFile`, from its pid file. */
export function findRunningPairgate(configFile: string): PairgateLookup {
  const pidFile = pidFilePath(configFile);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return { found: false, pidFile, reason: `no pid file at ${pidFile}` };
  }
  if (!Number.isInteger(pid) || pid <= 0) return { found: false, pidFile, reason: `${pidFile} holds no pid` };
  if (!isAlive(pid))
    return { found: false, pidFile, reason: `pid ${pid} from ${pidFile} is not running (stale file)` };
  const cmd = commandLine(pid);
  if (cmd) {
    const name = basename(configFile);
    const ours =
      cmd.includes("start") &&
      cmd.some((a) => a === name || a.endsWith(`/${name}`) || a.endsWith(`=${name}`));
    if (!ours)
      return {
        found: false,
        pidFile,
        reason: `pid ${pid} from ${pidFile} is not \`pairgate start\` with ${name} (${cmd.join(" ").slice(0, 120)})`,
      };
  }
  return { found: true, pid, pidFile };
}
