/** The lab: a local primary/secondary pair of real MariaDB servers. */
import { type Config, configPath } from "../config/load.js";
import type { LabOptions } from "./lab.js";
import { DEMO_SCHEMA } from "./provision.js";

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

/**
 * The lab a config describes: `lab.dir` (relative to the config file's folder), the backends'
 * ports and host, `users[0]` as the application user (other users get the same grants), and
 * `primary.user`/`password` as pairgate's service account (`secondary`'s too, when it differs).
 */
export function labOptionsFromConfig(config: Config): LabOptions {
  const [app, ...moreApps] = config.users;
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
    dir: configPath(config, config.lab?.dir ?? DEFAULT_LAB_DIR),
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
