/**
 * No import circle in src/: the graph of value imports (`import type`, imports whose every name is
 * `type`, and `export type … from` left out — they vanish at compile time) has no cycle. A cycle is
 * named file by file, so the failure says which import to move.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The relative modules `text` imports for their values. */
export function valueImports(text: string): string[] {
  const out: string[] = [];
  // import … from "x"; export … from "x"; import "x" (multi-line specifier lists included)
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*"([^"]+)"|^\s*import\s+"([^"]+)"/gms;
  for (const m of text.matchAll(re)) {
    const bare = m[5];
    if (bare) {
      out.push(bare);
      continue;
    }
    if (m[2]) continue; // import type / export type
    const clause = m[3]!;
    const braces = clause.match(/\{([^}]*)\}/);
    const outside = clause
      .replace(/\{[^}]*\}/, "")
      .replace(/,/g, "")
      .trim();
    if (braces && outside === "") {
      const names = braces[1]!
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    }
    out.push(m[4]!);
  }
  return out.filter((s) => s.startsWith("."));
}

/** Every cycle's files (one per strongly connected component of more than one file, or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.reverse());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test("the import parser tells value imports from type-only ones", () => {
  const text = [
    'import type { A } from "./a.js";',
    'import { type B, type C } from "./b.js";',
    'import { type D, e } from "./d.js";',
    'import f from "./f.js";',
    'import {\n  g,\n  type H,\n} from "./g.js";',
    'export type { I } from "./i.js";',
    'export { j } from "./j.js";',
    'import "./side.js";',
    'import { readFileSync } from "node:fs";',
  ].join("\n");
  assert.equal(valueImports(text), ["./d.js", "./f.js", "./g.js", "./j.js", "./side.js"]);
});

test("the cycle finder names a cycle", () => {
  const g = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
    ["d", ["a"]],
  ]);
  assert.equal(cycles(g), [["a", "b", "c"]]);
});

test("no value-import cycle in src/", () => {
  const graph = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const deps = valueImports(readFileSync(f, "utf8")).map((s) =>
      relative(SRC, resolve(dirname(f), s.replace(/\.js$/, ".ts"))),
    );
    graph.set(relative(SRC, f), deps);
  }
  assert.ok(graph.size > 100, `read ${graph.size} files`);
  // The parser sees real edges (a graph with none would have no cycle either).
  assert.ok(graph.get("session/handler.ts")?.includes("protocol/command.ts"), "handler → decodeCommand");
  const found = cycles(graph);
  assert.equal(
    found.map((c) => c.join(" → ")),
    [],
    `import cycles:\n${found.map((c) => `  ${c.join(" → ")}`).join("\n")}`,
  );
});

test.run();
