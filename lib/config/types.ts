import type { z } from "zod";
import type { CanaryRouting } from "../../components/traffic";
import type { programSchema } from "./schema";

/** Stack config as parsed, before the strategy has picked its section. */
export type ParsedConfig = z.infer<typeof programSchema>;
export type BlueGreenConfig = NonNullable<ParsedConfig["blueGreen"]>;
export type ParsedCanary = NonNullable<ParsedConfig["canary"]>;
/** The canary section, its router with that router's settings. */
export type CanaryConfig = Omit<ParsedCanary, "router" | "gateway" | "alb"> & CanaryRouting;
export type RollingConfig = ParsedConfig["rolling"];

export type MonitoringSection = NonNullable<ParsedConfig["monitoring"]>;
/** The automatic rollback's settings; its token is read apart, as a secret (readAutoRollbackToken). */
export type AutoRollbackConfig = Omit<NonNullable<ParsedConfig["autoRollback"]>, "pulumiAccessToken">;
export type ParsedDatabase = NonNullable<ParsedConfig["database"]>;
export type ParsedBackup = NonNullable<ParsedConfig["backup"]>;

/** Who connects: roles and Secrets the program creates, or Secrets made outside it. */
export type DatabaseAccessConfig =
    | { kind: "roles"; roles: NonNullable<ParsedDatabase["roles"]> }
    | { kind: "existing"; secrets: NonNullable<ParsedDatabase["existingSecrets"]> };
/** What the migration runs: SQL files of the repository, or a command in the release image. */
export type MigrationRunConfig =
    { kind: "sql"; sqlDir: string } | { kind: "command"; command: string[]; downCommand?: string[] };
/** The dumps' bucket: one the program declares, or one made outside it (with the key that encrypts it, where given). */
export type DumpBucketConfig =
    { kind: "declared"; name: string } | { kind: "existing"; name: string; kmsKeyArn?: string };
/** The backup pods' IAM role: an existing one, or one the program creates, trusted by the cluster's OIDC provider. */
export type BackupRoleConfig =
    { kind: "existing"; arn: string } | { kind: "oidc"; providerArn: string; issuerUrl: string };

/**
 * The validated stack configuration: the strategy comes with its own section, and only that one. Defaults that
 * depend on the stack are resolved here too: `datadog` is the env and service tags the pods carry and the monitors
 * query (monitoring.env and .service, else the stack and the app), and monitoring.hostScope defaults to the
 * cluster's nodes (kube_cluster_name), not every host of the env.
 */
export type ProgramConfig = Omit<
    ParsedConfig,
    "strategy" | "blueGreen" | "canary" | "rolling" | "monitoring" | "database" | "backup" | "autoRollback"
> & {
    datadog: { env: string; service: string };
    autoRollback?: AutoRollbackConfig;
    monitoring?: MonitoringSection & { hostScope: string };
    /** The database section, with who connects and what the migration runs resolved from their exactly-one-of keys. */
    database?: Omit<ParsedDatabase, "roles" | "existingSecrets" | "migration"> & {
        access: DatabaseAccessConfig;
        migration: Omit<ParsedDatabase["migration"], "sqlDir" | "command" | "downCommand">;
        migrationRun: MigrationRunConfig;
    };
    /** The backup section, with its bucket and role resolved from their exactly-one-of keys. */
    backup?: Omit<ParsedBackup, "bucketName" | "existingBucket" | "oidc"> & {
        bucket: DumpBucketConfig;
        role: BackupRoleConfig;
    };
} & (
        | { strategy: "blue-green"; blueGreen: BlueGreenConfig }
        | { strategy: "canary"; canary: CanaryConfig }
        | { strategy: "rolling"; rolling: RollingConfig }
    );
