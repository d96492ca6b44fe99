/**
 * Audit rules from the config, compiled once. `match` runs on every statement, so it first tests
 * the SQL text against one case-insensitive regex of every audited bare name and server-source word
 * and returns null before any token pass when none occurs and nothing in the statement could hide
 * an audited read (the common case).
 *
 * Audit by presence (presence.ts): a statement that names an audited table, view or routine
 * anywhere — any clause, any statement kind, whatever alias or CTE name shadows it — or reaches a
 * copy the server keeps (binlog events, other sessions' statements, query logs, …) gets an event.
 * The audited names are the rules' own, those the server's catalog shows reaching them (views,
 * routines, trigger targets: catalog.ts), and the tables a statement naming one writes while
 * pairgate runs (a copy: `INSERT … SELECT`, multi-table `UPDATE`, `CREATE TABLE … AS SELECT`, a
 * trigger created through pairgate); those are audited from then on.
 *
 * What a proxy cannot see, it does not pretend to resolve: a statement that calls a routine no rule
 * names (and `audit.safeRoutines` does not list), runs dynamic SQL (PREPARE / EXECUTE / EXECUTE
 * IMMEDIATE), reads a HANDLER whose table is not known, or whose text pairgate cannot read as the
 * server does (the lexer's `uncertain`) gets a conservative match: operation `unresolved_access`
 * with the list of what was not resolved, or, with `audit.unresolved: "refuse"`, a refusal for the
 * users the rules bind.
 */
import type { Logger } from "pino";
import { type Classification, classify } from "../sql/classify.js";
import type { SqlDialect } from "../sql/dialect.js";
import type { AuditCatalog } from "./catalog.js";
import { bodyFacts, ddlObject, deriveNames } from "./catalog.js";
import type { CopiesStore } from "./copies-store.js";
import type { AuditOperation } from "./event.js";
import { KeyPattern } from "./key-pattern.js";
import {
  type AuditedName,
  mayReachSource,
  NameIndex,
  presence,
  SOURCE_DEFAULT_SCHEMAS,
  SOURCE_VERBS,
  searchNameBytes,
  searchNames,
  variablesOf,
} from "./presence.js";
import { commentTagValue, startsWithInsert } from "./scan.js";

export interface AuditRuleConfig {
  operation: string;
  /** Tables (and views: a view is read like a table) whose reads are audited. */
  tables?: string[];
  /** Views, as `tables` (kept apart for readability of the config). */
  views?: string[];
  /** Stored functions and procedures whose calls are audited (`f(...)`, `CALL p`). */
  routines?: string[];
  /** Database users the rule binds (default: every user). */
  dbUsers?: string[];
  keyPattern?: string;
  appUserPattern?: string;
  appUserTag?: string;
}

/** The classifier's table extraction: lower-cased "schema.table" or "table". */
export type TablesOf = (
  sql: string,
  dialect?: SqlDialect,
) => { read: string[]; written: string[]; uncertain?: true };

/** The operation of a conservative match (see the module comment). */
export const UNRESOLVED_OPERATION = "unresolved_access";

export interface RuleMatch {
  operation: AuditOperation;
  /** The matched table, view or routine, resolved against the default schema: `schema.name`; "" for a conservative match. */
  object: string;
  key?: string;
  appUser?: string;
  /**
   * What pairgate could not resolve in the statement ("routine shop.f", "dynamic SQL",
   * "HANDLER h READ", "text read uncertainly"): the event should carry it (detail.unresolved).
   */
  unresolved?: string[];
  /** `audit.unresolved` is "refuse": refuse the statement (it did not run) instead of recording it as run. */
  refuse?: boolean;
  /**
   * How the matched object reaches audited data when it is not a rule's own name: "view
   * passtrix.v reaches passtrix.ptrx_passwords", "a copy the server keeps" (the event carries it
   * as detail.via).
   */
  via?: string;
}

/** How unresolved statements are treated (config `audit.unresolved`, `audit.safeRoutines`). */
export interface AuditResolveOptions {
  unresolved?: "audit" | "refuse";
  /** Routines known not to read audited objects: calling them is not "unresolved". */
  safeRoutines?: readonly string[];
}

/** What the session knows about a statement beyond its text. */
export interface AuditContext {
  /** The session's default schema (after the USEs the server accepted). */
  defaultSchema?: string | null;
  /** `classify(sql, dialect)` as the session already computed it; computed here when absent. */
  classification?: Classification;
  /** The session's dialect (see src/sql/dialect.ts). */
  dialect?: SqlDialect;
  /**
   * Open HANDLER handles: lower-cased handle name -> resolved `schema.table`, from the OPENs the
   * server accepted (Classification.handler), removed on CLOSE. Absent: every HANDLER READ is
   * unresolved.
   */
  handles?: ReadonlyMap<string, string>;
  /** The session's database user, for rules with `dbUsers`. Absent: every rule applies. */
  dbUser?: string | null;
  /**
   * The session is not sure of its default schema (a multi-statement with a USE failed part-way):
   * an unqualified name then matches a qualified rule by its bare name.
   */
  schemaUncertain?: boolean;
}

interface CompiledRule {
  operation: string;
  /** Qualified names must match exactly; unqualified ones match that table in any schema. */
  qualified: Set<string>;
  bare: Set<string>;
  /** Routines, the same way. */
  routinesQualified: Set<string>;
  routinesBare: Set<string>;
  dbUsers: Set<string> | null;
  key: KeyPattern | null;
  appUser: KeyPattern | null;
  /** Lower-cased comment tag name (appUserTag). */
  tag: string | null;
}

/** Statements that may add a view, trigger, routine or event: the catalog is read again after them. */
const DDL_VERBS: ReadonlySet<string> = new Set(["CREATE", "ALTER", "DROP", "RENAME"]);
/** Statements whose written tables receive no data (a single DELETE, DROP, TRUNCATE, LOCK). */
/** Words of the DDL that changes what the catalog derives (not CREATE TEMPORARY TABLE t (a INT), …). */
const CATALOG_DDL = /view|trigger|function|procedure|event|references|engine|rename/i;
const NO_COPY_VERBS: ReadonlySet<string> = new Set(["DELETE", "DROP", "TRUNCATE", "LOCK"]);
const ALL_RULES = () => true;

/** A statement that may hide an audited read without naming the table: worth classifying. */
const MAYBE_HIDDEN = /[(]|call|execute|prepare|handler|\/\*|show|load|get|;|create|alter|explain|desc/i;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Tables a stored program's body writes, `schema.name`. */
function bodyWrites(body: string, schema: string, dialect: SqlDialect | undefined): string[] {
  return bodyFacts(body, schema, dialect).writes;
}

export function normalizeTable(name: string): string {
  return name.replace(/`/g, "").trim().toLowerCase();
}

/** Resolve a classifier table name against the session's schema. */
export function resolveTable(name: string, defaultSchema: string | null | undefined): string {
  const n = normalizeTable(name);
  if (n.includes(".") || !defaultSchema) return n;
  return `${defaultSchema.toLowerCase()}.${n}`;
}

/**
 * `keyPattern` and `appUserPattern` see at most this many characters of a statement (its start):
 * RE2's cost per character is high, so the bound keeps one statement's pattern work to a few
 * milliseconds. A key or user past it is not extracted (the event is still recorded, with that
 * field null).
 */
export { PATTERN_SCAN_LIMIT } from "./key-pattern.js";

/**
 * An operator's pattern, in RE2 syntax: matching takes time linear in the input whatever the
 * pattern, so no statement can make it backtrack (key-pattern.ts: RE2 via re2js, or a direct scan
 * for a plain sequence, with the same answers). RE2 syntax: no lookaround, no backreferences;
 * `\s`, `\w`, `\b` are ASCII.
 */
function compilePattern(p: string | undefined, where: string): KeyPattern | null {
  if (!p) return null;
  try {
    return new KeyPattern(p);
  } catch (e) {
    throw new Error(
      `${where}: invalid regular expression (RE2 syntax, linear-time: no lookaround or backreferences): ${(e as Error).message}`,
    );
  }
}

/**
 * At most this many copies are remembered: every name is an alternative of the precheck every
 * statement of every session runs, so a session making copies in a loop must not grow it unbounded.
 */
export const MAX_COPIES = 1000;

/**
 * The audited names beyond the rules' own, shared by every compiled rule set of a process (a
 * config reload keeps them): the server's catalog, and the copies statements made through pairgate.
 */
export class AuditedNames {
  readonly catalog: AuditCatalog | null;
  readonly copies: AuditedName[] = [];
  #copyGeneration = 0;
  /** Copies not remembered because MAX_COPIES was reached. */
  dropped = 0;
  readonly #log: Logger | undefined;
  readonly #store: CopiesStore | undefined;

  /** `store`: where copies survive a restart (loaded now, saved on each change). */
  constructor(catalog: AuditCatalog | null = null, logger?: Logger, store?: CopiesStore) {
    this.catalog = catalog;
    this.#log = logger;
    this.#store = store;
    if (store !== undefined) {
      for (const n of store.load().slice(0, MAX_COPIES)) this.copies.push(n);
      if (this.copies.length > 0) this.#copyGeneration++;
    }
  }

  /** Changes whenever the copies do. */
  get copyGeneration(): number {
    return this.#copyGeneration;
  }

  addCopy(n: AuditedName): void {
    if (this.copies.some((c) => c.name === n.name && c.schema === n.schema)) return;
    if (this.copies.length >= MAX_COPIES) {
      // Logged at powers of two: a loop of copies cannot flood the log either.
      if ((++this.dropped & (this.dropped - 1)) === 0)
        this.#log?.warn(
          { table: `${n.schema ?? "*"}.${n.name}`, dropped: this.dropped, max: MAX_COPIES },
          "audit: too many copies of audited data to remember; this table is not audited (list it in audit.rules)",
        );
      return;
    }
    this.copies.push(n);
    this.#copyGeneration++;
    this.#store?.save(this.copies);
  }

  /** Resolves when the copies are saved (shutdown, tests). */
  flush(): Promise<void> {
    return this.#store?.flush() ?? Promise.resolve();
  }

  /** The catalog saw DDL go by (`maybe`: dynamic SQL or a CALL that may have run some): read it again soon. */
  ddlRelayed(maybe = false): void {
    this.catalog?.changed(maybe);
  }
}

export class AuditRules {
  readonly #rules: CompiledRule[];
  readonly #tablesOf: TablesOf;
  readonly #refuse: boolean;
  readonly #safe: Set<string>;
  /** The rules' own names: the seeds of everything derived. */
  readonly #seeds: AuditedName[] = [];
  readonly #shared: AuditedNames;
  /** Every audited name now, and the precheck over them; rebuilt when #shared changes. */
  #index = new NameIndex();
  #precheck: RegExp | null = null;
  /** The catalog's and the copies' generations the index was built from (-1: never). */
  #catalogGeneration = -1;
  #lastSchema: string | null = null;
  #lastSchemaIsSource = false;
  #copyGeneration = -1;
  /** Names the catalog made audited in the index now. */
  #derivedCount = 0;

  constructor(
    rules: readonly AuditRuleConfig[],
    tablesOf: TablesOf,
    opts: AuditResolveOptions = {},
    shared: AuditedNames = new AuditedNames(),
  ) {
    this.#tablesOf = tablesOf;
    this.#refuse = opts.unresolved === "refuse";
    this.#safe = new Set((opts.safeRoutines ?? []).map(normalizeTable));
    this.#shared = shared;
    const seed = (n: string, rule: number) => {
      const dot = n.lastIndexOf(".");
      this.#seeds.push({ schema: dot < 0 ? null : n.slice(0, dot), name: n.slice(dot + 1), rule });
    };
    this.#rules = rules.map((r, i) => {
      const qualified = new Set<string>();
      const bare = new Set<string>();
      for (const t of [...(r.tables ?? []), ...(r.views ?? [])]) {
        const n = normalizeTable(t);
        if (n.includes(".")) qualified.add(n);
        else bare.add(n);
        seed(n, i);
      }
      const routinesQualified = new Set<string>();
      const routinesBare = new Set<string>();
      for (const t of r.routines ?? []) {
        const n = normalizeTable(t);
        if (n.includes(".")) routinesQualified.add(n);
        else routinesBare.add(n);
        seed(n, i);
      }
      return {
        operation: r.operation,
        qualified,
        bare,
        routinesQualified,
        routinesBare,
        dbUsers: r.dbUsers && r.dbUsers.length > 0 ? new Set(r.dbUsers.map((u) => u.toLowerCase())) : null,
        key: compilePattern(r.keyPattern, `audit.rules.${i}.keyPattern`),
        appUser: compilePattern(r.appUserPattern, `audit.rules.${i}.appUserPattern`),
        tag: r.appUserTag ? r.appUserTag.toLowerCase() : null,
      };
    });
    this.#refreshNames();
  }

  /** Rebuilds the index and the precheck when the shared names changed (a catalog read, a copy). */
  #refreshNames(): void {
    const shared = this.#shared;
    const cat = shared.catalog === null ? 0 : shared.catalog.generation;
    if (cat === this.#catalogGeneration && shared.copyGeneration === this.#copyGeneration) return;
    this.#catalogGeneration = cat;
    this.#copyGeneration = shared.copyGeneration;
    const index = new NameIndex();
    for (const s of this.#seeds) index.add(s);
    // A copy keeps the index of the rule it was made under: after a reload (or from the saved
    // file) that rule may be gone — the first rule then stands for it.
    const last = this.#rules.length - 1;
    const copies = this.#shared.copies.map((c) => (c.rule <= last ? c : { ...c, rule: 0 }));
    for (const c of copies) index.add(c);
    const catalog = this.#shared.catalog;
    this.#derivedCount = 0;
    if (catalog !== null && catalog.objects.length > 0)
      for (const d of deriveNames(catalog.objects, [...this.#seeds, ...copies], catalog.facts)) {
        index.add(d);
        this.#derivedCount++;
      }
    this.#index = index;
    // Variables (`@x`, `@@x`) are found by their `@`: their names may be quoted or scoped in the text.
    const names = [...index.names()]
      .filter((n) => n.charCodeAt(0) !== 64)
      .sort((a, b) => b.length - a.length)
      .map(escapeRegex);
    if (index.hasVariables) names.push("@");
    if (index.hasVariables) names.push("variables");
    this.#precheck = names.length === 0 ? null : new RegExp(names.join("|"), "i");
  }

  /** How many names are audited now because the server's catalog shows them reaching an audited one. */
  get derivedNames(): number {
    this.#refreshNames();
    return this.#derivedCount;
  }

  /**
   * May this statement add a view, trigger, routine or event? DDL that says so: read the catalog
   * again soon; dynamic SQL or a procedure call (either may run such DDL unseen): less soon.
   */
  #catalogChanges(c: Classification, sql: string): void {
    if (DDL_VERBS.has(c.verb)) {
      if (CATALOG_DDL.test(sql)) this.#shared.ddlRelayed();
    } else if (c.dynamic || c.verb === "CALL") this.#shared.ddlRelayed(true);
  }

  /** Is the default schema one whose unqualified names may be server sources? (Cached: one schema per session, mostly.) */
  #sourceSchema(schema: string | null): boolean {
    if (schema === null) return false;
    if (schema !== this.#lastSchema) {
      this.#lastSchema = schema;
      this.#lastSchemaIsSource = SOURCE_DEFAULT_SCHEMAS.has(schema.toLowerCase());
    }
    return this.#lastSchemaIsSource;
  }

  /** Every audited bare name now (rules, catalog, copies), lower-cased. */
  auditedNames(): string[] {
    this.#refreshNames();
    return [...this.#index.names()];
  }

  /**
   * For a statement too large to lex (src/sql/digest.ts's bound): a plain search of its text or raw
   * bytes for any audited bare name or server-source word. A hit is a match of the first rule that
   * binds `dbUser` (object: the word found); null when none occurs or no rule binds the user.
   */
  matchUnlexed(text: string | Uint8Array, dbUser?: string | null): RuleMatch | null {
    if (this.#rules.length === 0) return null;
    this.#refreshNames();
    const user = dbUser === undefined ? undefined : (dbUser ?? "").toLowerCase();
    const rule = this.#rules.find((r) => user === undefined || r.dbUsers === null || r.dbUsers.has(user));
    if (rule === undefined) return null;
    const names = this.#index.names();
    const hit = typeof text === "string" ? searchNames(text, names) : searchNameBytes(text, names);
    if (hit === null) return null;
    return { operation: rule.operation, object: hit, via: "named in a statement too large to read" };
  }

  get size(): number {
    return this.#rules.length;
  }

  /**
   * The first rule whose tables, views or routines the statement reads, with key and app user
   * extracted; a conservative match when the statement cannot be resolved (see the module comment);
   * else null. The second argument is the session's default schema (the original signature) or an
   * `AuditContext`.
   */
  match(sql: string, context: string | null | undefined | AuditContext): RuleMatch | null {
    if (this.#rules.length === 0) return null;
    const ctx: AuditContext =
      typeof context === "object" && context !== null ? context : { defaultSchema: context ?? null };
    const defaultSchema = ctx.defaultSchema ?? null;
    let c = ctx.classification;
    // DDL may add a view, trigger or routine that reaches an audited table: read the catalog again
    // soon, whoever sent it (what it adds at once is below, for the statements that name one).
    if (c !== undefined) this.#catalogChanges(c, sql);
    this.#refreshNames();
    let named =
      this.#precheck?.test(sql) === true || mayReachSource(sql) || this.#sourceSchema(defaultSchema);
    if (c === undefined) {
      if (!named && !MAYBE_HIDDEN.test(sql)) return null;
      c = classify(sql, ctx.dialect);
      this.#catalogChanges(c, sql);
    }
    // Sources found by the statement's verb, multi-statements (a USE or SHOW after the first), and
    // DDL (rare; its strings may name a table through escapes the raw-text precheck does not undo:
    // CONNECTION='…/ptr\x_passwords').
    if (!named && (c.multi || SOURCE_VERBS.has(c.verb) || DDL_VERBS.has(c.verb))) named = true;
    if (
      !named &&
      c.routines === undefined &&
      c.dynamic === undefined &&
      c.uncertain === undefined &&
      !(c.handler !== undefined && c.handler.op === "read")
    )
      return null;
    let rules = this.#rules;
    if (ctx.dbUser !== undefined) {
      const user = (ctx.dbUser ?? "").toLowerCase();
      rules = rules.filter((r) => r.dbUsers === null || r.dbUsers.has(user));
      if (rules.length === 0) return null;
    }

    let unresolved: string[] | undefined;
    const unresolve = (what: string) => {
      if (unresolved === undefined) unresolved = [what];
      else if (!unresolved.includes(what)) unresolved.push(what);
    };
    let found: { rule: CompiledRule; object: string; via?: string } | null = null;
    /** Found by presence in the text (a name or a server source): what the statement writes becomes a copy. */
    let present = false;

    if (c.uncertain) unresolve("text read uncertainly (sql_mode, character set or executable comment)");
    if (c.dynamic) unresolve("dynamic SQL (PREPARE / EXECUTE)");
    if (named) {
      const bound = rules === this.#rules ? null : new Set(rules);
      const ruleOk = bound === null ? ALL_RULES : (i: number) => bound.has(this.#rules[i]!);
      const p = presence(this.#index, {
        sql,
        dialect: ctx.dialect,
        defaultSchema,
        anySchema: ctx.schemaUncertain === true,
        ruleOk,
      });
      if (p.uncertain) unresolve("text read uncertainly (sql_mode, character set or executable comment)");
      if (p.name !== null) {
        found = { rule: this.#rules[p.name.rule]!, object: p.object };
        if (p.name.via !== undefined) found.via = p.name.via;
        present = true;
      } else if (p.source !== null) {
        found = { rule: rules[0]!, object: p.source, via: "a copy of data the server keeps" };
        present = true;
      } else if (p.uncertain || c.uncertain) {
        // Read uncertainly: a name anywhere in the raw text counts (the server may read it as one).
        const hit = searchNames(sql, this.#index.names());
        if (hit !== null) {
          found = { rule: rules[0]!, object: hit, via: "named in text read uncertainly" };
          present = true;
        }
      }
    }
    if (c.routines !== undefined) {
      for (const r of c.routines) {
        const resolved = resolveTable(r, defaultSchema);
        const bareName = resolved.slice(resolved.lastIndexOf(".") + 1);
        const rule = rules.find((x) => x.routinesQualified.has(resolved) || x.routinesBare.has(bareName));
        if (rule !== undefined) found ??= { rule, object: resolved };
        else if (found === null && !this.#safe.has(resolved) && !this.#safe.has(bareName))
          unresolve(`routine ${resolved}`);
      }
    }
    if (c.handler !== undefined && c.handler.op === "read") {
      const table = ctx.handles?.get(c.handler.name);
      if (table !== undefined) found ??= this.#tableRule(rules, table, defaultSchema) ?? this.#derived(table);
      else if (ctx.handles === undefined) unresolve(`HANDLER ${c.handler.name} READ`);
    }
    if (found === null && unresolved === undefined) return null;
    if (present && found !== null) this.#copies(sql, c, ctx, found.rule, found.object);
    const m: RuleMatch =
      found !== null
        ? { operation: found.rule.operation, object: found.object }
        : { operation: UNRESOLVED_OPERATION, object: "" };
    if (found !== null) {
      const rule = found.rule;
      const key = rule.key ? rule.key.firstCapture(sql) : undefined;
      if (key !== undefined) m.key = key;
      const appUser =
        (rule.appUser ? rule.appUser.firstCapture(sql) : undefined) ??
        (rule.tag ? commentTagValue(sql, rule.tag) : undefined);
      if (appUser !== undefined) m.appUser = appUser;
      if (found.via !== undefined) m.via = found.via;
    }
    if (unresolved !== undefined) {
      m.unresolved = unresolved;
      if (this.#refuse) m.refuse = true;
    }
    return m;
  }

  /**
   * A statement that names an audited object: the tables it writes may now hold audited data (a
   * copy), and a view, trigger or routine it creates reaches it. Recorded at once — before the
   * statement has run and before the catalog is read again — for every session of this process.
   */
  #copies(sql: string, c: Classification, ctx: AuditContext, rule: CompiledRule, object: string): void {
    const ruleIndex = this.#rules.indexOf(rule);
    const schema = ctx.defaultSchema ? ctx.defaultSchema.toLowerCase() : null;
    const via = `written by a statement naming ${object}`;
    const copy = (qualified: string, why = via) => {
      const dot = qualified.indexOf(".");
      const n: AuditedName =
        dot < 0
          ? { schema, name: qualified, rule: ruleIndex, via: why }
          : { schema: qualified.slice(0, dot), name: qualified.slice(dot + 1), rule: ruleIndex, via: why };
      if (this.#index.lookup(n.name, n.schema, schema, false, ALL_RULES) !== null) return;
      this.#shared.addCopy(n);
    };
    // A read writes no table (its INTO names variables or files); a single DELETE, DROP, … copies nothing.
    if (c.multi || (c.kind !== "read" && !NO_COPY_VERBS.has(c.verb)))
      for (const w of this.#tablesOf(sql, ctx.dialect).written) copy(normalizeTable(w));
    // Variables it assigns (or mentions) may now hold the data: `SET @x = (SELECT …)`,
    // `… INTO @x`, `@x := …`, `SET SESSION v = (SELECT …)`.
    const variable = (name: string) => {
      if (this.#index.get(name) === undefined)
        this.#shared.addCopy({
          schema: null,
          name,
          rule: ruleIndex,
          via: `assigned by a statement naming ${object}`,
        });
    };
    for (const v of variablesOf(sql, ctx.dialect)) variable(v);
    for (const ch of c.session ?? [])
      if (ch.name && (ch.type === "variable" || ch.type === "user_variable"))
        variable(`${ch.type === "variable" ? "@@" : "@"}${ch.name.toLowerCase()}`);
    if (c.verb === "CREATE" || c.verb === "ALTER") {
      const o = ddlObject(sql, ctx.dialect);
      if (o !== null && o.kind !== "view") {
        const objSchema = o.schema ?? schema ?? "";
        const why = `${o.kind} ${objSchema}.${o.name} created naming ${object}`;
        if (o.kind === "routine") copy(`${objSchema}.${o.name}`, why);
        if (o.table) copy(`${o.table.schema ?? objSchema}.${o.table.name}`, why);
        for (const w of bodyWrites(o.body, objSchema, ctx.dialect)) copy(w, `${why}, written by it`);
      }
    }
  }

  /** A handle's table that is audited because it is a view, copy or other derived name (not a rule's own). */
  #derived(table: string): { rule: CompiledRule; object: string; via?: string } | null {
    const dot = table.lastIndexOf(".");
    const name = table.slice(dot + 1);
    const e = this.#index.lookup(name, dot < 0 ? null : table.slice(0, dot), null, dot < 0, ALL_RULES);
    if (e === null) return null;
    const found: { rule: CompiledRule; object: string; via?: string } = {
      rule: this.#rules[e.rule]!,
      object: table,
    };
    if (e.via !== undefined) found.via = e.via;
    return found;
  }

  #tableRule(
    rules: readonly CompiledRule[],
    table: string,
    defaultSchema: string | null,
    anySchema = false,
  ): { rule: CompiledRule; object: string } | null {
    const resolved = resolveTable(table, defaultSchema);
    const bareName = resolved.slice(resolved.lastIndexOf(".") + 1);
    for (const rule of rules) {
      if (rule.qualified.has(resolved) || rule.bare.has(bareName)) return { rule, object: resolved };
      if (anySchema)
        for (const q of rule.qualified) if (q.endsWith(`.${bareName}`)) return { rule, object: q };
    }
    return null;
  }
}

/**
 * `audit.captureTables`: which INSERTs may be journaled during read-only mode and replayed later.
 * Only a plain INSERT (no INSERT ... SELECT, no REPLACE, no ON DUPLICATE KEY UPDATE) whose every
 * written table is listed and that reads nothing; anything else keeps the 1290 refusal.
 */
export class CaptureTables {
  readonly #tables: Set<string>;
  readonly #precheck: RegExp | null;
  readonly #tablesOf: TablesOf;

  constructor(tables: readonly string[], tablesOf: TablesOf) {
    this.#tablesOf = tablesOf;
    this.#tables = new Set(tables.map(normalizeTable));
    const bare = [...this.#tables].map((t) => t.slice(t.lastIndexOf(".") + 1));
    this.#precheck = bare.length ? new RegExp(bare.map(escapeRegex).join("|"), "i") : null;
  }

  /** The resolved table if `sql` is a capturable INSERT, else null. */
  match(sql: string, defaultSchema: string | null | undefined): string | null {
    if (this.#precheck === null || !this.#precheck.test(sql)) return null;
    // ON_DUPLICATE_KEY is linear: each "on" is tried once, over the whitespace run after it.
    if (!startsWithInsert(sql) || ON_DUPLICATE_KEY.test(sql)) return null;
    const { read, written } = this.#tablesOf(sql);
    if (read.length > 0 || written.length !== 1) return null;
    const t = resolveTable(written[0]!, defaultSchema);
    if (this.#tables.has(t) || this.#tables.has(t.slice(t.lastIndexOf(".") + 1))) return t;
    return null;
  }
}

const ON_DUPLICATE_KEY = /\bon\s+duplicate\s+key\b/i;
