/**
 * GTID positions as the catch-up needs them: the highest sequence number per replication stream.
 * Pure functions, no I/O.
 *
 * - MariaDB: a position is `domain-server-seq[,…]`, one GTID per domain (`gtid_slave_pos`,
 *   `Gtid_IO_Pos`, `last_gtid`). Within a domain, sequence numbers only grow (gtid_strict_mode),
 *   so "has applied X" is "its seq in X's domain is at least X's".
 * - MySQL: a GTID set is `uuid:1-5:7-9[,…]`; pairgate keeps the highest transaction number per
 *   source uuid (enough for "is it behind", not an exact set difference).
 */

export interface GtidEntry {
  /** MariaDB domain id, or MySQL source uuid. */
  readonly stream: string;
  /** MariaDB server id of the highest GTID seen in this domain ("" for MySQL). */
  readonly server: string;
  readonly seq: number;
  readonly flavor: "mariadb" | "mysql";
}

/** stream → highest entry. */
export type GtidPosition = Map<string, GtidEntry>;

const MARIADB_GTID = /^(\d+)-(\d+)-(\d+)$/;
const MYSQL_GTID = /^([0-9a-fA-F-]{36}|[0-9a-fA-F-]{36}:[A-Za-z0-9_]+):(.+)$/;

/** Add one GTID (or a whole position/set) to `pos`, keeping the highest per stream. Returns `pos`. */
export function mergeGtids(pos: GtidPosition, text: string): GtidPosition {
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const m = MARIADB_GTID.exec(part);
    if (m) {
      noteEntry(pos, { stream: m[1], server: m[2], seq: Number(m[3]), flavor: "mariadb" });
      continue;
    }
    const y = MYSQL_GTID.exec(part);
    if (y) {
      let hi = 0;
      for (const iv of y[2].split(":")) {
        const end = Number(iv.split("-").pop());
        if (Number.isFinite(end) && end > hi) hi = end;
      }
      if (hi > 0) noteEntry(pos, { stream: y[1].toLowerCase(), server: "", seq: hi, flavor: "mysql" });
    }
  }
  return pos;
}

function noteEntry(pos: GtidPosition, e: GtidEntry): void {
  const cur = pos.get(e.stream);
  if (!cur || e.seq > cur.seq) pos.set(e.stream, e);
}

export function parsePosition(text: string): GtidPosition {
  return mergeGtids(new Map(), text);
}

/** The union of positions: per stream, the higher. */
export function unionPositions(...positions: GtidPosition[]): GtidPosition {
  const out: GtidPosition = new Map();
  for (const p of positions) for (const e of p.values()) noteEntry(out, e);
  return out;
}

/** `0-1-42,1-1-7` (MariaDB) or `uuid:1-42,…` (MySQL), streams sorted. */
export function formatPosition(pos: GtidPosition): string {
  return [...pos.values()]
    .sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0))
    .map((e) => (e.flavor === "mariadb" ? `${e.stream}-${e.server}-${e.seq}` : `${e.stream}:1-${e.seq}`))
    .join(",");
}

/** A run of transactions in one stream that `have` lacks: seq `from` … `to` inclusive. */
export interface GtidGap {
  stream: string;
  server: string;
  from: number;
  to: number;
  flavor: "mariadb" | "mysql";
}

/** What `want` has beyond `have`, per stream (empty when `have` covers `want`). */
export function missingFrom(want: GtidPosition, have: GtidPosition): GtidGap[] {
  const gaps: GtidGap[] = [];
  for (const w of want.values()) {
    const h = have.get(w.stream)?.seq ?? 0;
    if (h < w.seq)
      gaps.push({ stream: w.stream, server: w.server, from: h + 1, to: w.seq, flavor: w.flavor });
  }
  return gaps;
}

/** `0-1-101..0-1-142` / `uuid:101-142`: a gap as the operator reads it. */
export function formatGap(g: GtidGap): string {
  if (g.flavor === "mysql") return `${g.stream}:${g.from}${g.to > g.from ? `-${g.to}` : ""}`;
  const one = (seq: number) => `${g.stream}-${g.server}-${seq}`;
  return g.to > g.from ? `${one(g.from)}..${one(g.to)}` : one(g.from);
}

/** How many transactions the gaps hold (at most: MariaDB sequence numbers may skip). */
export function gapCount(gaps: readonly GtidGap[]): number {
  let n = 0;
  for (const g of gaps) n += g.to - g.from + 1;
  return n;
}

/** Does `have` cover `want` (every stream at or beyond)? */
export function covers(have: GtidPosition, want: GtidPosition): boolean {
  return missingFrom(want, have).length === 0;
}

/**
 * GTIDs a replica has of its own (MariaDB): entries of its `@@gtid_binlog_pos` it did not receive
 * from its primary — beyond what `Gtid_IO_Pos` and `gtid_slave_pos` hold in their domain. Without
 * GTID replication (both empty), entries with the replica's own server id. A write happened on
 * the secondary: replication will diverge or break. Returns them as operators read them.
 */
export function localGtids(
  binlogPos: string,
  received: string,
  applied: string,
  ownServerId: number,
): string[] {
  const binlog = parsePosition(binlogPos);
  if (!received.trim() && !applied.trim())
    return [...binlog.values()]
      .filter((e) => e.flavor === "mariadb" && e.server === String(ownServerId))
      .map((e) => `${e.stream}-${e.server}-${e.seq}`);
  return missingFrom(binlog, unionPositions(parsePosition(received), parsePosition(applied))).map(formatGap);
}
