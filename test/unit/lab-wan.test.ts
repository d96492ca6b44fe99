/**
 * The two-site lab's WAN link (src/lab/wan.ts) against a local echo server: the added round trip,
 * order under delay, cut (resets, refusals), blackhole (silence, held connections) and heal.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { serveControl, WanLink, wanCommand } from "../../src/lab/wan.js";
import { freePorts } from "../helpers/ports.js";

let echo: Server;
let echoPort: number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  echo = createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(0, "127.0.0.1");
  await once(echo, "listening");
  echoPort = (echo.address() as { port: number }).port;
});

test.after(async () => {
  await new Promise((r) => echo.close(r));
});

async function linkTo(delayMs: number): Promise<{ link: WanLink; port: number }> {
  const [port] = await freePorts(1);
  const link = new WanLink(
    [{ name: "echo", listenPort: port, target: { host: "127.0.0.1", port: echoPort } }],
    delayMs,
  );
  await link.start();
  return { link, port };
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Sends `text`, resolves with the echo and the round trip, or null after `ms`. */
function roundTrip(s: Socket, text: string, ms = 2000): Promise<{ text: string; ms: number } | null> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = "";
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) done({ text: got, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => done(null), ms);
    function done(v: { text: string; ms: number } | null) {
      clearTimeout(timer);
      s.off("data", onData);
      resolve(v);
    }
    s.on("data", onData);
    s.write(text);
  });
}

test("delay: the round trip grows by the set time, bytes stay in order", async () => {
  const { link, port } = await linkTo(60);
  try {
    const s = await open(port);
    const r = await roundTrip(s, "ping");
    assert.ok(r && r.ms >= 55, `round trip ${r?.ms} ms`);
    // Many small writes under delay arrive whole and in order.
    const parts = Array.from({ length: 50 }, (_, i) => `<${i}>`);
    const all = parts.join("");
    const got = new Promise<string>((resolve) => {
      let buf = "";
      s.on("data", (d) => {
        buf += d;
        if (buf.length >= all.length) resolve(buf);
      });
    });
    for (const p of parts) s.write(p);
    assert.is(await got, all);
    link.setDelay(0);
    s.removeAllListeners("data");
    const fast = await roundTrip(s, "pong");
    assert.ok(fast && fast.ms < 55, `round trip after delay 0: ${fast?.ms} ms`);
    s.destroy();
  } finally {
    await link.close();
  }
});

test("cut resets open connections and refuses new ones; heal lets new ones through", async () => {
  const { link, port } = await linkTo(0);
  try {
    const s = await open(port);
    assert.ok(await roundTrip(s, "a"));
    // (events.once would reject on the reset's "error")
    const closed = new Promise((r) => s.on("close", r));
    link.cut();
    await closed;
    const fresh = connect(port, "127.0.0.1");
    const outcome = await new Promise<string>((resolve) => {
      fresh.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      fresh.on("close", () => resolve("closed"));
      fresh.on("data", () => resolve("data"));
    });
    assert.ok(outcome === "ECONNRESET" || outcome === "closed", outcome);
    link.heal();
    const again = await open(port);
    assert.equal((await roundTrip(again, "b"))?.text, "b");
    again.destroy();
  } finally {
    await link.close();
  }
});

test("blackhole: silence both ways and held connections, until heal delivers", async () => {
  const { link, port } = await linkTo(0);
  try {
    const s = await open(port);
    link.blackhole();
    assert.is(await roundTrip(s, "lost?", 300), null, "no answer through a blackhole");
    const held = await open(port); // the TCP handshake is the link's own: it accepts
    const heldAnswer = roundTrip(held, "held", 3000);
    await sleep(200);
    assert.is(link.status().routes[0].held, 1);
    const late = new Promise<string>((resolve) => {
      let b = "";
      s.on("data", (d) => {
        b += d;
        if (b.length >= 5) resolve(b);
      });
    });
    link.heal();
    assert.is(await late, "lost?", "what waited in the blackhole arrives after heal");
    assert.equal((await heldAnswer)?.text, "held");
    s.destroy();
    held.destroy();
  } finally {
    await link.close();
  }
});

test("control: the commands over HTTP, a bad delay refused", async () => {
  const { link } = await linkTo(5);
  const [control] = await freePorts(1);
  let stopped = false;
  const server = await serveControl(link, control, () => {
    stopped = true;
  });
  try {
    assert.is((await wanCommand(control, "status")).delayMs, 5);
    assert.is((await wanCommand(control, "cut")).state, "cut");
    assert.is((await wanCommand(control, "blackhole")).state, "blackhole");
    assert.is((await wanCommand(control, "heal")).state, "up");
    assert.is((await wanCommand(control, "delay", 30)).delayMs, 30);
    try {
      await wanCommand(control, "delay", -1);
      assert.unreachable("a negative delay is refused");
    } catch (e) {
      assert.match((e as Error).message, /0\.\.60000/);
    }
    await wanCommand(control, "stop");
    assert.ok(stopped);
  } finally {
    await server.close();
    await link.close();
  }
});

test.run();
