/** The lab: a local primary/secondary pair of real MariaDB servers. */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, configPath } from "../config/load.js";
import type { LabOptions } from "./lab.js";
import { type Credentials, DEMO_SCHEMA } from "./provision.js";

export {
  Lab,
  type LabOptions,
  type LabStatus,
  type ReplicationStatus,
  ROLES,
  type Role,
  type ServerSpec,
  type ServerStatus,
} from "./lab.js";
export { LabError } from "./mariadb.js";
export {
  APP_PRIVILEGES,
  type Credentials,
  DEMO_ENCRYPTION_KEY,
  DEMO_SCHEMA,
  SERVICE_GLOBAL_PRIVILEGES,
  SERVICE_SCHEMA_PRIVILEGES,
  SYSBENCH_SCHEMA,
} from "./provision.js";

export const DEFAULT_LAB_DIR = ".pairgate/lab";

/** The lab's application user when the config lists no `users` (the password is made at the first use). */
export const LAB_APP_USER = "pmpuser";
export const LAB_APP_USER_FILE = "app-user.json";

/**
 * The lab's application user when the config lists no `users`: its password lives in the lab's
 * folder (`app-user.json`, mode 0600, made with a random password at the first use), not in the
 * config — the servers are where pairgate reads it from (README "Accounts").
 */
export function labAppUser(labDir: string): Credentials {
  const file = join(labDir, LAB_APP_USER_FILE);
  try {
    const c = JSON.parse(readFileSync(file, "utf8")) as Partial<Credentials>;
    if (typeof c.username === "string" && typeof c.password === "string")
      return { username: c.username, password: c.password };
  } catch {}
  const made = { username: LAB_APP_USER, password: `pmp-${randomBytes(12).toString("base64url")}` };
  mkdirSync(labDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(made)}\n`, { mode: 0o600 });
  return made;
}

/**
 * The lab a config describes: `lab.dir` (relative to the config file's folder), the backends'
 * ports and host, `users[0]` as the application user (other users get the same grants) or, with
 * no `users`, labAppUser(), and `primary.user`/`password` as pairgate's service account
 * (`secondary`'s too, when it differs).
 */
export function labOptionsFromConfig(config: Config): LabOptions {
  const dir = configPath(config, config.lab?.dir ?? DEFAULT_LAB_DIR);
  const [app, ...moreApps] = config.users.length > 0 ? config.users : [labAppUser(dir)];
  const svc = { username: config.primary.user, password: config.primary.password };
  const secondarySvc = { username: config.secondary.user, password: config.secondary.password };
  const sameSvc = secondarySvc.username === svc.username && secondarySvc.password === svc.password;
  if (!sameSvc && secondarySvc.username === svc.username)
    throw new Error(
      `${config.file}: primary and secondary use service account ${svc.username} with different passwords; ` +
        "in the lab they are one account",
    );
  const auditTable = config.audit.table;
  const auditSchema = auditTable.includes(".") ? auditTable.slice(0, auditTable.indexOf(".")) : DEMO_SCHEMA;
  return {
    dir,
    primaryPort: config.primary.port,
    secondaryPort: config.secondary.port,
    host: config.primary.host,
    appUser: { username: app.username, password: app.password },
    serviceUser: svc,
    extraAppUsers: moreApps.map((u) => ({ username: u.username, password: u.password })),
    extraServiceUsers: sameSvc ? [] : [secondarySvc],
    auditSchema: auditSchema.replace(/`/g, ""),
  };
}
