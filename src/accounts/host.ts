/**
 * Which account a login is: `user@host` patterns matched and ordered the way MariaDB (and MySQL)
 * do it, so pairgate picks the row the server would pick.
 *
 * - Order (sql_acl.cc get_sort/acl_compare): a host without wildcards before one with them, a
 *   wildcard later in the pattern before one earlier ('10.0.0.%' before '10.%' before '%'), ''
 *   last; for the same host, a named user before the anonymous one.
 * - The login takes the first row of its user name whose host matches; an anonymous row ('')
 *   that matches takes over only when it sorts strictly before it (find_by_username_or_anon), so
 *   ''@'127.0.0.1' wins over 'u'@'%' and 'u'@'127.0.0.1' over ''@'127.0.0.1'.
 * - Host matching (compare_hostname): 'a.b.c.d/m.m.m.m' (and MySQL's CIDR 'a.b.c.d/n') by mask;
 *   else the pattern's % and _ against the client's IP, and against its host name — pairgate does
 *   no DNS, so the only name it knows is "localhost" for a loopback address, and only when the
 *   server resolves names (skip_name_resolve OFF), as the server then does.
 */

export interface HostPattern {
  /** As in mysql.user (lower-cased for the name comparison is done at match time). */
  host: string;
  /** IPv4 network and mask (host byte order) for 'a.b.c.d/m.m.m.m' or 'a.b.c.d/n'; else null. */
  net: { ip: number; mask: number } | null;
}

export function parseHostPattern(host: string): HostPattern {
  const slash = host.indexOf("/");
  if (slash > 0) {
    const ip = ipv4(host.slice(0, slash));
    const m = host.slice(slash + 1);
    const mask =
      /^\d{1,2}$/.test(m) && Number(m) <= 32
        ? Number(m) === 0
          ? 0
          : (~0 << (32 - Number(m))) >>> 0
        : ipv4(m);
    if (ip !== null && mask !== null) return { host, net: { ip: (ip & mask) >>> 0, mask } };
  }
  return { host, net: null };
}

function ipv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

/** get_sort() for one string: 128 without wildcards, the first wildcard's position (1-based, at most 127) with, 0 for ''. */
function sortPart(s: string): number {
  let chars = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length) i++;
    else if (c === "%" || c === "_") return Math.min(i + 1, 127);
    chars = 128;
  }
  return chars;
}

/** The server's sort key of an account: higher is more specific (tried first). */
export function accountSort(user: string, host: string): number {
  return sortPart(host) * 256 + sortPart(user);
}

/** SQL LIKE-style match with % and _ (and \ escaping), as the server's wild_compare. */
export function wildMatch(value: string, pattern: string, caseInsensitive: boolean): boolean {
  const v = caseInsensitive ? value.toLowerCase() : value;
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  // Iterative matcher with backtracking to the last %.
  let vi = 0;
  let pi = 0;
  let starP = -1;
  let starV = 0;
  while (vi < v.length) {
    if (pi < p.length) {
      const c = p[pi];
      if (c === "%") {
        starP = pi++;
        starV = vi;
        continue;
      }
      if (c === "\\" && pi + 1 < p.length) {
        if (p[pi + 1] === v[vi]) {
          pi += 2;
          vi++;
          continue;
        }
      } else if (c === "_" || c === v[vi]) {
        pi++;
        vi++;
        continue;
      }
    }
    if (starP < 0) return false;
    pi = starP + 1;
    vi = ++starV;
  }
  while (pi < p.length && p[pi] === "%") pi++;
  return pi === p.length;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;

/** Does a client at `ip` match the pattern? `resolvesNames`: the server's skip_name_resolve is OFF. */
export function hostMatches(pattern: HostPattern, ip: string, resolvesNames: boolean): boolean {
  if (pattern.host === "") return true;
  if (pattern.net) {
    const n = ipv4(ip);
    if (n !== null) return (n & pattern.net.mask) >>> 0 === pattern.net.ip;
  }
  if (resolvesNames && LOOPBACK.test(ip) && wildMatch("localhost", pattern.host, true)) return true;
  return wildMatch(ip, pattern.host, false);
}

export interface Sortable {
  user: string;
  host: string;
  sort: number;
}

/** The server's order: most specific first; for ties "localhost" first, then host names descending. */
export function compareAccounts(a: Sortable, b: Sortable): number {
  if (a.sort !== b.sort) return b.sort - a.sort;
  if (a.host === b.host) return 0;
  if (a.host === "localhost") return -1;
  if (b.host === "localhost") return 1;
  return a.host < b.host ? 1 : -1;
}

/**
 * The account a login as `user` from `ip` is, among `sorted` (in compareAccounts order), or null.
 */
export function pickAccount<T extends Sortable & { pattern: HostPattern }>(
  sorted: readonly T[],
  user: string,
  ip: string,
  resolvesNames: boolean,
): T | null {
  let found: T | null = null;
  for (const a of sorted) {
    if (a.user === user && hostMatches(a.pattern, ip, resolvesNames)) {
      found = a;
      break;
    }
  }
  for (const a of sorted) {
    if (a.user !== "") continue;
    if (found && a.sort <= found.sort) break;
    if (hostMatches(a.pattern, ip, resolvesNames)) return a;
  }
  return found;
}
