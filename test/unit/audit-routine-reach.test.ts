/**
 * RoutineReach (issue 19): which names run a routine the statement does not call by name — tables
 * with triggers, views calling a function, views over those (transitively) — and the conservative
 * answer before the catalog was read.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type CatalogObject, factsOf } from "../../src/audit/catalog.js";
import { type ReachSource, RoutineReach, reachNames } from "../../src/audit/routine-reach.js";
import { DEFAULT_DIALECT } from "../../src/sql/dialect.js";

const OBJECTS: CatalogObject[] = [
  { kind: "routine", schema: "app", name: "f_lift", body: "BEGIN SET @@tx_read_only = 0; RETURN 1; END" },
  { kind: "routine", schema: "app", name: "p", body: "SET @@sql_mode = ''" },
  { kind: "trigger", schema: "app", name: "trg", table: { schema: "app", name: "t" }, body: "CALL app.p()" },
  { kind: "view", schema: "app", name: "v_plain", body: "select `app`.`x`.`a` AS `a` from `app`.`x`" },
  { kind: "view", schema: "app", name: "v_f", body: "select `app`.`f_lift`() AS `x`" },
  { kind: "view", schema: "app", name: "v_vv", body: "select `app`.`v_vvv`.`x` AS `x` from `app`.`v_vvv`" },
  { kind: "view", schema: "app", name: "v_vvv", body: "select `app`.`v_f`.`x` AS `x` from `app`.`v_f`" },
  { kind: "view", schema: "app", name: "v_t", body: "select `app`.`t`.`id` AS `id` from `app`.`t`" },
  { kind: "view", schema: "app", name: "v_hidden", body: null },
  // A function of the same name in another schema is not this one.
  { kind: "view", schema: "other", name: "v_other", body: "select `other`.`g`() AS `x`" },
];

function source(objects: CatalogObject[], read: boolean): ReachSource & { asked: number } {
  const s = {
    generation: read ? 1 : 0,
    objects,
    facts: factsOf(objects),
    lastReadAt: read ? 1 : null,
    lastReadStartedAt: read ? 1 : null,
    asked: 0,
    changed() {
      s.asked++;
    },
  };
  return s;
}

test("reachNames: trigger tables, views calling a routine, views over them, unreadable views", () => {
  const names = reachNames(OBJECTS, factsOf(OBJECTS));
  assert.equal([...names].sort(), ["t", "v_f", "v_hidden", "v_t", "v_vv", "v_vvv"]);
});

// Identifiers are matched, not parsed: an alias or column named like one counts too (a read-back
// too many, never a miss); strings and comments do not.
test("runsThrough: a statement naming one, anywhere, in any quoting", () => {
  const r = new RoutineReach(source(OBJECTS, true));
  for (const sql of [
    "INSERT INTO t VALUES (1)",
    "insert into app.`T` values (1)",
    "SELECT * FROM v_f",
    "SELECT (SELECT x FROM app.v_vv) AS y",
    "UPDATE v_t SET id = 2",
    "SELECT 1 FROM dual WHERE EXISTS (SELECT * FROM `v_hidden`)",
  ])
    assert.ok(r.runsThrough(sql, DEFAULT_DIALECT), sql);
  for (const sql of [
    "SELECT * FROM v_plain",
    "INSERT INTO x VALUES (1)",
    "SELECT 'v_f' AS s",
    "SELECT 1 -- v_f",
  ])
    assert.not.ok(r.runsThrough(sql, DEFAULT_DIALECT), sql);
});

test("before the catalog was read, or without one: every statement counts; an empty set: none", () => {
  assert.ok(new RoutineReach(null).runsThrough("SELECT 1", DEFAULT_DIALECT));
  assert.ok(new RoutineReach(source(OBJECTS, false)).runsThrough("SELECT * FROM v_plain", DEFAULT_DIALECT));
  const empty = new RoutineReach(source([], true));
  assert.ok(empty.known);
  assert.is(empty.names.size, 0);
  assert.not.ok(empty.runsThrough("INSERT INTO t VALUES (1)", DEFAULT_DIALECT));
});

test("the names follow the catalog's generation", () => {
  const s = { ...source([], true) };
  const r = new RoutineReach(s);
  assert.is(r.names.size, 0);
  s.objects = OBJECTS;
  s.facts = factsOf(OBJECTS);
  s.generation = 2;
  assert.ok(r.names.has("t"));
});

test("relayed DDL: a new trigger's table and a new view count at once, until a read that started after it", () => {
  const s = source([], true);
  const r = new RoutineReach(s);
  assert.ok(r.empty);
  r.relayed("CREATE TABLE n (a INT)", DEFAULT_DIALECT);
  r.relayed("CREATE FUNCTION f() RETURNS INT RETURN 1", DEFAULT_DIALECT);
  assert.ok(r.empty, "neither adds a name");
  r.relayed(
    "CREATE DEFINER=CURRENT_USER TRIGGER tr BEFORE INSERT ON app.n2 FOR EACH ROW SET @@sql_mode = ''",
    DEFAULT_DIALECT,
  );
  r.relayed("CREATE OR REPLACE VIEW vnew AS SELECT f() AS x", DEFAULT_DIALECT);
  assert.is(s.asked, 2, "a catalog read is asked for each");
  assert.not.ok(r.empty);
  assert.ok(r.runsThrough("INSERT INTO n2 VALUES (1)", DEFAULT_DIALECT));
  assert.ok(r.runsThrough("SELECT * FROM vnew", DEFAULT_DIALECT));
  assert.not.ok(r.runsThrough("INSERT INTO n VALUES (1)", DEFAULT_DIALECT));
  s.lastReadStartedAt = Date.now() + 1; // a read that started after: the catalog now decides
  assert.not.ok(r.runsThrough("INSERT INTO n2 VALUES (1)", DEFAULT_DIALECT));
  assert.ok(r.empty);
});

test.run();
