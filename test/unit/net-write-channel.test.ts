/**
 * WriteChannel over real loopback TCP: on this Node a plain TCP socket is written straight to its
 * handle (the fast path must really be taken); a write the kernel cannot take whole returns false
 * and the socket emits 'drain' once it is out; the socket's own writes made meanwhile, and an
 * end() right after, keep every byte in order; a channel on a non-TCP stream falls back to
 * socket.write.
 */
import { once } from "node:events";
import { Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { WriteChannel } from "../../src/net/write-channel.js";
import { closeSocketPair, pattern, socketPair } from "../helpers/socket-pair.js";
import { until } from "../helpers/wait.js";

function collect(s: Socket): Buffer[] {
  const got: Buffer[] = [];
  s.on("data", (c: Buffer) => got.push(c));
  return got;
}

test("small writes go straight to the handle on this Node and arrive in order", async () => {
  const l = await socketPair();
  try {
    const got = collect(l.client);
    const out = new WriteChannel(l.accepted);
    assert.ok(out.direct, `Node ${process.version}: the direct write path is available`);
    for (let i = 0; i < 100; i++) assert.ok(out.write(Buffer.from(`${i},`)), "no backpressure");
    l.accepted.write("via socket.write,"); // the socket's own writes mix in, in order
    assert.ok(out.write(Buffer.from("end")));
    const want = `${Array.from({ length: 100 }, (_, i) => `${i},`).join("")}via socket.write,end`;
    await until("all bytes arrived", async () => Buffer.concat(got).length === want.length, 2000);
    assert.is(Buffer.concat(got).toString(), want);
    assert.ok(out.directWrites >= 100, `direct writes: ${out.directWrites}`);
  } finally {
    closeSocketPair(l);
  }
});

test("a write the kernel cannot take whole: false, then 'drain'; later writes and end() keep the order", async () => {
  const l = await socketPair();
  try {
    l.client.pause(); // the peer reads nothing yet: the send and receive buffers fill
    const out = new WriteChannel(l.accepted);
    const big = pattern(8 * 1024 * 1024, 7);
    const drained = once(l.accepted, "drain");
    assert.is(out.write(big), false, "backpressure reported");
    assert.ok(out.pendingLength > 0, "part of the write is pending in libuv");
    const tail1 = pattern(1000, 1);
    const tail2 = pattern(3000, 2);
    out.write(tail1); // queued behind the pending write (through socket.write)
    l.accepted.write(tail2);
    l.accepted.end();
    const got = collect(l.client);
    const ended = once(l.client, "end");
    l.client.resume();
    await drained;
    await ended;
    const all = Buffer.concat(got);
    assert.is(all.length, big.length + tail1.length + tail2.length);
    assert.ok(all.subarray(0, big.length).equals(big), "the big write arrived whole");
    assert.ok(all.subarray(big.length, big.length + 1000).equals(tail1), "then the channel's next write");
    assert.ok(all.subarray(big.length + 1000).equals(tail2), "then the socket's own write");
    assert.is(out.pendingLength, 0);
  } finally {
    closeSocketPair(l);
  }
});

test("writes after the socket is destroyed do not throw; a socket without a TCP handle uses socket.write", async () => {
  const l = await socketPair();
  try {
    const out = new WriteChannel(l.accepted);
    l.accepted.destroy();
    out.write(Buffer.from("after destroy")); // socket.write on a destroyed socket: an error event at most
    const plain = new Socket(); // not connected: no handle
    const fallback = new WriteChannel(plain);
    assert.is(fallback.direct, false);
    plain.destroy();
  } finally {
    closeSocketPair(l);
  }
});

test.run();
