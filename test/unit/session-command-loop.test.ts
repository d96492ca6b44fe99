import type { Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Logger } from "../../src/observability/logger.js";
import type { Packet } from "../../src/protocol/framer.js";
import { type CommandHandler, CommandLoop } from "../../src/session/command-loop.js";
import { IDLE, nextPhase, type Phase, type PhaseEvent } from "../../src/session/phase.js";
import { prng, type Rng } from "../helpers/prng.js";
import { FakeSocket } from "../helpers/session-fake.js";

const quietLog = {
  warnings: 0,
  warn() {
    this.warnings++;
  },
  debug() {},
  info() {},
  error() {},
  child() {
    return this;
  },
};

type Step = () => void;

/** Answers commands the way SessionHandler may: now, later, after a wait, or through LOCAL INFILE. */
class FakeHandler implements CommandHandler {
  got: { kind: "command" | "infile"; seq: number; payload: Buffer }[] = [];
  closedWith: string | null = null;
  later: Step[] = [];
  private infileOpen = false;

  constructor(
    private loop: CommandLoop,
    private rng: Rng,
  ) {}

  command(p: Packet): void {
    assert.is(this.loop.phase, IDLE, "a command is handed on only while idle");
    assert.is(p.seq, 0, "a command starts with sequence id 0");
    assert.ok(p.payload.length > 0, "a command has a payload");
    this.got.push({ kind: "command", seq: p.seq, payload: Buffer.from(p.payload) });
    const loop = this.loop;
    const done = () => {
      loop.to("done");
      loop.pump();
    };
    switch (this.rng.int(5)) {
      case 0: // answered at once (a refusal, an ERR of our own)
        return;
      case 1: // relayed, answered in the same tick
        loop.to("sent");
        loop.to("done");
        return;
      case 2: // relayed, answered later
        loop.to("sent");
        this.later.push(done);
        return;
      case 3: // connect first, then relay
        loop.to("wait_backend");
        this.later.push(() => {
          loop.to("sent");
          this.later.push(done);
        });
        return;
      default: // the server asks for a local file; the client's packets go to the backend until an empty one
        loop.to("sent");
        this.infileOpen = true;
        loop.to("infile_requested");
    }
  }

  infileData(p: Packet): void {
    assert.ok(this.infileOpen, "LOCAL INFILE data only while the server asked for it");
    this.got.push({ kind: "infile", seq: p.seq, payload: Buffer.from(p.payload) });
    if (p.payload.length > 0) return;
    this.infileOpen = false;
    this.loop.to("infile_sent");
    this.later.push(() => {
      this.loop.to("done");
      this.loop.pump();
    });
  }

  clientDrained = (): void => {};
  clientClosed(): void {}

  close(reason: string): void {
    if (this.loop.closed) return;
    this.closedWith = reason;
    this.loop.to("closed");
    this.loop.end();
  }
}

/** A packet stream: mostly well-formed commands, some out of order, empty, oversized or split. */
function stream(rng: Rng, max: number): { bytes: Buffer; packets: { seq: number; payload: Buffer }[] } {
  const parts: Buffer[] = [];
  const packets: { seq: number; payload: Buffer }[] = [];
  const n = 1 + rng.int(40);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    const len = r < 0.05 ? 0 : r < 0.08 ? max + 1 + rng.int(100) : 1 + rng.int(r < 0.5 ? 20 : 300);
    const payload = Buffer.alloc(Math.min(len, max + 200));
    for (let k = 0; k < payload.length; k++) payload[k] = rng.int(256);
    if (payload.length > 0 && rng.next() < 0.1) payload[0] = 0x01; // COM_QUIT-looking: just a byte here
    const seq = rng.next() < 0.03 ? 1 + rng.int(255) : 0;
    const header = Buffer.from([len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, seq]);
    parts.push(header, payload);
    packets.push({ seq, payload });
  }
  return { bytes: Buffer.concat(parts), packets };
}

async function runOne(seed: number): Promise<void> {
  const rng = prng(seed);
  const max = 512;
  const socket = new FakeSocket();
  const loop = new CommandLoop(
    socket as unknown as Socket,
    { maxAllowedPacket: max, netReadTimeoutMs: 60_000 },
    quietLog as unknown as Logger,
  );
  const handler = new FakeHandler(loop, rng);
  loop.to("logged_in");
  loop.bind(handler);
  loop.start(socket as unknown as Socket, true);
  const { bytes, packets } = stream(rng, max);
  // Cut the stream at random points and deliver it, running pending answers in between.
  let off = 0;
  while (off < bytes.length && !loop.closed) {
    const n = 1 + rng.int(Math.min(bytes.length - off, 1 + rng.int(200)));
    socket.emit("data", bytes.subarray(off, off + n));
    off += n;
    while (handler.later.length > 0 && rng.next() < 0.7) handler.later.shift()!();
  }
  while (handler.later.length > 0 && !loop.closed) handler.later.shift()!();

  // What the loop must have done, from an independent reading of the stream.
  const want: { kind: string; seq: number; payload: Buffer }[] = [];
  let ended: string | null = null;
  let infile = false;
  const got = handler.got;
  // The framer refuses an oversized packet as soon as its header is whole: the packets that came
  // complete in the same chunk are dropped with it (a limit of PacketFramer.push), and so are
  // commands still queued behind a command in flight. So only a prefix is certain then.
  for (const p of packets) {
    if (p.payload.length > max) {
      ended = "too large";
      break;
    }
    if (infile) {
      want.push({ kind: "infile", ...p });
      if (p.payload.length === 0) infile = false;
      continue;
    }
    if (p.seq !== 0) {
      ended = "out of order";
      break;
    }
    if (p.payload.length === 0) continue; // answered with ER_UNKNOWN_COM_ERROR, nothing handed on
    want.push({ kind: "command", ...p });
    // The handler chose LOCAL INFILE for this command if infile data followed it in `got`.
    const next = got[want.length];
    if (next?.kind === "infile") infile = true;
  }
  const label = `seed ${seed}`;
  const show = (l: typeof want) => JSON.stringify(l.map((g) => [g.kind[0], g.seq, g.payload.length]));
  // An oversized packet anywhere ends the session as soon as its header arrives, possibly before
  // queued commands (even an out-of-order one) had their turn.
  const oversized = packets.some((p) => p.payload.length > max);
  if (oversized) {
    assert.ok(got.length <= want.length, `${label}: packets handed on: got ${show(got)} want ${show(want)}`);
    want.length = got.length;
  }
  assert.is(got.length, want.length, `${label}: packets handed on: got ${show(got)} want ${show(want)}`);
  for (let i = 0; i < want.length; i++) {
    assert.is(got[i].kind, want[i].kind, `${label}: #${i} kind`);
    assert.ok(
      got[i].payload.equals(want[i].payload),
      `${label}: #${i} payload: got ${show(got)} want ${show(want)}`,
    );
  }
  const errs = socket.written.filter((w) => w[4] === 0xff).map((w) => w.readUInt16LE(5));
  if (ended === "too large") assert.ok(errs.includes(1153), `${label}: ER_NET_PACKET_TOO_LARGE sent`);
  if (ended === "out of order")
    assert.ok(
      errs.includes(1156) || (oversized && errs.includes(1153)),
      `${label}: ER_NET_PACKETS_OUT_OF_ORDER sent`,
    );
  assert.ok(errs.filter((e) => e === 1153 || e === 1156).length <= 1, `${label}: one ERR before closing`);
  if (ended) assert.ok(loop.closed, `${label}: the loop gave up (${ended})`);
  else assert.not.ok(handler.closedWith, `${label}: closed without cause: ${handler.closedWith}`);
  assert.is(quietLog.warnings, 0, `${label}: an impossible phase transition was logged`);
}

test("fuzz: random command streams, cut at random points, against a handler that answers in every way", async () => {
  const base = Number(process.env.PAIRGATE_FUZZ_SEED ?? 20261206) >>> 0;
  const runs = Number(process.env.PAIRGATE_FUZZ_RUNS ?? 1000);
  for (let i = 0; i < runs; i++) await runOne((base + Math.imul(i, 0x9e3779b9)) >>> 0);
});

test("phase: every transition, and `closed` absorbs everything", () => {
  const phases: Phase[] = [];
  const events: PhaseEvent[] = [
    "logged_in",
    "sent",
    "infile_requested",
    "infile_sent",
    "done",
    "wait_backend",
    "wait_audit",
    "wait_change_user",
    "closed",
  ];
  // Collect every phase reachable from login.
  const seen = new Map<string, Phase>();
  const key = (p: Phase) => (p.tag === "waiting" ? `waiting:${p.on}` : p.tag);
  const start = nextPhase({ tag: "login" }, "wait_backend") ?? { tag: "login" as const };
  const queue: Phase[] = [{ tag: "login" }, start];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (seen.has(key(p))) continue;
    seen.set(key(p), p);
    phases.push(p);
    for (const e of events) {
      const n = nextPhase(p, e);
      if (n) queue.push(n);
    }
  }
  assert.equal([...seen.keys()].sort(), [
    "closed",
    "idle",
    "infile",
    "login",
    "relaying",
    "waiting:audit",
    "waiting:backend",
    "waiting:change_user",
  ]);
  const table = (from: string) =>
    events.map((e) => {
      const n = nextPhase(seen.get(from)!, e);
      return n ? key(n) : "-";
    });
  assert.equal(table("login"), ["idle", "-", "-", "-", "-", "-", "-", "-", "closed"]);
  assert.equal(table("idle"), [
    "-",
    "relaying",
    "-",
    "-",
    "-",
    "waiting:backend",
    "waiting:audit",
    "waiting:change_user",
    "closed",
  ]);
  assert.equal(table("relaying"), [
    "-",
    "-",
    "infile",
    "-",
    "idle",
    "waiting:backend",
    "waiting:audit",
    "-",
    "closed",
  ]);
  assert.equal(table("infile"), ["-", "-", "-", "relaying", "idle", "waiting:backend", "-", "-", "closed"]);
  assert.equal(table("waiting:backend"), [
    "-",
    "relaying",
    "-",
    "-",
    "idle",
    "waiting:backend",
    "-",
    "-",
    "closed",
  ]);
  for (const e of events) assert.is(key(nextPhase(seen.get("closed")!, e)!), "closed");
  // Shared constants: a transition allocates nothing.
  assert.is(nextPhase(IDLE, "sent"), nextPhase(IDLE, "sent"));
});

test("an ERR of pairgate's after a command split over 16 MiB packets follows the last packet's sequence id", () => {
  const socket = new FakeSocket();
  const loop = new CommandLoop(
    socket as unknown as Socket,
    { maxAllowedPacket: 64 * 1024 * 1024, netReadTimeoutMs: 60_000 },
    quietLog as unknown as Logger,
  );
  const refused: number[] = [];
  const handler: CommandHandler = {
    command(p: Packet) {
      refused.push(p.lastSeq);
      loop.refuse(1, "PAIRGATE_READ_ONLY", "refused"); // what the router's 1290 does
    },
    infileData() {},
    clientDrained() {},
    clientClosed() {},
    close() {},
  };
  loop.to("logged_in");
  loop.bind(handler);
  loop.start(socket as unknown as Socket, true);
  // COM_QUERY of 0xFFFFFF + 0xFFFFFF + 10 bytes: packets 0, 1, 2; the reply must be 3.
  const full = 0xffffff;
  const frameOf = (seq: number, len: number) => {
    const b = Buffer.alloc(4 + len, 0x61);
    b.writeUIntLE(len, 0, 3);
    b[3] = seq;
    if (seq === 0) b[4] = 0x03;
    return b;
  };
  socket.emit("data", Buffer.concat([frameOf(0, full), frameOf(1, full), frameOf(2, 10)]));
  assert.equal(refused, [2]);
  assert.is(socket.written.length, 1);
  assert.is(socket.written[0]![3], 3, "sequence id of the ERR");
  assert.is(socket.written[0]![4], 0xff);
  // The next one-packet command is answered at 1 again.
  socket.emit("data", frameOf(0, 5));
  assert.is(socket.written[1]![3], 1);
});

test.run();
