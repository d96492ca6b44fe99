/**
 * The highest promotion epoch this pairgate has seen, kept on disk (`<stateDir>/fence.json`) so
 * that the fence survives a restart. Without it, a pairgate restarted while only the old primary
 * answers (the promoted server is down or cut off) would have seen no newer epoch and send writes
 * to the old primary: the split brain the fence exists to prevent.
 *
 * Written only when a higher epoch is seen (promotions are rare), atomically: a temporary file,
 * fsync, rename, fsync of the folder. A file that cannot be read is reported and ignored (the
 * monitor then learns the epoch from the servers again, as without a file); one that cannot be
 * written leaves the fence in memory, with an error in the log.
 *
 * A pair rebuilt from scratch (new servers, no `pairgate.fence` rows) is fenced by a file from its
 * predecessor: the status says which file remembers the epoch, and deleting it lifts the fence.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { FenceSeen } from "./fence.js";

export const FENCE_STATE_FILE = "fence.json";

/** The epoch remembered in `file`, or null when there is none; throws when the file is unreadable or malformed. */
export function loadFenceSeen(file: string): FenceSeen | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const v = JSON.parse(text) as Partial<FenceSeen>;
  if (
    typeof v.epoch !== "number" ||
    !Number.isInteger(v.epoch) ||
    v.epoch < 1 ||
    typeof v.seenOn !== "string"
  )
    throw new Error(`${file} does not hold a promotion epoch ({"epoch": n ≥ 1, "seenOn": "host:port", ...})`);
  return {
    epoch: v.epoch,
    serverId: typeof v.serverId === "number" ? v.serverId : null,
    promotedAt: typeof v.promotedAt === "string" ? v.promotedAt : null,
    seenOn: v.seenOn,
    seenAt: typeof v.seenAt === "number" ? v.seenAt : 0,
  };
}

/** Replace `file` with `seen`, durably (throws on failure). */
export function saveFenceSeen(file: string, seen: FenceSeen): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const body = {
    epoch: seen.epoch,
    serverId: seen.serverId,
    promotedAt: seen.promotedAt,
    seenOn: seen.seenOn,
    seenAt: seen.seenAt,
  };
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeFileSync(fd, `${JSON.stringify(body, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
