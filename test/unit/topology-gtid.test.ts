/** gtid.ts: positions per stream, unions, what one position lacks of another, as the catch-up uses them. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  covers,
  formatGap,
  formatPosition,
  gapCount,
  localGtids,
  mergeGtids,
  missingFrom,
  parsePosition,
  unionPositions,
} from "../../src/topology/gtid.js";

test("MariaDB positions: highest per domain, formatted back", () => {
  const p = parsePosition("0-1-42, 1-2-7,0-1-40");
  assert.is(formatPosition(p), "0-1-42,1-2-7");
  assert.is(formatPosition(parsePosition("")), "");
  mergeGtids(p, "0-3-43");
  assert.is(formatPosition(p), "0-3-43,1-2-7");
});

test("union, covers, missing ranges", () => {
  const applied = parsePosition("0-1-100");
  const acked = parsePosition("0-1-142,1-1-3");
  const want = unionPositions(parsePosition("0-1-120"), acked);
  assert.is(formatPosition(want), "0-1-142,1-1-3");
  assert.not.ok(covers(applied, want));
  const gaps = missingFrom(want, applied);
  assert.equal(gaps.map(formatGap), ["0-1-101..0-1-142", "1-1-1..1-1-3"]);
  assert.is(gapCount(gaps), 45);
  assert.ok(covers(parsePosition("0-1-142,1-1-9"), want));
  assert.equal(missingFrom(parsePosition("0-1-5"), parsePosition("0-1-5")), []);
  assert.is(formatGap({ stream: "0", server: "1", from: 7, to: 7, flavor: "mariadb" }), "0-1-7");
});

test("MySQL GTID sets: highest transaction per source uuid", () => {
  const u = "3E11FA47-71CA-11E1-9E33-C80AA9429562";
  const p = parsePosition(`${u}:1-5:7-9,${u.toLowerCase()}:3`);
  assert.is(formatPosition(p), `${u.toLowerCase()}:1-9`);
  const gaps = missingFrom(parsePosition(`${u}:1-12`), p);
  assert.equal(gaps.map(formatGap), [`${u.toLowerCase()}:10-12`]);
});

test("garbage is ignored", () => {
  assert.is(formatPosition(parsePosition("nonsense,0-1,,-")), "");
});

test.run();

test("localGtids: GTIDs the secondary did not receive from the primary (issue 11's alarm)", () => {
  // Replicated only: binlog within what was received/applied.
  assert.equal(localGtids("0-1-100", "0-1-100", "0-1-100", 2), []);
  // A write on the secondary (server 2) takes the next seq in the domain.
  assert.equal(localGtids("0-2-101", "0-1-100", "0-1-100", 2), ["0-2-101"]);
  // A domain the primary never sent.
  assert.equal(localGtids("0-1-100,5-2-3", "0-1-100", "0-1-100", 2), ["5-2-1..5-2-3"]);
  // History from an earlier role swap, already covered by what it received: no alarm.
  assert.equal(localGtids("0-2-50", "0-1-100", "0-1-100", 2), []);
  // Without GTID replication: its own server id.
  assert.equal(localGtids("0-2-7,1-1-9", "", "", 2), ["0-2-7"]);
});
