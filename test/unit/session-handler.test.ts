/**
 * The SessionHandler with a fake backend slot (test/helpers/session-fake.ts): no server. Each case
 * drives the real CommandLoop with client packets, answers as the backend would (or fails it), and
 * asserts what the client received, what reached the slot, and that the session is ready for the
 * next command (phase idle) or closed — refusals, retries, audit holds, catch-up waits,
 * change-user, KILL.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Role } from "../../src/backend/connection.js";
import { SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS } from "../../src/protocol/constants.js";
import { PairgateError } from "../../src/protocol/errors.js";
import { framePayload } from "../../src/protocol/packet.js";
import type { Killable } from "../../src/session/kill.js";
import { DEFAULT_DIALECT, unsureDialect } from "../../src/sql/index.js";
import {
  changeUserPayload,
  deferred,
  FakeAudit,
  GOOD_PASSWORD,
  type Harness,
  harness,
  type Options,
  okChunk,
  rowsChunk,
  settle,
} from "../helpers/session-fake.js";

const ER_OPTION_PREVENTS_STATEMENT = 1290;
const CR_CONN_HOST_ERROR = 2003;
const ER_UNKNOWN_COM_ERROR = 1047;
const ER_UNKNOWN_STMT_HANDLER = 1243;
const ER_MALFORMED_PACKET = 1835;
const ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461;
const ER_NEED_REPREPARE = 1615;
const ER_CONNECTION_KILLED = 1927;
const ER_NO_SUCH_THREAD = 1094;
const ER_ACCESS_DENIED = 1045;
const EE_WRITE = 3;

function stmtPacket(command: number, id: number, rest: number[] = []): Buffer {
  const b = Buffer.alloc(5);
  b[0] = command;
  b.writeUInt32LE(id, 1);
  return Buffer.concat([b, Buffer.from(rest)]);
}

function prepare(sql: string): Buffer {
  return Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]);
}

/** The PREPARE_OK a backend sends for statement `id` (no params, no columns). */
function prepareOk(id: number): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0;
  p.writeUInt32LE(id, 1);
  return framePayload(p, 1);
}

/** Prepare `sql` through the handler and the fake backend; the client's statement id. */
function prepared(x: Harness, sql: string): number {
  x.send(prepare(sql));
  x.slot.respond(prepareOk(900), { prepared: { statementId: 900, params: 0, columns: 0 } });
  const r = x.replies();
  assert.is(r[0]?.payload[0], 0, "the PREPARE_OK reached the client");
  return r[0]!.payload.readUInt32LE(1);
}

function sentRoles(x: Harness): Role[] {
  return x.slot.calls.flatMap((c) => (c.op === "send" ? [c.role] : []));
}

function idle(x: Harness): void {
  assert.is(x.loop.phase.tag, "idle", "the session is ready for the next command");
}

// ------------------------------------------------------------------ one command, answered at once

interface Immediate {
  name: string;
  opts?: Options;
  setup?: (x: Harness) => void;
  send: Buffer | string;
  /** The ERR the client gets at once, or null: the command reaches the backend (`to`). */
  errno: number | null;
  to?: Role;
  /** No reply at all (STMT_CLOSE and SEND_LONG_DATA are never answered). */
  silent?: boolean;
}

const immediate: Immediate[] = [
  {
    name: "read_write: an INSERT goes to the primary",
    send: "INSERT INTO t VALUES (1)",
    errno: null,
    to: "primary",
  },
  { name: "read_write: a SELECT goes to the primary", send: "SELECT 1", errno: null, to: "primary" },
  {
    name: "read_only: an INSERT is refused with 1290, nothing sent",
    opts: { mode: "read_only" },
    send: "INSERT INTO t VALUES (1)",
    errno: ER_OPTION_PREVENTS_STATEMENT,
  },
  {
    name: "read_only: a statement that cannot be proven a read (a CALL) is refused with 1290",
    opts: { mode: "read_only" },
    send: "CALL p()",
    errno: ER_OPTION_PREVENTS_STATEMENT,
  },
  {
    name: "read_only: a SELECT goes to the secondary",
    opts: { mode: "read_only" },
    send: "SELECT 1",
    errno: null,
    to: "secondary",
  },
  { name: "down: a SELECT gets 2003", opts: { mode: "down" }, send: "SELECT 1", errno: CR_CONN_HOST_ERROR },
  {
    name: "a transaction open on the secondary: a write is refused even once the primary is back",
    setup: (x) => {
      x.slot.connected = "secondary";
      x.slot.status = SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS;
    },
    send: "UPDATE t SET a = 1",
    errno: ER_OPTION_PREVENTS_STATEMENT,
  },
  { name: "an unknown command byte gets 1047", send: Buffer.from([0x05, 0x61]), errno: ER_UNKNOWN_COM_ERROR },
  {
    name: "COM_STMT_BULK_EXECUTE without the bulk capability gets 1047",
    send: stmtPacket(0xfa, 1, [0, 0]),
    errno: ER_UNKNOWN_COM_ERROR,
  },
  {
    name: "COM_STMT_EXECUTE of an unknown statement gets 1243",
    send: stmtPacket(0x17, 5, [0, 1, 0, 0, 0]),
    errno: ER_UNKNOWN_STMT_HANDLER,
  },
  {
    name: "COM_STMT_EXECUTE cut before its id gets 1835",
    send: Buffer.from([0x17, 1, 0]),
    errno: ER_MALFORMED_PACKET,
  },
  {
    name: "COM_STMT_CLOSE of an unknown statement: no reply",
    send: stmtPacket(0x19, 5),
    errno: null,
    silent: true,
  },
  {
    name: "COM_PROCESS_KILL cut before its id gets 1835",
    send: Buffer.from([0x0c, 1, 0]),
    errno: ER_MALFORMED_PACKET,
  },
  { name: "COM_PING goes to the backend as a probe", send: Buffer.from([0x0e]), errno: null, to: "primary" },
];

for (const c of immediate) {
  test(`immediate: ${c.name}`, async () => {
    const x = harness(c.opts);
    c.setup?.(x);
    x.send(c.send);
    await settle();
    const r = x.replies();
    if (c.errno !== null) {
      assert.is(r.length, 1);
      assert.is(r[0]!.type, "err");
      assert.is(r[0]!.errno, c.errno);
      assert.is(r[0]!.seq, 1);
      assert.equal(x.slot.sent(), [], "nothing reached the backend");
      idle(x);
      return;
    }
    if (c.silent) {
      assert.equal(r, []);
      assert.equal(x.slot.sent(), []);
      idle(x);
      return;
    }
    assert.equal(r, [], "no reply before the backend's");
    assert.equal(sentRoles(x), [c.to!]);
    assert.is(x.loop.phase.tag, "relaying");
    x.slot.respond(okChunk());
    const after = x.replies();
    assert.is(after.length, 1);
    assert.is(after[0]!.type, "ok");
    assert.equal(x.slot.calls.at(-1), { op: "finish", status: SERVER_STATUS_AUTOCOMMIT, failed: false });
    assert.is(x.ctx.queries, 1, "the query was counted once");
    idle(x);
  });
}

test("a refused write is counted and audited as write_rejected", async () => {
  const audit = new FakeAudit();
  const x = harness({ mode: "read_only", audit });
  x.send("DELETE FROM t");
  assert.is(x.replies()[0]!.errno, ER_OPTION_PREVENTS_STATEMENT);
  assert.is(x.ctx.rejected, 1);
  assert.equal(
    audit.posted.map((e) => e.operation),
    ["write_rejected"],
  );
});

// ------------------------------------------------------------------ prepared statements

test("prepared cap: the statement past maxPreparedStatements gets 1461 and never reaches the server", () => {
  const x = harness({ maxPreparedStatements: 1 });
  const id = prepared(x, "SELECT ?");
  assert.is(id, 1);
  x.send(prepare("SELECT 2"));
  const r = x.replies();
  assert.is(r[0]!.errno, ER_MAX_PREPARED_STMT_COUNT_REACHED);
  assert.is(x.slot.sent().length, 1, "only the first PREPARE was sent");
  // "The statement prepared last" names none now: an EXECUTE of it is unknown, not the first one.
  x.send(stmtPacket(0x17, 0xffffffff, [0, 1, 0, 0, 0]));
  assert.is(x.replies()[0]!.errno, ER_UNKNOWN_STMT_HANDLER);
  idle(x);
});

test("EXECUTE carries the backend's statement id; CLOSE forgets the statement without a reply", () => {
  const x = harness();
  const id = prepared(x, "SELECT ?");
  x.send(stmtPacket(0x17, id, [0, 1, 0, 0, 0]));
  const sent = x.slot.calls.at(-1);
  assert.ok(sent?.op === "send");
  if (sent?.op !== "send") return;
  assert.is(sent.framed.readUInt32LE(5), 900, "the backend's id, not pairgate's");
  x.slot.respond(okChunk());
  x.replies();
  x.send(stmtPacket(0x19, id));
  assert.equal(x.replies(), []);
  assert.equal(x.slot.calls.at(-1), { op: "closeStatement", id });
  x.send(stmtPacket(0x17, id, [0, 1, 0, 0, 0]));
  assert.is(x.replies()[0]!.errno, ER_UNKNOWN_STMT_HANDLER);
});

test("dialect: a re-prepare the backend refuses (1615) is the client's ERR; the session stays", async () => {
  const x = harness();
  const id = prepared(x, "SELECT ?");
  x.slot.generation++; // a new connection: the statement must be prepared again there
  const first = deferred<void>();
  const second = deferred<void>();
  x.slot.ensureAnswers.push(first, second);
  x.send(stmtPacket(0x17, id, [0, 1, 0, 0, 0]));
  assert.is(x.loop.phase.tag, "waiting");
  first.reject(new PairgateError("PAIRGATE_STATEMENT_DIALECT", "prepare it again"));
  await settle();
  // Today a 1615 counts as "worth another try" (worthAnotherTry): one wait for the topology, one
  // more re-prepare, then the ERR.
  assert.equal(x.replies(), []);
  second.reject(new PairgateError("PAIRGATE_STATEMENT_DIALECT", "prepare it again"));
  await settle();
  const r = x.replies();
  assert.is(r.length, 1);
  assert.is(r[0]!.errno, ER_NEED_REPREPARE);
  assert.is(x.ctx.settled, 1);
  assert.is(x.slot.sent().length, 1, "the EXECUTE was never sent");
  idle(x);
});

// ------------------------------------------------------------------ connecting and retrying

interface Connect {
  name: string;
  /** How each `ensure` ends: ok, or the error it rejects with. */
  answers: (Error | "ok")[];
  errno: number | null;
  settled: number;
  closed: boolean;
}

const connects: Connect[] = [
  {
    name: "unreachable, then reachable after the verdict: sent",
    answers: [new Error("ECONNREFUSED"), "ok"],
    errno: null,
    settled: 1,
    closed: false,
  },
  {
    name: "unreachable twice: one verdict wait, then the error",
    answers: [new Error("ECONNREFUSED"), new Error("ECONNREFUSED")],
    errno: CR_CONN_HOST_ERROR,
    settled: 1,
    closed: false,
  },
  {
    name: "the session cannot move (pinned): the error, and the session closes",
    answers: [new PairgateError("PAIRGATE_SESSION_PINNED", "holds a temporary table")],
    errno: CR_CONN_HOST_ERROR,
    settled: 0,
    closed: true,
  },
  {
    name: "the transaction was lost on the way: 1927 at once, no verdict wait",
    answers: [new PairgateError("PAIRGATE_TRANSACTION_LOST", "lost")],
    errno: ER_CONNECTION_KILLED,
    settled: 0,
    closed: false,
  },
];

for (const c of connects) {
  test(`connect: ${c.name}`, async () => {
    const x = harness();
    x.slot.connected = null;
    for (const a of c.answers) {
      const d = deferred<void>();
      if (a === "ok") d.resolve();
      else d.reject(a);
      x.slot.ensureAnswers.push(d);
    }
    x.send("SELECT 1");
    await settle();
    assert.is(x.ctx.settled, c.settled);
    const r = x.replies();
    if (c.errno === null) {
      assert.equal(r, []);
      assert.equal(sentRoles(x), ["primary"]);
      x.slot.respond(okChunk());
      assert.is(x.replies()[0]!.type, "ok");
      idle(x);
      return;
    }
    assert.is(r.length, 1);
    assert.is(r[0]!.errno, c.errno);
    assert.equal(x.slot.sent(), []);
    if (c.closed) {
      assert.is(x.loop.phase.tag, "closed");
      assert.ok(x.socket.ended, "the client connection is ended");
    } else idle(x);
  });
}

interface Lost {
  name: string;
  sql: string;
  /** Part of the response reached the client before the loss. */
  forwarded?: boolean;
  /** How the retry ends (for a retryable command). */
  retry?: Error | "ok";
  errno: number | null;
  closed?: boolean;
}

const losses: Lost[] = [
  {
    name: "an autocommit read before any byte: retried on the secondary",
    sql: "SELECT 1",
    retry: "ok",
    errno: null,
  },
  {
    name: "an autocommit read whose retry finds nothing to run it: the retry's error",
    sql: "SELECT 1",
    retry: new PairgateError("PAIRGATE_STATEMENT_LOST", "no other server"),
    errno: ER_CONNECTION_KILLED,
  },
  { name: "a write: 1927, never retried", sql: "INSERT INTO t VALUES (1)", errno: ER_CONNECTION_KILLED },
  {
    name: "a read after part of its result went out: the session closes",
    sql: "SELECT 1",
    forwarded: true,
    errno: null,
    closed: true,
  },
];

for (const c of losses) {
  test(`backend lost: ${c.name}`, async () => {
    const x = harness();
    if (c.retry) {
      const d = deferred<void>();
      if (c.retry === "ok") d.resolve();
      else d.reject(c.retry);
      x.slot.retryAnswers.push(d);
    }
    x.send(c.sql);
    if (c.forwarded) x.slot.inflight!.forwarded = true;
    x.slot.lose();
    await settle();
    if (c.closed) {
      assert.is(x.loop.phase.tag, "closed");
      assert.ok(x.socket.ended);
      assert.equal(x.replies(), []);
      return;
    }
    const retried = x.slot.calls.some((k) => k.op === "retry");
    assert.is(retried, c.retry !== undefined, "retried only when retryable");
    const r = x.replies();
    if (c.errno === null) {
      assert.equal(r, []);
      assert.equal(sentRoles(x), ["primary", "secondary"]);
      assert.is(x.loop.phase.tag, "relaying");
      x.slot.respond(okChunk());
      assert.is(x.replies()[0]!.type, "ok");
      idle(x);
      return;
    }
    assert.is(r.length, 1);
    assert.is(r[0]!.errno, c.errno);
    idle(x);
  });
}

test("backend lost between commands inside a transaction: the next command gets 1927, the one after runs", async () => {
  const x = harness();
  x.slot.status |= SERVER_STATUS_IN_TRANS;
  x.slot.lose();
  x.send("SELECT 1");
  const r = x.replies();
  assert.is(r[0]!.errno, ER_CONNECTION_KILLED);
  assert.match(r[0]!.message, /transaction/i);
  assert.equal(x.slot.sent(), []);
  x.send("SELECT 1");
  await settle();
  assert.equal(sentRoles(x), ["primary"], "on a new connection");
});

// ------------------------------------------------------------------ audit holds

test("audit hold: the result waits until its event is durable, and the next command waits with it", async () => {
  const audit = new FakeAudit();
  const x = harness({ audit });
  x.send("SELECT * FROM secret");
  assert.is(audit.records.length, 1, "the event is being recorded");
  x.slot.respond(rowsChunk());
  assert.equal(x.replies(), [], "nothing of the result before the event is durable");
  assert.is(x.loop.phase.tag, "waiting");
  x.send("SELECT 2");
  assert.is(x.slot.sent().length, 1, "the pipelined command waits");
  audit.records[0]!.resolve(undefined);
  await settle();
  const r = x.replies();
  assert.equal(
    r.map((p) => p.type),
    ["data", "data", "ok"],
  );
  assert.is(x.slot.sent().length, 2, "then the next command runs");
});

test("audit hold: an event that cannot be made durable turns the result into ERR 3; no row leaks", async () => {
  const audit = new FakeAudit();
  const x = harness({ audit });
  x.send("SELECT * FROM secret");
  x.slot.respond(rowsChunk());
  audit.records[0]!.reject(new Error("disk full"));
  await settle();
  const r = x.replies();
  assert.is(r.length, 1);
  assert.is(r[0]!.errno, EE_WRITE);
  idle(x);
});

test("audit hold: an event durable before the result completes lets the result stream", async () => {
  const audit = new FakeAudit();
  const x = harness({ audit });
  x.send("SELECT * FROM secret");
  audit.records[0]!.resolve(undefined);
  await settle();
  x.slot.respond(rowsChunk());
  assert.equal(
    x.replies().map((p) => p.type),
    ["data", "data", "ok"],
  );
  idle(x);
});

test("audit: a statement no rule matches is not held", () => {
  const audit = new FakeAudit();
  const x = harness({ audit });
  x.send("SELECT * FROM public_t");
  assert.is(audit.records.length, 0);
  x.slot.respond(rowsChunk());
  assert.is(x.replies().length, 3);
  idle(x);
});

test("read_only: a captured INSERT is answered OK once journaled, never sent", async () => {
  const audit = new FakeAudit();
  const x = harness({ mode: "read_only", audit });
  x.send("INSERT INTO orders VALUES (1)");
  assert.equal(x.replies(), [], "no answer before the journal has it");
  assert.is(x.loop.phase.tag, "waiting");
  audit.records[0]!.resolve(undefined);
  await settle();
  const r = x.replies();
  assert.is(r[0]!.type, "ok");
  assert.equal(x.slot.sent(), []);
  idle(x);
});

// ------------------------------------------------------------------ catch-up, follow-up work

test("catch-up: a read bound for the secondary waits until it caught up, then runs", async () => {
  const caughtUp = deferred<void>();
  let done = false;
  void caughtUp.promise.then(() => {
    done = true;
  });
  let asked = 0;
  const x = harness({
    mode: "read_only",
    // The topology's answer: a promise while the secondary catches up, `true` once it has.
    secondaryReadable: () => {
      asked++;
      return done ? true : caughtUp.promise;
    },
  });
  x.send("SELECT 1");
  await settle();
  assert.equal(x.slot.sent(), [], "held while the secondary catches up");
  assert.is(x.loop.phase.tag, "waiting");
  caughtUp.resolve();
  await settle();
  assert.ok(asked >= 1);
  assert.equal(sentRoles(x), ["secondary"]);
});

test("catch-up: a statement bound for the primary never asks", () => {
  let asked = 0;
  const x = harness({
    secondaryReadable: () => {
      asked++;
      return new Promise<void>(() => {});
    },
  });
  x.send("SELECT 1");
  assert.is(asked, 0);
  assert.equal(sentRoles(x), ["primary"]);
});

test("follow-up work after a response (a user variable read back) holds the next command", async () => {
  const x = harness();
  const work = deferred<void>();
  x.send("SELECT 1");
  x.slot.finishWork = work.promise;
  x.slot.respond(okChunk());
  x.send("SELECT 2");
  assert.is(x.slot.sent().length, 1);
  assert.is(x.loop.phase.tag, "waiting");
  work.resolve();
  await settle();
  assert.is(x.slot.sent().length, 2);
});

test("the secondary's own read-only refusal becomes pairgate's 1290 at the server's sequence id", async () => {
  const x = harness({ mode: "read_only" });
  x.send("SELECT 1");
  await settle();
  const f = x.slot.inflight!;
  x.h.guardRefused(f, 1);
  const r = x.replies();
  assert.is(r[0]!.errno, ER_OPTION_PREVENTS_STATEMENT);
  assert.is(x.ctx.rejected, 1);
  idle(x);
});

// ------------------------------------------------------------------ change user

interface ChangeUserCase {
  name: string;
  payload: (x: Harness) => Buffer;
  errno: number | null;
  closed: boolean;
  user: string;
}

const changeUsers: ChangeUserCase[] = [
  {
    name: "the right password: OK, a new identity, new state, a new backend login",
    payload: (x) => changeUserPayload("app", GOOD_PASSWORD, x.scramble, "other"),
    errno: null,
    closed: false,
    user: "app",
  },
  {
    name: "a wrong password: 1045 and the session closes",
    payload: (x) => changeUserPayload("app", "wrong", x.scramble),
    errno: ER_ACCESS_DENIED,
    closed: true,
    user: "app",
  },
  {
    name: "a malformed request: 1835, the session and its identity stay",
    payload: () => Buffer.from([0x11, 0x61]),
    errno: ER_MALFORMED_PACKET,
    closed: false,
    user: "app",
  },
];

for (const c of changeUsers) {
  test(`change user: ${c.name}`, async () => {
    const x = harness();
    const id = prepared(x, "SELECT ?");
    x.send(c.payload(x));
    await settle();
    const r = x.replies();
    assert.is(r.length, 1);
    if (c.errno === null) {
      assert.is(r[0]!.type, "ok");
      assert.is(r[0]!.seq, 1, "the answer to the command (its token was checked, no auth switch)");
      assert.is(x.who.state.schema, "other");
      assert.ok(x.slot.calls.some((k) => k.op === "reset"));
      assert.ok(x.slot.calls.some((k) => k.op === "login"));
      // The old session's statements are gone with it.
      x.send(stmtPacket(0x17, id, [0, 1, 0, 0, 0]));
      assert.is(x.replies()[0]!.errno, ER_UNKNOWN_STMT_HANDLER);
    } else assert.is(r[0]!.errno, c.errno);
    assert.is(x.who.username, c.user);
    if (c.closed) assert.is(x.loop.phase.tag, "closed");
    else idle(x);
  });
}

// ------------------------------------------------------------------ KILL

interface KillCase {
  name: string;
  send: Buffer | string;
  errno: number | null;
  /** The session named was closed (KILL CONNECTION of another session). */
  targetClosed: boolean;
  selfClosed: boolean;
}

const kills: KillCase[] = [
  {
    name: "KILL of an unknown id: 1094",
    send: "KILL 99",
    errno: ER_NO_SUCH_THREAD,
    targetClosed: false,
    selfClosed: false,
  },
  {
    name: "KILL of another user's session: 1094, as unknown",
    send: "KILL 9",
    errno: ER_NO_SUCH_THREAD,
    targetClosed: false,
    selfClosed: false,
  },
  {
    name: "KILL QUERY ID: refused with 1094",
    send: "KILL QUERY ID 8",
    errno: ER_NO_SUCH_THREAD,
    targetClosed: false,
    selfClosed: false,
  },
  {
    name: "KILL CONNECTION of a session of the same user: OK, it is closed",
    send: "KILL 8",
    errno: null,
    targetClosed: true,
    selfClosed: false,
  },
  {
    name: "COM_PROCESS_KILL of a session of the same user: OK, it is closed",
    send: Buffer.from([0x0c, 8, 0, 0, 0]),
    errno: null,
    targetClosed: true,
    selfClosed: false,
  },
  {
    name: "KILL QUERY of a session of the same user with no backend: OK, it stays",
    send: "KILL QUERY 8",
    errno: null,
    targetClosed: false,
    selfClosed: false,
  },
  {
    name: "KILL of its own session: 1927 and the session closes",
    send: "kill connection 7",
    errno: ER_CONNECTION_KILLED,
    targetClosed: false,
    selfClosed: true,
  },
];

for (const c of kills) {
  test(`kill: ${c.name}`, async () => {
    let closed = false;
    const sessions = new Map<number, Killable>([
      [7, { id: 7, username: "app", backendConnection: () => null, close() {} }],
      [8, { id: 8, username: "app", backendConnection: () => null, close: () => void (closed = true) }],
      [9, { id: 9, username: "other", backendConnection: () => null, close() {} }],
    ]);
    const x = harness({ sessions: { find: (id) => sessions.get(id) ?? null } });
    x.send(c.send);
    await settle();
    const r = x.replies();
    assert.is(r.length, 1);
    if (c.errno === null) assert.is(r[0]!.type, "ok");
    else assert.is(r[0]!.errno, c.errno);
    assert.equal(x.slot.sent(), [], "a KILL never reaches the backend as it was written");
    assert.is(closed, c.targetClosed);
    if (c.selfClosed) assert.is(x.loop.phase.tag, "closed");
    else idle(x);
  });
}

test("dialect: a statement pairgate cannot follow on a connection that does not report makes the next one wait for a read-back, once", async () => {
  const x = harness();
  x.slot.tracking = false;
  x.send("SET sql_mode = @saved");
  x.slot.respond(okChunk());
  assert.is(x.replies()[0]!.type, "ok");
  assert.ok(x.slot.connectionDialect.dialect.unsure, "pairgate's own reading: unsure");
  x.send("SELECT 1");
  assert.is(x.loop.phase.tag, "waiting", "the statement waits for the dialect");
  await settle();
  assert.equal(x.slot.calls.filter((c) => c.op === "readDialect").length, 1);
  assert.equal(sentRoles(x), ["primary", "primary"], "then it runs");
  x.slot.respond(okChunk());
  x.send("SELECT 2");
  assert.equal(x.slot.calls.filter((c) => c.op === "readDialect").length, 1, "asked once, not again");
  assert.is(x.slot.sent().length, 3);
});

test("dialect: a read-back that is itself unsure (MariaDB's ORACLE mode) is asked once, not before every statement", async () => {
  const x = harness();
  x.slot.tracking = false;
  x.slot.readBack = { dialect: unsureDialect(DEFAULT_DIALECT), sqlMode: null, charsetClient: null };
  x.send("SET sql_mode = @saved");
  x.slot.respond(okChunk());
  for (const sql of ["SELECT 1", "SELECT 2", "SELECT 3"]) {
    x.send(sql);
    await settle();
    x.slot.respond(okChunk());
  }
  assert.is(x.slot.calls.filter((c) => c.op === "readDialect").length, 1);
  assert.is(x.replies().length, 4);
});

test("CONNECTION_ID() is answered with pairgate's session id", () => {
  const x = harness();
  x.send("SELECT CONNECTION_ID()");
  const f = x.slot.sent()[0]!;
  assert.match(f.payload.toString("utf8", 1), /SELECT 7 AS `CONNECTION_ID\(\)`/);
});

test.run();
