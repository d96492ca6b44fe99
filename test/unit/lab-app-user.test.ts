/**
 * The lab's application user when the config lists no `users` (the shipped config): a random
 * password made once, kept in the lab's folder (mode 0600) — not in the config — and the same at
 * every later use.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/config/load.js";
import { LAB_APP_USER, LAB_APP_USER_FILE, labAppUser, labOptionsFromConfig } from "../../src/lab/index.js";

test("made once with a random password, mode 0600, the same afterwards; labOptionsFromConfig uses it without users", () => {
  const root = mkdtempSync(join(tmpdir(), "pairgate-labuser-"));
  try {
    const dir = join(root, "lab");
    const first = labAppUser(dir);
    assert.is(first.username, LAB_APP_USER);
    assert.ok(first.password.length >= 16);
    const file = join(dir, LAB_APP_USER_FILE);
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, "utf8")), first);
    assert.equal(labAppUser(dir), first);
    assert.is.not(labAppUser(join(root, "other")).password, first.password, "random per lab");
    const base = {
      primary: { host: "127.0.0.1", port: 1, user: "svc", password: "p" },
      secondary: { host: "127.0.0.1", port: 2, user: "svc", password: "p" },
      lab: { dir: "lab" },
    };
    const o = labOptionsFromConfig(parseConfig(base, join(root, "proxy.config.json")));
    assert.equal(o.appUser, first);
    const withUsers = labOptionsFromConfig(
      parseConfig({ ...base, users: [{ username: "app", password: "pw" }] }, join(root, "proxy.config.json")),
    );
    assert.equal(withUsers.appUser, { username: "app", password: "pw" });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
