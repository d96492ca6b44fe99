/**
 * Statements after which the accounts are read again at once: ALTER USER, SET PASSWORD,
 * CREATE/DROP/RENAME USER, GRANT, REVOKE (and the ROLE forms). Decided from the classifier's verb
 * and, for the verbs that also name tables, a look at the text: a false positive (ALTER TABLE
 * users) costs one extra read of the accounts, a miss costs at most the refresh interval.
 */
import type { Classification } from "../sql/index.js";

const ALWAYS = new Set(["GRANT", "REVOKE"]);
const MAYBE = new Set(["ALTER", "CREATE", "DROP", "RENAME", "SET"]);
const ACCOUNT_WORD = /\b(?:USER|ROLE|PASSWORD|GRANT|REVOKE)\b/i;

/** `payload`: the COM_QUERY packet (its text from byte 1). */
export function mayChangeAccounts(c: Classification, payload: Buffer): boolean {
  if (ALWAYS.has(c.verb)) return true;
  if (!MAYBE.has(c.verb) && !c.multi) return false;
  return ACCOUNT_WORD.test(payload.toString("latin1", 1, Math.min(payload.length, 4096)));
}
