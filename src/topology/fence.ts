/**
 * The split-brain fence across pairgate instances.
 *
 * `pairgate promote` writes a mark on the server it promotes: one row in `pairgate.fence` with an
 * epoch one higher than any the server held (binlogged, so every later replica of the new primary
 * holds it too). Every pairgate's monitor reads the mark from both servers at each check, remembers
 * the highest epoch it has seen, and never treats a primary whose epoch is older as writable: an
 * instance with the config from before the promotion serves read-only (reads from the promoted
 * server) and says why, instead of sending writes to the old primary when it comes back.
 *
 * No table (a pair never promoted) is epoch 0. Reading it needs SELECT on `pairgate.*` for the
 * service account (`promote` grants it; the lab grants it).
 */

export const FENCE_SCHEMA = "pairgate";
export const FENCE_TABLE = `${FENCE_SCHEMA}.fence`;

export const FENCE_READ_SQL = `SELECT epoch, server_id, promoted_at FROM ${FENCE_TABLE} WHERE id = 1`;

/** The statements `promote` runs on the new primary (binlogged: replicas inherit the mark). */
export function fenceWriteStatements(): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${FENCE_SCHEMA}`,
    `CREATE TABLE IF NOT EXISTS ${FENCE_TABLE} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, epoch BIGINT UNSIGNED NOT NULL, server_id INT UNSIGNED NOT NULL, promoted_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
    `INSERT INTO ${FENCE_TABLE} (id, epoch, server_id, promoted_at) VALUES (1, 1, @@server_id, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE epoch = epoch + 1, server_id = @@server_id, promoted_at = UTC_TIMESTAMP(6)`,
  ];
}

/** One server's mark as a check read it. */
export interface FenceMark {
  /** 0: no mark (never promoted). */
  epoch: number;
  /** server_id of the server promoted at this epoch (null without a mark). */
  serverId: number | null;
  /** UTC time of that promotion (text as stored), null without a mark. */
  promotedAt: string | null;
}

export const NO_MARK: FenceMark = Object.freeze({ epoch: 0, serverId: null, promotedAt: null });

export function readFenceRow(rows: Record<string, unknown>[]): FenceMark {
  const r = rows[0];
  if (!r) return NO_MARK;
  return {
    epoch: Number(r.epoch) || 0,
    serverId: r.server_id == null ? null : Number(r.server_id),
    promotedAt: r.promoted_at == null ? null : String(r.promoted_at),
  };
}

/** The highest mark seen, and where. */
export interface FenceSeen extends FenceMark {
  /** Address of the server it was read from. */
  seenOn: string;
  seenAt: number;
}

/**
 * Why the primary must not take writes, or null: its epoch is older than the highest one seen.
 * `primary` null (not read yet, or no privilege) is not fenced by itself.
 */
export function fenceReason(
  primary: FenceMark | null,
  primaryAddress: string,
  seen: FenceSeen | null,
): string | null {
  if (!primary || !seen || primary.epoch >= seen.epoch) return null;
  return (
    `fenced: the primary ${primaryAddress} holds promotion epoch ${primary.epoch}, but epoch ${seen.epoch} ` +
    `was seen on ${seen.seenOn} (server_id ${seen.serverId ?? "?"} promoted ${seen.promotedAt ?? "?"} UTC): ` +
    "a newer primary exists — writes are refused; update this pairgate's config (primary = the promoted server) and reload"
  );
}
