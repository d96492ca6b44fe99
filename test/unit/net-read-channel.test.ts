/**
 * ReadChannel and adoptSocket over real loopback TCP: a server-accepted socket switched to
 * `onread` reads through the channel (bytes sent before the switch come first), chunks kept by a
 * handler are never overwritten by later reads (several slabs' worth), pause/resume still stop and
 * restart reading, and the end of the stream still closes the socket.
 */
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, TLSSocket, connect as tlsConnect } from "node:tls";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ensureTls } from "../../src/lab/tls.js";
import { adoptSocket, ReadChannel, readsThroughChannel } from "../../src/net/read-channel.js";
import { closeSocketPair, pattern, socketPair } from "../helpers/socket-pair.js";
import { until } from "../helpers/wait.js";

// The accepted socket paused, as the login leaves it.
const link = () => socketPair({ pauseAccepted: true });

test("an accepted socket is adopted: bytes sent before the switch come first, then the rest, in order", async () => {
  const l = await link();
  try {
    l.client.write("early bytes|");
    await until("early bytes buffered in the paused socket", async () => l.accepted.readableLength > 0, 2000);
    const channel = new ReadChannel();
    const got: Buffer[] = [];
    channel.handler = (chunk) => got.push(chunk);
    assert.ok(adoptSocket(l.accepted, channel), "adopted");
    assert.ok(readsThroughChannel(l.accepted), "the socket reads through the channel, not 'data' events");
    l.client.write("later bytes");
    await until("all bytes arrived", async () => Buffer.concat(got).length === 23, 2000);
    assert.is(Buffer.concat(got).toString(), "early bytes|later bytes");
  } finally {
    closeSocketPair(l);
  }
});

for (const sizing of ["grow", "adaptive"] as const)
  test(`${sizing} slabs: chunks a handler keeps stay intact while 1 MiB more flows through (several slabs)`, async () => {
    const l = await link();
    try {
      const channel = new ReadChannel(sizing);
      const kept: Buffer[] = [];
      channel.handler = (chunk) => kept.push(chunk); // no copy
      assert.ok(adoptSocket(l.accepted, channel));
      const sent: Buffer[] = [];
      for (let i = 0; i < 256; i++) {
        const b = pattern(1 + ((i * 977) % 8192), i);
        sent.push(b);
        l.client.write(b);
        if (i % 16 === 0) await new Promise((r) => setImmediate(r)); // vary the read sizes
      }
      const total = sent.reduce((n, b) => n + b.length, 0);
      await until("all bytes arrived", async () => kept.reduce((n, b) => n + b.length, 0) === total, 5000);
      assert.ok(kept.length > 1, "several reads");
      assert.ok(Buffer.concat(kept).equals(Buffer.concat(sent)), "every kept chunk still holds its bytes");
    } finally {
      closeSocketPair(l);
    }
  });

test("a client channel (net.connect with onread) keeps chunks intact too", async () => {
  const server = createServer((s) => {
    for (let i = 0; i < 64; i++) s.write(pattern(20_000, i));
    s.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const channel = new ReadChannel();
    const kept: Buffer[] = [];
    channel.handler = (chunk) => kept.push(chunk);
    const { port } = server.address() as { port: number };
    const s = connect({ port, host: "127.0.0.1", onread: channel.onread });
    await once(s, "close");
    const want = Buffer.concat(Array.from({ length: 64 }, (_, i) => pattern(20_000, i)));
    assert.ok(Buffer.concat(kept).equals(want), "1.28 MB arrived intact");
  } finally {
    server.close();
  }
});

test("pause stops reading through the channel and resume restarts it; the peer's end closes the socket", async () => {
  const l = await link();
  try {
    const channel = new ReadChannel();
    let received = 0;
    channel.handler = (chunk) => {
      received += chunk.length;
    };
    assert.ok(adoptSocket(l.accepted, channel));
    l.accepted.pause();
    l.client.write(pattern(1000, 1));
    await new Promise((r) => setTimeout(r, 100));
    assert.is(received, 0, "nothing is read while paused");
    l.accepted.resume();
    await until("the bytes arrive after resume", async () => received === 1000, 2000);
    const closed = once(l.accepted, "close");
    l.client.end();
    await closed;
    assert.ok(l.accepted.destroyed);
  } finally {
    closeSocketPair(l);
  }
});

test("a TLS socket is not adopted (its handle is the TLS layer, not TCP): the caller falls back to 'data'", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-readchannel-tls-"));
  const l = await link();
  try {
    const files = ensureTls(join(dir, "tls"), "127.0.0.1");
    const secureContext = createSecureContext({
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
    });
    l.accepted.resume();
    const server = new TLSSocket(l.accepted, { isServer: true, secureContext });
    const client = tlsConnect({ socket: l.client, ca: readFileSync(files.ca), servername: "localhost" });
    await Promise.all([once(server, "secure"), once(client, "secureConnect")]);
    server.pause();
    const channel = new ReadChannel();
    let viaChannel = 0;
    channel.handler = () => viaChannel++;
    assert.not.ok(adoptSocket(server, channel), "a TLS socket is left alone");
    assert.not.ok(readsThroughChannel(server));
    // Nothing was half-changed: the plaintext still arrives as 'data' events.
    const got: Buffer[] = [];
    server.on("data", (c: Buffer) => got.push(c));
    server.resume();
    client.write("over tls");
    await until("the plaintext arrived", async () => Buffer.concat(got).toString() === "over tls", 2000);
    assert.is(viaChannel, 0);
    client.destroy();
    server.destroy();
  } finally {
    closeSocketPair(l);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a destroyed socket is not adopted", async () => {
  const l = await link();
  try {
    l.accepted.destroy();
    assert.not.ok(adoptSocket(l.accepted, new ReadChannel()), "a destroyed socket is left alone");
  } finally {
    closeSocketPair(l);
  }
});

test.run();
