/**
 * The bench's floor reference (`npm run bench -- --floor`): a byte relay with no protocol work at
 * all, built from pairgate's own socket layer (ReadChannel, adoptSocket, WriteChannel), run as a
 * child process. What it measures is what Node's event loop costs per query before pairgate reads
 * a single byte — the most a single-threaded pairgate could reach — and, with `threads` > 1, what
 * the same relay reaches when several event loops (worker threads) share the listening socket.
 *
 *   node bench/lib/bare-relay.mjs LISTEN_PORT BACKEND_HOST BACKEND_PORT [THREADS]
 *
 * Plain JavaScript over the compiled dist/ (the bench builds it first), so worker threads load it
 * without a TypeScript loader. Not a product: no login, no routing, no errors beyond closing both sides.
 */
import { connect, createServer } from "node:net";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { adoptSocket, ReadChannel } from "../../dist/net/read-channel.js";
import { WriteChannel } from "../../dist/net/write-channel.js";

/**
 * @typedef {{ listenPort: number, backendHost: string, backendPort: number, fd?: number }} RelayArgs
 * `fd`: listen on this already bound socket (another thread's) instead of binding the port.
 */

/** @param {import("node:net").Socket} client @param {RelayArgs} a */
function relay(client, a) {
  client.setNoDelay(true);
  const fromBackend = new ReadChannel("grow");
  const backend = connect({ host: a.backendHost, port: a.backendPort, onread: fromBackend.onread });
  backend.setNoDelay(true);
  const toBackend = new WriteChannel(backend);
  backend.once("connect", () => {
    const toClient = new WriteChannel(client);
    fromBackend.handler = (chunk) => toClient.write(chunk);
    const fromClient = new ReadChannel("adaptive");
    fromClient.handler = (chunk) => toBackend.write(chunk);
    if (!adoptSocket(client, fromClient)) {
      client.on("data", fromClient.handler);
      client.resume();
    }
  });
  const end = () => {
    client.destroy();
    backend.destroy();
  };
  for (const s of [client, backend]) {
    s.on("close", end);
    s.on("error", end);
  }
}

/** One event loop's listener: binds the port (the first thread) or shares the first one's socket. */
/** @param {RelayArgs} a @param {(fd: number) => void} onBound */
function serve(a, onBound) {
  const server = createServer({ pauseOnConnect: true }, (c) => relay(c, a));
  const bound = () => onBound(server._handle.fd);
  if (a.fd !== undefined) server.listen({ fd: a.fd }, bound);
  else server.listen({ host: "127.0.0.1", port: a.listenPort, backlog: 1024 }, bound);
  return server;
}

if (isMainThread) {
  const [listenPort, backendHost, backendPort, threadsArg] = process.argv.slice(2);
  /** @type {RelayArgs} */
  const a = {
    listenPort: Number(listenPort),
    backendHost: backendHost ?? "127.0.0.1",
    backendPort: Number(backendPort),
  };
  const threads = Math.max(1, Number(threadsArg ?? 1));
  if (threads === 1) serve(a, () => process.stdout.write("relay: listening, 1 thread\n"));
  else {
    // Every thread polls the same listening socket (Node 20 has no SO_REUSEPORT): the kernel wakes
    // them all, one accept()s, the others get EAGAIN.
    const first = new Worker(new URL(import.meta.url), { workerData: a });
    first.once("message", (fd) => {
      for (let i = 1; i < threads; i++) new Worker(new URL(import.meta.url), { workerData: { ...a, fd } });
      process.stdout.write(`relay: listening, ${threads} threads\n`);
    });
  }
} else {
  serve(workerData, (fd) => parentPort?.postMessage(fd));
}
