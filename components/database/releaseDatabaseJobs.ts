import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { DatabaseFence, PodVolume } from "./databaseRoles";
import { awaitedJob, batchLabels, batchPodTemplate, versionedName } from "../kubernetes/objects";
import { Component, COMPONENT, ENV } from "../../policy/contract";
import { LibraryComponent } from "../componentType";

/** One SQL migration as migrate-sql.sh reads it: `<version>.up.sql` and `<version>.down.sql`. */
export interface SqlMigrationFiles {
    /** Recorded in schema_migrations, e.g. 001_users_email_verified. */
    version: string;
    /** SQL that applies the migration. */
    up: string;
    /** SQL that reverts it. */
    down: string;
}

/**
 * SQL files run by a runner script (`runner`: readDatabaseScripts().runner, migrate-sql.sh and the files it sources, by file name) in
 * the tools image, or a command in the release image.
 */
export type MigrationSource =
    | {
          /** SQL files, run by the runner script. */
          kind: "sql";
          /** The release's migrations, oldest first. */
          migrations: SqlMigrationFiles[];
          /** Pinned image with psql, in which the runner runs. */
          toolsImage: string;
          /** The runner script and the files it sources, by file name: `readDatabaseScripts().runner`. */
          runner: Record<string, string>;
      }
    | {
          /** A command of the release's own image, such as its framework's migrate task. */
          kind: "command";
          /** The release's image, with its tag. */
          image: string;
          /** What applies the migrations. */
          command: string[];
          /** What reverts them, for a down run; a down run without it is refused. */
          downCommand?: string[];
      };

/**
 * Where a release's backup and restore pods come from (a BackupSchedule): the identity, bucket and scripts that
 * scheduled backups use. The Jobs wait for it as a resource; anything that builds such pods can stand in for it.
 */
export interface DatabaseDumps extends pulumi.Resource {
    /** Key prefix of the dumps. */
    readonly prefix: string;
    /** A pod that dumps the database under `label`. */
    backupPod(label: string, labels: Record<string, string>): k8s.types.input.core.v1.PodTemplateSpec;
    /** A pod that restores one dump as the migrator, acting as `ownerRole`, with the app fenced out, once per marker key. */
    restorePod(
        restore: {
            /** Key of the dump to restore. */
            key: string;
            /** Which application of this key. */
            run: number;
            /** The object written once restored, whose presence makes the pod refuse to restore again. */
            markerKey: string;
        },
        migratorSecret: pulumi.Input<string>,
        ownerRole: string | undefined,
        fence: DatabaseFence,
        labels: Record<string, string>,
    ): k8s.types.input.core.v1.PodTemplateSpec;
}

export interface ReleaseDatabaseJobsArgs {
    /** App name: prefix of every object name. */
    appName: string;
    /** Namespace of the Jobs. */
    namespace: string;
    /** The version being released; the backup and migration Jobs are named after it, so each release runs them once. */
    version: string;
    /** The version a rollback returns to: releasing it again with an up migration touches no database. */
    previousVersion?: string;
    /** Scheduled backups, whose identity and script the pre-action backups and a restore reuse. */
    backups: DatabaseDumps;
    /** Name of the migrator's Secret, as an Output of the Secret: the migration and restore wait for it, and through it for the role and its grants. */
    migratorSecret: pulumi.Input<string>;
    /** The role that owns the schema, which the migrator acts as; undefined when the roles are not the program's. */
    ownerRole?: string;
    /** The schemas whose objects must belong to `ownerRole` before a SQL migration changes anything. */
    schemas?: string[];
    /** How a restore shuts the app out; required with `restore`. */
    fence?: DatabaseFence;
    /** The server's CA bundle, when the URLs verify the server. */
    caVolume?: PodVolume;
    /** What the migration runs. */
    migration: MigrationSource;
    /** The expand/contract phase the migration belongs to: part of its purpose, so a new phase runs the migration again. */
    phase: string;
    /** "up" applies the release's migrations; "down" rolls back the newest `downSteps` of them. */
    direction: "up" | "down";
    /** How many migrations a "down" run rolls back. */
    downSteps: number;
    /** Deadline of the migration Job: longer than any statement_timeout its files set, or the pod dies mid-statement. */
    migrationDeadlineSeconds: number;
    /** How long the SQL runner goes on retrying a lock it was not granted in time, within the deadline. */
    lockRetrySeconds: number;
    /** Retries of the migration Job. */
    backoffLimit: number;
    /** Deadline of the backup and restore Jobs. */
    backupDeadlineSeconds: number;
    /** Raised by one to retry a failed backup or migration: part of their names, so the failed Jobs are replaced. */
    attempt: number;
    /** A dump to restore over the database, and which application of that key this is (1 for the first). */
    restore?: {
        /** Key of the dump under the bucket, as the backups wrote it. */
        key: string;
        /** Which application of this key: raise it to restore the same dump again. */
        run: number;
    };
}

/** The runner's file name in the migration pod, under /scripts, beside the files it sources. */
const MIGRATION_RUNNER = "migrate-sql.sh";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The object restore.sh writes after restoring `key` for the `run`-th time, and refuses to restore over. */
export function restoreMarkerKey(prefix: string, key: string, run: number): string {
    return `${prefix}/restores/${sha256(key).slice(0, 16)}-run-${run}.json`;
}

/**
 * One release's database steps, each awaited by the Kubernetes provider before the next starts:
 * - a restore (database.restore.key), which fences the app out, dumps the database as pre-restore-<key hash>,
 *   restores and reopens;
 * - a migration: a backup labelled pre-deploy-<version> (pre-down-<version> before a down migration), then the
 *   migration, after any restore;
 * - a rollback (an up migration of the previous version, whose migrations are applied): nothing.
 * `gate` is the last of them: the new version's pods wait for it, so a failed backup or migration stops the release
 * before any traffic moves. Each Job is named after its purpose only and ignores changes to its spec, so it runs once
 * per purpose (README, Decisions: "One Job per purpose").
 */
export class ReleaseDatabaseJobs extends LibraryComponent {
    /** The Job the app's Deployments must wait for; undefined when a rollback has nothing to run. */
    public readonly gate?: k8s.batch.v1.Job;

    constructor(name: string, args: ReleaseDatabaseJobsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ReleaseDatabaseJobs", name, opts);
        const app = args.appName;
        const job = (
            component: Component,
            jobName: string,
            deadlineSeconds: number,
            backoffLimit: number,
            template: k8s.types.input.core.v1.PodTemplateSpec,
            after: pulumi.Resource[],
        ) =>
            awaitedJob(
                `${name}-${jobName.slice(app.length + 1)}`,
                {
                    jobName,
                    namespace: args.namespace,
                    labels: batchLabels(app, component),
                    deadlineSeconds,
                    backoffLimit,
                    template,
                },
                { parent: this, dependsOn: after, ignoreChanges: ["spec"] },
            );
        const backup = (jobName: string, label: string, after: pulumi.Resource[]) =>
            job(
                COMPONENT.predeployBackup,
                jobName,
                args.backupDeadlineSeconds,
                0,
                args.backups.backupPod(label, batchLabels(app, COMPONENT.predeployBackup)),
                [args.backups, ...after],
            );
        const attempt = args.attempt > 1 ? `-a${args.attempt}` : "";
        const versionLabel = args.version.replace(/[^A-Za-z0-9.-]/g, "-");

        let last: k8s.batch.v1.Job | undefined;
        if (args.restore) {
            if (!args.fence)
                throw new pulumi.ResourceError(
                    "a restore needs a fence: the app's login role and the role it holds CONNECT through",
                    this,
                );
            const keyHash = sha256(args.restore.key).slice(0, 10);
            const run = args.restore.run > 1 ? `-r${args.restore.run}` : "";
            last = job(
                COMPONENT.restore,
                `${app}-restore-${keyHash}${run}`,
                args.backupDeadlineSeconds,
                0,
                args.backups.restorePod(
                    {
                        ...args.restore,
                        markerKey: restoreMarkerKey(args.backups.prefix, args.restore.key, args.restore.run),
                    },
                    args.migratorSecret,
                    args.ownerRole,
                    args.fence,
                    batchLabels(app, COMPONENT.restore),
                ),
                [args.backups],
            );
        }

        const rollback = args.direction === "up" && args.previousVersion === args.version;
        if (!rollback) {
            const down = args.direction === "down";
            const before = backup(
                versionedName(down ? `${app}-predown-backup` : `${app}-predeploy-backup`, `${args.version}${attempt}`),
                `${down ? "pre-down" : "pre-deploy"}-${versionLabel}`,
                last ? [last] : [],
            );
            const migrationName = versionedName(
                down ? `${app}-migrate-down-${args.downSteps}-${args.phase}` : `${app}-migrate-${args.phase}`,
                `${args.version}${attempt}`,
            );
            last = job(
                COMPONENT.migration,
                migrationName,
                args.migrationDeadlineSeconds,
                args.backoffLimit,
                this.migrationPod(name, migrationName, args),
                [before],
            );
        }
        this.gate = last;
        this.registerOutputs({ gate: last?.metadata.name });
    }

    private migrationPod(
        name: string,
        migrationName: string,
        args: ReleaseDatabaseJobsArgs,
    ): k8s.types.input.core.v1.PodTemplateSpec {
        const labels = batchLabels(args.appName, COMPONENT.migration);
        const ca = args.caVolume;
        const env = [
            { name: ENV.databaseUrl, valueFrom: { secretKeyRef: { name: args.migratorSecret, key: ENV.databaseUrl } } },
            ...(args.ownerRole ? [{ name: "MIGRATION_OWNER_ROLE", value: args.ownerRole }] : []),
        ];
        // What the runner records a down migration under, and how long it retries a lock.
        const runnerEnv = [
            ...(args.ownerRole && args.schemas ? [{ name: "MIGRATION_SCHEMAS", value: args.schemas.join(",") }] : []),
            { name: "MIGRATION_RELEASE", value: args.version },
            { name: "MIGRATION_ATTEMPT", value: String(args.attempt) },
            { name: "LOCK_RETRY_SECONDS", value: String(args.lockRetrySeconds) },
        ];
        if (args.migration.kind === "command") {
            const command = args.direction === "up" ? args.migration.command : args.migration.downCommand;
            if (!command) throw new pulumi.ResourceError("a down migration needs a downCommand", this);
            return batchPodTemplate({
                labels,
                container: {
                    name: "migrate",
                    image: args.migration.image,
                    command,
                    env,
                    volumeMounts: ca ? [ca.mount] : [],
                },
                volumes: ca ? [ca.volume] : [],
            });
        }
        const sql = args.migration.migrations.flatMap((m) => [
            [`${m.version}.up.sql`, m.up],
            [`${m.version}.down.sql`, m.down],
        ]);
        const runner = args.migration.runner;
        if (runner[MIGRATION_RUNNER] === undefined)
            throw new pulumi.ResourceError(`runner lacks ${MIGRATION_RUNNER}`, this);
        const files = Object.fromEntries([...sql, ...Object.entries(runner)]);
        const down = migrationsToRollBack(
            args.migration.migrations.map((m) => m.version),
            args.downSteps,
        );
        const sqlConfigMap = new k8s.core.v1.ConfigMap(
            `${name}-migrations`,
            { metadata: { name: migrationName, namespace: args.namespace, labels }, immutable: true, data: files },
            { parent: this },
        );
        return batchPodTemplate({
            labels,
            container: {
                name: "migrate",
                image: args.migration.toolsImage,
                command: [
                    "/bin/sh",
                    `/scripts/${MIGRATION_RUNNER}`,
                    args.direction,
                    ...(args.direction === "down" ? down : []),
                ],
                env: [...env, ...runnerEnv, { name: "MIGRATIONS_DIR", value: "/migrations" }],
                volumeMounts: [
                    { name: "scripts", mountPath: "/scripts", readOnly: true },
                    { name: "migrations", mountPath: "/migrations", readOnly: true },
                    ...(ca ? [ca.mount] : []),
                ],
            },
            volumes: [
                // One ConfigMap per release holds the runner and the SQL it runs: the two mounts pick their files.
                {
                    name: "scripts",
                    configMap: {
                        name: sqlConfigMap.metadata.name,
                        defaultMode: 0o555,
                        items: Object.keys(runner).map((f) => ({ key: f, path: f })),
                    },
                },
                {
                    name: "migrations",
                    configMap: {
                        name: sqlConfigMap.metadata.name,
                        items: sql.map(([file]) => ({ key: file, path: file })),
                    },
                },
                ...(ca ? [ca.volume] : []),
            ],
        });
    }
}

/** The migrations a down run of `steps` rolls back, newest first: the newest of the versions a release ships. */
export function migrationsToRollBack(versions: string[], steps: number): string[] {
    return [...versions].sort().reverse().slice(0, steps);
}
