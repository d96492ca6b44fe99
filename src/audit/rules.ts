/**
 * Audit rules from the config, compiled once. `match` runs on every statement, so it first tests
 * the SQL text against one case-insensitive regex of the rules' bare table names and returns
 * null before calling the classifier when none occurs (the common case).
 */
import { RE2JS } from "re2js";
import type { AuditOperation } from "./event.js";
import { commentTagValue, startsWithInsert } from "./scan.js";

export interface AuditRuleConfig {
  operation: string;
  tables: string[];
  keyPattern?: string;
  appUserPattern?: string;
  appUserTag?: string;
}

/** The classifier's table extraction: lower-cased "schema.table" or "table". */
export type TablesOf = (sql: string) => { read: string[]; written: string[] };

export interface RuleMatch {
  operation: AuditOperation;
  /** The matched table, resolved against the default schema: `schema.table`. */
  object: string;
  key?: string;
  appUser?: string;
}

interface CompiledRule {
  operation: string;
  /** Qualified names must match exactly; unqualified ones match that table in any schema. */
  qualified: Set<string>;
  bare: Set<string>;
  key: RE2JS | null;
  appUser: RE2JS | null;
  /** Lower-cased comment tag name (appUserTag). */
  tag: string | null;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
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
 * `keyPattern` and `appUserPattern` see at most this many characters of a statement (its start).
 * They run in RE2's linear-time engine, whose cost per character is high: the bound keeps one
 * statement's pattern work to a few milliseconds. A key or user past it is not extracted (the
 * event is still recorded, with that field null).
 */
export const PATTERN_SCAN_LIMIT = 16 * 1024;

/**
 * An operator's pattern, compiled for RE2 (via re2js): matching takes time linear in the input
 * whatever the pattern, so no statement can make it backtrack. RE2 syntax: no lookaround, no
 * backreferences; `\s`, `\w`, `\b` are ASCII.
 */
function compilePattern(p: string | undefined, where: string): RE2JS | null {
  if (!p) return null;
  try {
    return RE2JS.compile(p, RE2JS.CASE_INSENSITIVE);
  } catch (e) {
    throw new Error(
      `${where}: invalid regular expression (RE2 syntax, linear-time: no lookaround or backreferences): ${(e as Error).message}`,
    );
  }
}

export class AuditRules {
  readonly #rules: CompiledRule[];
  readonly #precheck: RegExp | null;
  readonly #tablesOf: TablesOf;

  constructor(rules: readonly AuditRuleConfig[], tablesOf: TablesOf) {
    this.#tablesOf = tablesOf;
    const names = new Set<string>();
    this.#rules = rules.map((r, i) => {
      const qualified = new Set<string>();
      const bare = new Set<string>();
      for (const t of r.tables) {
        const n = normalizeTable(t);
        if (n.includes(".")) qualified.add(n);
        else bare.add(n);
        names.add(n.slice(n.lastIndexOf(".") + 1));
      }
      return {
        operation: r.operation,
        qualified,
        bare,
        key: compilePattern(r.keyPattern, `audit.rules.${i}.keyPattern`),
        appUser: compilePattern(r.appUserPattern, `audit.rules.${i}.appUserPattern`),
        tag: r.appUserTag ? r.appUserTag.toLowerCase() : null,
      };
    });
    this.#precheck =
      names.size === 0
        ? null
        : new RegExp(
            [...names]
              .sort((a, b) => b.length - a.length)
              .map(escapeRegex)
              .join("|"),
            "i",
          );
  }

  get size(): number {
    return this.#rules.length;
  }

  /** The first rule whose tables the statement reads, with key and app user extracted; else null. */
  match(sql: string, defaultSchema: string | null | undefined): RuleMatch | null {
    if (this.#precheck === null || !this.#precheck.test(sql)) return null;
    const { read } = this.#tablesOf(sql);
    if (read.length === 0) return null;
    for (const rule of this.#rules) {
      for (const t of read) {
        const resolved = resolveTable(t, defaultSchema);
        const bareName = resolved.slice(resolved.lastIndexOf(".") + 1);
        if (!rule.qualified.has(resolved) && !rule.bare.has(bareName)) continue;
        const m: RuleMatch = { operation: rule.operation, object: resolved };
        const key = rule.key ? firstCapture(rule.key, sql) : undefined;
        if (key !== undefined) m.key = key;
        const appUser =
          (rule.appUser ? firstCapture(rule.appUser, sql) : undefined) ??
          (rule.tag ? commentTagValue(sql, rule.tag) : undefined);
        if (appUser !== undefined) m.appUser = appUser;
        return m;
      }
    }
    return null;
  }
}

/** The first group that took part in the match (or the whole match), over the statement's start. */
function firstCapture(re: RE2JS, s: string): string | undefined {
  const m = re.matcher(s.length > PATTERN_SCAN_LIMIT ? s.slice(0, PATTERN_SCAN_LIMIT) : s);
  if (!m.find()) return undefined;
  for (let i = 1; i <= m.groupCount(); i++) {
    const g = m.group(i);
    if (g !== null) return g;
  }
  return m.group(0) ?? undefined;
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
