/**
 * The two-site lab's WAN link: one user-space process that every cross-site TCP path goes through
 * (replication, site B's pairgate to the primary, site A's pairgate to the secondary, B's audit
 * delivery). Each route is a listening port on 127.0.0.1 that relays to a server at the other
 * site, adding latency, and the whole link can be cut, made silent or healed at once:
 *
 * - cut: every connection through the link is reset and new ones are refused (a router that
 *   answers "unreachable").
 * - blackhole: nothing passes and nothing says so: bytes stop in both directions (they wait, as
 *   TCP retransmits would), new connections are accepted and held without reaching the server.
 * - heal: traffic flows again; held bytes and connections go on (TCP retransmitted them).
 * - delay: the added round-trip time; each direction holds every chunk for half of it, in order.
 *
 * The link is controlled over HTTP on 127.0.0.1 (`pairgate lab wan …` uses it):
 * GET /status, POST /cut, /blackhole, /heal, /delay?ms=N.
 */
import { createServer as createHttpServer, type IncomingMessage, request } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";

export type WanState = "up" | "cut" | "blackhole";

export interface WanRoute {
  /** What the route carries, for status: "to primary (site A)". */
  name: string;
  listenPort: number;
  target: { host: string; port: number };
}

export interface WanStatus {
  state: WanState;
  /** Added round-trip time, ms. */
  delayMs: number;
  /** The state holds since (epoch ms). */
  since: number;
  routes: Array<WanRoute & { open: number; held: number; total: number }>;
}

/** Pause reading a side when this many bytes wait in its delay queue. */
const QUEUE_HIGH_WATER = 4 * 1024 * 1024;

/** One direction of one connection: chunks released in order after the link's one-way delay. */
class DelayedPipe {
  private queue: Array<{ at: number; chunk: Buffer }> = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  held = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly oneWayMs: () => number,
  ) {
    from.on("data", (chunk: Buffer) => this.push(chunk));
    from.on("end", () => this.push(null));
  }

  private ended = false;

  private push(chunk: Buffer | null): void {
    if (chunk === null) this.ended = true;
    else {
      this.queue.push({ at: Date.now() + this.oneWayMs(), chunk });
      this.queued += chunk.length;
      if (this.queued > QUEUE_HIGH_WATER) this.from.pause();
    }
    this.flush();
  }

  /** Sends what is due, unless the link is silent; schedules the next release. */
  flush(): void {
    if (this.held || this.to.destroyed) return;
    const now = Date.now();
    while (this.queue.length && this.queue[0].at <= now) {
      const { chunk } = this.queue.shift()!;
      this.queued -= chunk.length;
      this.to.write(chunk);
    }
    if (this.queued <= QUEUE_HIGH_WATER && !this.from.destroyed && !this.held) this.from.resume();
    if (this.queue.length) {
      if (!this.timer) {
        this.timer = setTimeout(
          () => {
            this.timer = null;
            this.flush();
          },
          Math.max(0, this.queue[0].at - now),
        );
      }
    } else if (this.ended) this.to.end();
  }

  hold(): void {
    this.held = true;
    this.from.pause();
  }

  release(): void {
    this.held = false;
    this.from.resume();
    this.flush();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

interface Conn {
  client: Socket;
  server: Socket;
  pipes: DelayedPipe[];
}

class Route {
  readonly conns = new Set<Conn>();
  held: Socket[] = [];
  total = 0;
  private server: Server | null = null;

  constructor(
    readonly spec: WanRoute,
    private readonly link: WanLink,
  ) {}

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((s) => this.accept(s));
      server.once("error", reject);
      server.listen(this.spec.listenPort, "127.0.0.1", () => {
        server.off("error", reject);
        server.on("error", () => {});
        this.server = server;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    client.on("error", () => {});
    client.setNoDelay(true);
    if (this.link.state === "cut") {
      client.resetAndDestroy();
      return;
    }
    if (this.link.state === "blackhole") {
      client.pause();
      this.held.push(client);
      client.once("close", () => {
        this.held = this.held.filter((h) => h !== client);
      });
      return;
    }
    this.join(client);
  }

  join(client: Socket): void {
    this.total++;
    const server = connect(this.spec.target.port, this.spec.target.host);
    server.setNoDelay(true);
    const oneWay = () => this.link.delayMs / 2;
    const conn: Conn = {
      client,
      server,
      pipes: [new DelayedPipe(client, server, oneWay), new DelayedPipe(server, client, oneWay)],
    };
    this.conns.add(conn);
    const forget = () => {
      if (!this.conns.delete(conn)) return;
      for (const p of conn.pipes) p.dispose();
      client.destroy();
      server.destroy();
    };
    server.on("error", forget);
    client.on("error", forget);
    client.on("close", forget);
    server.on("close", forget);
    if (this.link.state === "blackhole") for (const p of conn.pipes) p.hold();
  }

  cut(): void {
    for (const c of this.conns) {
      for (const p of c.pipes) p.dispose();
      c.client.resetAndDestroy();
      c.server.resetAndDestroy();
    }
    this.conns.clear();
    for (const h of this.held) h.resetAndDestroy();
    this.held = [];
  }

  blackhole(): void {
    for (const c of this.conns) for (const p of c.pipes) p.hold();
  }

  heal(): void {
    for (const c of this.conns) for (const p of c.pipes) p.release();
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (h.destroyed) continue;
      h.resume();
      this.join(h);
    }
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export class WanLink {
  state: WanState = "up";
  delayMs: number;
  since = Date.now();
  private readonly routes: Route[];

  constructor(routes: WanRoute[], delayMs: number) {
    this.delayMs = delayMs;
    this.routes = routes.map((r) => new Route(r, this));
  }

  async start(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.listen()));
  }

  private set(state: WanState): void {
    if (this.state !== state) this.since = Date.now();
    this.state = state;
  }

  cut(): void {
    this.set("cut");
    for (const r of this.routes) r.cut();
  }

  blackhole(): void {
    if (this.state === "cut") for (const r of this.routes) r.cut();
    this.set("blackhole");
    for (const r of this.routes) r.blackhole();
  }

  heal(): void {
    this.set("up");
    for (const r of this.routes) r.heal();
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  status(): WanStatus {
    return {
      state: this.state,
      delayMs: this.delayMs,
      since: this.since,
      routes: this.routes.map((r) => ({
        ...r.spec,
        open: r.conns.size,
        held: r.held.length,
        total: r.total,
      })),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.close()));
  }
}

/** The control server of a link process; resolves once listening, with a way to close it. */
export function serveControl(
  link: WanLink,
  port: number,
  onStop: () => void,
): Promise<{ close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && url.pathname === "/status") return reply(200, link.status());
    if (req.method !== "POST") return reply(405, { error: "POST a command" });
    switch (url.pathname) {
      case "/cut":
        link.cut();
        break;
      case "/blackhole":
        link.blackhole();
        break;
      case "/heal":
        link.heal();
        break;
      case "/delay": {
        const ms = Number(url.searchParams.get("ms"));
        if (!Number.isFinite(ms) || ms < 0 || ms > 60_000)
          return reply(400, { error: "delay: ms must be 0..60000" });
        link.setDelay(ms);
        break;
      }
      case "/stop":
        reply(200, link.status());
        onStop();
        return;
      default:
        return reply(404, { error: `unknown command ${url.pathname}` });
    }
    reply(200, link.status());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () =>
      resolve({ close: () => new Promise<void>((r) => server.close(() => r())) }),
    );
  });
}

/** Sends one command to a link process: `status` (GET) or cut | blackhole | heal | delay | stop. */
export function wanCommand(
  controlPort: number,
  command: "status" | "cut" | "blackhole" | "heal" | "delay" | "stop",
  ms?: number,
): Promise<WanStatus> {
  const path = command === "delay" ? `/delay?ms=${ms}` : `/${command}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: controlPort,
        path,
        method: command === "status" ? "GET" : "POST",
        timeout: 3000,
      },
      (res: IncomingMessage) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => {
          try {
            const parsed = JSON.parse(body) as WanStatus & { error?: string };
            if (res.statusCode !== 200) reject(new Error(parsed.error ?? `HTTP ${res.statusCode}`));
            else resolve(parsed);
          } catch (e) {
            reject(e as Error);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("the WAN link did not answer within 3 s")));
    req.on("error", reject);
    req.end();
  });
}
