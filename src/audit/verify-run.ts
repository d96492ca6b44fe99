/**
 * Feeding the chain verifier (verify.ts): the audit table streamed from a server (a mysql2 query
 * stream, never loaded whole), a tab-separated dump of it, and the local journal; anchors read
 * from an anchor file or given on the command line; the report as text.
 */
import { createReadStream, existsSync, readFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import mysql from "mysql2";
import type { ChainKey } from "./chain.js";
import { CHAIN_COLUMNS, eventRow, HASHED_COLUMN_NAMES, HASHED_COLUMNS, quoteQualified } from "./delivery.js";
import type { AuditEvent } from "./event.js";
import { parseRecords, segmentName } from "./journal.js";
import {
  type Anchor,
  type ChainRow,
  ChainVerifier,
  looseProblem,
  type Problem,
  type VerifyReport,
} from "./verify.js";

/** The columns read, in this order: the hashed ones, then the chain members. */
const HASHED = HASHED_COLUMN_NAMES;
const SELECT = [...HASHED, ...CHAIN_COLUMNS].join(", ");
const INSTANCE = HASHED.indexOf("instance_id");
const SITE = HASHED.indexOf("site");

/** `YYYY-MM-DD HH:MM:SS[.fff]` (UTC) to Unix ms. */
export function datetimeMs(s: unknown): number | null {
  if (typeof s !== "string") return null;
  const t = Date.parse(`${s.replace(" ", "T")}Z`);
  return Number.isFinite(t) ? t : null;
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** A table row (SELECT's column order) as the verifier's input. */
export function rowFromColumns(v: readonly unknown[], source = "table"): ChainRow {
  const values = v.slice(0, HASHED_COLUMNS).map(text);
  const c = v.slice(HASHED_COLUMNS).map(text);
  return {
    rowId: values[0] ?? "",
    values,
    occurredAt: datetimeMs(values[1]),
    instanceId: values[INSTANCE] ?? null,
    site: values[SITE] ?? null,
    chain:
      c[0] === null || c[1] === null
        ? null
        : { id: c[0]!, seq: Number(c[1]), prev: c[2] ?? "", hash: c[3] ?? "", alg: c[4] ?? "" },
    source,
  };
}

/** A journal event as the verifier's input: the row delivery would insert for it. */
export function rowFromEvent(e: AuditEvent, source: string): ChainRow {
  return rowFromColumns(eventRow(e), source);
}

export interface ServerTarget {
  connection: mysql.ConnectionOptions;
  table: string;
}

export interface VerifyOptions {
  server?: ServerTarget;
  /** A tab-separated dump of the table (mysqldump --tab, SELECT … INTO OUTFILE). */
  dump?: string;
  journalDir?: string | null;
  keys?: readonly ChainKey[];
  anchors?: readonly Anchor[];
  /** Check only the newest this-many events of each chain (0: all). */
  range?: number;
}

export interface VerifyResult extends VerifyReport {
  /** What was read: "table passtrix.pairgate_audit on 127.0.0.1:3306", "journal /…". */
  sources: string[];
  journal: { records: number; pending: number } | null;
}

interface JournalEntry {
  hash: string;
  rowId: string;
  delivered: boolean;
  inTable: boolean;
  segment: string;
}

/** Stream a query's rows (as arrays) through `each`; the server sends as fast as we take them. */
function streamRows(
  conn: mysql.Connection,
  sql: string,
  values: unknown[],
  each: (row: unknown[]) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const q = conn.query({ sql, values, rowsAsArray: true });
    const s = q.stream({ highWaterMark: 512 });
    s.on("data", (r: unknown[]) => {
      try {
        each(r);
      } catch (e) {
        s.destroy(e as Error);
      }
    });
    s.on("error", reject);
    s.on("end", resolve);
  });
}

function connectServer(o: mysql.ConnectionOptions): Promise<mysql.Connection> {
  return new Promise((resolve, reject) => {
    const c = mysql.createConnection({
      ...o,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      charset: "utf8mb4",
    });
    c.connect((e) => (e ? reject(e) : resolve(c)));
  });
}

/** Read the journal folder's segments (no lock: reading only) into an index and its own check. */
async function readJournal(
  dir: string,
  verifier: ChainVerifier,
  report: (p: Problem) => void,
): Promise<{ index: Map<string, JournalEntry>; records: number; pending: number }> {
  const index = new Map<string, JournalEntry>();
  let committed = { segment: 0, offset: 0 };
  try {
    const p = JSON.parse(await fsp.readFile(join(dir, "position.json"), "utf8"));
    if (Number.isInteger(p.segment) && Number.isInteger(p.offset)) committed = p;
  } catch {
    // no position yet: nothing delivered
  }
  const segs = (await fsp.readdir(dir))
    .map((f) => /^seg-(\d{16})\.pgj$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  let records = 0;
  let pending = 0;
  for (const [i, seg] of segs.entries()) {
    const name = segmentName(seg);
    const buf = await fsp.readFile(join(dir, name));
    const parsed = parseRecords(buf, true);
    for (const sk of parsed.skipped) {
      // A torn tail of the newest segment is a write cut short (never acknowledged), not damage.
      if (sk.kind === "torn" && i === segs.length - 1) continue;
      report(
        looseProblem(
          "corrupt",
          `journal ${name} bytes ${sk.from}–${sk.to}: ${sk.kind === "torn" ? "a record cut short" : "a record that fails its checksum"} (the event in it cannot be read)`,
          `journal ${name}`,
        ),
      );
    }
    for (const r of parsed.records) {
      records++;
      const delivered = seg < committed.segment || (seg === committed.segment && r.at < committed.offset);
      if (!delivered) pending++;
      let e: AuditEvent;
      try {
        e = JSON.parse(r.payload.toString("utf8")) as AuditEvent;
      } catch {
        report(
          looseProblem(
            "corrupt",
            `journal ${name} offset ${r.at}: a record that is not JSON`,
            `journal ${name}`,
          ),
        );
        continue;
      }
      if (!e.chain) continue;
      const row = rowFromEvent(e, `journal ${name}`);
      verifier.push(row);
      index.set(`${e.chain.id}:${e.chain.seq}`, {
        hash: e.chain.hash,
        rowId: e.id,
        delivered,
        inTable: false,
        segment: name,
      });
    }
  }
  return { index, records, pending };
}

/** Split a tab-separated dump line (\N is NULL; backslash escapes as SELECT … INTO OUTFILE writes them). */
export function splitDumpLine(line: string): (string | null)[] {
  const out: (string | null)[] = [];
  let cur = "";
  let raw = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "\t") {
      out.push(raw === "\\N" ? null : cur);
      cur = "";
      raw = "";
      continue;
    }
    if (ch === "\\" && i + 1 < line.length) {
      const n = line[++i]!;
      raw += ch + n;
      cur +=
        n === "n"
          ? "\n"
          : n === "t"
            ? "\t"
            : n === "r"
              ? "\r"
              : n === "0"
                ? "\0"
                : n === "Z"
                  ? "\x1a"
                  : n === "b"
                    ? "\b"
                    : n;
      continue;
    }
    raw += ch;
    cur += ch;
  }
  out.push(raw === "\\N" ? null : cur);
  return out;
}

/** The dump's logical lines: a line ending in an odd number of backslashes continues (an escaped newline). */
async function* dumpRows(file: string): AsyncGenerator<(string | null)[]> {
  const rl = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  let pending = "";
  for await (const line of rl) {
    const full = pending + line;
    const m = /\\+$/.exec(full);
    if (m && m[0].length % 2 === 1) {
      pending = `${full.slice(0, -1)}\\n`;
      continue;
    }
    pending = "";
    if (full.length > 0) yield splitDumpLine(full);
  }
}

/**
 * Column order of a table this version made or migrated: id … detail, delivered_at, chain_*.
 * A dump is read in that order.
 */
function dumpToSelectOrder(cols: (string | null)[]): (string | null)[] {
  return [
    ...cols.slice(0, HASHED_COLUMNS),
    ...cols.slice(HASHED_COLUMNS + 1, HASHED_COLUMNS + 1 + CHAIN_COLUMNS.length),
  ];
}

export async function runVerify(o: VerifyOptions): Promise<VerifyResult> {
  const range = o.range ?? 0;
  const sources: string[] = [];
  let journal: VerifyResult["journal"] = null;
  let index = new Map<string, JournalEntry>();
  const journalProblems: Problem[] = [];
  if (o.journalDir && existsSync(o.journalDir)) {
    // The journal keeps only what is not yet delivered (and the last segment): a partial chain.
    const jv = new ChainVerifier({ keys: o.keys, partial: true, label: "journal record" });
    const j = await readJournal(o.journalDir, jv, (p) => journalProblems.push(p));
    const jr = jv.finish();
    journalProblems.push(...jr.problems);
    index = j.index;
    journal = { records: j.records, pending: j.pending };
    sources.push(`journal ${o.journalDir} (${j.records} records, ${j.pending} not yet delivered)`);
  }
  // An anchor naming an event still waiting in the journal (published before the primary took it):
  // the table cannot have it yet. The journal's delivered records stand for it (checked below).
  const notes: string[] = [];
  const anchors = (o.anchors ?? []).filter((a) => {
    if (a.chainId === null || a.seq === null) return true;
    const j = index.get(`${a.chainId}:${a.seq}`);
    if (!j || j.delivered || !j.hash.startsWith(a.hash)) return true;
    notes.push(
      `anchor ${a.chainId}:${a.seq} (${a.source}) names an event still in the journal, not yet delivered: the table is checked up to the journal's delivered events`,
    );
    return false;
  });
  const verifier = new ChainVerifier({ keys: o.keys, anchors, partial: range > 0 });
  for (const n of notes) verifier.note(n);
  const tableHead = new Map<string, number>();
  const onChained = (row: ChainRow) => {
    if (!row.chain) {
      // chain_id set but chain_seq NULL: no writer makes that.
      verifier.report(
        looseProblem(
          "inserted",
          `row ${row.rowId} has a chain id but no sequence number: inserted by hand`,
          row.source,
          [row.rowId],
        ),
      );
      return;
    }
    verifier.push(row);
    const c = row.chain!;
    tableHead.set(c.id, Math.max(tableHead.get(c.id) ?? 0, c.seq));
    const j = index.get(`${c.id}:${c.seq}`);
    if (!j) return;
    j.inTable = true;
    if (j.hash !== c.hash || j.rowId !== row.rowId)
      verifier.report({
        kind: "differs",
        chain: c.id,
        fromSeq: c.seq,
        toSeq: c.seq,
        rowIds: [...new Set([row.rowId, j.rowId])],
        message: `seq ${c.seq}: the table's row ${row.rowId} (hash ${c.hash.slice(0, 16)}…) differs from the journal's record ${j.rowId} in ${j.segment} (hash ${j.hash.slice(0, 16)}…)`,
      });
  };

  if (o.server) {
    const t = quoteQualified(o.server.table);
    const where = `${o.server.connection.host ?? "localhost"}:${o.server.connection.port ?? 3306}`;
    sources.push(
      `table ${o.server.table} on ${where}${range > 0 ? ` (newest ${range} events of each chain)` : ""}`,
    );
    const conn = await connectServer(o.server.connection);
    try {
      let chained = true;
      let since: string | null = null;
      try {
        if (range > 0) {
          const heads: Array<[string, string]> = [];
          await streamRows(
            conn,
            `SELECT chain_id, MAX(chain_seq) FROM ${t.sql} WHERE chain_id IS NOT NULL GROUP BY chain_id`,
            [],
            (r) => heads.push([String(r[0]), String(r[1])]),
          );
          for (const [id, max] of heads) {
            await streamRows(
              conn,
              `SELECT ${SELECT} FROM ${t.sql} WHERE chain_id = ? AND chain_seq > ? ORDER BY chain_id, chain_seq, id`,
              [id, Math.max(0, Number(max) - range)],
              (r) => {
                const row = rowFromColumns(r);
                if (row.occurredAt !== null && (since === null || row.values[1]! < since))
                  since = row.values[1] as string;
                onChained(row);
              },
            );
          }
        } else {
          await streamRows(
            conn,
            `SELECT ${SELECT} FROM ${t.sql} WHERE chain_id IS NOT NULL ORDER BY chain_id, chain_seq, id`,
            [],
            (r) => onChained(rowFromColumns(r)),
          );
        }
      } catch (e) {
        // A table no pairgate with the chain has delivered to yet: every row is before the chain.
        if ((e as { errno?: number }).errno !== 1054) throw e;
        chained = false;
        verifier.note(
          `the table has no chain columns yet (no pairgate with the hash chain has delivered to it): every row is before the chain`,
        );
      }
      verifier.endChained();
      const unchained = `SELECT id, occurred_at, instance_id, site FROM ${t.sql}${chained ? " WHERE chain_id IS NULL" : ""}${range > 0 && since !== null ? `${chained ? " AND" : " WHERE"} occurred_at >= ?` : ""} ORDER BY id`;
      await streamRows(conn, unchained, range > 0 && since !== null ? [since] : [], (r) => {
        const id = text(r[0]) ?? "";
        verifier.pushUnchained({
          rowId: id,
          values: [],
          occurredAt: datetimeMs(r[1]),
          instanceId: text(r[2]),
          site: text(r[3]),
          chain: null,
          source: "table",
        });
      });
    } finally {
      conn.destroy();
    }
  } else if (o.dump) {
    sources.push(`dump ${o.dump}`);
    for await (const cols of dumpRows(o.dump)) {
      const row = rowFromColumns(dumpToSelectOrder(cols), "dump");
      if (row.chain) onChained(row);
    }
    verifier.endChained();
    for await (const cols of dumpRows(o.dump)) {
      const row = rowFromColumns(dumpToSelectOrder(cols), "dump");
      if (!row.chain) verifier.pushUnchained(row);
    }
  }

  // Events the journal says were delivered, newer than anything of their chain in the table.
  if ((o.server || o.dump) && range === 0) {
    const gone = new Map<string, { from: number; to: number; ids: string[] }>();
    for (const [k, j] of index) {
      if (!j.delivered || j.inTable) continue;
      const [chain, seqText] = k.split(":") as [string, string];
      const seq = Number(seqText);
      if (seq <= (tableHead.get(chain) ?? 0)) continue; // a gap inside the chain: reported as deleted already
      const g = gone.get(chain) ?? { from: seq, to: seq, ids: [] };
      g.from = Math.min(g.from, seq);
      g.to = Math.max(g.to, seq);
      if (g.ids.length < 20) g.ids.push(j.rowId);
      gone.set(chain, g);
    }
    for (const [chain, g] of gone)
      verifier.report({
        kind: "truncated",
        chain,
        fromSeq: g.from,
        toSeq: g.to,
        rowIds: g.ids,
        message: `seq ${g.from}–${g.to}: delivered (the journal's position is past them) but not in the table: the newest events were deleted`,
        source: "journal",
      });
  }
  for (const p of journalProblems) verifier.report(p);
  const report = verifier.finish();
  return { ...report, sources, journal };
}

/**
 * Anchors from `--anchor` arguments: an anchor file (JSON lines written by pairgate: the newest
 * line of each chain counts), or `HASH`, `SEQ:HASH`, `CHAIN:SEQ:HASH` (a hash prefix of ≥ 12 hex digits).
 */
export function parseAnchors(args: readonly string[]): Anchor[] {
  const out: Anchor[] = [];
  for (const arg of args) {
    if (existsSync(arg)) {
      const newest = new Map<string, Anchor>();
      const lines = readFileSync(arg, "utf8").split("\n");
      for (const [i, line] of lines.entries()) {
        if (!line.trim()) continue;
        let a: { chain?: unknown; seq?: unknown; hash?: unknown };
        try {
          a = JSON.parse(line);
        } catch {
          throw new Error(`${arg}:${i + 1}: not an anchor line (JSON expected)`);
        }
        if (typeof a.chain !== "string" || !Number.isSafeInteger(a.seq) || typeof a.hash !== "string")
          throw new Error(`${arg}:${i + 1}: an anchor line needs chain, seq and hash`);
        const prev = newest.get(a.chain);
        if (!prev || (a.seq as number) >= (prev.seq ?? 0))
          newest.set(a.chain, {
            chainId: a.chain,
            seq: a.seq as number,
            hash: a.hash,
            source: `${arg}:${i + 1}`,
          });
      }
      out.push(...[...newest.values()].filter((a) => (a.seq ?? 0) > 0));
      continue;
    }
    const parts = arg.split(":");
    const hash = parts.at(-1)!.toLowerCase();
    if (!/^[0-9a-f]{12,64}$/.test(hash) || parts.length > 3)
      throw new Error(
        `--anchor ${arg}: neither a file nor [CHAIN:][SEQ:]HASH (a hash of at least 12 hex digits)`,
      );
    const seq = parts.length >= 2 ? Number(parts.at(-2)) : null;
    if (seq !== null && !Number.isSafeInteger(seq))
      throw new Error(`--anchor ${arg}: the sequence number is not a number`);
    out.push({ chainId: parts.length === 3 ? parts[0]! : null, seq, hash, source: "--anchor" });
  }
  return out;
}

const isoOrDash = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

/** The report as an operator reads it. */
export function formatVerifyReport(r: VerifyResult): string {
  const lines: string[] = [];
  for (const s of r.sources) lines.push(`checked: ${s}`);
  const instances = new Set(r.chains.flatMap((c) => c.instanceIds));
  lines.push(
    `chains: ${r.chains.length} (instances: ${[...instances].join(", ") || "-"}); events: ${r.events} chained, ${r.beforeChain.rows} before the chain`,
  );
  lines.push(`time range: ${isoOrDash(r.from)} – ${isoOrDash(r.to)}`);
  for (const c of r.chains) {
    lines.push(
      `  chain ${c.chainId}  instance ${c.instanceIds.join(",") || "-"}  site ${c.sites.join(",") || "-"}  seq ${c.firstSeq}–${c.lastSeq}  ${c.events} events  ${c.algs.join(",")}  head ${c.lastSeq}:${c.lastHash}`,
    );
  }
  if (r.beforeChain.rows > 0)
    lines.push(
      `before the chain: ${r.beforeChain.rows} row(s) delivered before the hash chain, ${isoOrDash(r.beforeChain.from)} – ${isoOrDash(r.beforeChain.to)} (not protected)`,
    );
  if (r.lastDigest)
    lines.push(`last digest: ${r.lastDigest.chainId}:${r.lastDigest.seq}:${r.lastDigest.hash}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  if (r.problems.length > 0) {
    lines.push(
      `PROBLEMS: ${r.problems.length}${r.problemsDropped ? ` (and ${r.problemsDropped} more not listed)` : ""}`,
    );
    for (const p of r.problems) {
      lines.push(
        `  ${p.kind.padEnd(9)} ${p.chain ? `chain ${p.chain} ` : ""}${p.source ? `[${p.source}] ` : ""}${p.message}`,
      );
    }
  }
  lines.push(
    r.ok
      ? "result: OK — every chain verified"
      : "result: FAILED — the audit trail was changed (see PROBLEMS)",
  );
  return `${lines.join("\n")}\n`;
}
