/** Reading a process's state from /proc (Linux), for tests that watch processes die or linger. */
import { readFileSync } from "node:fs";

/** The state letter of /proc/PID/stat (R, S, Z, ...), or null when there is no such process. */
export function procState(pid: number): string | null {
  try {
    // "pid (comm) S ...": the state is the first field after the command name.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return null;
  }
}
