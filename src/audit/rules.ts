/**
 * Audit rules from the config, compiled once. `match` runs on every statement, so it first tests
 * the SQL text against one case-insensitive regex of the rules' bare table names and returns
 * null before calling the classifier when none occurs (the common case).
 */
import type { AuditOperation } from "./event.js";

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
  key: RegExp | null;
  appUser: RegExp | null;
  tag: RegExp | null;
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
 * A regex capturing the value of `tag` inside a SQL comment: `/* app_user=alice *\/`,
 * `-- app_user: alice`, `# app_user='alice'`.
 */
export function commentTagRegex(tag: string): RegExp {
  const t = escapeRegex(tag);
  return new RegExp(
    `(?:\\/\\*(?:(?!\\*\\/)[\\s\\S])*?|(?:--|#)[^\\n]*?)\\b${t}\\s*[=:]\\s*["']?([^\\s"'*,;]+)`,
    "i",
  );
}

function compilePattern(p: string | undefined, where: string): RegExp | null {
  if (!p) return null;
  try {
    return new RegExp(p, "i");
  } catch (e) {
    throw new Error(`${where}: invalid regular expression: ${(e as Error).message}`);
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
        tag: r.appUserTag ? commentTagRegex(r.appUserTag) : null,
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
          (rule.tag ? firstCapture(rule.tag, sql) : undefined);
        if (appUser !== undefined) m.appUser = appUser;
        return m;
      }
    }
    return null;
  }
}

function firstCapture(re: RegExp, s: string): string | undefined {
  const m = re.exec(s);
  if (!m) return undefined;
  for (let i = 1; i < m.length; i++) if (m[i] !== undefined) return m[i];
  return m[0];
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
    if (!LEADING_INSERT.test(sql) || /\bon\s+duplicate\s+key\b/i.test(sql)) return null;
    const { read, written } = this.#tablesOf(sql);
    if (read.length > 0 || written.length !== 1) return null;
    const t = resolveTable(written[0]!, defaultSchema);
    if (this.#tables.has(t) || this.#tables.has(t.slice(t.lastIndexOf(".") + 1))) return t;
    return null;
  }
}

/** INSERT as the first keyword, after any comments. */
const LEADING_INSERT = /^(?:\s+|\/\*(?:(?!\*\/)[\s\S])*\*\/|(?:--\s|#)[^\n]*\n)*insert\b/i;
