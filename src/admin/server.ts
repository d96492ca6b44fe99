/**
 * The admin HTTP listener (node:http): the HA status page, /status JSON, health probes, metrics,
 * and two actions (maintenance, audit delivery).
 *
 *   GET  /              HA status page (refreshes itself from /status every 2 s)
 *   GET  /status        the status document (JSON)
 *   GET  /history       the last hour for the page's charts (JSON, see history.ts)
 *   GET  /healthz       200 while the process lives
 *   GET  /readyz        200 when reads can be served (mode != down) and the audit journal is open, else 503
 *   GET  /metrics       Prometheus exposition
 *   POST /maintenance   {"readOnly": true|false}
 *   POST /audit/deliver deliver the audit journal now
 *
 * Actions need `Authorization: Bearer <admin.token>` when a token is configured (else 401);
 * without a token they are accepted only from loopback (else 403). The token is read at each
 * request, so one added or changed by a reload (SIGHUP) applies at once.
 *
 * Against web pages (a browser on the operator's machine can reach a loopback admin):
 * - an action's body must be `Content-Type: application/json` (else 415): an HTML form can only
 *   send text/plain, urlencoded or multipart, and a cross-origin fetch of JSON needs a CORS
 *   preflight, which this server never grants;
 * - an action with an `Origin` header must come from this server's own origin (else 403), and
 *   one with `Sec-Fetch-Site` must be same-origin or user-initiated ("none");
 * - every request's `Host` must name this listener (else 421): an IP literal, `localhost`,
 *   `admin.host`, or one of `admin.allowedHosts` — a DNS-rebinding page (its own name resolving
 *   to 127.0.0.1) is refused, and cannot read /status either.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { PairgateError } from "../protocol/errors.js";
import type { Topology } from "../topology/monitor.js";
import type { HistoryDocument } from "./history.js";
import { renderStatusPage } from "./page.js";
import {
  type AccountsInfo,
  buildStatus,
  type StatusChainHead,
  type StatusDocument,
  type StatusVerificationInput,
} from "./status.js";

export interface AdminAudit {
  pending(): number;
  readonly lastDeliveryAt: number | null;
  deliverNow(): Promise<{ delivered: number }>;
  /** Why the audit journal is not open (audited statements are refused), or null. */
  readonly journalProblem?: string | null;
  /** The hash chain's head and the last background verification (status page). */
  chainHead?(): StatusChainHead | null;
  readonly lastVerification?: StatusVerificationInput | null;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  /** The token, or a function read at each request (so a reload applies it without a restart). */
  token?: string | (() => string | undefined);
  /** Host names accepted in the Host header besides IP literals, `localhost` and `host`. */
  allowedHosts?: readonly string[] | (() => readonly string[]);
  topology: Pick<Topology, "snapshot" | "setMaintenance" | "mode">;
  metrics: Pick<Metrics, "render">;
  logger: Logger;
  audit?: AdminAudit;
  sessions?: () => number;
  configInfo?: () => object;
  /** Where logins are checked (counts and times only). */
  accounts?: () => AccountsInfo;
  history?: () => HistoryDocument;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends PairgateError {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super("PAIRGATE_ADMIN_HTTP", message);
  }
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const h = header ?? "";
  if (h.length < 7 || h.slice(0, 7).toLowerCase() !== "bearer ") return false;
  const given = Buffer.from(h.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `body is not valid JSON: ${(e as Error).message}`);
  }
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower case; null if malformed. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(1, end) : null;
  }
  const colon = h.indexOf(":");
  return colon >= 0 ? h.slice(0, colon) : h;
}

/** An IPv4 or IPv6 literal: a name no DNS answer can rebind. */
function isIpLiteral(name: string): boolean {
  return isIP(name) !== 0;
}

/** `p` without trailing slashes (a loop: the regex /\/+$/ is quadratic on a run of slashes). */
function trimSlashes(p: string): string {
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 0x2f) end--;
  return end === p.length ? p : p.slice(0, end);
}

/** The media type of a Content-Type header (no parameters), lower case. */
function mediaType(header: string | undefined): string {
  if (!header) return "";
  const semi = header.indexOf(";");
  return (semi >= 0 ? header.slice(0, semi) : header).trim().toLowerCase();
}

const ROUTES: Record<string, readonly string[]> = {
  "/": ["GET", "HEAD"],
  "/status": ["GET", "HEAD"],
  "/history": ["GET", "HEAD"],
  "/healthz": ["GET", "HEAD"],
  "/readyz": ["GET", "HEAD"],
  "/metrics": ["GET", "HEAD"],
  "/maintenance": ["POST"],
  "/audit/deliver": ["POST"],
};

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const logger = opts.logger.child({ part: "admin" });
  const currentToken = (): string | undefined => {
    const t = typeof opts.token === "function" ? opts.token() : opts.token;
    return t && t.length > 0 ? t : undefined;
  };
  const allowedHosts = (): readonly string[] =>
    (typeof opts.allowedHosts === "function" ? opts.allowedHosts() : opts.allowedHosts) ?? [];
  const hostAllowed = (req: IncomingMessage): boolean => {
    const name = hostName(req.headers.host);
    if (name === null || name === "") return false;
    if (isIpLiteral(name) || name === "localhost" || name === opts.host.toLowerCase()) return true;
    return allowedHosts().some((h) => h.toLowerCase() === name);
  };

  const status = (): StatusDocument =>
    buildStatus({
      snapshot: opts.topology.snapshot(),
      audit: opts.audit ?? null,
      sessions: opts.sessions ?? null,
      configInfo: opts.configInfo ?? null,
      accounts: opts.accounts ?? null,
    });

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    type: string,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    const buf = Buffer.from(body, "utf8");
    res.writeHead(code, {
      "Content-Type": type,
      "Content-Length": String(buf.length),
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      ...headers,
    });
    res.end(req.method === "HEAD" ? undefined : buf);
  };
  const json = (req: IncomingMessage, res: ServerResponse, code: number, v: unknown, headers = {}) =>
    send(req, res, code, "application/json; charset=utf-8", `${JSON.stringify(v, null, 2)}\n`, headers);

  /** The browser rules for actions: JSON only, same origin only. */
  const checkActionRequest = (req: IncomingMessage) => {
    if (mediaType(req.headers["content-type"]) !== "application/json") {
      throw new HttpError(415, "actions accept only Content-Type: application/json");
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const host = req.headers.host ?? "";
      if (origin !== `http://${host}` && origin !== `https://${host}`) {
        throw new HttpError(403, `actions are not accepted from another origin (${origin.slice(0, 200)})`);
      }
    }
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      throw new HttpError(403, `actions are not accepted from a ${String(site).slice(0, 40)} request`);
    }
  };

  const authorize = (req: IncomingMessage) => {
    checkActionRequest(req);
    const token = currentToken();
    if (token) {
      if (!tokenMatches(req.headers.authorization, token)) {
        throw new HttpError(401, "this action needs Authorization: Bearer <admin.token>", {
          "WWW-Authenticate": 'Bearer realm="pairgate"',
        });
      }
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      throw new HttpError(403, "actions are accepted only from loopback when no admin.token is configured");
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req)) {
      throw new HttpError(
        421,
        `Host ${JSON.stringify((req.headers.host ?? "").slice(0, 200))} does not name this admin listener (an IP address, localhost, admin.host or admin.allowedHosts)`,
      );
    }
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    const path = trimSlashes(url.pathname);
    const methods = ROUTES[path];
    if (!methods) throw new HttpError(404, `no such path: ${path}`);
    const method = req.method ?? "GET";
    if (!methods.includes(method)) {
      throw new HttpError(405, `${method} is not allowed on ${path} (use ${methods.join(" or ")})`, {
        Allow: methods.join(", "),
      });
    }
    switch (path) {
      case "/":
        return send(req, res, 200, "text/html; charset=utf-8", renderStatusPage(status(), opts.history?.()), {
          "Content-Security-Policy":
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        });
      case "/status":
        return json(req, res, 200, status());
      case "/history":
        if (!opts.history) throw new HttpError(404, "no history in this admin server");
        return send(req, res, 200, "application/json; charset=utf-8", JSON.stringify(opts.history()));
      case "/healthz":
        return json(req, res, 200, { ok: true, uptimeSeconds: Math.round(process.uptime()) });
      case "/readyz": {
        const mode = opts.topology.mode;
        const audit = opts.audit?.journalProblem ?? null;
        const ready = mode !== "down" && audit === null;
        return json(req, res, ready ? 200 : 503, audit ? { ready, mode, audit } : { ready, mode });
      }
      case "/metrics": {
        const m = await opts.metrics.render();
        return send(req, res, 200, m.contentType, m.body);
      }
      case "/maintenance": {
        authorize(req);
        const body = await readJson(req);
        const readOnly = (body as { readOnly?: unknown } | null)?.readOnly;
        if (typeof readOnly !== "boolean") {
          throw new HttpError(400, 'expected a JSON body {"readOnly": true|false}');
        }
        logger.warn({ readOnly, from: req.socket.remoteAddress }, "maintenance requested");
        opts.topology.setMaintenance(readOnly);
        return json(req, res, 200, { ok: true, maintenance: readOnly, mode: opts.topology.mode });
      }
      case "/audit/deliver": {
        authorize(req);
        await readBody(req);
        if (!opts.audit) throw new HttpError(503, "audit is not enabled in this pairgate");
        const r = await opts.audit.deliverNow();
        logger.info({ delivered: r.delivered, from: req.socket.remoteAddress }, "audit delivery on request");
        return json(req, res, 200, { ok: true, delivered: r.delivered, pending: opts.audit.pending() });
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        if (err.status === 401 || err.status === 403 || err.status === 415) {
          logger.warn(
            { path: req.url, from: req.socket.remoteAddress, status: err.status },
            "admin action refused",
          );
        }
        json(req, res, err.status, { error: err.message }, err.headers);
        return;
      }
      logger.error({ err, path: req.url }, "admin request failed");
      json(req, res, 500, { error: (err as Error).message ?? String(err) });
    });
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  logger.info(
    { host: opts.host, port, token: currentToken() ? "set" : "none (actions from loopback only)" },
    "admin listening",
  );
  server.on("error", (err) => logger.error({ err }, "admin listener error"));

  let closing: Promise<void> | null = null;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Page viewers keep connections open; a shutdown does not wait for them.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
      return closing;
    },
  };
}
