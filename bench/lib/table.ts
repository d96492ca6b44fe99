/** Markdown tables with padded columns (the layout `biome format` gives), so a copied table lints clean. */

export type Align = "left" | "right";

export function markdownTable(header: string[], align: Align[], rows: string[][]): string {
  const width = header.map((h, i) =>
    Math.max(3, [...h].length, ...rows.map((r) => [...(r[i] ?? "")].length)),
  );
  const pad = (s: string, i: number) => {
    const fill = " ".repeat(width[i]! - [...s].length);
    return align[i] === "right" ? fill + s : s + fill;
  };
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, i)).join(" | ")} |`;
  const rule = `| ${width.map((w, i) => (align[i] === "right" ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
