// Stack config: the schema of each section (schema/), the rules between keys (rules/), and the resolution of what
// the CLI wrote into the typed ProgramConfig (resolve.ts). This module is the public API; the rest is internal.
export { ConfigError } from "./errors";
export { PROJECT_ROOT, readAppSecrets, readAutoRollbackToken, readRawConfig, servingTracks } from "./resolve";
export { PLAN_ROLES } from "./schema/plan";
export type { PlanConfig, PlanRole } from "./schema/plan";
export type {
    AutoRollbackConfig,
    BackupRoleConfig,
    BlueGreenConfig,
    CanaryConfig,
    DatabaseAccessConfig,
    DumpBucketConfig,
    MigrationRunConfig,
    ProgramConfig,
    RollingConfig,
} from "./types";
export { checkAdminConnection, validateConfig } from "./validate";
