/**
 * Statements after which the accounts are read again at once: ALTER USER, SET PASSWORD,
 * CREATE/DROP/RENAME USER, GRANT, REVOKE (and the ROLE forms). Decided from the classifier's verb
 * and, for the verbs that also name tables, a look at the text: a false positive (ALTER TABLE
 * users) costs one extra read of the accounts, a miss costs at most the refresh interval.
 */
import type { Classification } from "../sql/index.js";

const ACCOUNT_WORD = /\b(?:USER|ROLE|PASSWORD|GRANT|REVOKE)\b/i;

/**
 * `payload`: the COM_QUERY packet (its text from byte 1). Runs after every COM_QUERY: a switch on
 * the verb, not two Set lookups (each a hash-table probe per statement).
 */
export function mayChangeAccounts(c: Classification, payload: Buffer): boolean {
  switch (c.verb) {
    case "GRANT":
    case "REVOKE":
      return true;
    case "ALTER":
    case "CREATE":
    case "DROP":
    case "RENAME":
    case "SET":
      break;
    default:
      if (!c.multi) return false;
  }
  return ACCOUNT_WORD.test(payload.toString("latin1", 1, Math.min(payload.length, 4096)));
}
