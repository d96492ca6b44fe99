/**
 * A recording TCP tap: listens on a free port, relays every connection to `target` and keeps what
 * the clients sent, cut into packets. Used to capture real drivers' handshake responses and
 * commands (for fuzzing) without touching the drivers.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface CapturedPacket {
  seq: number;
  payload: Buffer;
}

export interface Tap {
  port: number;
  /** Client→server packets of each connection, in order (complete packets only). */
  connections(): CapturedPacket[][];
  close(): Promise<void>;
}

function packetsOf(bytes: Buffer): CapturedPacket[] {
  const out: CapturedPacket[] = [];
  let i = 0;
  while (bytes.length - i >= 4) {
    const len = bytes.readUIntLE(i, 3);
    if (bytes.length - i - 4 < len) break;
    out.push({ seq: bytes[i + 3], payload: Buffer.from(bytes.subarray(i + 4, i + 4 + len)) });
    i += 4 + len;
  }
  return out;
}

export function startTap(target: { host: string; port: number }): Promise<Tap> {
  const recorded: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const chunks: Buffer[] = [];
    recorded.push(chunks);
    const upstream = connect(target);
    sockets.add(client);
    sockets.add(upstream);
    client.on("data", (c) => {
      chunks.push(Buffer.from(c));
      upstream.write(c);
    });
    upstream.on("data", (c) => client.write(c));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      resolve({
        port,
        connections: () => recorded.map((chunks) => packetsOf(Buffer.concat(chunks))),
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
