/**
 * StatusHistory: the ring buffer behind the status page's charts — rates from counter deltas, the
 * window trims old samples (the ring never grows past window / sample + 1), transitions keep the
 * last one before the window (the mode at its start), startup transitions set the initial mode.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { StatusHistory } from "../../src/admin/history.js";
import type { Mode, Transition } from "../../src/topology/types.js";

function source() {
  const s = { mode: "read_write" as Mode, lag: 0 as number | null, primary: 0, secondary: 0 };
  return {
    s,
    src: {
      mode: () => s.mode,
      lagSeconds: () => s.lag,
      statements: () => ({ primary: s.primary, secondary: s.secondary }),
    },
  };
}

const tr = (at: number, from: Mode, to: Mode, kind: Transition["kind"]): Transition => ({
  at,
  from,
  to,
  kind,
  cause: `${from}→${to}`,
  detectionSeconds: 0.1,
});

test("rates per second from counter deltas; the first sample has none", () => {
  const { s, src } = source();
  const h = new StatusHistory(src, { sampleMs: 1000, windowMs: 60_000 });
  h.sample(10_000);
  s.primary = 500;
  s.secondary = 20;
  h.sample(12_000);
  s.lag = null;
  h.sample(13_000);
  const d = h.document(13_000);
  assert.equal(d.t, [10_000, 12_000, 13_000]);
  assert.equal(d.primaryPerSecond, [null, 250, 0]);
  assert.equal(d.secondaryPerSecond, [null, 10, 0]);
  assert.equal(d.lag, [0, 0, null]);
});

test("the window: old samples leave, the ring stays bounded, order is oldest first after wrapping", () => {
  const { s, src } = source();
  const h = new StatusHistory(src, { sampleMs: 1000, windowMs: 10_000 });
  for (let i = 0; i < 50; i++) {
    s.primary += 100;
    h.sample(i * 1000);
  }
  const d = h.document(49_000);
  assert.ok(d.t.length <= 11, `${d.t.length} samples`);
  assert.is(d.t[0], 39_000);
  assert.is(d.t.at(-1), 49_000);
  for (let i = 1; i < d.t.length; i++) assert.ok(d.t[i] > d.t[i - 1]);
  assert.ok(d.primaryPerSecond.every((v) => v === 100));
});

test("transitions: startup sets the initial mode; the window keeps the last one before it", () => {
  const { s, src } = source();
  const h = new StatusHistory(src, { sampleMs: 1000, windowMs: 10_000 });
  s.mode = "down";
  h.start(Date.now() - 60_000);
  h.stop();
  h.transition(tr(Date.now() - 59_000, "down", "read_write", "startup"));
  assert.is(h.document().initialMode, "read_write");
  h.transition(tr(Date.now() - 40_000, "read_write", "read_only", "failover"));
  h.transition(tr(Date.now() - 30_000, "read_only", "read_write", "failback"));
  h.transition(tr(Date.now() - 2_000, "read_write", "read_only", "failover"));
  const kinds = h.document().transitions.map((t) => t.kind);
  assert.equal(kinds, ["failback", "failover"], "the failback before the window tells the mode at its start");
});

test.run();
