import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { SqlMigration } from "../lib/migrations";
import { BackupSchedule } from "./backupSchedule";
import { batchLabels, awaitedJob, batchPodTemplate, versionedName } from "./kubernetes";

/** SQL files run by scripts/db/migrate-sql.sh from a ConfigMap, or a command in the release image. */
export type MigrationSource =
    | { kind: "sql"; migrations: SqlMigration[]; toolsImage: string }
    | { kind: "command"; image: string; command: string[]; downCommand?: string[] };

export interface ReleaseDatabaseJobsArgs {
    /** App name: prefix of every object name. */
    appName: string;
    /** Namespace of the Jobs. */
    namespace: string;
    /** The version being released; the Jobs are named after it, so each release runs them once. */
    version: string;
    /** Scheduled backups, whose identity and script the pre-deploy backup and a restore reuse. */
    backups: BackupSchedule;
    /** Secret with the migrator role's DATABASE_URL. */
    migratorSecret: pulumi.Input<string>;
    /** What the migration runs. */
    migration: MigrationSource;
    /** "up" applies the release's migrations; "down" rolls back the newest `downSteps`. */
    direction: "up" | "down";
    /** How many migrations a "down" run rolls back. */
    downSteps: number;
    /** Deadline of the migration Job. */
    migrationDeadlineSeconds: number;
    /** Retries of the migration Job. */
    backoffLimit: number;
    /** Deadline of the backup and restore Jobs. */
    backupDeadlineSeconds: number;
    /** A dump to restore over the database before migrating: the plan's "restore from backup" as config. */
    restoreKey?: string;
}

/**
 * One release's database steps, each awaited by the Kubernetes provider before the next starts: the pre-deploy
 * backup, then an optional restore, then the migration. `gate` is the last of them: the new version's pods wait
 * for it, so a failed backup or migration stops the release before any traffic moves.
 */
export class ReleaseDatabaseJobs extends pulumi.ComponentResource {
    /** The Job the app's Deployments must wait for. */
    public readonly gate: k8s.batch.v1.Job;

    constructor(name: string, args: ReleaseDatabaseJobsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("myapp:deploy:ReleaseDatabaseJobs", name, {}, opts);
        if (args.direction === "down" && args.migration.kind === "command" && !args.migration.downCommand) {
            throw new pulumi.ResourceError("a down migration needs a downCommand", this);
        }
        const app = args.appName;
        const job = (suffix: string, jobName: string, deadlineSeconds: number, backoffLimit: number, template: k8s.types.input.core.v1.PodTemplateSpec, after: pulumi.Resource[]) =>
            awaitedJob(
                `${name}-${suffix}`,
                { jobName, namespace: args.namespace, labels: batchLabels(app, suffix), deadlineSeconds, backoffLimit, template },
                { parent: this, dependsOn: after },
            );

        const backup = job(
            "predeploy-backup",
            versionedName(`${app}-predeploy-backup`, args.version),
            args.backupDeadlineSeconds,
            0,
            args.backups.backupPod(`pre-deploy-${args.version.replace(/[^A-Za-z0-9.-]/g, "-")}`, batchLabels(app, "predeploy-backup")),
            [args.backups],
        );
        let last: k8s.batch.v1.Job = backup;
        if (args.restoreKey) {
            const keyHash = createHash("sha256").update(args.restoreKey).digest("hex").slice(0, 10);
            last = job(
                "restore",
                `${app}-restore-${keyHash}`,
                args.backupDeadlineSeconds,
                0,
                args.backups.restorePod(args.restoreKey, args.migratorSecret, batchLabels(app, "restore")),
                [backup],
            );
        }

        const migrationName = versionedName(args.direction === "up" ? `${app}-migrate` : `${app}-migrate-down`, args.version);
        const labels = batchLabels(app, "migration");
        const databaseUrl = { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: args.migratorSecret, key: "DATABASE_URL" } } };
        let template: k8s.types.input.core.v1.PodTemplateSpec;
        const after: pulumi.Resource[] = [last];
        if (args.migration.kind === "sql") {
            const files = Object.fromEntries(
                args.migration.migrations.flatMap((m) => [
                    [`${m.version}.up.sql`, m.up],
                    [`${m.version}.down.sql`, m.down],
                ]),
            );
            const sqlConfigMap = new k8s.core.v1.ConfigMap(
                `${name}-migrations`,
                { metadata: { name: migrationName, namespace: args.namespace, labels }, immutable: true, data: files },
                { parent: this },
            );
            after.push(sqlConfigMap);
            template = batchPodTemplate({
                labels,
                container: {
                    name: "migrate",
                    image: args.migration.toolsImage,
                    command: ["/bin/sh", "/scripts/migrate-sql.sh", args.direction, ...(args.direction === "down" ? [String(args.downSteps)] : [])],
                    env: [databaseUrl, { name: "MIGRATIONS_DIR", value: "/migrations" }],
                    volumeMounts: [
                        { name: "scripts", mountPath: "/scripts", readOnly: true },
                        { name: "migrations", mountPath: "/migrations", readOnly: true },
                    ],
                },
                volumes: [
                    { name: "scripts", configMap: { name: args.backups.scriptsConfigMap.metadata.name, defaultMode: 0o555 } },
                    { name: "migrations", configMap: { name: sqlConfigMap.metadata.name } },
                ],
            });
        } else {
            template = batchPodTemplate({
                labels,
                container: {
                    name: "migrate",
                    image: args.migration.image,
                    command: args.direction === "up" ? args.migration.command : args.migration.downCommand!,
                    env: [databaseUrl],
                },
            });
        }
        this.gate = job("migration", migrationName, args.migrationDeadlineSeconds, args.backoffLimit, template, after);
        this.registerOutputs({ migrationJob: migrationName });
    }
}
