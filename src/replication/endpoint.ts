/** `HOST:PORT` addresses as the replication commands take them (`[::1]:3306` for IPv6). */
import { type Endpoint, formatEndpoint, sameEndpoint } from "../config/endpoint.js";
import { ReplicationError } from "./errors.js";

export { type Endpoint, formatEndpoint, sameEndpoint };

export function parseEndpoint(text: string, defaultPort = 3306): Endpoint {
  const t = text.trim();
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) {
    host = v6[1];
    port = v6[2];
  } else if ((t.match(/:/g) ?? []).length > 1) {
    host = t; // a bare IPv6 address: no port
  } else {
    const i = t.lastIndexOf(":");
    host = i < 0 ? t : t.slice(0, i);
    port = i < 0 ? undefined : t.slice(i + 1);
  }
  const n = port === undefined ? defaultPort : Number(port);
  if (!host || !Number.isInteger(n) || n < 1 || n > 65535 || (port !== undefined && !/^\d+$/.test(port)))
    throw new ReplicationError("PAIRGATE_REPL_ADDRESS", `not a HOST:PORT address: ${JSON.stringify(text)}`);
  return { host, port: n };
}
