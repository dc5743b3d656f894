import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { BackupBucket } from "./components/backupBucket";
import { BackupSchedule } from "./components/backupSchedule";
import { BlueGreenDeployment } from "./components/blueGreenDeployment";
import { CanaryDeployment } from "./components/canaryDeployment";
import { DatabaseRoles } from "./components/databaseRoles";
import { appLabels } from "./components/kubernetes";
import { RdsBackupPlan } from "./components/rdsBackupPlan";
import { ReleaseDatabaseJobs } from "./components/releaseDatabaseJobs";
import { ReleaseMonitoring, VersionInFlight } from "./components/releaseMonitoring";
import { RollingDeployment } from "./components/rollingDeployment";
import { AppWorkload, WorkloadTemplate } from "./components/workload";
import { ALERT_NAMES, AlertName, PLAN_ALERTS, PLAN_WARNINGS, warningBeforeCritical } from "./policy/planAlerts";
import { ConfigError, imageRef, readAppSecrets, readRawConfig, validateConfig } from "./lib/config";
import { loadMigrations, migrationsForPhase, SqlMigration, squawkReport } from "./lib/migrations";
import { PLAN_TYPES } from "./lib/plan/facts";
import { ownersData } from "./lib/plan/people";
import { recordDeclarations } from "./lib/plan/record";
import { renderPlan } from "./lib/plan/render";
import { PlanMigrations } from "./lib/plan/types";
import { rollbackCommand, variantRollbackCommand } from "./lib/rollback";

const stack = pulumi.getStack();
const config = new pulumi.Config();
// Everything is read and validated before the first resource is declared.
const cfg = validateConfig(config.name, stack, readRawConfig(config));
const appSecrets = readAppSecrets(config);
const release = cfg.release;
const app = release.appName;
const checkedSql = cfg.database?.migration.sqlDir ? checkedMigrations(cfg.database.migration.sqlDir) : undefined;
const sqlMigrations = checkedSql?.selected;
// What the deployment plan (the `readme` output) is rendered from.
const declared = recordDeclarations(PLAN_TYPES);

/**
 * The release's SQL migrations, linted with squawk as `pulumi preview` runs: a destructive or locking statement
 * stops the program unless the phase is contract or config allows that rule for that file.
 */
function checkedMigrations(sqlDir: string): PlanMigrations {
    const m = cfg.database!.migration;
    const dir = path.resolve(__dirname, sqlDir);
    let all: SqlMigration[];
    try {
        all = loadMigrations(dir);
    } catch (err) {
        throw new ConfigError(`Invalid stack configuration: ${config.name}:database.migration.sqlDir = "${sqlDir}": ${(err as Error).message}`);
    }
    const selected = migrationsForPhase(all, m.phase);
    const report = squawkReport(dir, selected, m.allow);
    const findings = report.filter((f) => f.allowedBy === undefined);
    if (findings.length > 0) {
        const lines = findings.map((f) => `  ${sqlDir}/${f.file}:${f.line}: ${f.rule}: ${f.message}`);
        throw new ConfigError(
            `Migrations refused for phase "${m.phase}" (${config.name}:database.migration.phase); allow a rule for a file in ${config.name}:database.migration.allow only with care:\n${lines.join("\n")}`,
        );
    }
    return { sqlDir, all, selected, findings: report };
}

const envSecret = new k8s.core.v1.Secret(`${app}-env`, {
    metadata: { name: `${app}-env`, namespace: release.namespace, labels: appLabels(app, "config") },
    type: "Opaque",
    stringData: appSecrets,
});

// The release's people where the policy pack, which sees no stack outputs, and the cluster's users can read them.
new k8s.core.v1.ConfigMap(`${app}-deployment-plan`, {
    metadata: { name: `${app}-deployment-plan`, namespace: release.namespace, labels: appLabels(app, "deployment-plan") },
    data: ownersData(cfg.plan),
});

const tags = { app, stack, "managed-by": "pulumi" };
let databaseGate: pulumi.Resource[] = [];
let appDatabaseSecret: string | undefined;
if (cfg.database && cfg.backup) {
    const db = cfg.database;
    const b = cfg.backup;
    const bucket = new BackupBucket(`${app}-backups`, {
        bucketName: b.bucketName,
        retentionDays: b.retentionDays,
        infrequentAccessAfterDays: b.infrequentAccessAfterDays,
        glacierAfterDays: b.glacierAfterDays,
        objectLock: b.objectLock,
        tags,
    });
    const roles = new DatabaseRoles(`${app}-db-roles`, {
        host: db.host,
        port: db.port,
        database: db.name,
        drillDatabase: `${db.name}_restore_drill`,
        sslmode: db.sslmode,
        roles: db.roles,
        namespace: release.namespace,
        appName: app,
    });
    appDatabaseSecret = roles.secretNames.app;
    const backups = new BackupSchedule(`${app}-db-backup`, {
        appName: app,
        namespace: release.namespace,
        bucketName: bucket.bucket.bucket,
        bucketArn: bucket.bucket.arn,
        keyArn: bucket.key.arn,
        prefix: b.prefix,
        region: b.region,
        oidc: b.oidc,
        toolsImage: db.toolsImage,
        backupDatabaseSecret: roles.secretNames.backup,
        drillDatabaseSecret: roles.secretNames.drill,
        schedule: b.schedule,
        drillSchedule: b.restoreDrill.schedule,
        drillCheckSql: b.restoreDrill.checkSql,
        deadlineSeconds: b.deadlineMinutes * 60,
        scratchSize: b.scratchSize,
        tags,
    });
    if (db.rds) {
        new RdsBackupPlan(`${app}-rds-backup`, {
            instanceArn: db.rds.instanceArn,
            schedule: db.rds.backupSchedule,
            restoreTestSchedule: db.rds.restoreTestSchedule,
            retentionDays: b.retentionDays,
            kmsKeyArn: bucket.key.arn,
            namePrefix: `${app}-${stack}`,
            tags,
        });
    }
    const m = db.migration;
    const jobs = new ReleaseDatabaseJobs(`${app}-release-db`, {
        appName: app,
        namespace: release.namespace,
        version: release.version,
        backups,
        migratorSecret: roles.secretNames.migrator,
        migration: sqlMigrations
            ? { kind: "sql", migrations: sqlMigrations, toolsImage: db.toolsImage }
            : { kind: "command", image: imageRef(release.image, release.version), command: m.command!, downCommand: m.downCommand },
        direction: m.run,
        downSteps: m.downSteps,
        // The plan gives an estimated duration; twice that is the deadline, so a slow run is not killed half-way.
        migrationDeadlineSeconds: Math.ceil(m.estimatedMinutes * 60 * 2),
        backoffLimit: m.backoffLimit,
        backupDeadlineSeconds: b.deadlineMinutes * 60,
        restoreKey: db.restore?.key,
    });
    databaseGate = [jobs.gate];
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
    secretEnvFrom: appDatabaseSecret ? [envSecret.metadata.name, appDatabaseSecret] : [envSecret.metadata.name],
    maxReplicas: release.maxReplicas,
    targetCpuUtilization: release.targetCpuUtilization,
    drainSeconds: release.drainSeconds,
    // The same env and service the monitors query: Datadog's env defaults to the stack, its service to the app.
    datadog: { env: cfg.monitoring?.env ?? stack, service: cfg.monitoring?.service ?? app },
};
// What every strategy shares: the public host, and the database steps its pods must wait for.
const shared = { host: release.host, ingressClassName: release.ingressClassName, tlsSecretName: release.tlsSecretName, after: databaseGate };
const inFlight = (variantKey: "track" | "color", variantValue: "stable" | "canary" | "blue" | "green", version: string): VersionInFlight => ({
    version,
    variantKey,
    variantValue,
    rollbackCommand: variantRollbackCommand(stack, cfg, variantValue),
});

let versionsInFlight: VersionInFlight[];
let appWorkloads: AppWorkload[];
let trafficState: Record<string, string | number>;
let liveUrl: string;
let previewUrl: string | undefined;

if (cfg.strategy === "blue-green") {
    const bg = cfg.blueGreen!;
    const deployment = new BlueGreenDeployment(app, {
        template,
        ...shared,
        versions: { blue: bg.blueVersion, green: bg.greenVersion },
        activeColor: bg.activeColor,
        replicas: release.replicas,
        standbyReplicas: bg.standbyReplicas,
        previewHost: bg.previewHost,
        smokeTest: bg.smokeTest,
    });
    versionsInFlight = [inFlight("color", "blue", bg.blueVersion), inFlight("color", "green", bg.greenVersion)];
    appWorkloads = Object.values(deployment.workloads);
    trafficState = { activeColor: bg.activeColor, liveVersion: bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion };
    liveUrl = deployment.liveUrl;
    previewUrl = deployment.previewUrl;
} else if (cfg.strategy === "canary") {
    const cn = cfg.canary!;
    const deployment = new CanaryDeployment(app, {
        template,
        ...shared,
        stableVersion: cn.stableVersion,
        canaryVersion: cn.canaryVersion,
        weight: cn.weight,
        router: cn.router,
        replicas: release.replicas,
        canaryReplicas: cn.canaryReplicas,
        canaryMaxReplicas: cn.canaryMaxReplicas,
        headerName: cn.headerName,
        gateway: cn.gateway,
        alb: cn.alb,
    });
    versionsInFlight = [inFlight("track", "stable", cn.stableVersion), inFlight("track", "canary", cn.canaryVersion)];
    appWorkloads = [deployment.stable, deployment.canary];
    trafficState = { canaryWeight: cn.weight, steps: cn.steps.join(",") };
    liveUrl = deployment.liveUrl;
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
    liveUrl = deployment.liveUrl;
}

if (cfg.monitoring) {
    const m = cfg.monitoring;
    const env = template.datadog!.env;
    const thresholds = Object.fromEntries(ALERT_NAMES.map((n) => [n, m.thresholds[n] ?? PLAN_ALERTS[n].plan])) as Record<AlertName, number>;
    // Unless config sets one, a rollback trigger warns at the plan's next tier down (5% warns at 2%, 2% at 1%).
    const warnings: Partial<Record<AlertName, number>> = {};
    for (const n of ALERT_NAMES) {
        const implied = PLAN_WARNINGS[n];
        const warning = m.warnings[n] ?? (implied ? thresholds[implied] : undefined);
        if (warning !== undefined && warningBeforeCritical(n, warning, thresholds[n])) warnings[n] = warning;
    }
    new ReleaseMonitoring(`${app}-monitoring`, {
        service: template.datadog!.service,
        env: template.datadog!.env,
        span: m.span,
        namespace: release.namespace,
        appName: app,
        autoscalers: appWorkloads.flatMap((w) => (w.growableAutoscaler ? [w.growableAutoscaler] : [])),
        versions: versionsInFlight,
        releaseVersion: release.version,
        thresholds,
        warnings,
        notify: m.notify,
        priorities: m.priorities,
        metrics: m.metrics,
        databaseScope: m.databaseScope,
        hostScope: m.hostScope ?? `env:${env}`,
        slo: m.slo,
        deploymentWindow: m.deploymentWindow,
        trafficGuard: m.trafficGuard,
        appRole: cfg.database && { name: cfg.database.roles.app.name, connectionLimit: cfg.database.roles.app.connectionLimit },
        rollbackHint: `run the command printed by \`pulumi stack output rollback --stack ${stack}\``,
    });
}

export const strategy = cfg.strategy;
export const versions = Object.fromEntries(versionsInFlight.map((v) => [v.variantValue, v.version]));
export const traffic = trafficState;
export const urls = { live: liveUrl, preview: previewUrl };
export const rollback = rollbackCommand(stack, cfg);
// The Pulumi Cloud console shows an output named `readme` as the Stack README. The policy results are not visible
// to the program: the checklist there points to `npm run plan`, which renders the same document with them.
export const readme = renderPlan({ stack, cfg, resources: declared, migrations: checkedSql, outputRefs: true });
