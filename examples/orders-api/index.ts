// A canary service with a database on the release library: orders-api, its new version taking a share of traffic
// through ingress-nginx, on a PostgreSQL database whose roles, scheduled backups and release migration it declares.
// The migration Job runs after a pre-deploy backup, and both tracks' pods wait for it. It imports the installed
// library and the Pulumi SDK, reads its own stack config, and exports a function whose result is the stack outputs.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import {
    AlertSpec,
    appLabels,
    BackupBucket,
    BackupSchedule,
    CanaryDeployment,
    DatabaseRoles,
    readDatabaseScripts,
    ReleaseDatabaseJobs,
    ReleaseMonitoring,
    ScheduledJobMonitoring,
    SqlMigrationFiles,
    CANARY_STEPS_KEY,
} from "@myapp/release-components";

/** `orders-api:service`. */
interface ServiceConfig {
    name: string;
    namespace: string;
    /** Image repository, no tag. */
    image: string;
    /** The version serving the rest of the traffic, and what a rollback returns to. */
    stableVersion: string;
    /** The version under test. */
    canaryVersion: string;
    /** Percent of requests the canary takes: 0 or one of canarySteps. */
    canaryWeight: number;
    /** The weights a release goes through, ending at 100. */
    canarySteps: number[];
    replicas: number;
    canaryReplicas: number;
    maxReplicas: number;
    host: string;
    tlsSecretName: string;
    /** The span its tracer opens for an inbound request: the README lists them per tracer. */
    span: string;
    /** The kube_cluster_name tag of the cluster's metrics. */
    kubeClusterName: string;
}

/** `orders-api:database`: the PostgreSQL server, where its dumps go, and the release's migration. */
interface DatabaseConfig {
    host: string;
    port: number;
    name: string;
    /** Pinned image with pg_dump, pg_restore, psql and the AWS CLI. */
    toolsImage: string;
    bucketName: string;
    region: string;
    /** The EKS cluster's OIDC provider, which the backup pods' IAM roles trust. */
    oidcProviderArn: string;
    oidcIssuerUrl: string;
    /** expand or contract: a new phase runs the migration again. */
    migrationPhase: string;
    /** Raised by one to retry a failed backup or migration. */
    migrationAttempt: number;
}

/** Reads an object key, refusing a missing field by name before anything is declared. */
function readObject<T extends object>(config: pulumi.Config, key: string, fields: (keyof T & string)[]): T {
    const value = config.requireObject<T>(key);
    const missing = fields.filter((f) => value[f] === undefined);
    if (missing.length > 0) throw new pulumi.RunError(`${config.name}:${key} is missing ${missing.join(", ")}`);
    return value;
}

/** The release's SQL migrations: `<version>.up.sql` with its `<version>.down.sql`, in file name order. */
function readMigrations(dir: string): SqlMigrationFiles[] {
    const read = (file: string) => readFileSync(path.join(dir, file), "utf8");
    return readdirSync(dir)
        .filter((f) => f.endsWith(".up.sql"))
        .sort()
        .map((f) => {
            const version = f.slice(0, -".up.sql".length);
            return { version, up: read(f), down: read(`${version}.down.sql`) };
        });
}

export = function ordersApi(): {
    stableVersion: string;
    canaryVersion: string;
    canaryWeight: number;
    url: string;
    rollback: string;
} {
    const config = new pulumi.Config();
    const stack = pulumi.getStack();
    const s = readObject<ServiceConfig>(config, "service", [
        "name",
        "namespace",
        "image",
        "stableVersion",
        "canaryVersion",
        "canaryWeight",
        "canarySteps",
        "replicas",
        "canaryReplicas",
        "maxReplicas",
        "host",
        "tlsSecretName",
        "span",
        "kubeClusterName",
    ]);
    const db = readObject<DatabaseConfig>(config, "database", [
        "host",
        "port",
        "name",
        "toolsImage",
        "bucketName",
        "region",
        "oidcProviderArn",
        "oidcIssuerUrl",
        "migrationPhase",
        "migrationAttempt",
    ]);
    const app = s.name;
    const tags = { app, stack, "managed-by": "pulumi" };
    const rollback = `pulumi config set --stack ${stack} --path service.canaryWeight 0 && pulumi up --stack ${stack}`;

    // The database: least-privilege roles with their connection Secrets, dumps in a locked-down bucket every six
    // hours with a weekly restore drill, and the release's migration after a backup of its own.
    const roles = new DatabaseRoles(`${app}-db-roles`, {
        host: db.host,
        port: db.port,
        database: db.name,
        drillDatabase: `${db.name}_restore_drill`,
        sslmode: "require",
        roles: {
            owner: { name: "orders_owner" },
            app: { name: "orders_app", connectionLimit: 40 },
            migrator: { name: "orders_migrator", connectionLimit: 2 },
            backup: { name: "orders_backup", connectionLimit: 2 },
            drill: { name: "orders_drill", connectionLimit: 2 },
        },
        namespace: s.namespace,
        appName: app,
        schemas: ["public"],
    });
    const backupSchedule = "0 */6 * * *";
    const drillSchedule = "30 4 * * 0";
    const bucket = new BackupBucket(`${app}-backups`, {
        bucketName: db.bucketName,
        retentionDays: 90,
        infrequentAccessAfterDays: 30,
        glacierAfterDays: 60,
        tags,
    });
    const scripts = readDatabaseScripts();
    const backups = new BackupSchedule(`${app}-db-backup`, {
        appName: app,
        namespace: s.namespace,
        bucketName: bucket.bucket.bucket,
        prefix: `postgres/${app}`,
        region: db.region,
        role: {
            oidc: { providerArn: db.oidcProviderArn, issuerUrl: db.oidcIssuerUrl },
            bucketArn: bucket.bucket.arn,
            keyArn: bucket.key.arn,
        },
        toolsImage: db.toolsImage,
        scripts: scripts.dumps,
        backupDatabaseSecret: roles.secretNames.backup,
        drillDatabaseSecret: roles.secretNames.drill,
        schedule: backupSchedule,
        drillSchedule,
        drillCheckSql: "SELECT count(*) FROM orders",
        ownerRole: roles.ownerRole,
        deadlineSeconds: 3600,
        scratchSize: "20Gi",
        tags,
    });
    const jobs = new ReleaseDatabaseJobs(`${app}-release-db`, {
        appName: app,
        namespace: s.namespace,
        version: s.canaryVersion,
        previousVersion: s.stableVersion,
        backups,
        migratorSecret: roles.secretNames.migrator,
        ownerRole: roles.ownerRole,
        schemas: ["public"],
        fence: roles.fence,
        migration: {
            kind: "sql",
            migrations: readMigrations(path.join(__dirname, "migrations")),
            toolsImage: db.toolsImage,
            runner: scripts.runner,
        },
        phase: db.migrationPhase,
        direction: "up",
        downSteps: 1,
        migrationDeadlineSeconds: 900,
        lockRetrySeconds: 300,
        backoffLimit: 0,
        backupDeadlineSeconds: 3600,
        attempt: db.migrationAttempt,
    });

    // The canary's steps, where the policy pack reads them: a weight that is neither 0 nor a step is refused.
    new k8s.core.v1.ConfigMap(`${app}-deployment-plan`, {
        metadata: { name: `${app}-deployment-plan`, namespace: s.namespace, labels: appLabels(app, "deployment-plan") },
        data: { [CANARY_STEPS_KEY]: s.canarySteps.join(",") },
    });
    const deployment = new CanaryDeployment(app, {
        router: "nginx",
        template: {
            appName: app,
            namespace: s.namespace,
            image: s.image,
            containerPort: 3000,
            readinessPath: "/ready",
            livenessPath: "/healthz",
            resources: { requests: { cpu: "250m", memory: "384Mi" }, limits: { cpu: "1", memory: "768Mi" } },
            env: { LOG_FORMAT: "json" },
            // By name, with the Secret in `after`: the pods read DATABASE_URL from the app role's Secret.
            secretEnvFrom: [roles.secretRefs.app.name],
            // A new password or host rolls the pods, which read their environment only when they start.
            podAnnotations: { "checksum/database-url": roles.checksums.app },
            maxReplicas: s.maxReplicas,
            targetCpuUtilization: 70,
            drainSeconds: 15,
            datadog: { env: stack, service: app },
        },
        stableVersion: s.stableVersion,
        canaryVersion: s.canaryVersion,
        weight: s.canaryWeight,
        replicas: s.replicas,
        canaryReplicas: s.canaryReplicas,
        canaryMaxReplicas: s.maxReplicas,
        headerName: "X-Canary",
        host: s.host,
        ingressClassName: "nginx",
        tlsSecretName: s.tlsSecretName,
        after: [...(jobs.gate ? [jobs.gate] : []), roles.secretRefs.app.resource],
    });

    // Per-version alerts, so a failing canary pages with the command that takes its traffic away.
    const percent = (label: string, critical: number, severity: AlertSpec["severity"]): AlertSpec => ({
        critical,
        bad: "above",
        severity,
        label,
        unit: "%",
    });
    const seconds = (label: string, critical: number, severity: AlertSpec["severity"]): AlertSpec => ({
        critical,
        bad: "above",
        severity,
        label,
        unit: "s",
    });
    const notify = { pager: ["@pagerduty-orders"], chat: ["@slack-orders"] };
    const priorities = { rollback: 1, critical: 2, warning: 3 };
    new ReleaseMonitoring(`${app}-monitoring`, {
        service: app,
        env: stack,
        span: s.span,
        kubeClusterName: s.kubeClusterName,
        namespace: s.namespace,
        appName: app,
        autoscalers: [deployment.stable.growableAutoscaler, deployment.canary.growableAutoscaler].filter(
            (a): a is string => a !== undefined,
        ),
        versions: [
            { version: s.stableVersion, variantKey: "track", variantValue: "stable" },
            { version: s.canaryVersion, variantKey: "track", variantValue: "canary", rollbackCommand: rollback },
        ],
        releaseVersion: s.canaryVersion,
        alerts: {
            errorRatePct: percent("Error rate", 1, "critical"),
            p95LatencySeconds: seconds("p95 response time", 0.5, "warning"),
            rollbackNowErrorRatePct: { ...percent("Rollback trigger: error rate", 5, "rollback"), warning: 1 },
            rollbackNowP95Seconds: { ...seconds("Rollback trigger: p95 response time", 2, "rollback"), warning: 0.5 },
            autoscalerAtMaxPct: {
                ...percent("Autoscaler replicas (% of its maximum)", 100, "warning"),
                rolloutNoise: true,
            },
        },
        notify,
        priorities,
        slo: { availabilityTarget: 99.9, latencyTarget: 99, latencySeconds: 0.5, timeframe: "30d" },
        trafficGuard: { minRequests: 50, excludeResources: ["get_/healthz", "get_/ready"] },
        rollbackHint: `\`${rollback}\``,
    });

    // Backups that stop page; a failed restore drill is told to chat. The CronJobs are BackupSchedule's `<app>-db-…`.
    const cronJob = (job: string, schedule: string, what: string, pageWhenStale: boolean) => ({
        name: `${app}-db-${job}`,
        namespace: s.namespace,
        schedule,
        what,
        service: `${app}-${job}`,
        pageWhenStale,
    });
    new ScheduledJobMonitoring(`${app}-scheduled-jobs`, {
        env: stack,
        kubeClusterName: s.kubeClusterName,
        cronJobs: [
            cronJob("backup", backupSchedule, "database backup", true),
            cronJob("restore-drill", drillSchedule, "restore drill", false),
        ],
        notify,
        priorities,
    });

    return {
        stableVersion: s.stableVersion,
        canaryVersion: s.canaryVersion,
        canaryWeight: s.canaryWeight,
        url: deployment.publicUrl,
        rollback,
    };
};
