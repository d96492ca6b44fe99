/** A server's address as the config names it, and whether two of them name the same server. */

export interface Endpoint {
  host: string;
  port: number;
}

/** `host:port`, with IPv6 hosts in brackets (`[::1]:3306`). */
export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** Same server: same port, and hosts equal up to case or both loopback (localhost, 127.x, ::1). */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalHost(a.host) === normalHost(b.host);
}

function normalHost(h: string): string {
  const l = h.toLowerCase();
  return l === "localhost" || l === "::1" || l.startsWith("127.") ? "loopback" : l;
}
