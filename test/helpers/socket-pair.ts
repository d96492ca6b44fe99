/** A connected pair of TCP sockets over loopback, for the unit tests of the socket channels. */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface SocketPair {
  server: Server;
  /** The server side, as the listener accepted it. */
  accepted: Socket;
  client: Socket;
}

/** `pauseAccepted`: the accepted socket is paused before it is handed over (as pairgate's login leaves it). */
export async function socketPair(opts: { pauseAccepted?: boolean } = {}): Promise<SocketPair> {
  const server = createServer();
  const acceptedP = once(server, "connection") as Promise<[Socket]>;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const client = connect({ port, host: "127.0.0.1" });
  await once(client, "connect");
  const [accepted] = await acceptedP;
  if (opts.pauseAccepted) accepted.pause();
  return { server, accepted, client };
}

export function closeSocketPair(l: SocketPair): void {
  l.client.destroy();
  l.accepted.destroy();
  l.server.close();
}

/** A deterministic byte pattern, so any overwrite or reordering shows. */
export function pattern(n: number, salt: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}
