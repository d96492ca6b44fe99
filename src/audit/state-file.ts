/** Small state files of the audit trail (the delivery position, the chain head), replaced durably. */
import * as fsp from "node:fs/promises";

/**
 * Replace a small fixed-size state file durably: write a temporary file, fdatasync, rename over
 * `path`, then `afterRename` (the directory's fsync, where the caller needs it now). On a full disk
 * (no room for the temporary) the file is overwritten in place instead — it has the same size, so
 * that needs no new blocks. Used for the delivery position and the chain head.
 */
export async function replaceFixedSizeFile(
  path: string,
  data: Buffer,
  afterRename: () => Promise<void> = async () => {},
): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const fh = await fsp.open(tmp, "w", 0o600);
    try {
      await fh.writeFile(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
    await afterRename();
    return;
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code !== "ENOSPC" && code !== "EDQUOT") throw e;
  }
  const fh = await fsp.open(path, "r+");
  try {
    await fh.write(data, 0, data.length, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
