// The release, as a function of its validated config: index.ts calls it once under the Pulumi CLI, and the offline
// preview, the tests and the bench call it once per run in one process (each run inside its own root Stack).
import * as s3 from "@pulumi/aws/s3";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "fs";
import * as path from "path";
import {
    BackupBucket,
    BackupSchedule,
    DatabaseAccess,
    DatabaseRoles,
    fingerprint,
    PodVolume,
    ExistingDatabaseSecrets,
    RdsBackupPlan,
    ReleaseDatabaseJobs,
    migrationsToRollBack,
    readDatabaseScripts,
    DatabaseScripts,
} from "../components/database";
import { aliasFormerTypes } from "../components/componentType";
import { BlueGreenDeployment, CanaryDeployment, RollingDeployment, AutoRollback } from "../components/traffic";
import { appLabels, AppWorkload, WorkloadTemplate } from "../components/kubernetes";
import { AlertSpec, ReleaseMonitoring, VersionInFlight, ScheduledJobMonitoring } from "../components/monitoring";
import { imageRef } from "../policy/rules";
import { CANARY_STEPS_KEY, COMPONENT, GATE_OVERRIDE_KEYS } from "../policy/contract";
import { ALERT_NAMES, DEFERS_TO, isBusinessMetricAlert, PLAN_ALERTS, PlanAlert } from "../policy/planAlerts";
import {
    checkAdminConnection,
    ConfigError,
    PROJECT_ROOT,
    ProgramConfig,
    readAppSecrets,
    readAutoRollbackToken,
    readRawConfig,
    servingTracks,
    validateConfig,
} from "../lib/config";
import { haltChange, haltedVersions, readPreviousHalted } from "../lib/gate/mark";
import {
    LOCK_RETRY_SECONDS,
    loadMigrations,
    migrationDeadlineSeconds,
    migrationsForPhase,
    SqlMigration,
    squawkReport,
    versionConflicts,
} from "../lib/migrations";
import { cronJobFacts, PLAN_TYPES } from "../lib/plan/facts";
import { ownersData } from "../lib/plan/people";
import { recordDeclarations } from "../lib/plan/record";
import { renderPlan } from "../lib/plan/render";
import { PlanMigrations } from "../lib/plan/types";
import {
    configCommands,
    noUsersReason,
    rollbackCommand,
    rollbackPlan,
    rollingBack,
    variantRollbackCommand,
} from "../lib/rollback";
import { downtimeSchedule, endedWindowNotice } from "../lib/deploymentWindow";
import { businessAlertQueries } from "./businessAlerts";
import { gateOutput, releaseGate } from "./gate";

/** Where myapp's pods mount the database CA bundle: the URLs of Secrets made outside the program name it too. */
const DATABASE_CA_DIR = "/etc/myapp/db-ca";

/** The files the release is built from besides stack config, read (and the migrations linted) before anything is declared. */
export interface ReleaseFiles {
    /** The release's SQL migrations with squawk's findings, when `database.migration.sqlDir` is set. */
    migrations?: PlanMigrations;
    /** The PEM bundle the database's server certificate chains to, when `database.tls` is set. */
    caBundle?: string;
    /** The library's database scripts: what the backup, restore and drill pods run (by file name), and the migration runner. */
    databaseScripts: DatabaseScripts;
}

/** Everything the release is declared from. */
export interface ReleaseInput {
    /** The stack's name, as `pulumi.getStack()` gives it. */
    stack: string;
    /** The validated stack config. */
    cfg: ProgramConfig;
    /** `appSecrets`, as a Pulumi secret, or undefined when the stack sets none. */
    appSecrets?: pulumi.Output<Record<string, string>>;
    files: ReleaseFiles;
    /** The time of this run: what a downtime for the deployment window may be declared as depends on it. */
    now: Date;
    /** `autoRollback.pulumiAccessToken`, as a Pulumi secret, when set. */
    autoRollbackToken?: pulumi.Output<string>;
    /** The versions under the automatic-rollback mark after this run (lib/gate/mark.ts); none when not read. */
    halted?: string[];
}

/** The stack outputs, in the order `pulumi stack output` lists them. */
export interface ReleaseOutputs {
    strategy: ProgramConfig["strategy"];
    versions: Record<string, string>;
    traffic: Record<string, string | number>;
    /** The public host's URL (blue/green: the active Service's), and blue/green's preview host's. */
    urls: { public: string; preview: string | undefined };
    rollback: string;
    readme: string;
    database: Record<string, unknown> | undefined;
    /** The automatic-rollback mark, with autoRollback set: the versions no later run sends traffic back to until resumed. */
    autoRollback?: { halted: string[] };
    /** The release gate's decision, the traffic it recorded for the next run, and an override with its approver. */
    gate: Record<string, unknown>;
}

/**
 * Reads the current stack's config as the program sees it (under the CLI, or under mocks after setAllConfig),
 * validates it and reads the files it names: everything is checked before the first resource is declared.
 */
export function readReleaseInput(now: Date): ReleaseInput {
    const stack = pulumi.getStack();
    const config = new pulumi.Config();
    const raw = readRawConfig(config, Object.keys(pulumi.runtime.allConfig()));
    const cfg = validateConfig(config.name, stack, raw, (message) => void pulumi.log.warn(message));
    checkAdminConnection(cfg, new pulumi.Config("postgresql"));
    const appSecrets = readAppSecrets(config);
    return {
        stack,
        cfg,
        appSecrets,
        files: readReleaseFiles(config.name, cfg),
        now,
        autoRollbackToken: readAutoRollbackToken(config),
    };
}

/**
 * Stops the program, naming the key, when `database.restore.key` names no object in the bucket the program manages:
 * a mistyped key is then a config error at preview time, not a restore Job that fails after a backup has run. With
 * a bucket made outside the program (`backup.existingBucket`) the program talks to no AWS API, and the restore Job's
 * own check (it refuses a missing object, naming it) is the guard. The data source reads only the object's metadata.
 */
export async function checkRestoreKey(configName: string, cfg: ProgramConfig): Promise<void> {
    const key = cfg.database?.restore?.key;
    const bucket = cfg.backup?.bucket.kind === "declared" ? cfg.backup.bucket.name : undefined;
    if (!key || !bucket) return;
    try {
        await s3.getObject({ bucket, key });
    } catch (err) {
        const reason = ((err as Error).message ?? "").split("\n").find((line) => line.trim() !== "");
        throw new ConfigError(
            `Invalid stack configuration (nothing was declared):\n  ${configName}:database.restore.key = "${key}": no such object in s3://${bucket}${reason ? ` (${reason.trim()})` : ""}`,
        );
    }
}

/**
 * The whole program: reads and checks the stack's config and files, asks the release gate, then declares the release. Under the CLI,
 * index.ts calls it with the time of the run from the function Pulumi calls, whose result becomes the stack
 * outputs (pulumi/pulumi sdk/nodejs/cmd/run/run.ts); the offline preview runs it under mocks with a time of its
 * choosing. `now` is the only clock the program reads.
 */
export async function releaseProgram(now: Date, onInput?: (input: ReleaseInput) => void): Promise<ReleaseOutputs> {
    const input = readReleaseInput(now);
    onInput?.(input);
    await checkRestoreKey(new pulumi.Config().name, input.cfg);
    // The mark and the gate come before anything is declared, so that a refusal leaves the stack as it was.
    const previous = input.cfg.autoRollback
        ? await readPreviousHalted(`${input.cfg.release.appName}-rollback-mark`)
        : [];
    const halted = haltedVersions({
        previous,
        halt: input.cfg.autoRollback?.halt,
        resume: input.cfg.release.gate.resume,
    });
    const gate = await releaseGate(input.cfg, now, halted);
    return { ...declareRelease({ ...input, halted }), gate: gateOutput(gate, input.cfg) };
}

/**
 * Reads the files config names, relative to the project root. The release's SQL migrations are linted with squawk
 * as `pulumi preview` runs: a destructive or locking statement stops the program unless the phase is contract or
 * config allows that rule for that file. `configName` is the config namespace errors name.
 */
export function readReleaseFiles(configName: string, cfg: ProgramConfig): ReleaseFiles {
    const db = cfg.database;
    const run = db?.migrationRun;
    return {
        migrations:
            db && run?.kind === "sql" ? checkedMigrations(configName, run.sqlDir, { ...cfg, database: db }) : undefined,
        caBundle: db?.tls ? readFileSync(path.resolve(PROJECT_ROOT, db.tls.caBundle), "utf8") : undefined,
        databaseScripts: readDatabaseScripts(),
    };
}

/**
 * Reads, lints and checks the release's SQL migrations: squawk's findings stop the program unless the phase or
 * config allows them, and so does a serving track whose version cannot run with a file the release applies (its
 * oldest-serving-version) or rolls back (its returns-to-version).
 */
function checkedMigrations(
    configName: string,
    sqlDir: string,
    cfg: ProgramConfig & { database: NonNullable<ProgramConfig["database"]> },
): PlanMigrations {
    const m = cfg.database.migration;
    const dir = path.resolve(PROJECT_ROOT, sqlDir);
    let all: SqlMigration[];
    try {
        all = loadMigrations(dir);
    } catch (err) {
        throw new ConfigError(
            `Invalid stack configuration: ${configName}:database.migration.sqlDir = "${sqlDir}": ${(err as Error).message}`,
        );
    }
    const selected = migrationsForPhase(all, m.phase);
    const report = squawkReport(dir, selected, m.allow);
    const findings = report.filter((f) => f.allowedBy === undefined);
    if (findings.length > 0) {
        const lines = findings.map((f) => `  ${sqlDir}/${f.file}:${f.line}: ${f.rule}: ${f.message}`);
        throw new ConfigError(
            `Migrations refused for phase "${m.phase}" (${configName}:database.migration.phase); allow a rule for a file in ${configName}:database.migration.allow only with care:\n${lines.join("\n")}`,
        );
    }
    if (m.run === "down" && m.downSteps > selected.length) {
        throw new ConfigError(
            `Invalid stack configuration (nothing was declared):\n  ${configName}:database.migration.downSteps = ${m.downSteps}: phase ${m.phase} ships ${selected.length} migrations, the most a down run can roll back`,
        );
    }
    const rolledBack = migrationsToRollBack(
        selected.map((s) => s.version),
        m.downSteps,
    );
    const conflicts = versionConflicts(
        all,
        m.run === "up"
            ? { direction: "up", files: selected }
            : { direction: "down", files: selected.filter((s) => rolledBack.includes(s.version)) },
        servingTracks(cfg),
        sqlDir,
        configName,
    );
    if (conflicts.length > 0) {
        const what = m.run === "up" ? `phase "${m.phase}"` : `the down migration of ${rolledBack.join(", ")}`;
        throw new ConfigError(
            `Migrations refused for ${what} (${configName}:database.migration): a serving track's version cannot run with them:\n${conflicts.map((c) => `  ${c}`).join("\n")}`,
        );
    }
    return { sqlDir, all, selected, findings: report };
}

/** Where the dumps go: a bucket, with its ARN and its key's ARN when the program knows the key. */
type DumpBucket = {
    name: pulumi.Input<string>;
    key?: { bucketArn: pulumi.Input<string>; keyArn: pulumi.Input<string> };
};

/** The bucket config names, declared here or made outside. An S3 bucket's ARN is arn:<partition>:s3:::<name>; the key's ARN gives the partition. */
function dumpBucket(app: string, b: NonNullable<ProgramConfig["backup"]>, tags: Record<string, string>): DumpBucket {
    if (b.bucket.kind === "existing") {
        const { name, kmsKeyArn } = b.bucket;
        return {
            name,
            key: kmsKeyArn
                ? { bucketArn: `arn:${kmsKeyArn.split(":")[1]}:s3:::${name}`, keyArn: kmsKeyArn }
                : undefined,
        };
    }
    const bucket = new BackupBucket(`${app}-backups`, {
        bucketName: b.bucket.name,
        retentionDays: b.retentionDays,
        infrequentAccessAfterDays: b.infrequentAccessAfterDays,
        glacierAfterDays: b.glacierAfterDays,
        objectLock: b.objectLock,
        tags,
    });
    return { name: bucket.bucket.bucket, key: { bucketArn: bucket.bucket.arn, keyArn: bucket.key.arn } };
}

/** The release's SQL migrations, which readReleaseFiles reads whenever database.migration.sqlDir is set. */
function readSqlMigrations(files: ReleaseFiles): SqlMigration[] {
    if (!files.migrations) throw new Error("database.migration.sqlDir is set but its migrations were not read");
    return files.migrations.selected;
}

/** The bucket's key, for what needs it (a role the program creates, the RDS vault): config refuses an existing bucket without kmsKeyArn there. */
function bucketKey(bucket: DumpBucket, user: string): NonNullable<DumpBucket["key"]> {
    if (!bucket.key)
        throw new Error(
            `${user} needs the bucket's key, and config validation lets no existing bucket without kmsKeyArn through`,
        );
    return bucket.key;
}

/** An override of the release gate, for the policy pack to require its reason and approver. */
function gateOverrideData(cfg: ProgramConfig): Record<string, string> {
    const o = cfg.release.gate.override;
    return o
        ? {
              [GATE_OVERRIDE_KEYS.reason]: o.reason,
              ...(o.approver ? { [GATE_OVERRIDE_KEYS.approver]: o.approver } : {}),
          }
        : {};
}

/** Declares the whole release in the current Pulumi stack and returns its outputs. */
export function declareRelease({
    stack,
    cfg,
    appSecrets,
    files,
    now,
    autoRollbackToken,
    halted,
}: ReleaseInput): Omit<ReleaseOutputs, "gate"> {
    const release = cfg.release;
    const app = release.appName;
    // myapp's first releases recorded the components as myapp:deploy:<Type> (README Decisions, "Library type tokens").
    aliasFormerTypes("myapp:deploy");
    // What the deployment plan (the `readme` output) is rendered from.
    const recording = recordDeclarations(PLAN_TYPES);

    const envSecretName = `${app}-env`;
    const envSecret = new k8s.core.v1.Secret(`${app}-env`, {
        metadata: { name: envSecretName, namespace: release.namespace, labels: appLabels(app, "config") },
        type: "Opaque",
        stringData: appSecrets,
    });

    // The release's people, a canary's steps and a gate override, where the policy pack (which sees no stack outputs) and the
    // cluster's users can read them.
    new k8s.core.v1.ConfigMap(`${app}-deployment-plan`, {
        metadata: {
            name: `${app}-deployment-plan`,
            namespace: release.namespace,
            labels: appLabels(app, "deployment-plan"),
        },
        data: {
            ...ownersData(cfg.plan),
            ...(cfg.strategy === "canary" && cfg.canary ? { [CANARY_STEPS_KEY]: cfg.canary.steps.join(",") } : {}),
            ...gateOverrideData(cfg),
        },
    });

    const tags = { app, stack, "managed-by": "pulumi" };

    let databaseGate: pulumi.Resource[] = [];
    let appDatabase:
        | { secret: { name: string; resource: pulumi.Resource }; checksum: pulumi.Output<string>; caVolume?: PodVolume }
        | undefined;
    let databaseOutputs: Record<string, unknown> | undefined;
    if (cfg.database && cfg.backup) {
        const db = cfg.database;
        const b = cfg.backup;
        const bucket = dumpBucket(app, b, tags);
        const caBundle = files.caBundle;
        let access: DatabaseAccess;
        let ownershipHandoverSql: string | undefined;
        if (db.access.kind === "existing") {
            access = new ExistingDatabaseSecrets(`${app}-db-secrets`, {
                appName: app,
                namespace: release.namespace,
                names: db.access.secrets,
                caBundle,
                caMountPath: DATABASE_CA_DIR,
                fence: db.fence,
            });
        } else {
            const roles = new DatabaseRoles(`${app}-db-roles`, {
                host: db.host,
                port: db.port,
                database: db.name,
                drillDatabase: `${db.name}_restore_drill`,
                sslmode: db.sslmode,
                caBundle,
                caMountPath: DATABASE_CA_DIR,
                roles: db.access.roles,
                namespace: release.namespace,
                appName: app,
                schemas: db.schemas,
            });
            access = roles;
            ownershipHandoverSql = roles.ownershipHandoverSql;
        }
        appDatabase = { secret: access.secretRefs.app, checksum: access.checksums.app, caVolume: access.caVolume };
        const backups = new BackupSchedule(`${app}-db-backup`, {
            appName: app,
            namespace: release.namespace,
            bucketName: bucket.name,
            prefix: b.prefix,
            region: b.region,
            role:
                b.role.kind === "existing"
                    ? { existingArn: b.role.arn }
                    : {
                          oidc: { providerArn: b.role.providerArn, issuerUrl: b.role.issuerUrl },
                          ...bucketKey(bucket, "the backup role the program creates"),
                      },
            toolsImage: db.toolsImage,
            scripts: files.databaseScripts.dumps,
            backupDatabaseSecret: access.secretNames.backup,
            drillDatabaseSecret: access.secretNames.drill,
            caVolume: access.caVolume,
            schedule: b.schedule,
            drillSchedule: b.restoreDrill.schedule,
            drillCheckSql: b.restoreDrill.checkSql,
            ownerRole: access.ownerRole,
            deadlineSeconds: b.deadlineMinutes * 60,
            scratchSize: b.scratchSize,
            tags,
        });
        if (db.rds) {
            new RdsBackupPlan(`${app}-rds-backup`, {
                kind: db.rds.kind,
                arn: db.rds.arn,
                subnetGroupName: db.rds.subnetGroupName,
                securityGroupIds: db.rds.securityGroupIds,
                schedule: db.rds.backupSchedule,
                restoreTestSchedule: db.rds.restoreTestSchedule,
                retentionDays: b.retentionDays,
                kmsKeyArn: bucketKey(bucket, "the RDS backup vault").keyArn,
                namePrefix: `${app}-${stack}`,
                tags,
            });
        }
        const m = db.migration;
        const jobs = new ReleaseDatabaseJobs(`${app}-release-db`, {
            appName: app,
            namespace: release.namespace,
            version: release.version,
            previousVersion: release.previousVersion,
            backups,
            migratorSecret: access.secretNames.migrator,
            ownerRole: access.ownerRole,
            schemas: db.schemas,
            fence: access.fence,
            caVolume: access.caVolume,
            migration:
                db.migrationRun.kind === "command"
                    ? {
                          kind: "command",
                          image: imageRef(release.image, release.version),
                          command: db.migrationRun.command,
                          downCommand: db.migrationRun.downCommand,
                      }
                    : {
                          kind: "sql",
                          migrations: readSqlMigrations(files),
                          toolsImage: db.toolsImage,
                          runner: files.databaseScripts.runner,
                      },
            phase: m.phase,
            direction: m.run,
            downSteps: m.downSteps,
            migrationDeadlineSeconds: migrationDeadlineSeconds(m.estimatedMinutes, files.migrations?.selected),
            lockRetrySeconds: LOCK_RETRY_SECONDS,
            backoffLimit: m.backoffLimit,
            backupDeadlineSeconds: b.deadlineMinutes * 60,
            attempt: m.attempt,
            restore: db.restore,
        });
        // A rollback waits for no Job: the release's backup and migration are not declared (ReleaseDatabaseJobs), and
        // the traffic must move back even while a restore runs or has failed.
        databaseGate = jobs.gate && !rollingBack(cfg) ? [jobs.gate] : [];
        databaseOutputs = {
            ...(ownershipHandoverSql ? { ownershipHandoverSql } : {}),
            retryFailedJob: `pulumi config set --stack ${stack} --path database.migration.attempt ${m.attempt + 1} && pulumi up --stack ${stack}`,
        };
    }

    const template: WorkloadTemplate = {
        appName: app,
        namespace: release.namespace,
        image: release.image,
        containerPort: release.containerPort,
        readinessPath: release.healthPaths.readiness,
        livenessPath: release.healthPaths.liveness,
        resources: release.resources,
        env: release.env,
        // By name, with the Secrets in `after`: an Output of a Secret in the pod spec would make the engine replace the
        // Deployment, deleting it first, whenever the Secret's data changes (DatabaseAccess.secretRefs).
        secretEnvFrom: appDatabase ? [envSecretName, appDatabase.secret.name] : [envSecretName],
        // A new password, host or secret value rolls the pods, which read their environment only when they start.
        podAnnotations: {
            ...(appDatabase ? { "checksum/database-url": appDatabase.checksum } : {}),
            ...(appSecrets
                ? {
                      "checksum/app-secrets": fingerprint(
                          appSecrets.apply((v) => JSON.stringify(Object.entries(v).sort())),
                      ),
                  }
                : {}),
        },
        volumes: appDatabase?.caVolume ? [appDatabase.caVolume] : [],
        maxReplicas: release.maxReplicas,
        targetCpuUtilization: release.targetCpuUtilization,
        drainSeconds: release.drainSeconds,
        // The same env and service the monitors query: Datadog's env defaults to the stack, its service to the app.
        datadog: cfg.datadog,
    };
    // What every strategy shares: the public host, and the database steps its pods must wait for.
    const shared = {
        host: release.host,
        ingressClassName: release.ingressClassName,
        tlsSecretName: release.tlsSecretName,
        after: [...databaseGate, envSecret, ...(appDatabase ? [appDatabase.secret.resource] : [])],
    };
    const autoRollback = declareAutoRollback(app, stack, cfg, autoRollbackToken);
    const inFlight = (
        variantKey: "track" | "color",
        variantValue: "stable" | "canary" | "blue" | "green",
        version: string,
    ): VersionInFlight => ({
        version,
        variantKey,
        variantValue,
        rollbackCommand: variantRollbackCommand(stack, cfg, variantValue),
        noUsers: noUsersReason(cfg, variantValue),
        autoRollbackHandle: autoRollback?.version === version ? autoRollback.handle : undefined,
    });

    let versionsInFlight: VersionInFlight[];
    let appWorkloads: AppWorkload[];
    let trafficState: Record<string, string | number>;
    let publicUrl: string;
    let previewUrl: string | undefined;

    if (cfg.strategy === "blue-green") {
        const bg = cfg.blueGreen;
        const deployment = new BlueGreenDeployment(app, {
            template,
            ...shared,
            versions: { blue: bg.blueVersion, green: bg.greenVersion },
            activeColor: bg.activeColor,
            replicas: release.replicas,
            previewReplicas: bg.previewReplicas,
            previewHost: bg.previewHost,
            smokeTest: bg.smokeTest,
            releaseVersion: release.version,
            hold: rollingBack(cfg)
                ? (["blue", "green"] as const).find(
                      (c) => (c === "blue" ? bg.blueVersion : bg.greenVersion) !== release.version,
                  )
                : undefined,
        });
        versionsInFlight = [inFlight("color", "blue", bg.blueVersion), inFlight("color", "green", bg.greenVersion)];
        appWorkloads = Object.values(deployment.workloads);
        trafficState = {
            activeColor: bg.activeColor,
            activeVersion: bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion,
            retrySmokeTest: `pulumi config set --stack ${stack} --path blueGreen.smokeTest.attempt ${bg.smokeTest.attempt + 1} && pulumi up --stack ${stack}`,
        };
        publicUrl = deployment.activeUrl;
        previewUrl = deployment.previewUrl;
    } else if (cfg.strategy === "canary") {
        const cn = cfg.canary;
        // The router with what it needs (canary.gateway, canary.alb), the tracks' versions, weight and sizes.
        const { steps: _steps, ...canary } = cn;
        const deployment = new CanaryDeployment(app, {
            template,
            ...shared,
            ...canary,
            replicas: release.replicas,
            freezeCanary: rollingBack(cfg) && cn.canaryVersion !== release.version,
        });
        versionsInFlight = [
            inFlight("track", "stable", cn.stableVersion),
            inFlight("track", "canary", cn.canaryVersion),
        ];
        appWorkloads = [deployment.stable, deployment.canary];
        trafficState = { canaryWeight: cn.weight, steps: cn.steps.join(",") };
        publicUrl = deployment.publicUrl;
    } else {
        const deployment = new RollingDeployment(app, {
            template,
            ...shared,
            version: release.version,
            replicas: release.replicas,
            ...cfg.rolling,
        });
        versionsInFlight = [inFlight("track", "stable", release.version)];
        appWorkloads = [deployment.workload];
        trafficState = {};
        publicUrl = deployment.publicUrl;
    }

    if (cfg.monitoring) {
        const m = cfg.monitoring;
        // The plan's table with the config's thresholds; without business metrics, no payment or email alert.
        const business = m.metrics && businessAlertQueries(m.metrics, m.trafficGuard.minPayments);
        const alerts: Record<string, AlertSpec> = {};
        for (const n of ALERT_NAMES.filter((x) => m.metrics || !isBusinessMetricAlert(x))) {
            const { bad, severity, rolloutNoise, label, unit }: PlanAlert = PLAN_ALERTS[n];
            const query = isBusinessMetricAlert(n) ? business?.[n as keyof typeof business] : undefined;
            alerts[n] = {
                critical: m.thresholds[n],
                warning: m.warnings[n],
                bad,
                severity,
                rolloutNoise,
                label,
                unit,
                defersTo: DEFERS_TO[n],
                ...query,
            };
        }
        // Datadog refuses a downtime whose end, or one-time start, has passed: a window that has ended gets none, and
        // the preview and the plan say so.
        const window = m.deploymentWindow;
        const schedule = window && downtimeSchedule(window, now);
        if (window && !schedule) void pulumi.log.warn(endedWindowNotice(window));
        new ReleaseMonitoring(`${app}-monitoring`, {
            service: cfg.datadog.service,
            env: cfg.datadog.env,
            span: m.span,
            kubeClusterName: m.kubeClusterName,
            namespace: release.namespace,
            appName: app,
            autoscalers: appWorkloads.flatMap((w) => (w.growableAutoscaler ? [w.growableAutoscaler] : [])),
            versions: versionsInFlight,
            releaseVersion: release.version,
            alerts,
            notify: m.notify,
            priorities: m.priorities,
            databaseScope: m.databaseScope,
            hostScope: m.hostScope,
            slo: { ...m.slo, latencySeconds: m.thresholds.p95LatencySeconds },
            deploymentWindow: window && schedule && { ...schedule, timezone: window.timezone },
            trafficGuard: m.trafficGuard,
            appRole:
                cfg.database?.access.kind === "roles"
                    ? {
                          name: cfg.database.access.roles.app.name,
                          connectionLimit: cfg.database.access.roles.app.connectionLimit,
                      }
                    : undefined,
            rollbackHint: `run the command printed by \`pulumi stack output rollback --stack ${stack}\``,
            handlesFrom: autoRollback ? [autoRollback.component] : undefined,
        });
        // The backup and restore-drill CronJobs exactly as BackupSchedule declared them above.
        const crons = cronJobFacts(recording.peek()).filter(
            (c) => c.component === COMPONENT.backup || c.component === COMPONENT.restoreDrill,
        );
        if (crons.length > 0) {
            new ScheduledJobMonitoring(`${app}-scheduled-jobs`, {
                env: cfg.datadog.env,
                kubeClusterName: m.kubeClusterName,
                cronJobs: crons.map((c) => ({
                    ...c,
                    what: c.component === COMPONENT.backup ? "database backup" : "restore drill",
                    pageWhenStale: c.component === COMPONENT.backup,
                })),
                notify: m.notify,
                priorities: m.priorities,
            });
        }
    }

    return {
        strategy: cfg.strategy,
        versions: Object.fromEntries(versionsInFlight.map((v) => [v.variantValue, v.version])),
        traffic: trafficState,
        urls: { public: publicUrl, preview: previewUrl },
        rollback: rollbackCommand(stack, cfg),
        // The Pulumi Cloud console shows an output named `readme` as the Stack README. The policy results are not
        // visible to the program: the checklist there points to `npm run plan`, which renders the same document with them.
        readme: renderPlan({
            stack,
            cfg,
            resources: recording.stop(),
            migrations: files.migrations,
            outputRefs: true,
            now,
        }),
        database: databaseOutputs,
        ...(cfg.autoRollback ? { autoRollback: { halted: halted ?? [] } } : {}),
    };
}

/**
 * The automatic rollback, when config enables it: the rollback `pulumi stack output rollback` prints, run by a Pulumi
 * Deployments update that the version's rollback triggers start, with the edit that marks the version halted. The
 * version it takes traffic from and the handle its triggers notify; undefined when there is nothing to roll back.
 */
function declareAutoRollback(
    app: string,
    stack: string,
    cfg: ProgramConfig,
    token: pulumi.Output<string> | undefined,
): { component: AutoRollback; version?: string; handle?: string } | undefined {
    const a = cfg.autoRollback;
    if (!a?.enabled) return undefined;
    // Config validation requires both once enabled.
    if (!a.source || !token)
        throw new Error("autoRollback.enabled without source or pulumiAccessToken passed validation");
    const plan = rollbackPlan(cfg);
    const rollback =
        plan.kind === "edits"
            ? { version: plan.from, preRunCommands: configCommands(stack, [...plan.changes, haltChange(plan.from)]) }
            : undefined;
    // The stack this run updates, as Pulumi Cloud names it.
    const identity = { organization: pulumi.getOrganization(), project: pulumi.getProject(), stack };
    const component = new AutoRollback(`${app}-auto-rollback`, {
        stack: identity,
        apiUrl: a.apiUrl,
        source: a.source,
        accessToken: token,
        rollback,
    });
    return { component, version: rollback?.version, handle: component.handle };
}
