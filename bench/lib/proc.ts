/**
 * Reading a process's CPU time and memory from /proc (Linux only), for the proxies the bench
 * measures. CPU time is utime + stime of all the process's threads, in seconds.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond = 0;

/** The kernel's clock ticks per second (`getconf CLK_TCK`, 100 nearly everywhere). */
export function clockTicks(): number {
  if (!ticksPerSecond) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of a live process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // "pid (comm) state ppid ..." — comm may hold spaces and parentheses; fields restart after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`cannot read CPU time of pid ${pid}`);
  return (utime + stime) / clockTicks();
}

/** A "VmXXX:   1234 kB" line of /proc/<pid>/status, in MiB. */
function statusMiB(pid: number, key: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, "m").exec(status);
  if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** Resident set size now, MiB. */
export const rssMiB = (pid: number) => statusMiB(pid, "VmRSS");
/** Peak resident set size so far, MiB. */
export const peakRssMiB = (pid: number) => statusMiB(pid, "VmHWM");
