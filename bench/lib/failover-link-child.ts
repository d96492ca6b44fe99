/**
 * The child side of failover-link.ts: a `Link` (test/helpers/link.ts) in a process of its own, so
 * the relay's timing does not depend on the bench's busy event loop. Commands arrive over IPC
 * ("blackhole", "heal", "cut") and are acknowledged; the process exits when its parent goes away.
 */
import { Link } from "../../test/helpers/link.js";

type Command = "blackhole" | "heal" | "cut";

const host = process.argv[2] ?? "127.0.0.1";
const port = Number(process.argv[3]);
if (!process.send || !Number.isInteger(port)) {
  process.stderr.write("usage: forked by bench/lib/failover-link.ts with HOST PORT\n");
  process.exit(2);
}

const link = await Link.start({ host, port });
process.send({ ready: link.port });
process.on("message", (m: { id: number; command: Command }) => {
  link[m.command]();
  process.send?.({ id: m.id, done: m.command });
});
process.on("disconnect", () => process.exit(0));
