/**
 * Exchange: one command's end happens once — back to idle, the next command handed on, its timing
 * recorded — and a second end is caught as a bug (the session closes) instead of answering or
 * pumping twice. A command answered without leaving idle ends without a phase change (the loop
 * hands the next command on itself).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Packet } from "../../src/protocol/framer.js";
import { Exchange, type ExchangeEnd, type ExchangeLoop } from "../../src/session/exchange.js";
import { IDLE, nextPhase, type Phase, type PhaseEvent } from "../../src/session/phase.js";

function fakeLoop(start: Phase = IDLE) {
  const log: string[] = [];
  const loop: ExchangeLoop & { log: string[]; phase: Phase } = {
    log,
    phase: start,
    get closed() {
      return this.phase.tag === "closed";
    },
    to(e: PhaseEvent) {
      const next = nextPhase(this.phase, e);
      if (!next) throw new Error(`impossible: ${this.phase.tag} + ${e}`);
      this.phase = next;
      log.push(`to:${e}`);
    },
    pump: () => void log.push("pump"),
    write: () => {
      log.push("write");
      return true;
    },
    refuse: (seq, code) => void log.push(`refuse:${seq}:${code}`),
    refuseAt: (seq, code) => void log.push(`refuseAt:${seq}:${code}`),
    sendError: (seq) => void log.push(`error:${seq}`),
    nextPacket: () => Promise.reject(new Error("none")),
  };
  return loop;
}

function fakeEnd(loop: ReturnType<typeof fakeLoop>) {
  const end: ExchangeEnd & { ends: boolean[]; bugs: string[] } = {
    ends: [],
    bugs: [],
    ended: (_x, answered) => void end.ends.push(answered),
    close: (reason) => {
      loop.log.push(`close:${reason}`);
      loop.phase = { tag: "closed" };
    },
    bug: (reason) => {
      end.bugs.push(reason);
      end.close(reason);
    },
  };
  return end;
}

const packet = {
  first: 3,
  payload: Buffer.from([3]),
  seq: 0,
  lastSeq: 0,
  length: 1,
  raw: null,
  rawParts: null,
} as Packet;

const cases: {
  name: string;
  run(x: Exchange): void;
  log: string[];
  ends: boolean[];
}[] = [
  {
    name: "answered at once (never left idle): no phase change, no pump",
    run: (x) => x.fail("PAIRGATE_READ_ONLY", "no"),
    log: ["refuse:1:PAIRGATE_READ_ONLY"],
    ends: [false],
  },
  {
    name: "sent, then completed: done and one pump",
    run: (x) => {
      x.relaying();
      x.complete();
    },
    log: ["to:sent", "to:done", "pump"],
    ends: [true],
  },
  {
    name: "waited, then failed: the ERR, done, one pump",
    run: (x) => {
      x.wait("backend");
      x.failWith(new Error("x"));
    },
    log: ["to:wait_backend", "error:1", "to:done", "pump"],
    ends: [false],
  },
  {
    name: "failed with a close: the ERR, then the close, no pump",
    run: (x) => {
      x.wait("backend");
      x.fail("PAIRGATE_KILLED", "k", 1, "killed");
    },
    log: ["to:wait_backend", "refuse:1:PAIRGATE_KILLED", "close:killed"],
    ends: [false],
  },
  {
    name: "a refusal in place of a response does not end it",
    run: (x) => {
      x.relaying();
      x.refuse("PAIRGATE_AUDIT_REFUSED", "r");
      x.complete();
    },
    log: ["to:sent", "refuse:1:PAIRGATE_AUDIT_REFUSED", "to:done", "pump"],
    ends: [true],
  },
  {
    name: "abandoned: the session closes, nothing written",
    run: (x) => {
      x.relaying();
      x.abandon("lost mid-response");
    },
    log: ["to:sent", "close:lost mid-response"],
    ends: [false],
  },
];

for (const c of cases) {
  test(`exchange: ${c.name}`, () => {
    const loop = fakeLoop();
    const end = fakeEnd(loop);
    const x = new Exchange(loop, end, packet);
    c.run(x);
    assert.equal(loop.log, c.log);
    assert.equal(end.ends, c.ends);
    assert.equal(end.bugs, []);
  });
}

test("exchange: a second end is a bug — reported once, the session closed, nothing written or pumped again", () => {
  const loop = fakeLoop();
  const end = fakeEnd(loop);
  const x = new Exchange(loop, end, packet);
  x.relaying();
  x.complete();
  loop.log.length = 0;
  x.fail("PAIRGATE_READ_ONLY", "again");
  x.complete();
  assert.is(end.bugs.length, 2);
  assert.ok(
    loop.log.every((l) => l.startsWith("close:")),
    loop.log.join(),
  );
  assert.equal(end.ends, [true], "ended once");
});

test("exchange: a session closed under it ends without writing", () => {
  const loop = fakeLoop();
  const end = fakeEnd(loop);
  const x = new Exchange(loop, end, packet);
  x.wait("audit");
  loop.phase = { tag: "closed" };
  x.fail("PAIRGATE_AUDIT_REFUSED", "r");
  assert.equal(loop.log, ["to:wait_audit"]);
  assert.ok(x.closed);
});

test.run();
