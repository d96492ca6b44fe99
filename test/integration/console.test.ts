/**
 * `pairgate start` at a terminal and not: on a TTY (run under `script`, which gives it a pty) a
 * banner says where to connect with the lab's user and password, where the status page is and how
 * to stop, and the log lines are words, not JSON; Ctrl-C typed into the terminal stops it. With
 * stdout a pipe, or with `--log-format json` on a TTY, every line is JSON and there is no banner.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { pairgateCommand } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
test.before(async () => {
  pair = await startPair();
});
test.after(async () => {
  await pair?.stop();
});

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r/g, "");

interface Run {
  child: ChildProcess;
  out(): string;
  exited(): boolean;
}

/** `pairgate start` with the lab section, on its own ports; `tty`: under script(1), in a pty. */
async function run(
  tty: boolean,
  extra: string[] = [],
  overrides: Record<string, unknown> = {},
): Promise<Run & { listen: number; admin: number }> {
  const [listen, admin] = await freePorts(2);
  // The pair is the lab: `lab.dir` is its folder, so `start` finds both servers already up.
  const raw = {
    ...pair.proxyConfig({ listen: { port: listen }, admin: { port: admin }, ...overrides }),
    lab: { dir: pair.dir },
  };
  const file = join(pair.dir, `console-${listen}.config.json`);
  writeFileSync(file, JSON.stringify(raw, null, 2));
  const argv = [...pairgateCommand(), "start", "--config", file, ...extra];
  const env = { ...process.env, PAIRGATE_LOG_LEVEL: "info" };
  const child = tty
    ? spawn("script", ["-qfec", `exec ${argv.map((a) => `'${a}'`).join(" ")}`, "/dev/null"], {
        stdio: ["pipe", "pipe", "pipe"],
        env: { ...env, TERM: "xterm" },
      })
    : spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let done = false;
  child.once("exit", () => {
    done = true;
  });
  await until("pairgate is serving", async () => /pairgate is serving/.test(out) || done, 30_000);
  assert.not.ok(done, `pairgate exited early:\n${out}`);
  return { child, out: () => out, exited: () => done, listen, admin };
}

test("on a TTY: a banner (connect line with the lab's user and password, status page, how to stop), log lines in words; Ctrl-C stops it", async () => {
  const r = await run(true);
  try {
    await until("the banner", async () => /Stop\s+Ctrl-C/.test(plain(r.out())), 10_000);
    const text = plain(r.out());
    const u = pair.appUser;
    assert.match(text, /pairgate \S+ is serving — mode (read_write|read_only)/);
    assert.ok(
      text.includes(`mysql -h 127.0.0.1 -P ${r.listen} -u ${u.username} -p`),
      `connect line with the listen port:\n${text}`,
    );
    assert.ok(text.includes(`${u.username} / ${u.password}`), "the lab's user and password");
    assert.ok(text.includes(`Status page  http://127.0.0.1:${r.admin}/`), `status page URL:\n${text}`);
    assert.match(text, /Lab pair\s+primary 127\.0\.0\.1:\d+, secondary 127\.0\.0\.1:\d+/);
    const logLines = text.split("\n").filter((l) => /\bINFO\b|\bWARN\b/.test(l));
    assert.ok(
      logLines.some((l) => /^\[?\d\d:\d\d:\d\d\.\d{3}\]? INFO.*pairgate is serving/.test(l)),
      text,
    );
    assert.not.ok(
      text.split("\n").some((l) => l.trim().startsWith('{"level"')),
      "no JSON line on a TTY",
    );
    // Ctrl-C typed at the terminal: a graceful stop (pairgate is the pty's foreground process:
    // `exec`, no shell in between to die first and take the terminal away).
    r.child.stdin!.write("\x03");
    await until(
      "pairgate says it shuts down",
      async () => /shutting down.*SIGINT/.test(plain(r.out())),
      15_000,
    );
    await until("pairgate stops on Ctrl-C", async () => r.exited(), 15_000);
  } finally {
    if (!r.exited()) r.child.kill("SIGKILL");
  }
});

test("stdout not a TTY: JSON lines only, no banner", async () => {
  const r = await run(false);
  try {
    await new Promise((res) => setTimeout(res, 300));
    const lines = r
      .out()
      .split("\n")
      .filter((l) => l.trim() !== "");
    assert.ok(lines.length > 0);
    for (const l of lines) JSON.parse(l);
    assert.not.match(r.out(), "Status page");
    assert.ok(lines.some((l) => JSON.parse(l).msg === "pairgate is serving"));
  } finally {
    r.child.kill("SIGTERM");
    await until("exit", async () => r.exited(), 15_000);
  }
});

test("--log-format json on a TTY: JSON lines, no banner", async () => {
  const r = await run(true, ["--log-format", "json"]);
  try {
    await new Promise((res) => setTimeout(res, 300));
    const lines = plain(r.out())
      .split("\n")
      .filter((l) => l.trim() !== "");
    for (const l of lines) JSON.parse(l);
    assert.not.match(r.out(), "Status page");
  } finally {
    r.child.stdin!.write("\x03");
    await until("exit", async () => r.exited(), 15_000).catch(() => r.child.kill("SIGKILL"));
  }
});

test("a config with no users (as the shipped one): the banner's connect line logs in with the lab's password from the servers", async () => {
  const r = await run(true, [], { users: [] });
  try {
    await until("the banner", async () => /Stop\s+Ctrl-C/.test(plain(r.out())), 10_000);
    const text = plain(r.out());
    const line = /Connect\s+(mysql -h \S+ -P \d+ -u \S+ -p\S+ \S+)/.exec(text)?.[1];
    assert.ok(line, `a connect line:\n${text}`);
    const keptPassword = JSON.parse(readFileSync(join(pair.dir, "app-user.json"), "utf8")).password;
    assert.ok(line.includes(`-p${keptPassword}`), "the password the lab keeps in its folder");
    assert.not.ok(
      JSON.stringify(pair.proxyConfig({ users: [] })).includes(keptPassword),
      "not in the config",
    );
    const [cmd, ...args] = line.split(" ");
    assert.is(cmd, "mysql");
    const out = execFileSync(
      "/usr/bin/mysql",
      ["--no-defaults", ...args, "-N", "-e", "SELECT CURRENT_USER()"],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.is(out.trim(), `${pair.appUser.username}@%`);
    assert.is(keptPassword, pair.appUser.password, "the pair keeps its app user in the lab's file");
  } finally {
    r.child.stdin!.write("\x03");
    await until("exit", async () => r.exited(), 15_000).catch(() => r.child.kill("SIGKILL"));
  }
});

test.run();
