/**
 * The journal's folder lock (src/audit/dir-lock.ts): held by a listening unix socket, so the kernel
 * releases it when the owner dies — whatever became of the owner's pid (a zombie not yet reaped, a
 * pid that now names another process). A live second owner is refused with its pid in the message.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DirLockedError, lockDir } from "../../src/audit/dir-lock.js";
import { Journal, JournalError } from "../../src/audit/journal.js";
import { procState } from "../helpers/proc.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const JOURNAL_MODULE = pathToFileURL(join(ROOT, "src", "audit", "journal.ts")).href;
const logger = pino({ level: "silent" });

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "pairgate-lock-"));
  dirs.push(d);
  return d;
}
test.after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * A process that opens the journal in `dir`, appends one event, prints "<pid> open" and waits.
 * `shell`: started as `sh -c 'node holder & exec sleep 30'`, so its parent is a `sleep` that never
 * reaps it: once killed it stays a zombie.
 */
async function holder(dir: string, shell = false): Promise<{ pid: number; child: ChildProcess }> {
  const script = join(dir, "..", `holder-${Date.now()}-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(
    script,
    `const { Journal } = await import(${JSON.stringify(JOURNAL_MODULE)});
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
const j = await Journal.open({ dir: ${JSON.stringify(dir)}, logger: quiet, groupCommitMs: 0 });
await j.append({ from: process.pid });
process.stdout.write(process.pid + " open\\n");
setInterval(() => {}, 1000);
`,
  );
  const node = [process.execPath, "--import", "tsx", script].map((a) => `'${a}'`).join(" ");
  const child = shell
    ? spawn("sh", ["-c", `${node} & exec sleep 30`], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })
    : spawn(process.execPath, ["--import", "tsx", script], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      });
  children.push(child);
  const pid = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /(\d+) open/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`holder exited (${code}) before opening: ${out}`)));
  });
  return { pid, child };
}

test("a second lock on the same folder in this process is refused; released, it can be taken again", async () => {
  const dir = tmp();
  const a = await lockDir(dir);
  try {
    await lockDir(dir);
    assert.unreachable("the second lock was granted");
  } catch (e) {
    assert.instance(e, DirLockedError);
    assert.is((e as DirLockedError).holderPid, process.pid);
  }
  await a.release();
  const b = await lockDir(dir);
  await b.release();
  // On Linux nothing is left in the folder (the socket is abstract).
  if (process.platform === "linux") assert.not.ok(existsSync(join(dir, "journal.sock")));
});

test("a live pairgate holding the journal: a second open is refused with the holder's pid", async () => {
  const dir = join(tmp(), "journal");
  const h = await holder(dir);
  try {
    await Journal.open({ dir, logger, groupCommitMs: 0 });
    assert.unreachable("the journal was opened twice");
  } catch (e) {
    assert.instance(e, JournalError);
    assert.is((e as JournalError).reason, "ELOCKED");
    assert.match((e as Error).message, new RegExp(`in use by process ${h.pid}\\b`));
  }
  h.child.kill("SIGKILL");
  await new Promise((r) => h.child.once("exit", r));
  const j = await Journal.open({ dir, logger, groupCommitMs: 0 });
  assert.is(j.pending(), 1);
  await j.close();
});

test("kill -9 of the holder: the journal opens at once, while the dead holder is a zombie nobody reaped", async () => {
  const dir = join(tmp(), "journal");
  const h = await holder(dir, true);
  process.kill(h.pid, "SIGKILL");
  const started = Date.now();
  while (procState(h.pid) !== "Z" && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 5));
  assert.is(procState(h.pid), "Z", "the killed holder is a zombie (its parent, sleep, never waits)");
  // Its pid still exists (kill(pid, 0) succeeds): a pid file would call the journal in use.
  process.kill(h.pid, 0);
  // The thread-group leader shows "Z" as soon as it has exited; the descriptor table (and so the
  // socket) goes when the last of node's threads has exited too — a few ms later at most. A pid
  // file would stay shut for good; here the journal opens within that moment.
  let j: Journal | null = null;
  const zombieAt = Date.now();
  while (j === null) {
    try {
      j = await Journal.open({ dir, logger, groupCommitMs: 0 });
    } catch (e) {
      if (!(e instanceof JournalError) || Date.now() - zombieAt > 2000) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  assert.is(j.pending(), 1);
  await j.close();
  h.child.kill("SIGKILL");
});

test("a pid file of an earlier version naming a live unrelated process does not keep the journal shut", async () => {
  const dir = join(tmp(), "journal");
  const j0 = await Journal.open({ dir, logger, groupCommitMs: 0 });
  await j0.close();
  // The pid of a live process that is not pairgate (this test's parent, e.g. npx or a shell).
  writeFileSync(join(dir, "journal.lock"), `${process.ppid}\n`);
  const j = await Journal.open({ dir, logger, groupCommitMs: 0 });
  assert.not.ok(existsSync(join(dir, "journal.lock")), "the old pid file is removed");
  await j.close();
});

test.run();
