/**
 * What else reaches an audited table, from the server's catalog: views, triggers, routines and
 * events whose definitions name an audited name (transitively), and the tables they copy into.
 *
 * MariaDB 10.11 has no VIEW_TABLE_USAGE: the definitions (information_schema VIEWS.VIEW_DEFINITION,
 * ROUTINES.ROUTINE_DEFINITION, TRIGGERS.ACTION_STATEMENT, mysql.event's body) are read as text and
 * tokenized with pairgate's own lexer, under the sql_mode each was created with, and looked up the
 * way a client statement is (presence.ts): a name anywhere in a body is a reference. Until nothing
 * changes (a fixed point):
 * - a view whose definition names an audited name is audited (reading it reads the table);
 * - a routine whose body names one is audited (calling it may return the data);
 * - a trigger whose body names one, or whose table is audited (NEW/OLD are audited rows), makes its
 *   table and every table its body writes audited (it may copy the data there), and every routine
 *   its body names reaches audited data too (it may be handed the data);
 * - an event the same, for the tables its body writes;
 * - a table whose foreign key references an audited table is audited (its key columns hold the
 *   referenced values; ON UPDATE CASCADE copies them).
 * A definition pairgate's account cannot read (empty or NULL: a privilege is missing) or cannot lex
 * for sure counts as reaching: its view or routine is audited, a trigger's table too.
 *
 * Read from the serving backend at start, on an interval (audit.catalogRefreshMs) and shortly after
 * pairgate relays DDL; the queries are fixed text, never built from anything a client sent.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Connection, ConnectionOptions, RowDataPacket } from "mysql2/promise";
import mysql from "mysql2/promise";
import type { Logger } from "../observability/logger.js";
import { DEFAULT_DIALECT, type SqlDialect, withSqlMode } from "../sql/dialect.js";
import { K } from "../sql/keywords.js";
import {
  CH_DOT,
  CH_LPAREN,
  CH_SEMI,
  identText,
  Lexer,
  TOK_EOF,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_STRING,
  TOK_VAR,
  TOK_WORD,
} from "../sql/lexer.js";
import { tablesOf } from "../sql/tables.js";
import { type AuditedName, variableName } from "./presence.js";

export type CatalogKind = "view" | "routine" | "trigger" | "event" | "foreign_key" | "remote_table";

/** One object of the catalog. */
export interface CatalogObject {
  kind: CatalogKind;
  /** Lower-cased schema and name of the object (for a foreign key: the child table). */
  schema: string;
  name: string;
  /** A trigger's table; a foreign key's referenced table. */
  table?: { schema: string; name: string };
  /** The definition as the server keeps it; null: not readable by pairgate's account. */
  body: string | null;
  /** The sql_mode the object was created with (how its body is lexed). */
  sqlMode?: string;
  /** A remote_table's engine. */
  engine?: string;
}

/** What a definition mentions, read once per refresh. */
export interface BodyFacts {
  /** Every identifier: [qualifier or null, name], lower-cased. */
  idents: Array<[string | null, string]>;
  /** String literals' text, lower-cased. */
  strings: string[];
  /** Tables the body writes, `schema.name`. */
  writes: string[];
  /** Variables it mentions (`@x`, `@@x`): a trigger or routine may leave the data in one. */
  variables: string[];
  uncertain: boolean;
}

/** How a derived name came to be audited (detail.via of its events). */
function viaText(o: CatalogObject, reached: string): string {
  const what = o.kind === "foreign_key" ? "foreign key of" : o.kind.replace("_", " ");
  return `${what} ${o.schema}.${o.name} reaches ${reached}`;
}

/**
 * Reads a definition: identifiers, strings, and the tables it writes. Writes are found by the
 * statement words that write (INSERT, REPLACE, UPDATE, CREATE, ALTER, RENAME, LOAD), each read by
 * the table scanner up to the next `;`; `ON DUPLICATE KEY UPDATE`, `FOR UPDATE` and the INSERT() /
 * REPLACE() functions are not statements.
 */
export function bodyFacts(body: string, schema: string, dialect: SqlDialect = DEFAULT_DIALECT): BodyFacts {
  const lx = new Lexer(body, dialect);
  const idents: Array<[string | null, string]> = [];
  const strings: string[] = [];
  const starts: number[] = [];
  const semis: number[] = [];
  const variables: string[] = [];
  let prev = 0;
  let prevText = "";
  let prevKw = 0;
  lx.next();
  while (lx.type !== TOK_EOF) {
    const t = lx.type;
    if (t === TOK_WORD || t === TOK_QIDENT) {
      const text = identText(lx);
      idents.push([prev === 2 ? prevText : null, text]);
      const kw = t === TOK_WORD ? lx.kw : 0;
      if (
        (kw === K.INSERT || kw === K.REPLACE || kw === K.UPDATE || kw === K.CREATE) &&
        prevKw !== K.KEY &&
        prevKw !== K.FOR &&
        !lx.peekPunct(CH_LPAREN)
      )
        starts.push(lx.start);
      else if (kw === K.ALTER || kw === K.RENAME || kw === K.LOAD) starts.push(lx.start);
      prev = 1;
      prevText = text;
      prevKw = kw;
    } else {
      if (t === TOK_STRING) strings.push(body.slice(lx.start, lx.end).toLowerCase());
      if (t === TOK_VAR) {
        const v = variableName(lx.text());
        if (!variables.includes(v)) variables.push(v);
      }
      if (t === TOK_PUNCT && lx.ch === CH_SEMI) semis.push(lx.start);
      prev = t === TOK_PUNCT && lx.ch === CH_DOT && prev === 1 ? 2 : 0;
      prevKw = 0;
    }
    lx.next();
  }
  const writes: string[] = [];
  let s = 0;
  for (const start of starts) {
    while (s < semis.length && semis[s]! < start) s++;
    const end = s < semis.length ? semis[s]! : body.length;
    for (const w of tablesOf(body.slice(start, end), dialect).written) {
      const q = w.includes(".") ? w : `${schema}.${w}`;
      if (!writes.includes(q)) writes.push(q);
    }
  }
  return { idents, strings, writes, variables, uncertain: lx.uncertain };
}

function dialectFor(sqlMode: string | undefined): SqlDialect {
  return sqlMode ? withSqlMode(DEFAULT_DIALECT, sqlMode) : DEFAULT_DIALECT;
}

/** Lookup of audited names for the derivation (the same resolution as a statement's). */
class Known {
  readonly #byName = new Map<string, AuditedName[]>();
  add(n: AuditedName): boolean {
    const list = this.#byName.get(n.name);
    if (list === undefined) {
      this.#byName.set(n.name, [n]);
      return true;
    }
    if (list.some((e) => e.schema === null || e.schema === n.schema)) return false;
    list.push(n);
    return true;
  }
  find(qualifier: string | null, name: string, schema: string): AuditedName | null {
    const list = this.#byName.get(name);
    if (list === undefined) return null;
    const s = qualifier ?? schema;
    for (const e of list) if (e.schema === null || e.schema === s) return e;
    return null;
  }
  names(): IterableIterator<string> {
    return this.#byName.keys();
  }
}

/** The first audited name `facts` mention, resolved in `schema`. */
function reached(known: Known, f: BodyFacts, schema: string): AuditedName | null {
  for (const [q, n] of f.idents) {
    const e = known.find(q, n, schema);
    if (e !== null) return e;
  }
  for (const v of f.variables) {
    const e = known.find(null, v, schema);
    if (e !== null) return e;
  }
  if (f.strings.length > 0)
    for (const name of known.names())
      for (const s of f.strings)
        if (s.includes(name)) return known.find(null, name, schema) ?? { schema: null, name, rule: 0 };
  return null;
}

const show = (e: AuditedName) => (e.schema === null ? e.name : `${e.schema}.${e.name}`);

/**
 * The names that reach `seeds` through `objects` (seeds not repeated), each with the rule of the
 * seed it reaches and how. Linear in the definitions' size per pass; passes until nothing is added.
 */
export function deriveNames(
  objects: readonly CatalogObject[],
  seeds: readonly AuditedName[],
  facts: readonly (BodyFacts | null)[] = factsOf(objects),
): AuditedName[] {
  const known = new Known();
  for (const s of seeds) known.add(s);
  const out: AuditedName[] = [];
  const add = (schema: string, name: string, rule: number, via: string) => {
    const n: AuditedName = { schema, name, rule, via };
    if (known.add(n)) out.push(n);
  };
  const done = new Array<boolean>(objects.length).fill(false);
  const routines = new Set(objects.filter((o) => o.kind === "routine").map((o) => `${o.schema}.${o.name}`));
  // Routines handed audited data by a tainted body: their writes count as copies.
  const handed = new Map<string, AuditedName>();
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < objects.length; i++) {
      if (done[i]) continue;
      const o = objects[i]!;
      const f = facts[i]!;
      let hit: AuditedName | null = null;
      let why = "";
      if (o.kind === "remote_table") {
        // Where FEDERATED, SPIDER, CONNECT or MERGE read from is in table options pairgate does not
        // resolve: such a table may be any other table.
        hit = { schema: null, name: "", rule: 0 };
        why = `(engine ${o.engine}: reads other tables or servers)`;
      } else if (o.kind === "foreign_key") {
        hit = known.find(o.table!.schema, o.table!.name, o.schema);
        if (hit !== null) why = show(hit);
      } else if (f === null || f.uncertain) {
        hit = { schema: null, name: "", rule: 0 };
        why =
          f === null ? "(definition not readable by pairgate's account)" : "(definition read uncertainly)";
      } else {
        if (o.kind === "trigger") hit = known.find(o.table!.schema, o.table!.name, o.schema);
        hit ??= reached(known, f, o.schema);
        if (hit === null && o.kind === "routine") hit = handed.get(`${o.schema}.${o.name}`) ?? null;
        if (hit !== null) why = show(hit);
      }
      if (hit === null) continue;
      done[i] = true;
      changed = true;
      const via = viaText(o, why);
      if (o.kind === "view" || o.kind === "routine" || o.kind === "foreign_key" || o.kind === "remote_table")
        add(o.schema, o.name, hit.rule, via);
      if (o.kind === "trigger") add(o.table!.schema, o.table!.name, hit.rule, via);
      if (f !== null && (o.kind === "routine" || o.kind === "trigger" || o.kind === "event")) {
        for (const w of f.writes) {
          const dot = w.indexOf(".");
          add(w.slice(0, dot), w.slice(dot + 1), hit.rule, `${via}, written by it`);
        }
        for (const v of f.variables)
          if (known.add({ schema: null, name: v, rule: hit.rule, via }))
            out.push({ schema: null, name: v, rule: hit.rule, via });
        // Routines the body names may be handed the data.
        for (const [q, n] of f.idents) {
          const key = `${q ?? o.schema}.${n}`;
          if (routines.has(key) && !handed.has(key)) handed.set(key, hit);
        }
      }
    }
  }
  return out;
}

/** Each object's definition read (null: not readable). */
export function factsOf(objects: readonly CatalogObject[]): (BodyFacts | null)[] {
  return objects.map((o) => (o.body === null ? null : bodyFacts(o.body, o.schema, dialectFor(o.sqlMode))));
}

/** A CREATE of a view, trigger, routine or event, as the statement writes it. */
export interface DdlObject {
  kind: "view" | "routine" | "trigger" | "event";
  /** Lower-cased; schema null: the default schema. */
  schema: string | null;
  name: string;
  table?: { schema: string | null; name: string };
  /** The text after the header (AS … / the body). */
  body: string;
}

/**
 * Reads `CREATE [OR REPLACE] [DEFINER=…] [ALGORITHM=…] [SQL SECURITY …] VIEW|TRIGGER|FUNCTION|
 * PROCEDURE|EVENT [IF NOT EXISTS] name` (and ALTER VIEW / ALTER EVENT … DO): what the statement
 * creates, so that the names it makes reach audited data the moment it is relayed — before the
 * catalog is read again. Null for any other statement.
 */
export function ddlObject(sql: string, dialect: SqlDialect = DEFAULT_DIALECT): DdlObject | null {
  const lx = new Lexer(sql, dialect);
  lx.next();
  if (!(lx.isKw(K.CREATE) || lx.isKw(K.ALTER))) return null;
  let kind: DdlObject["kind"] | null = null;
  for (let i = 0; i < 64 && !lx.atEnd(); i++) {
    lx.next();
    if (lx.isPunct(CH_LPAREN)) return null; // a column list: CREATE TABLE t (event INT)
    if (lx.type !== TOK_WORD) continue;
    const kw = lx.kw;
    if (kw === K.TABLE || kw === K.INDEX || kw === K.DATABASE) return null;
    if (kw === K.VIEW) kind = "view";
    else if (kw === K.TRIGGER) kind = "trigger";
    else if (kw === K.FUNCTION || kw === K.PROCEDURE) kind = "routine";
    else if (kw === K.EVENT) kind = "event";
    else continue;
    break;
  }
  if (kind === null) return null;
  lx.next();
  while (lx.type === TOK_WORD && (lx.kw === K.IF || lx.kw === K.NOT || lx.kw === K.EXISTS)) lx.next();
  const first = readName(lx);
  if (first === null) return null;
  const o: DdlObject = { kind, schema: first[0], name: first[1], body: "" };
  if (kind === "trigger") {
    while (!lx.atEnd() && !lx.isKw(K.ON)) lx.next();
    lx.next();
    const t = readName(lx);
    if (t !== null) o.table = { schema: t[0], name: t[1] };
  }
  o.body = sql.slice(lx.start);
  return o;
}

function isIdent(lx: Lexer): boolean {
  return lx.type === TOK_WORD || lx.type === TOK_QIDENT;
}

/** `name` or `schema.name` at the lexer's token; moves past it. */
function readName(lx: Lexer): [string | null, string] | null {
  if (lx.type !== TOK_WORD && lx.type !== TOK_QIDENT) return null;
  const a = identText(lx);
  lx.next();
  if (lx.isPunct(CH_DOT)) {
    lx.next();
    if (!isIdent(lx)) return [null, a];
    const b = identText(lx);
    lx.next();
    return [a, b];
  }
  return [null, a];
}

const SYSTEM_SCHEMAS = "('mysql','sys','information_schema','performance_schema')";
/** The catalog queries: fixed text. */
export const CATALOG_QUERIES = {
  views: `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, VIEW_DEFINITION AS body FROM information_schema.VIEWS WHERE TABLE_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
  routines: `SELECT ROUTINE_SCHEMA AS s, ROUTINE_NAME AS n, ROUTINE_DEFINITION AS body, SQL_MODE AS m FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
  triggers: `SELECT TRIGGER_SCHEMA AS s, TRIGGER_NAME AS n, EVENT_OBJECT_SCHEMA AS ts, EVENT_OBJECT_TABLE AS tn, ACTION_STATEMENT AS body, SQL_MODE AS m FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
  // information_schema.EVENTS needs the EVENT privilege per schema; mysql.event needs SELECT on it.
  events:
    "SELECT db AS s, name AS n, CONVERT(body_utf8 USING utf8mb4) AS body, sql_mode AS m FROM mysql.event",
  foreignKeys: `SELECT DISTINCT TABLE_SCHEMA AS s, TABLE_NAME AS n, REFERENCED_TABLE_SCHEMA AS ts, REFERENCED_TABLE_NAME AS tn FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL AND TABLE_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
  remoteTables: `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, ENGINE AS e FROM information_schema.TABLES WHERE ENGINE IN ('FEDERATED', 'SPIDER', 'CONNECT', 'MRG_MyISAM') AND TABLE_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
} as const;

const low = (v: unknown) => String(v ?? "").toLowerCase();
const text = (v: unknown): string | null =>
  v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString("utf8") : String(v);

/** Reads the catalog over `conn`. A query the account may not run (mysql.event) counts as no rows, logged. */
export async function readCatalog(conn: Connection, log?: Logger): Promise<CatalogObject[]> {
  const out: CatalogObject[] = [];
  const q = async (name: keyof typeof CATALOG_QUERIES): Promise<RowDataPacket[]> => {
    try {
      const [rows] = await conn.query<RowDataPacket[]>(CATALOG_QUERIES[name]);
      return rows;
    } catch (e) {
      if (name !== "events") throw e;
      log?.warn(
        { err: (e as Error).message },
        "audit catalog: cannot read mysql.event (grant SELECT on it): events not resolved",
      );
      return [];
    }
  };
  for (const r of await q("views")) {
    const body = text(r.body);
    out.push({ kind: "view", schema: low(r.s), name: low(r.n), body: body ? body : null });
  }
  for (const r of await q("routines"))
    out.push({
      kind: "routine",
      schema: low(r.s),
      name: low(r.n),
      body: text(r.body),
      sqlMode: String(r.m ?? ""),
    });
  for (const r of await q("triggers"))
    out.push({
      kind: "trigger",
      schema: low(r.s),
      name: low(r.n),
      table: { schema: low(r.ts), name: low(r.tn) },
      body: text(r.body),
      sqlMode: String(r.m ?? ""),
    });
  for (const r of await q("events"))
    out.push({
      kind: "event",
      schema: low(r.s),
      name: low(r.n),
      body: text(r.body),
      sqlMode: String(r.m ?? ""),
    });
  for (const r of await q("foreignKeys"))
    out.push({
      kind: "foreign_key",
      schema: low(r.s),
      name: low(r.n),
      table: { schema: low(r.ts), name: low(r.tn) },
      body: "",
    });
  for (const r of await q("remoteTables"))
    out.push({ kind: "remote_table", schema: low(r.s), name: low(r.n), body: "", engine: String(r.e) });
  return out;
}

/** A backend as the config describes it (the service account). */
export interface ServiceBackend {
  host: string;
  port: number;
  user: string;
  password: string;
  tls?: { ca?: string; rejectUnauthorized: boolean };
}

/**
 * mysql2 options for pairgate's own connections with the service account (catalog reads, audit
 * delivery and verification): a short connect timeout, utf8mb4, the config's TLS with its CA file
 * read relative to `baseDir` (the config file's folder).
 */
export function serviceConnectionOptions(b: ServiceBackend, baseDir?: string): ConnectionOptions {
  return {
    host: b.host,
    port: b.port,
    user: b.user,
    password: b.password,
    connectTimeout: 3000,
    charset: "utf8mb4",
    ssl: b.tls
      ? {
          ca: b.tls.ca ? readFileSync(resolve(baseDir ?? process.cwd(), b.tls.ca), "utf8") : undefined,
          rejectUnauthorized: b.tls.rejectUnauthorized,
        }
      : undefined,
  };
}

/** A connection for one catalog read. */
export function catalogConnection(b: ServiceBackend, baseDir?: string): Promise<Connection> {
  return mysql.createConnection(serviceConnectionOptions(b, baseDir));
}

/** Reads caused by DDL start at least this far apart. */
export const MIN_DDL_GAP_MS = 1000;
/**
 * Reads caused by statements that may run DDL unseen (dynamic SQL, CALL) start at least this far
 * apart: applications that call procedures all the time must not turn into catalog reads.
 */
export const MIN_MAYBE_GAP_MS = 10_000;

export interface AuditCatalogOptions {
  /** A connection to the backend that serves now; closed after each read. */
  connect: () => Promise<Connection>;
  /** Read again this often (0: only at start and after DDL). */
  intervalMs: number;
  /** After DDL is relayed, read again this much later (the DDL has run by then). */
  afterDdlMs?: number;
  logger?: Logger;
}

/**
 * The catalog as last read, with a generation that changes with each read that changed it. Names
 * added while pairgate runs (copies: see AuditedNames) are not here: they are the rules' own.
 */
export class AuditCatalog {
  readonly #o: AuditCatalogOptions;
  #objects: CatalogObject[] = [];
  #generation = 0;
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #lastStart = 0;
  #soonAt = 0;
  #facts: (BodyFacts | null)[] = [];
  #factsGeneration = -1;
  /** The last read that failed, for status and tests; null after a good one. */
  lastError: string | null = null;
  /** When the last good read ended (epoch ms), null before one. */
  lastReadAt: number | null = null;
  /** When the last good read started (epoch ms): DDL relayed before then is in it. */
  lastReadStartedAt: number | null = null;
  /** Reads since start, and those that failed (metrics, status). */
  reads = 0;
  failures = 0;

  constructor(opts: AuditCatalogOptions) {
    this.#o = opts;
  }

  get generation(): number {
    return this.#generation;
  }

  get objects(): readonly CatalogObject[] {
    return this.#objects;
  }

  /** The objects' definitions read, once per generation (the names are derived again on every copy). */
  get facts(): readonly (BodyFacts | null)[] {
    if (this.#factsGeneration !== this.#generation) {
      this.#facts = factsOf(this.#objects);
      this.#factsGeneration = this.#generation;
    }
    return this.#facts;
  }

  /** Replaces the objects (tests; the refresh). */
  set(objects: CatalogObject[]): void {
    const same = JSON.stringify(objects) === JSON.stringify(this.#objects);
    this.#objects = objects;
    if (!same) this.#generation++;
  }

  start(): Promise<void> {
    this.#stopped = false;
    if (this.#o.intervalMs > 0 && this.#timer === null) {
      this.#timer = setInterval(() => void this.refresh(), this.#o.intervalMs);
      this.#timer.unref();
    }
    return this.refresh();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    this.#timer = this.#soon = null;
  }

  /**
   * DDL was relayed (`maybe`: a statement that may have run DDL unseen): read again shortly
   * (debounced; reads it causes start at least MIN_DDL_GAP_MS, or MIN_MAYBE_GAP_MS, apart, so a
   * client issuing DDL in a loop cannot turn the catalog read into load on the server).
   */
  changed(maybe = false): void {
    if (this.#stopped) return;
    const gap = maybe ? MIN_MAYBE_GAP_MS : MIN_DDL_GAP_MS;
    const now = Date.now();
    const wait = Math.max(this.#o.afterDdlMs ?? 200, this.#lastStart + gap - now);
    if (this.#soon) {
      if (now + wait >= this.#soonAt) return;
      clearTimeout(this.#soon); // a DDL after a CALL: sooner
    }
    this.#soonAt = now + wait;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      void this.refresh();
    }, wait);
    this.#soon.unref();
  }

  /** Read the catalog now (one read at a time; a call during a read runs one more after it). Never rejects. */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#read().finally(() => {
      this.#running = null;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.refresh();
      }
    });
    return this.#running;
  }

  async #read(): Promise<void> {
    const started = Date.now();
    this.#lastStart = started;
    let conn: Connection | null = null;
    try {
      conn = await this.#o.connect();
      const objects = await readCatalog(conn, this.#o.logger);
      this.set(objects);
      this.lastReadAt = Date.now();
      this.lastReadStartedAt = started;
      this.reads++;
      if (this.lastError !== null) this.#o.logger?.info("audit catalog: read again");
      this.lastError = null;
      const unreadable = objects.filter((o) => o.body === null).map((o) => `${o.kind} ${o.schema}.${o.name}`);
      if (unreadable.length > 0)
        this.#o.logger?.warn(
          { unreadable: unreadable.slice(0, 20), count: unreadable.length },
          "audit catalog: definitions pairgate's account cannot read are audited as if they reached an audited table (see README: the catalog's privileges)",
        );
    } catch (e) {
      const msg = (e as Error).message;
      this.reads++;
      this.failures++;
      if (this.lastError !== msg)
        this.#o.logger?.warn(
          { err: msg },
          "audit catalog: cannot read; the names derived last time stay audited",
        );
      this.lastError = msg;
    } finally {
      await conn?.end().catch(() => {});
    }
  }
}
