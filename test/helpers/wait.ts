/** Polling and error helpers shared by the integration suites. */

/** Polls `f` every 25 ms until it returns true (errors count as false); throws after `ms`. */
export async function until(what: string, f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** The error a promise rejects with (its errno and message), or null when it resolves. */
export function errnoOf(p: Promise<unknown>): Promise<{ errno?: number; message: string } | null> {
  return p.then(
    () => null,
    (e) => e,
  );
}
