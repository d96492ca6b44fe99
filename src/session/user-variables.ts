/**
 * The session's user variables as the server holds them (issue 19): session tracking does not
 * report them, so after a statement that may have set one pairgate reads them back — their names
 * from `information_schema.USER_VARIABLES`, string values as HEX() with their character set and
 * collation, numbers as the server prints them, typed as the server lists them (quoteTypedNumber:
 * an unsigned integer stays unsigned, a DECIMAL a DECIMAL) — and keeps each as the literal that recreates it
 * (quote.ts). Never the expression the client wrote. Bounded per session (count and bytes): beyond
 * the limits nothing is read and the session cannot move (a clear error at the move).
 */
import type { BackendConnection } from "../backend/connection.js";
import { NotALiteral, quoteBytes, quoteIdentifier, quoteTypedNumber } from "../sql/quote.js";
import type { ReplayLimits } from "./replay-state.js";

export interface UserVariables {
  /** name → literal; null when they cannot be carried. */
  vars: Map<string, string> | null;
  /** Why they cannot be carried, or null. */
  problem: string | null;
}

/** The width of information_schema.USER_VARIABLES.VARIABLE_NAME, in characters. */
const NAME_LIMIT = 64;
/** Variables read per query: 3 columns each. */
const BATCH = 50;
const NUMERIC = new Set(["INT", "INT UNSIGNED", "DECIMAL", "DOUBLE"]);

/** Read every user variable of `conn`'s session as literals, within `limits`. */
export async function readUserVariables(
  conn: BackendConnection,
  limits: ReplayLimits,
): Promise<UserVariables> {
  // Names in hex: whatever bytes they hold, they come back intact. Values of numbers only: a string's
  // value is read below, through its quoted name, as hex.
  const rows = await conn.queryRows(
    `SELECT HEX(VARIABLE_NAME), VARIABLE_TYPE, IF(VARIABLE_TYPE IN ('INT', 'INT UNSIGNED', 'DECIMAL', 'DOUBLE'), VARIABLE_VALUE, NULL), LENGTH(VARIABLE_VALUE), VARIABLE_VALUE IS NULL FROM information_schema.USER_VARIABLES LIMIT ${limits.maxUserVariables + 1}`,
  );
  if (rows.length > limits.maxUserVariables)
    return { vars: null, problem: `more than ${limits.maxUserVariables} user variables (maxUserVariables)` };
  let bytes = 0;
  for (const r of rows) bytes += Number(r[3] ?? 0) + (r[0]?.length ?? 0) / 2;
  if (bytes > limits.maxUserVariableBytes)
    return {
      vars: null,
      problem: `user variables of more than ${limits.maxUserVariableBytes} bytes (maxUserVariableBytes)`,
    };
  const vars = new Map<string, string>();
  const strings: string[] = [];
  for (const [hexName, type, number, , isNull] of rows) {
    const name = Buffer.from(hexName ?? "", "hex").toString("utf8");
    // The server accepts longer names but lists only their first 64 characters
    // (USER_VARIABLES.VARIABLE_NAME is VARCHAR(64)): a name that long may be cut, and carrying it
    // would set another variable and lose this one.
    if ([...name].length >= NAME_LIMIT)
      return { vars: null, problem: `a user variable name of ${NAME_LIMIT} or more characters` };
    if (isNull === "1") vars.set(name, "NULL");
    else if (NUMERIC.has(type ?? "")) vars.set(name, quoteTypedNumber(type ?? "", number ?? ""));
    else strings.push(name);
  }
  // Values through their quoted names, a batch of columns per query (a row of at most 150 columns).
  for (let from = 0; from < strings.length; from += BATCH) {
    const batch = strings.slice(from, from + BATCH);
    const q = batch.map((n) => quoteIdentifier(n));
    const row = await conn.queryRow(
      `SELECT ${q.map((n) => `HEX(@${n}), CHARSET(@${n}), COLLATION(@${n})`).join(", ")}`,
    );
    if (!row || row.length !== batch.length * 3)
      throw new NotALiteral("the user variables could not be read");
    batch.forEach((name, i) => {
      const hex = row[i * 3];
      const charset = row[i * 3 + 1];
      const collation = row[i * 3 + 2];
      if (hex === null || charset === null) vars.set(name, "NULL");
      else
        vars.set(name, quoteBytes(Buffer.from(hex, "hex"), charset, charset === "binary" ? null : collation));
    });
  }
  return { vars, problem: null };
}
