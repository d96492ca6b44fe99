import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/config/load.js";
import { promoteConfigText, topLevelMembers } from "../../src/replication/config-rewrite.js";

test("the repository's proxy.config.json: primary takes the secondary's entry, lab goes, the rest is byte-identical", () => {
  const before = readFileSync(new URL("../../proxy.config.json", import.meta.url), "utf8");
  const r = promoteConfigText(before);
  assert.ok(r.changed);
  assert.ok(r.removedLab);
  const after = JSON.parse(r.text);
  const old = JSON.parse(before);
  assert.equal(after.primary, old.secondary);
  assert.equal(after.secondary, old.secondary);
  assert.is(after.lab, undefined);
  // Every other line is untouched.
  const dropped = before.split("\n").filter((l) => !r.text.split("\n").includes(l));
  assert.equal(
    dropped.map((l) => l.trim().slice(0, 12)),
    ['"primary": {', '"lab": { "di'],
  );
  assert.ok(
    r.text.includes(
      '  "primary": { "host": "127.0.0.1", "port": 23452, "user": "pairgate_svc", "password": "svc-lab-secret" },\n',
    ),
  );
  parseConfig(after, "/tmp/x.json");
});

test("multi-line entries keep their layout; secrets and TLS travel with the entry", () => {
  const before = `{
  "secondary": {
    "host": "db-b.example",
    "port": 3306,
    "user": "svc",
    "password": { "env": "SVC_PW" },
    "tls": { "ca": "ca.pem" }
  },
  "primary": {
    "host": "db-a.example",
    "port": 3306,
    "user": "svc",
    "password": { "env": "SVC_PW" }
  },
  "users": [{ "username": "app", "password": "x" }]
}
`;
  const r = promoteConfigText(before);
  assert.not.ok(r.removedLab);
  assert.is(
    r.text,
    before.replace(
      `{
    "host": "db-a.example",
    "port": 3306,
    "user": "svc",
    "password": { "env": "SVC_PW" }
  }`,
      `{
    "host": "db-b.example",
    "port": 3306,
    "user": "svc",
    "password": { "env": "SVC_PW" },
    "tls": { "ca": "ca.pem" }
  }`,
    ),
  );
  // Promoting again changes nothing.
  assert.equal(promoteConfigText(r.text), { text: r.text, changed: false, removedLab: false });
});

test("lab removed wherever it stands: last member, one-line object, strings with braces", () => {
  const last =
    '{\n  "primary": {"host":"a","port":1},\n  "secondary": {"host":"b","port":2},\n  "lab": { "dir": "x}" }\n}\n';
  assert.is(
    promoteConfigText(last).text,
    '{\n  "primary": {"host":"b","port":2},\n  "secondary": {"host":"b","port":2}\n}\n',
  );
  const oneLine = '{"lab":{"dir":"{"},"primary":{"host":"a","port":1},"secondary":{"host":"b","port":2}}';
  assert.is(
    promoteConfigText(oneLine).text,
    '{"primary":{"host":"b","port":2},"secondary":{"host":"b","port":2}}',
  );
  assert.equal(
    topLevelMembers('{ "a\\"b": [1, {"c": "]"}], "d": null }').map((m) => m.key),
    ['a"b', "d"],
  );
});

test.run();
