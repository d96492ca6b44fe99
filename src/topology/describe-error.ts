/** An error as one log-friendly line: its code (when the message lacks it) and its message. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; errno?: number; message?: string };
  const msg = e?.message ?? String(err);
  if (e?.code && !msg.includes(e.code)) return `${e.code}: ${msg}`;
  return msg;
}
