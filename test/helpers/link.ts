/**
 * A cuttable TCP link between pairgate and a server, for the seed's scenario 1 (a site loses its
 * link to the primary while the primary lives).
 *
 * - cut(): every connection is reset and new ones are refused — a hard cut.
 * - blackhole(): nothing passes any more, in either direction, and nothing says so: open
 *   connections stop reading (bytes wait in kernel buffers, as with packet loss), new connections
 *   are held without reaching the server — so a MySQL login never gets its greeting.
 * - heal(): traffic flows again; connections held by a blackhole resume, as TCP would retransmit.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

type LinkState = "up" | "cut" | "blackhole";

interface Pair {
  client: Socket;
  server: Socket | null;
}

export class Link {
  state: LinkState = "up";
  readonly port: number;
  /** Connections that reached the server through this link so far. */
  connections = 0;
  private pairs = new Set<Pair>();
  private held: Socket[] = [];

  private constructor(
    private server: Server,
    port: number,
    private target: { host: string; port: number },
  ) {
    this.port = port;
  }

  /**
   * `splitTail`: every read from the server is passed on in two writes, its last `splitTail` bytes
   * (the property may change later; a link started without it relays as a pipe)
   * a few milliseconds after the rest — so the packet that ends a response (an ERR, an OK) reaches
   * the other side cut across two reads, as a busy network can deliver it.
   */
  static start(target: { host: string; port: number }, opts: { splitTail?: number } = {}): Promise<Link> {
    return new Promise((resolve, reject) => {
      let link: Link;
      const server = createServer((s) => link.accept(s));
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const a = server.address();
        link = new Link(server, typeof a === "object" && a ? a.port : 0, target);
        link.splitTail = opts.splitTail ?? 0;
        resolve(link);
      });
    });
  }

  /** See `start`; changeable while the link runs (not combined with blackhole/heal). */
  splitTail = 0;

  /** server → client, each read cut in two (see `start`). */
  private splitPipe(server: Socket, client: Socket): void {
    client.setNoDelay(true);
    server.on("data", (chunk: Buffer) => {
      if (chunk.length <= this.splitTail) {
        client.write(chunk);
        return;
      }
      client.write(chunk.subarray(0, chunk.length - this.splitTail));
      server.pause();
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk.subarray(chunk.length - this.splitTail));
        server.resume();
      }, 5);
    });
  }

  private accept(client: Socket): void {
    client.on("error", () => {});
    if (this.state === "cut") {
      client.resetAndDestroy();
      return;
    }
    if (this.state === "blackhole") {
      client.pause();
      this.held.push(client);
      return;
    }
    this.join(client);
  }

  private join(client: Socket): void {
    this.connections++;
    const server = connect(this.target.port, this.target.host);
    server.on("error", () => client.destroy());
    client.on("error", () => server.destroy());
    const pair: Pair = { client, server };
    this.pairs.add(pair);
    client.pipe(server);
    if (this.splitTail > 0) this.splitPipe(server, client);
    else server.pipe(client);
    const forget = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on("close", forget);
    server.on("close", forget);
    if (this.state === "blackhole") this.silence(pair);
  }

  private silence(p: Pair): void {
    p.client.unpipe();
    p.server?.unpipe();
    p.client.pause();
    p.server?.pause();
  }

  cut(): void {
    this.state = "cut";
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.server?.resetAndDestroy();
    }
    this.pairs.clear();
    for (const h of this.held) h.resetAndDestroy();
    this.held = [];
  }

  blackhole(): void {
    this.state = "blackhole";
    for (const p of this.pairs) this.silence(p);
  }

  heal(): void {
    const was = this.state;
    this.state = "up";
    if (was === "blackhole") {
      for (const p of this.pairs) {
        p.client.pipe(p.server!);
        p.server!.pipe(p.client);
        p.client.resume();
        p.server!.resume();
      }
      const held = this.held;
      this.held = [];
      for (const h of held) {
        h.resume();
        this.join(h);
      }
    }
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
