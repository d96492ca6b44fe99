/** Small statistics for the bench: medians over rounds, and number formatting for its tables. */

/** The median of the finite values, or NaN when there are none (an even count averages the middle two). */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Formats a number for a table cell with `digits` decimals and thousands separators; "—" for NaN. */
export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return "—";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
