/**
 * Process helpers for the lab's servers: is a pid alive (a zombie counts as dead), which
 * mariadbd runs with a given defaults file, waiting for a pid to exit.
 * Linux reads /proc; elsewhere only `kill(pid, 0)` is used.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";

const hasProc = existsSync("/proc/self/stat");

/** True when the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (hasProc) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) S ..." — comm may hold spaces and parentheses, the state follows the last ")".
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z" && state !== "X") return true;
      // A killed multi-threaded process shows its main thread as a zombie while the other
      // threads still exit — and still hold its sockets open. Dead means every thread is gone.
      return readdirSync(`/proc/${pid}/task`).some((tid) => {
        if (Number(tid) === pid) return false;
        try {
          const t = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
          const st = t.slice(t.lastIndexOf(")") + 2, t.lastIndexOf(")") + 3);
          return st !== "Z" && st !== "X";
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The command line of a process as its arguments, or null when it cannot be read. */
export function commandLine(pid: number): string[] | null {
  if (!hasProc) return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return null;
  }
}

/** Live processes whose command line holds `arg` exactly (e.g. `--defaults-file=/x/my.cnf`). */
export function pidsWithArg(arg: string): number[] {
  if (!hasProc) return [];
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const cmd = commandLine(pid);
    if (cmd?.includes(arg) && isAlive(pid)) found.push(pid);
  }
  return found;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves true when the pid is gone, false when `timeoutMs` passed first. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}
