/**
 * Names through which a statement runs a stored routine without calling it by name (issue 19): a
 * table with a trigger (a write to it runs the trigger's body), a view whose definition calls a
 * stored function, or names such a view or a table with a trigger (a write through an updatable
 * view runs its table's triggers), transitively. From the audit catalog's last read; the session
 * counts a statement that names one as running a routine (src/session/server-reports.ts), so the
 * follow-up reads the session state back and sets the secondary's guard again.
 *
 * Names are kept bare (no schema), lower-cased: a same-named table in another schema also counts,
 * which costs a read-back, never a miss. Recomputed only when the catalog's generation changes.
 */

import type { SqlDialect } from "../sql/dialect.js";
import { identText, Lexer, TOK_EOF, TOK_QIDENT, TOK_WORD } from "../sql/lexer.js";
import { type AuditCatalog, type BodyFacts, type CatalogObject, ddlObject } from "./catalog.js";

/** Longer statement texts are not lexed again for this: they count as naming one. */
export const MAX_REACH_SCAN = 1 << 20;

/** The part of the catalog this needs (AuditCatalog; tests pass a plain object). */
export type ReachSource = Pick<
  AuditCatalog,
  "generation" | "objects" | "facts" | "lastReadAt" | "lastReadStartedAt" | "changed"
>;

/** Names from relayed DDL kept until the next read: past this many, every statement counts until then. */
export const MAX_PENDING = 1000;

export class RoutineReach {
  #generation = -1;
  #names: ReadonlySet<string> = new Set();
  /** Trigger tables and view names of DDL pairgate relayed since the last read started. */
  readonly #pending = new Set<string>();
  #pendingSince = 0;

  /** `source` null: no catalog (never read): every statement counts (see `known`). */
  constructor(private readonly source: ReachSource | null) {}

  /**
   * The catalog was read: the names are known. Before that (or without a catalog) every statement
   * with text counts as running a routine — the conservative side: a lifted guard left in place is
   * a write on the secondary, a read-back too many is a few round trips.
   */
  get known(): boolean {
    const s = this.source;
    return s !== null && (s.lastReadAt !== null || s.generation > 0) && this.#pending.size <= MAX_PENDING;
  }

  /** Nothing to look for: the catalog was read and has no such name, none pending (the hot path). */
  get empty(): boolean {
    return this.#pending.size === 0 && this.known && this.names.size === 0;
  }

  /**
   * `sql` (CREATE / ALTER, relayed and answered OK) may add a trigger or a view: its table or name
   * counts from now on, until a catalog read that started after it (asked for here: with the
   * audit off nothing else asks) says what it is.
   */
  relayed(sql: string, dialect: SqlDialect): void {
    const s = this.source;
    if (s === null) return;
    const o = ddlObject(sql, dialect);
    if (o === null || (o.kind !== "trigger" && o.kind !== "view")) return;
    const name = o.kind === "trigger" ? o.table?.name : o.name;
    if (name === undefined) return;
    this.#pending.add(name);
    this.#pendingSince = Date.now();
    s.changed();
  }

  /** The bare names (tables with triggers, views reaching a routine or such a table). */
  get names(): ReadonlySet<string> {
    const s = this.source;
    if (this.#pending.size > 0 && s !== null && (s.lastReadStartedAt ?? 0) > this.#pendingSince)
      this.#pending.clear(); // the read saw that DDL
    if (s !== null && s.generation !== this.#generation) {
      this.#names = reachNames(s.objects, s.facts);
      this.#generation = s.generation;
    }
    return this.#names;
  }

  /**
   * Does `sql` (read in `dialect`) run a routine through a name it mentions? One Set lookup per
   * identifier, and only when there is a name to find.
   */
  runsThrough(sql: string, dialect: SqlDialect): boolean {
    const names = this.names; // first: clears what a read saw
    if (!this.known) return true;
    const pending = this.#pending;
    if (names.size === 0 && pending.size === 0) return false;
    if (sql.length > MAX_REACH_SCAN) return true;
    const lx = new Lexer(sql, dialect);
    lx.next();
    while (lx.type !== TOK_EOF) {
      if (lx.type === TOK_WORD || lx.type === TOK_QIDENT) {
        const n = identText(lx);
        if (names.has(n) || pending.has(n)) return true;
      }
      lx.next();
    }
    return lx.uncertain === true;
  }
}

/**
 * The bare names: every trigger's table; every view whose definition names a routine, a table
 * with a trigger or such a view (until nothing is added), or cannot be read for sure.
 */
export function reachNames(
  objects: readonly CatalogObject[],
  facts: readonly (BodyFacts | null)[],
): Set<string> {
  const out = new Set<string>();
  const routines = new Set<string>();
  const reaching = new Set<string>(); // qualified: schema.name
  for (const o of objects) {
    if (o.kind === "routine") routines.add(`${o.schema}.${o.name}`);
    else if (o.kind === "trigger" && o.table) {
      out.add(o.table.name);
      reaching.add(`${o.table.schema}.${o.table.name}`);
    }
  }
  const views: number[] = [];
  for (let i = 0; i < objects.length; i++) if (objects[i]!.kind === "view") views.push(i);
  for (let changed = true; changed; ) {
    changed = false;
    for (const i of views) {
      const o = objects[i]!;
      const key = `${o.schema}.${o.name}`;
      if (reaching.has(key)) continue;
      const f = facts[i];
      let hit = f == null || f.uncertain;
      if (!hit)
        for (const [q, n] of f!.idents) {
          const k = `${q ?? o.schema}.${n}`;
          if (routines.has(k) || reaching.has(k)) {
            hit = true;
            break;
          }
        }
      if (!hit) continue;
      reaching.add(key);
      out.add(o.name);
      changed = true;
    }
  }
  return out;
}
