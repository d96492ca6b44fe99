/**
 * Accounts travel with the data: pairgate logs in to the secondary as the application's users,
 * so a secondary without them cannot serve the read-only fallback. The dump leaves the `mysql`
 * schema alone; instead, every account of the primary that the secondary lacks is created there
 * as the primary prints it (SHOW CREATE USER, SHOW GRANTS). Accounts the secondary already has are
 * never altered. Later account changes on the primary replicate as statements.
 */
import type { Connection } from "mysql2/promise";
import { rows } from "./server.js";
import type { Dialect } from "./server-family.js";

export interface AccountCopy {
  copied: string[];
  /** Accounts (or grants) that could not be created, with the server's reason. */
  failed: string[];
}

const key = (r: { user: unknown; host: unknown }) => `'${String(r.user)}'@'${String(r.host)}'`;

function firstValue(r: Record<string, unknown>): string {
  const v = Object.values(r)[0];
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** `secondary` must be a session with sql_log_bin = 0: the copies are not the secondary's own history. */
export async function copyMissingAccounts(
  primary: Connection,
  pd: Dialect,
  secondary: Connection,
  sd: Dialect,
): Promise<AccountCopy> {
  const have = new Set((await rows(secondary, sd.listAccounts())).map((r) => key(r as never)));
  const wanted = (await rows(primary, pd.listAccounts())).filter((r) => !have.has(key(r as never)));
  const out: AccountCopy = { copied: [], failed: [] };
  if (wanted.length === 0) return out;
  for (const s of pd.showCreateUserPrelude()) await primary.query(s);
  for (const r of wanted) {
    const name = key(r as never);
    try {
      const create = firstValue((await rows(primary, "SHOW CREATE USER ?@?", [r.user, r.host]))[0]).replace(
        /^CREATE USER (?!IF NOT EXISTS)/i,
        "CREATE USER IF NOT EXISTS ",
      );
      await secondary.query(create);
      for (const g of await rows(primary, "SHOW GRANTS FOR ?@?", [r.user, r.host])) {
        try {
          await secondary.query(firstValue(g));
        } catch (e) {
          out.failed.push(`${name}: ${firstValue(g)}: ${(e as Error).message}`);
        }
      }
      out.copied.push(name);
    } catch (e) {
      out.failed.push(`${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** The one table pairgate reads the accounts from (README "Accounts"). */
export function accountsTable(flavor: "mariadb" | "mysql"): string {
  return flavor === "mariadb" ? "mysql.global_priv" : "mysql.user";
}

/**
 * pairgate's service account may read the accounts (SELECT on that one table), on every host
 * part it exists with. Returns what was granted and what could not be, with the server's reason.
 */
export async function grantAccountsRead(
  conn: Connection,
  flavor: "mariadb" | "mysql",
  serviceUser: string,
): Promise<AccountCopy> {
  const out: AccountCopy = { copied: [], failed: [] };
  const table = accountsTable(flavor);
  const found = await rows(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE User = ?", [
    serviceUser,
  ]);
  if (found.length === 0) out.failed.push(`'${serviceUser}': no such account`);
  for (const r of found) {
    try {
      await conn.query(`GRANT SELECT ON ${table} TO ?@?`, [r.user, r.host]);
      out.copied.push(key(r as never));
    } catch (e) {
      out.failed.push(`${key(r as never)}: ${(e as Error).message}`);
    }
  }
  return out;
}
