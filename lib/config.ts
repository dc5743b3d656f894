import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { z } from "zod";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { ALERT_NAMES, AlertName, DEFERRED_TO, isLooser, PLAN_ALERTS, PlanAlert } from "../policy/planAlerts";
import { PHASES, ServingTrack } from "./migrations";
import { canaryRouterNames, CanaryRouting, replicaSplit, isWeight } from "../components/traffic";
import { isAwsCron, isS3Prefix, lifecycleProblems, verifiesServer } from "../components/database";
import { isKubernetesCron, rolloutCanProgress, bytesOf, ZERO_DOWNTIME_ROLLOUT } from "../components/kubernetes";
import { warningBeforeCritical } from "../components/monitoring";
import { isPinnedVersion, splitImageRef } from "../policy/rules";
import { JUDGE_GROUPS, JUDGE_METRIC_NAMES } from "./judge/judge";

/**
 * A config value the program refuses. It extends RunError so that `pulumi preview` prints the message without a
 * stack trace, and the offline preview recognises it by name to exit with code 2.
 */
export class ConfigError extends pulumi.RunError {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

/** The repository root: config paths (sqlDir, tls.caBundle) are relative to it. */
export const PROJECT_ROOT = path.join(__dirname, "..");

const PINNED_MESSAGE = 'must be a pinned tag (for example v1.2.3) or a digest (sha256:<64 hex digits>); "latest" and an empty tag are not allowed';
const version = z.string({ message: "must be a string holding a pinned tag or digest" }).refine(isPinnedVersion, { message: PINNED_MESSAGE });
const repository = z
    .string({ message: "must be an image repository without a tag, for example registry.example.com/myapp" })
    .regex(
        /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
        "must be an image repository without a tag or digest, for example registry.example.com/myapp",
    );
const pinnedImage = z.string({ message: "must be a full image reference" }).refine(
    (ref) => {
        const parts = splitImageRef(ref);
        return parts !== undefined && repository.safeParse(parts.repository).success && isPinnedVersion(parts.version);
    },
    { message: `must be repository:tag or repository@sha256:<digest>; the tag ${PINNED_MESSAGE}` },
);
const dnsLabel = (max: number) => z.string().regex(new RegExp(`^[a-z]([-a-z0-9]{0,${max - 2}}[a-z0-9])?$`), `must be a lower-case DNS label of at most ${max} characters`);
const hostname = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/, "must be a fully qualified host name such as api.example.com");
const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity such as "250m", "1" or "512Mi"');
const httpPath = z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, "must be an absolute HTTP path such as /health");
const percentOrCount = z.union([z.number().int().min(0), z.string().regex(/^[0-9]{1,3}%$/)], {
    message: 'must be a whole number of pods or a percentage such as "25%"',
});
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

const resourceSchema = z.strictObject({
    requests: z.strictObject({ cpu: quantity, memory: quantity }),
    limits: z.strictObject({ cpu: quantity, memory: quantity }),
});

const strategies = ["blue-green", "canary", "rolling"] as const;
const colors = ["blue", "green"] as const;
const routers = canaryRouterNames;

const person = z.string().regex(/^@[A-Za-z0-9][A-Za-z0-9_.-]*$|^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'must be a chat handle such as "@myapp-release-lead" or an email address');

/**
 * The release gate (lib/gate): what lifts a refusal, and where it reads Datadog when the monitors are not declared
 * here. It refuses before anything is declared; these keys are the person's answer to it.
 */
const gateSchema = z.strictObject({
    /** Raise traffic although the gate refuses: an emergency, recorded in the outputs and the plan with its approver. */
    override: z
        .strictObject({
            reason: z.string({ message: "is required: say why the gate's refusal is overridden" }).trim().min(10, "must give a reason of at least 10 characters"),
            /** Who approved it; the policy pack requires one where gate-override-approved is mandatory (production). */
            approver: person.optional(),
        })
        .optional(),
    /** A version an automatic rollback halted that a person sends traffic to again. */
    resume: version.optional(),
    /**
     * The Datadog scope of a stack whose monitors are declared elsewhere (no monitoring section here): the span its
     * tracer gives inbound requests, the requests a step needs, and the resources that are not user traffic.
     */
    scope: z
        .strictObject({
            span: z.string().regex(/^[a-z0-9_.-]+$/, "must be an APM span name such as web.request"),
            minRequests: z.number().int().min(1, "must be at least 1").default(100),
            excludeResources: z.array(z.string().regex(/^[a-z0-9_./*-]+$/, 'must be a Datadog resource_name tag value such as "get_/health/*"')).default(["get_/health/*"]),
        })
        .optional(),
});

const releaseSchema = z.strictObject({
    /** Application name: Deployment, Service and label prefix. */
    appName: dnsLabel(30).default("myapp"),
    namespace: dnsLabel(63),
    image: repository,
    /** The version this release brings. */
    version,
    /** The version a rollback returns to. */
    previousVersion: version.optional(),
    replicas: z.number().int().min(2, "must be at least 2 so that the loss of one node leaves a pod serving").max(200),
    maxReplicas: z.number().int().min(2).max(400),
    targetCpuUtilization: z.number().int().min(10).max(95).default(70),
    containerPort: z.number().int().min(1024, "must be 1024 or more: the pods run as a non-root user").max(65535),
    healthPaths: z.strictObject({ readiness: httpPath, liveness: httpPath }),
    resources: resourceSchema,
    env: z.record(envName, z.string()).default({}),
    host: hostname,
    tlsSecretName: dnsLabel(63),
    ingressClassName: z.string().min(1).default("nginx"),
    /**
     * Seconds a stopping pod keeps serving (preStop pause) before it is signalled, so Services and ingress
     * controllers stop routing to it first; longer than the cluster's endpoint propagation delay.
     */
    drainSeconds: z.number().int().min(1).max(120).default(10),
    /** The release gate's override, resume and Datadog scope (lib/gate). */
    gate: gateSchema.prefault({}),
});

const smokeTestSchema = z.strictObject({
    image: pinnedImage,
    command: z.array(z.string()).min(1, "must name the command to run"),
    timeoutSeconds: z.number().int().min(30).max(3600).default(300),
    /** Raised by one to run a failed smoke test of release.version again: it is part of the Job's name. */
    attempt: z.number().int().min(1).default(1),
});

const blueGreenSchema = z.strictObject({
    blueVersion: version,
    greenVersion: version,
    activeColor: z.enum(colors),
    /** Replicas kept warm for the color not serving traffic; 0 scales it down and ends the instant rollback. */
    standbyReplicas: z.number().int().min(0).max(200),
    previewHost: hostname,
    smokeTest: smokeTestSchema,
});

const canarySchema = z.strictObject({
    stableVersion: version,
    canaryVersion: version,
    weight: z.number({ message: "must be a whole number from 0 to 100" }).refine(isWeight, "must be a whole number from 0 to 100"),
    steps: z
        .array(z.number().int().min(1).max(100))
        .min(1)
        .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]), { message: "must be strictly increasing" }),
    router: z.enum(routers),
    /** Canary pods for the ingress routers; the replicas router derives them from the weight. */
    canaryReplicas: z.number().int().min(1).max(200).default(2),
    /** Upper bound of the canary's autoscaler for the ingress routers; release.maxReplicas when unset, as the last step may carry all traffic. */
    canaryMaxReplicas: z.number().int().min(1).max(400).optional(),
    headerName: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name")
        .default("X-Canary"),
    gateway: z.strictObject({ name: dnsLabel(63), namespace: dnsLabel(63), sectionName: z.string().optional() }).optional(),
    alb: z
        .strictObject({
            scheme: z.enum(["internet-facing", "internal"]).default("internet-facing"),
            certificateArn: z.string().startsWith("arn:aws:acm:"),
            /** Seconds the target group drains a deregistered pod (deregistration_delay.timeout_seconds); release.drainSeconds must outlast it. */
            deregistrationDelaySeconds: z.number().int().min(0).max(3600).default(30),
        })
        .optional(),
});

const rollingSchema = z.strictObject({
    maxSurge: percentOrCount.default(ZERO_DOWNTIME_ROLLOUT.maxSurge),
    maxUnavailable: percentOrCount.default(ZERO_DOWNTIME_ROLLOUT.maxUnavailable),
    progressDeadlineSeconds: z.number().int().min(60).max(3600).default(ZERO_DOWNTIME_ROLLOUT.progressDeadlineSeconds),
});

const handle = z
    .string()
    .regex(
        /^@[A-Za-z0-9][A-Za-z0-9_.+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$/,
        'must be a Datadog notification handle such as "@pagerduty-myapp", "@slack-engineering" or "@oncall@example.com"',
    );
const metricName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.]*$/, "must be a Datadog metric name such as payment.failed");
const tagScope = z.string().regex(/^[A-Za-z][A-Za-z0-9_.:/-]*(,[A-Za-z][A-Za-z0-9_.:/-]*)*$/, 'must be comma-separated Datadog tags such as "env:production,db:myapp"');
const priority = z.number().int().min(1, "must be a priority from 1 to 5").max(5, "must be a priority from 1 to 5");
const threshold = z.number({ message: "must be a positive number" }).positive("must be a positive number");
const perAlert = <T extends z.ZodType>(schema: T) => z.strictObject(Object.fromEntries(ALERT_NAMES.map((n) => [n, schema.optional()])) as Record<AlertName, z.ZodOptional<T>>);
/** An IANA time zone as the runtime's time zone database knows it, so a mistyped one is refused offline too. */
const timeZone = z.string().refine(
    (tz) => {
        try {
            new Intl.DateTimeFormat("en-US", { timeZone: tz });
            return true;
        } catch {
            return false;
        }
    },
    { message: 'must be an IANA time zone such as "UTC" or "Europe/Paris"' },
);
/**
 * A one-time downtime's start or end. The Datadog provider accepts only `YYYY-MM-DDTHH:MM:SSZ`
 * (DataDog/terraform-provider-datadog datadog/fwprovider/resource_datadog_downtime_schedule.go:
 * TimeFormatValidator("2006-01-02T15:04:05Z")), so an offset is converted to UTC here and fractions of a second refused.
 */
const downtimeTime = z.iso
    .datetime({ offset: true, precision: 0, message: "must be an ISO 8601 date-time in whole seconds such as 2026-11-27T14:00:00Z or 2026-11-27T15:00:00+01:00" })
    .transform((t) => new Date(t).toISOString().replace(".000Z", "Z"));

const monitoringSchema = z.strictObject({
    /** APM service name; defaults to release.appName. */
    service: z
        .string()
        .regex(/^[a-z][a-z0-9_.-]*$/, "must be a Datadog service name")
        .optional(),
    /** Datadog env tag; defaults to the stack name. */
    env: z
        .string()
        .regex(/^[a-z][a-z0-9_.-]*$/, "must be a Datadog env tag value")
        .optional(),
    /**
     * The operation name of the spans the app's tracer opens for inbound requests: every per-version monitor, both
     * SLOs and the dashboard count and time it. No default: each tracer names it differently (README: span names per
     * tracer), and the outbound name of one is the inbound name of none.
     */
    span: z
        .string({ message: "is required: the span name the app's tracer gives inbound HTTP requests, such as web.request for dd-trace-js (README: span names per tracer)" })
        .regex(/^[a-z0-9_.-]+$/, "must be an APM span name such as web.request"),
    /** The kube_cluster_name tag the Datadog agent puts on this cluster's metrics (DD_CLUSTER_NAME). */
    kubeClusterName: z
        .string({ message: "is required: the kube_cluster_name tag the Datadog agent gives this cluster's metrics (its DD_CLUSTER_NAME)" })
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a cluster name as the Datadog agent tags it (lower-case letters, digits, dots and dashes)"),
    notify: z.strictObject({ pager: z.array(handle).min(1, "must name at least one handle"), chat: z.array(handle).min(1, "must name at least one handle") }),
    priorities: z.strictObject({ rollback: priority.default(1), critical: priority.default(2), warning: priority.default(3) }).default({ rollback: 1, critical: 2, warning: 3 }),
    thresholds: perAlert(threshold).default({}),
    warnings: perAlert(threshold).default({}),
    looserThresholdReasons: z.partialRecord(z.enum(ALERT_NAMES), z.string().min(10, "must give a reason of at least 10 characters")).default({}),
    /** The app's business metrics; without them, no payment or email alert is declared. */
    metrics: z.strictObject({ paymentTotal: metricName, paymentFailed: metricName, paymentSucceeded: metricName, emailSent: metricName, emailDelivered: metricName }).optional(),
    databaseScope: tagScope,
    hostScope: tagScope.optional(),
    slo: z
        .strictObject({
            availabilityTarget: z.number().min(90).max(99.999).default(99.9),
            latencyTarget: z.number().min(90).max(99.999).default(99),
            timeframe: z.enum(["7d", "30d", "90d"]).default("30d"),
        })
        .default({ availabilityTarget: 99.9, latencyTarget: 99, timeframe: "30d" }),
    /** Start and end in UTC; timezone only sets how Datadog displays them. */
    deploymentWindow: z.strictObject({ start: downtimeTime, end: downtimeTime, timezone: timeZone.default("UTC") }).optional(),
    /**
     * What a per-version ratio monitor needs before it may alert: requests (and payments) in its window, and the
     * resources that are not user traffic (Datadog's resource_name tag value, wildcards allowed).
     */
    trafficGuard: z
        .strictObject({
            minRequests: z.number().int().min(1, "must be at least 1").default(100),
            minPayments: z.number().int().min(1, "must be at least 1").default(20),
            excludeResources: z
                .array(z.string().regex(/^[a-z0-9_./*-]+$/, 'must be a Datadog resource_name tag value such as "get_/health/*" (lower case, * as wildcard)'))
                .default(["get_/health/*"]),
        })
        .default({ minRequests: 100, minPayments: 20, excludeResources: ["get_/health/*"] }),
});

// Every alert's thresholds, resolved once: the plan's number unless set. Warnings only where config sets them; one on
// a tier the others defer to is kept, for monitoringProblems to refuse.
const resolvedMonitoringSchema = monitoringSchema.transform((m) => {
    const thresholds = Object.fromEntries(ALERT_NAMES.map((n) => [n, m.thresholds[n] ?? PLAN_ALERTS[n].plan])) as Record<AlertName, number>;
    return { ...m, thresholds, warnings: m.warnings };
});

const cronSchedule = z.string().refine(isKubernetesCron, { message: 'must be a five-field cron schedule such as "0 */6 * * *" or a macro such as "@daily"' });
const awsCron = z.string().refine(isAwsCron, "must be an AWS cron expression such as cron(0 5 ? * * *)");
const roleSchema = z.strictObject({
    name: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a PostgreSQL role name"),
    connectionLimit: z.number().int().min(1, "must be at least 1").max(10000),
});

const ownerRoleSchema = z.strictObject({ name: roleSchema.shape.name });
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a PostgreSQL schema name");
const dnsSubdomain = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "must be a Kubernetes object name (lower-case DNS subdomain)");
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name");
const AWS_PARTITION = "aws(-[a-z]+)*";
const kmsKeyArn = z
    .string()
    .regex(
        new RegExp(`^arn:${AWS_PARTITION}:kms:[a-z0-9-]+:\\d{12}:key/[A-Za-z0-9-]+$`),
        "must be a KMS key ARN, arn:aws:kms:<region>:<account>:key/<key id> (IAM policies match keys by key ARN, not alias)",
    );
const iamRoleArn = z.string().regex(new RegExp(`^arn:${AWS_PARTITION}:iam::\\d{12}:role/[A-Za-z0-9+=,.@_/-]+$`), "must be an IAM role ARN, arn:aws:iam::<account>:role/<name>");
const RDS_KINDS = ["instance", "aurora-cluster", "multi-az-cluster"] as const;

const databaseSchema = z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    name: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a PostgreSQL database name"),
    sslmode: z.enum(["require", "verify-ca", "verify-full"]).default("verify-full"),
    /** The server's CA bundle, a PEM file in the repository; required with verify-ca and verify-full. */
    tls: z.strictObject({ caBundle: z.string().min(1) }).optional(),
    /** The server's max_connections: the roles' limits must leave the superuser reserve free. */
    maxConnections: z.number().int().min(10).optional(),
    /** The server's PostgreSQL major version. */
    serverMajorVersion: z.number().int().min(10).max(99),
    toolsImage: pinnedImage,
    /** Major version of pg_dump/pg_restore in toolsImage: never older than the server, or pg_dump refuses to dump. */
    toolsPgDumpMajorVersion: z.number().int().min(10).max(99),
    /** The roles the program creates, with a Secret holding each login role's DATABASE_URL. */
    roles: z.strictObject({ owner: ownerRoleSchema, app: roleSchema, migrator: roleSchema, backup: roleSchema, drill: roleSchema }).optional(),
    /** Instead of roles: the names of Secrets made outside this program, in release.namespace, each with a DATABASE_URL key. */
    existingSecrets: z.strictObject({ app: dnsSubdomain, migrator: dnsSubdomain, backup: dnsSubdomain, drill: dnsSubdomain }).optional(),
    /** With existingSecrets: the app's login role and the role through which it holds CONNECT, which a restore revokes. */
    fence: z.strictObject({ appRole: roleSchema.shape.name, connectRole: roleSchema.shape.name }).optional(),
    /** The schemas the app's objects live in: grants, default privileges and the ownership handover cover them. */
    schemas: z
        .array(schemaName)
        .min(1)
        .refine((s) => s.includes("public"), "must include public")
        .default(["public"]),
    migration: z.strictObject({
        phase: z.enum(PHASES),
        sqlDir: z.string().min(1).optional(),
        command: z.array(z.string()).min(1).optional(),
        downCommand: z.array(z.string()).min(1).optional(),
        run: z.enum(["up", "down"]).default("up"),
        /** The release.version a down migration is run for: a down is bound to its release. */
        downFor: version.optional(),
        downSteps: z.number().int().min(1).default(1),
        estimatedMinutes: z.number().min(1).max(720),
        backoffLimit: z.number().int().min(0).max(3).default(0),
        /** Raised by one to retry a failed backup or migration Job: it is part of their names. */
        attempt: z.number().int().min(1).default(1),
        allow: z.record(z.string(), z.array(z.string())).default({}),
    }),
    /** A dump to restore; `run` counts deliberate re-applications of the same key. */
    // `pulumi config rm --path database.restore.key` leaves `restore: {}` behind: that is no restore, not an error.
    restore: z.preprocess(
        (v) => (v !== null && typeof v === "object" && Object.keys(v).length === 0 ? undefined : v),
        z.strictObject({ key: z.string().min(1), run: z.number().int().min(1).default(1) }).optional(),
    ),
    rds: z
        .strictObject({
            kind: z.enum(RDS_KINDS),
            arn: z.string().regex(/^arn:aws:rds:[a-z0-9-]+:\d{12}:(db|cluster):[A-Za-z0-9-]+$/, "must be an RDS ARN, arn:aws:rds:<region>:<account>:db:<name> or :cluster:<name>"),
            backupSchedule: awsCron,
            restoreTestSchedule: awsCron,
            /** DB subnet group a restore test restores into. */
            subnetGroupName: z.string().min(1),
            /** Security groups of the restored test copy. */
            securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group ID such as sg-0123456789abcdef0")).min(1),
        })
        .optional(),
});

const backupSchema = z.strictObject({
    /** The bucket the program creates for the dumps. */
    bucketName: bucketName.optional(),
    /** Instead of bucketName: a bucket made outside this program, and the KMS key that encrypts it. */
    existingBucket: z.strictObject({ name: bucketName, kmsKeyArn: kmsKeyArn.optional() }).optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
    prefix: z.string().refine(isS3Prefix, "must be a key prefix without leading or trailing slash"),
    retentionDays: z.number().int().min(1),
    minimumRetentionDays: z.number().int().min(1),
    infrequentAccessAfterDays: z.number().int().default(30),
    glacierAfterDays: z.number().int().default(90),
    objectLock: z.strictObject({ mode: z.enum(["GOVERNANCE", "COMPLIANCE"]), days: z.number().int().min(1) }).optional(),
    schedule: cronSchedule,
    restoreDrill: z.strictObject({ schedule: cronSchedule, checkSql: z.string().min(1) }),
    deadlineMinutes: z.number().int().min(5).max(1440).default(60),
    scratchSize: z
        .string()
        .refine((q) => bytesOf(q) !== undefined, 'must be a byte quantity such as "20Gi"')
        .default("20Gi"),
    /** IRSA: the cluster's OIDC provider, for the program to create the backup role; or roleArn, an existing role. */
    oidc: z.strictObject({
        providerArn: z
            .string()
            .regex(/^arn:aws:iam::\d{12}:oidc-provider\/.+$/, "must be an IAM OIDC provider ARN")
            .optional(),
        issuerUrl: z.string().startsWith("https://", "must be the cluster's OIDC issuer URL").optional(),
        roleArn: iamRoleArn.optional(),
    }),
});

/** The roles a release names, in the plan's order; each one a person's or a rotation's chat handle. */
export const PLAN_ROLES = [
    "deploymentLead",
    "rollbackOwner",
    "databaseLead",
    "monitoringLead",
    "communicationLead",
    "onCall",
    "backupOnCall",
    "engineeringManager",
    "productManager",
] as const;
export type PlanRole = (typeof PLAN_ROLES)[number];

const chatChannel = z.string().regex(/^#[a-z0-9][a-z0-9_-]{0,79}$/, 'must be a chat channel such as "#engineering"');
const planText = z.string().trim().min(3, "must be a sentence of at least 3 characters").max(300, "must be at most 300 characters");
const link = z.url({ protocol: /^https$/, message: "must be an https URL" });

/**
 * What the deployment plan needs that nothing else in config holds: the release's summary, its people, channels and
 * sign-off. Every entry is optional: the plan prints a missing one as "not set"; the policy pack requires a
 * deployment lead and a rollback owner.
 */
const planSchema = z.strictObject({
    summary: z.strictObject({ changes: z.array(planText).min(1).optional(), why: z.array(planText).min(1).optional() }).prefault({}),
    people: z.strictObject(Object.fromEntries(PLAN_ROLES.map((r) => [r, person.optional()])) as Record<PlanRole, z.ZodOptional<typeof person>>).prefault({}),
    channels: z
        .strictObject({ team: chatChannel.optional(), warRoom: chatChannel.optional(), support: chatChannel.optional(), stakeholders: z.email("must be an email address").optional() })
        .prefault({}),
    statusPage: link.optional(),
    pagerUrl: link.optional(),
    /** Roles whose sign-off the release needs, in order. */
    signOff: z.array(z.enum(PLAN_ROLES)).min(1).optional(),
    /** Criteria beyond the monitors' thresholds, the migration and the smoke tests, which the plan derives itself. */
    successCriteria: z.array(planText).min(1).optional(),
    /** Minutes to watch each traffic step before taking the next (the plan's "monitor for 30 minutes"). */
    observeMinutes: z.number().int().min(5).max(240).default(30),
});

export type PlanConfig = z.infer<typeof planSchema>;

const percentage = z.number({ message: "must be a number from 0 to 100" }).min(0, "must be a number from 0 to 100").max(100, "must be a number from 0 to 100");
const effect = z.number({ message: "must be a positive number" }).positive("must be a positive number");

/** A judged metric's settings, as Kayenta's analysisConfigurations.canary names them; each left out keeps its default. */
const judgeMetricSchema = z.strictObject({
    direction: z.enum(["increase", "decrease", "either"]).optional(),
    critical: z.boolean().optional(),
    mustHaveData: z.boolean().optional(),
    muted: z.boolean().optional(),
    nanStrategy: z.enum(["remove", "replace"]).optional(),
    outliers: z.strictObject({ strategy: z.enum(["keep", "remove"]).optional(), factor: effect.optional() }).optional(),
    effectSize: z
        .strictObject({
            measure: z.enum(["meanRatio", "cles"]).optional(),
            allowedIncrease: effect.optional(),
            allowedDecrease: effect.optional(),
            criticalIncrease: effect.optional(),
            criticalDecrease: effect.optional(),
        })
        .optional(),
});

/** The canary judge (lib/judge): the verdict's thresholds, the groups' weights and each metric's settings. */
const judgeSchema = z.strictObject({
    /** Pass at or above `pass`; Marginal at or above `marginal`; Fail below. */
    thresholds: z.strictObject({ pass: percentage.default(95), marginal: percentage.default(75) }).prefault({}),
    /** Percent per group (errors, latency, payments); groups without a weight share what remains of 100. */
    groupWeights: z.partialRecord(z.enum(JUDGE_GROUPS), percentage).default({}),
    metrics: z.partialRecord(z.enum(JUDGE_METRIC_NAMES), judgeMetricSchema).default({}),
    /** Seconds between two points of a series read from Datadog. */
    stepSeconds: z.number().int().min(10, "must be at least 10").max(3600, "must be at most 3600").default(60),
});

/**
 * Automatic rollback (components/traffic/autoRollback.ts): the rollback triggers notify a Datadog webhook that creates a
 * Pulumi Deployments update of this stack with the rollback's config edits. The section being set also makes the
 * program read the automatic-rollback mark (lib/gate/mark.ts), so `enabled: false` turns the webhook off but keeps
 * the versions it halted halted.
 */
const autoRollbackSchema = z.strictObject({
    enabled: z.boolean().default(true),
    /** The Pulumi Cloud API the webhook calls. */
    apiUrl: z.url({ protocol: /^https?$/, message: "must be the Pulumi Cloud API's URL, such as https://api.pulumi.com" }).default("https://api.pulumi.com"),
    /** Where Pulumi Deployments fetches the program: the repository and branch the stack deploys from. */
    source: z
        .strictObject({
            repoUrl: z.url({ protocol: /^https$/, message: "must be the https URL of the repository, such as https://github.com/acme/myapp-deploy.git" }),
            branch: z.string().regex(/^[A-Za-z0-9._/-]+$/, "must be a git branch name such as main"),
            repoDir: z
                .string()
                .regex(/^[A-Za-z0-9._/-]+$/, "must be a directory of the repository, such as deploy")
                .optional(),
        })
        .optional(),
    /** The Pulumi access token the webhook authenticates with; set with `--secret`. */
    pulumiAccessToken: z.string({ message: "must be a string set with `pulumi config set --secret`" }).optional(),
    /** Set only by the automatic rollback's own deployment: the version it takes traffic from, which the mark records. */
    halt: version.optional(),
});

const programSchema = z
    .strictObject({
        strategy: z.enum(strategies),
        release: releaseSchema,
        blueGreen: blueGreenSchema.optional(),
        canary: canarySchema.optional(),
        rolling: rollingSchema.default(rollingSchema.parse({})),
        monitoring: resolvedMonitoringSchema.optional(),
        database: databaseSchema.optional(),
        backup: backupSchema.optional(),
        plan: planSchema.prefault({}),
        judge: judgeSchema.prefault({}),
        autoRollback: autoRollbackSchema.optional(),
    })
    // Defaults that depend on another key are resolved here, once, so nothing downstream resolves them again.
    .transform((c) => ({ ...c, canary: c.canary && { ...c.canary, canaryMaxReplicas: c.canary.canaryMaxReplicas ?? c.release.maxReplicas } }));

/** Stack config as parsed, before the strategy has picked its section. */
type ParsedConfig = z.infer<typeof programSchema>;
export type BlueGreenConfig = NonNullable<ParsedConfig["blueGreen"]>;
type ParsedCanary = NonNullable<ParsedConfig["canary"]>;
/** The canary section, its router with that router's settings. */
export type CanaryConfig = Omit<ParsedCanary, "router" | "gateway" | "alb"> & CanaryRouting;
export type RollingConfig = ParsedConfig["rolling"];

type MonitoringSection = NonNullable<ParsedConfig["monitoring"]>;
/** The automatic rollback's settings; its token is read apart, as a secret (readAutoRollbackToken). */
export type AutoRollbackConfig = Omit<NonNullable<ParsedConfig["autoRollback"]>, "pulumiAccessToken">;
type ParsedDatabase = NonNullable<ParsedConfig["database"]>;
type ParsedBackup = NonNullable<ParsedConfig["backup"]>;

/** Who connects: roles and Secrets the program creates, or Secrets made outside it. */
export type DatabaseAccessConfig = { kind: "roles"; roles: NonNullable<ParsedDatabase["roles"]> } | { kind: "existing"; secrets: NonNullable<ParsedDatabase["existingSecrets"]> };
/** What the migration runs: SQL files of the repository, or a command in the release image. */
export type MigrationRunConfig = { kind: "sql"; sqlDir: string } | { kind: "command"; command: string[]; downCommand?: string[] };
/** The dumps' bucket: one the program declares, or one made outside it (with the key that encrypts it, where given). */
export type DumpBucketConfig = { kind: "declared"; name: string } | { kind: "existing"; name: string; kmsKeyArn?: string };
/** The backup pods' IAM role: an existing one, or one the program creates, trusted by the cluster's OIDC provider. */
export type BackupRoleConfig = { kind: "existing"; arn: string } | { kind: "oidc"; providerArn: string; issuerUrl: string };

/**
 * The validated stack configuration: the strategy comes with its own section, and only that one. Defaults that
 * depend on the stack are resolved here too: `datadog` is the env and service tags the pods carry and the monitors
 * query (monitoring.env and .service, else the stack and the app), and monitoring.hostScope defaults to the
 * cluster's nodes (kube_cluster_name), not every host of the env.
 */
export type ProgramConfig = Omit<ParsedConfig, "strategy" | "blueGreen" | "canary" | "rolling" | "monitoring" | "database" | "backup" | "autoRollback"> & {
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
    backup?: Omit<ParsedBackup, "bucketName" | "existingBucket" | "oidc"> & { bucket: DumpBucketConfig; role: BackupRoleConfig };
} & ({ strategy: "blue-green"; blueGreen: BlueGreenConfig } | { strategy: "canary"; canary: CanaryConfig } | { strategy: "rolling"; rolling: RollingConfig });

interface Problem {
    path: PropertyKey[];
    input: unknown;
    message: string;
}

/** Rules that relate one key to another; checked once every key is well-formed on its own. */
function crossFieldProblems(c: ParsedConfig, stack: string): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: (string | number)[], input: unknown, message: string) => {
        problems.push({ path, input, message });
    };
    if (c.release.maxReplicas < c.release.replicas) {
        issue(["release", "maxReplicas"], c.release.maxReplicas, `must be at least release.replicas (${c.release.replicas})`);
    }
    if (c.strategy === "rolling" && !rolloutCanProgress(c.rolling.maxSurge, c.rolling.maxUnavailable)) {
        issue(["rolling", "maxUnavailable"], c.rolling.maxUnavailable, `cannot be 0 when rolling.maxSurge is ${c.rolling.maxSurge}: the rollout could never progress`);
    }
    if (c.monitoring) problems.push(...monitoringProblems(c.monitoring, datadogTags(c, stack).env));
    // One owner for the span and the traffic guard: monitoring's, when this stack declares the monitors.
    if (c.monitoring && c.release.gate.scope) {
        issue(["release", "gate", "scope"], c.release.gate.scope, "must be left out with monitoring: the gate reads monitoring.span and monitoring.trafficGuard");
    }
    problems.push(...judgeProblems(c));
    problems.push(...databaseProblems(c));
    problems.push(...autoRollbackProblems(c));
    if (c.strategy === "blue-green") {
        const bg = c.blueGreen;
        if (!bg) {
            issue(["blueGreen"], undefined, 'is required when strategy is "blue-green"');
            return problems;
        }
        if (c.release.version !== bg.blueVersion && c.release.version !== bg.greenVersion) {
            issue(["release", "version"], c.release.version, `must be the version of one color (blue ${bg.blueVersion}, green ${bg.greenVersion})`);
        }
        if (bg.previewHost === c.release.host) issue(["blueGreen", "previewHost"], bg.previewHost, "must differ from release.host");
        problems.push(...liveColorProblems(c.release, bg));
    }
    if (c.strategy === "canary") {
        const cn = c.canary;
        if (!cn) {
            issue(["canary"], undefined, 'is required when strategy is "canary"');
            return problems;
        }
        if (cn.weight !== 0 && !cn.steps.includes(cn.weight)) {
            issue(["canary", "weight"], cn.weight, `must be 0 or one of the declared steps [${cn.steps.join(", ")}]`);
        }
        if (c.release.version !== cn.stableVersion && c.release.version !== cn.canaryVersion) {
            issue(["release", "version"], c.release.version, `must be the stable (${cn.stableVersion}) or canary (${cn.canaryVersion}) version`);
        }
        // Until promotion, rolling back means returning traffic to stable: the printed rollback and the plan take
        // previousVersion for that version (lib/rollback.ts), so any other would roll stable onto a third version.
        const previous = c.release.previousVersion;
        if (cn.canaryVersion !== cn.stableVersion && previous !== undefined && previous !== cn.stableVersion) {
            issue(
                ["release", "previousVersion"],
                previous,
                `must be canary.stableVersion (${cn.stableVersion}) while the canary (${cn.canaryVersion}) is not promoted: a rollback returns traffic to what stable runs`,
            );
        }
        if (cn.router === "gateway-api" && !cn.gateway) issue(["canary", "gateway"], undefined, 'is required when canary.router is "gateway-api"');
        if (cn.router === "alb" && !cn.alb) issue(["canary", "alb"], undefined, 'is required when canary.router is "alb"');
        if (cn.router === "alb" && cn.alb && c.release.drainSeconds <= cn.alb.deregistrationDelaySeconds) {
            issue(
                ["release", "drainSeconds"],
                c.release.drainSeconds,
                `must exceed canary.alb.deregistrationDelaySeconds (${cn.alb.deregistrationDelaySeconds}) with the ALB router: a stopping pod keeps serving until its target group has drained it`,
            );
        }
        if (cn.canaryMaxReplicas < cn.canaryReplicas || cn.canaryMaxReplicas > c.release.maxReplicas) {
            issue(["canary", "canaryMaxReplicas"], cn.canaryMaxReplicas, `must be from canary.canaryReplicas (${cn.canaryReplicas}) to release.maxReplicas (${c.release.maxReplicas})`);
        }
        if (cn.router === "replicas") {
            // Every step of the plan must be one the program accepts: 100 is reached by promotion, not by a weight.
            const inexpressible = cn.steps.filter((step) => step !== 100 && !replicaSplit(c.release.replicas, step));
            if (inexpressible.length > 0) {
                issue(
                    ["canary", "steps"],
                    cn.steps,
                    `cannot all be expressed with ${c.release.replicas} replicas by the replicas router (${inexpressible.join(", ")}): release.replicas × each step must be a multiple of 100`,
                );
            }
            if (cn.weight === 100) {
                issue(["canary", "weight"], cn.weight, "cannot be 100 with the replicas router: it would scale stable to 0; promote by setting canary.stableVersion instead");
            } else if (!replicaSplit(c.release.replicas, cn.weight)) {
                issue(["canary", "weight"], cn.weight, `cannot be expressed with ${c.release.replicas} replicas by the replicas router: release.replicas × weight must be a multiple of 100`);
            }
        }
    }
    return problems;
}

/**
 * A new version reaches users only through the standby color and its smoke test. Config has no memory of which color
 * is live, but a release's shape tells: the active color runs the version traffic is on (release.previousVersion)
 * until the switch, then the version released (release.version), with the previous one kept warm on the standby.
 * Any other version on the active color would reach users untested, rolled onto the live pods.
 */
function liveColorProblems(release: ParsedConfig["release"], bg: BlueGreenConfig): Problem[] {
    const key = `${bg.activeColor}Version` as const;
    const standbyKey = bg.activeColor === "blue" ? "greenVersion" : "blueVersion";
    const live = bg[key];
    const previous = release.previousVersion;
    const untested = `a new version reaches users through the standby color and its smoke test: set blueGreen.${standbyKey}, then switch blueGreen.activeColor`;
    if (live !== release.version && live !== previous) {
        return [
            {
                path: ["blueGreen", key],
                input: live,
                message: `is the active color's version, neither release.version (${release.version}) nor release.previousVersion (${previous ?? "not set"}): ${untested}`,
            },
        ];
    }
    if (previous !== undefined && live === release.version && live !== previous && bg[standbyKey] !== previous) {
        return [
            {
                path: ["blueGreen", key],
                input: live,
                message: `is release.version on the active color, so the standby must keep release.previousVersion (${previous}) for the rollback, not ${bg[standbyKey]}: ${untested}`,
            },
        ];
    }
    return [];
}

type MonitoringConfig = z.infer<typeof resolvedMonitoringSchema>;

const KEYS = ["strategy", "release", "blueGreen", "canary", "rolling", "monitoring", "database", "backup", "plan", "judge", "autoRollback"] as const;

function databaseProblems(c: ParsedConfig): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const db = c.database;
    const b = c.backup;
    if (db && !b) issue(["backup"], undefined, "is required with database: a release must back the database up before it migrates");
    if (b && !db) issue(["database"], undefined, "is required with backup");
    if (b) {
        if (b.retentionDays < b.minimumRetentionDays) {
            issue(["backup", "retentionDays"], b.retentionDays, `must be at least backup.minimumRetentionDays (${b.minimumRetentionDays})`);
        }
        problems.push(...existingBackupProblems(b, db));
    }
    // Storage classes and the lock are settings of a bucket the program creates; an existing bucket keeps its own.
    if (b && !b.existingBucket) {
        const lifecycle = lifecycleProblems({ ...b, objectLockDays: b.objectLock?.days });
        for (const [key, message] of Object.entries(lifecycle)) {
            const at = key === "objectLockDays" ? ["backup", "objectLock", "days"] : ["backup", key];
            issue(at, key === "objectLockDays" ? b.objectLock?.days : b[key as "glacierAfterDays"], message);
        }
    }
    if (!db) return problems;
    const m = db.migration;
    if ((m.sqlDir === undefined) === (m.command === undefined)) {
        issue(["database", "migration"], undefined, "must set exactly one of sqlDir (SQL files run with psql) and command (run in the release image)");
    }
    if (m.run === "down" && m.command !== undefined && m.downCommand === undefined) {
        issue(["database", "migration", "downCommand"], undefined, 'is required when database.migration.run is "down"');
    }
    problems.push(...downMigrationProblems(c, db));
    problems.push(...databaseAccessProblems(db));
    const r = db.roles;
    if (r && db.maxConnections !== undefined) {
        const limits = [r.app, r.migrator, r.backup, r.drill].reduce((n, r) => n + r.connectionLimit, 0);
        if (limits > db.maxConnections - 3) {
            issue(["database", "roles"], limits, `connection limits add up to more than maxConnections (${db.maxConnections}) less the 3 reserved for superusers`);
        }
    }
    if (verifiesServer(db.sslmode) && !db.tls) {
        issue(["database", "tls", "caBundle"], undefined, `is required with sslmode ${db.sslmode}: the CA bundle (PEM) the server's certificate is checked against`);
    }
    if (db.tls) {
        const file = path.resolve(PROJECT_ROOT, db.tls.caBundle);
        if (!existsSync(file)) issue(["database", "tls", "caBundle"], db.tls.caBundle, `names no file (looked for ${file})`);
        else if (!readFileSync(file, "utf8").includes("-----BEGIN CERTIFICATE-----")) issue(["database", "tls", "caBundle"], db.tls.caBundle, "holds no PEM certificate");
    }
    if (db.toolsPgDumpMajorVersion < db.serverMajorVersion) {
        issue(
            ["database", "toolsPgDumpMajorVersion"],
            db.toolsPgDumpMajorVersion,
            `must be at least database.serverMajorVersion (${db.serverMajorVersion}): pg_dump refuses a server newer than itself; use a tools image built for PostgreSQL ${db.serverMajorVersion}`,
        );
    }
    if (db.rds) {
        const arnKind = db.rds.arn.split(":")[5];
        const wanted = db.rds.kind === "instance" ? "db" : "cluster";
        if (arnKind !== wanted) {
            issue(["database", "rds", "arn"], db.rds.arn, `must be a :${wanted}: ARN for rds.kind "${db.rds.kind}", got a :${arnKind}: ARN`);
        }
        // RDS names cluster endpoints <cluster>.cluster-<id>.<region>.rds.amazonaws.com (and cluster-ro- for readers).
        if (db.rds.kind === "instance" && /\.cluster-(ro-)?[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/.test(db.host)) {
            issue(["database", "rds", "kind"], db.rds.kind, `must be "aurora-cluster" or "multi-az-cluster": database.host ${db.host} is a cluster endpoint`);
        }
    }
    if (b && db.restore && !(db.restore.key.startsWith(`${b.prefix}/`) && db.restore.key.endsWith(".dump"))) {
        issue(["database", "restore", "key"], db.restore.key, `must name a dump under backup.prefix, like ${b.prefix}/20261127T140000Z-pre-deploy-v1.2.3.dump`);
    }
    return problems;
}

/**
 * A down migration is bound to the release it was run for: `run: down` needs `downFor` set to release.version, so
 * that a `run: down` left in config refuses the next release instead of rolling back one more migration.
 */
function downMigrationProblems(c: ParsedConfig, db: ParsedDatabase): Problem[] {
    const problems: Problem[] = [];
    const m = db.migration;
    const clear = "pulumi config rm --path database.migration.run && pulumi config rm --path database.migration.downFor";
    if (m.run === "down") {
        if (m.downFor === undefined) {
            problems.push({
                path: ["database", "migration", "downFor"],
                input: undefined,
                message: `is required with database.migration.run down: set it to release.version (${c.release.version}), the release this down migration is for`,
            });
        } else if (m.downFor !== c.release.version) {
            problems.push({
                path: ["database", "migration", "downFor"],
                input: m.downFor,
                message: `is not release.version (${c.release.version}): this down migration was run for ${m.downFor}, and a new release does not run it again; clear it with ${clear}`,
            });
        }
        if (db.restore) {
            problems.push({
                path: ["database", "migration", "run"],
                input: m.run,
                message:
                    "cannot be down together with database.restore.key: the restore puts back the dump's schema, and the down migration would then undo a migration of the dump's release",
            });
        }
    } else if (m.downFor !== undefined) {
        problems.push({ path: ["database", "migration", "downFor"], input: m.downFor, message: "must be left out unless database.migration.run is down" });
    }
    return problems;
}

type DatabaseConfig = ParsedDatabase;
type BackupConfig = ParsedBackup;

/** The program creates the roles and their Secrets, or reads Secrets the user made: one or the other. */
function databaseAccessProblems(db: DatabaseConfig): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const s = db.existingSecrets;
    if (!s) {
        if (!db.roles) issue(["database", "roles"], undefined, "is required unless database.existingSecrets names Secrets made outside this program");
        if (db.maxConnections === undefined) issue(["database", "maxConnections"], undefined, "is required with database.roles: the roles' connection limits must fit in it");
        if (db.fence) issue(["database", "fence"], SKIP, "must be left out with database.roles: the program makes the app's connect role itself");
        if (db.roles && db.roles.app.name.length > 55)
            issue(["database", "roles", "app", "name"], db.roles.app.name, "must be at most 55 characters: the program names its connect role <name>_connect");
        return problems;
    }
    if (db.restore && !db.fence) {
        issue(
            ["database", "fence"],
            undefined,
            "is required with database.existingSecrets and database.restore.key: a restore shuts the app out first, so name the app's login role (appRole) and the role it holds CONNECT through (connectRole)",
        );
    }
    const without = "must be left out with database.existingSecrets: the program creates no roles, the Secrets' URLs decide who connects";
    if (db.roles) issue(["database", "roles"], SKIP, without);
    if (db.maxConnections !== undefined) issue(["database", "maxConnections"], db.maxConnections, without);
    // The drill restores over whatever DRILL_DATABASE_URL names: never the app's own database.
    const shared = (["app", "migrator", "backup"] as const).filter((k) => s[k] === s.drill);
    if (shared.length > 0) {
        issue(
            ["database", "existingSecrets", "drill"],
            s.drill,
            `must differ from ${shared.map((k) => `existingSecrets.${k}`).join(" and ")}: the restore drill restores over the database its URL names`,
        );
    }
    return problems;
}

/** The program creates the bucket and the backup role, or uses ones made outside it. */
function existingBackupProblems(b: BackupConfig, db: DatabaseConfig | undefined): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const existing = b.existingBucket;
    if ((b.bucketName === undefined) === (existing === undefined)) {
        issue(["backup", "bucketName"], b.bucketName, "must be set, or else backup.existingBucket, but not both: the program creates the bucket named bucketName, or uses existingBucket");
    }
    if (existing && b.objectLock) issue(["backup", "objectLock"], SKIP, "must be left out with backup.existingBucket: object lock is a setting of the existing bucket");
    const o = b.oidc;
    if (o.roleArn !== undefined) {
        for (const key of ["providerArn", "issuerUrl"] as const) {
            if (o[key] !== undefined) issue(["backup", "oidc", key], o[key], "must be left out with backup.oidc.roleArn: the existing role's trust policy is its own");
        }
    } else {
        for (const key of ["providerArn", "issuerUrl"] as const) {
            if (o[key] === undefined) issue(["backup", "oidc", key], undefined, "is required unless backup.oidc.roleArn names an existing IAM role for the backup ServiceAccount");
        }
    }
    if (existing && existing.kmsKeyArn === undefined) {
        if (o.roleArn === undefined) {
            issue(
                ["backup", "existingBucket", "kmsKeyArn"],
                undefined,
                "is required when the program creates the backup role (no backup.oidc.roleArn): the role may use only the bucket's key",
            );
        } else if (db?.rds) {
            issue(["backup", "existingBucket", "kmsKeyArn"], undefined, "is required with database.rds: the RDS backup vault is encrypted with the bucket's key");
        }
    }
    return problems;
}

function monitoringProblems(m: MonitoringConfig, env: string): Problem[] {
    const problems: Problem[] = [];
    for (const name of ALERT_NAMES) {
        const a: PlanAlert = PLAN_ALERTS[name];
        const critical = m.thresholds[name];
        const warning = m.warnings[name];
        if (a.percent && critical > 100) problems.push({ path: ["monitoring", "thresholds", name], input: critical, message: "is a percentage and cannot exceed 100" });
        if (warning !== undefined && DEFERRED_TO.includes(name)) {
            problems.push({
                path: ["monitoring", "warnings", name],
                input: warning,
                message: "must be left out: the tiers below this rollback trigger warn and page for it, and a warning here would silence them in its band",
            });
        } else if (warning !== undefined && !warningBeforeCritical(PLAN_ALERTS[name].bad, warning, critical)) {
            const side = a.bad === "above" ? "below" : "above";
            problems.push({ path: ["monitoring", "warnings", name], input: warning, message: `must be ${side} the critical threshold ${critical}` });
        }
        if (env === "production" && isLooser(name, critical) && !m.looserThresholdReasons[name]) {
            problems.push({
                path: ["monitoring", "thresholds", name],
                input: critical,
                message: `is looser than the plan's ${a.plan} (alerts ${a.bad} it); in production set monitoring.looserThresholdReasons.${name} to say why`,
            });
        }
    }
    const w = m.deploymentWindow;
    if (w && Date.parse(w.end) <= Date.parse(w.start)) problems.push({ path: ["monitoring", "deploymentWindow", "end"], input: w.end, message: `must be after start (${w.start})` });
    return problems;
}

function judgeProblems(c: ParsedConfig): Problem[] {
    const problems: Problem[] = [];
    const { thresholds, groupWeights } = c.judge;
    if (thresholds.marginal > thresholds.pass) {
        problems.push({ path: ["judge", "thresholds", "marginal"], input: thresholds.marginal, message: `must not be above judge.thresholds.pass (${thresholds.pass})` });
    }
    const total = Object.values(groupWeights).reduce((sum, w) => sum + w, 0);
    if (total > 100) problems.push({ path: ["judge", "groupWeights"], input: groupWeights, message: `add up to ${total}; they must add up to at most 100` });
    // A weighted group with no metric still takes its share of 100, so no canary could score 100.
    if (groupWeights.payments !== undefined && !c.monitoring?.metrics) {
        problems.push({
            path: ["judge", "groupWeights", "payments"],
            input: groupWeights.payments,
            message: "weighs a group without metrics: payments are judged only with monitoring.metrics",
        });
    }
    return problems;
}

/** An enabled automatic rollback needs the triggers that start it, where Deployments finds the program, and a token. */
function autoRollbackProblems(c: ParsedConfig): Problem[] {
    const a = c.autoRollback;
    if (!a?.enabled) return [];
    const problems: Problem[] = [];
    if (!c.monitoring) problems.push({ path: ["autoRollback", "enabled"], input: true, message: "needs monitoring: the rollback triggers are its monitors" });
    if (!a.source)
        problems.push({ path: ["autoRollback", "source"], input: undefined, message: "is required when autoRollback.enabled: the repository (repoUrl) and branch Pulumi Deployments runs" });
    // Never printed: a token is a credential.
    if (!a.pulumiAccessToken)
        problems.push({
            path: ["autoRollback", "pulumiAccessToken"],
            input: undefined,
            message: "is required when autoRollback.enabled: set it with `pulumi config set --secret --path autoRollback.pulumiAccessToken`",
        });
    return problems;
}

/** A key holding a credential: an error names it but never prints its value. */
const isCredential = (path: PropertyKey[]) => path[0] === "autoRollback" && path[1] === "pulumiAccessToken";

/** Marks a problem whose value is not worth printing, such as an unknown key. */
const SKIP = Symbol("skip");

function describe(value: unknown): string {
    if (value === undefined) return "(not set)";
    return JSON.stringify(value);
}

function formatPath(project: string, path: PropertyKey[]): string {
    const [head, ...rest] = path;
    return `${project}:${String(head)}` + rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
}

// The exactly-one-of pairs, resolved once crossFieldProblems has made sure exactly one is set; the raw keys are gone
// from the result, so nothing downstream reads them.
function resolvedDatabase({ roles: _roles, existingSecrets: _existing, migration, ...db }: ParsedDatabase): NonNullable<ProgramConfig["database"]> {
    const { sqlDir: _sqlDir, command: _command, downCommand: _down, ...steps } = migration;
    return { ...db, access: databaseAccess({ roles: _roles, existingSecrets: _existing }), migration: steps, migrationRun: migrationRun(migration) };
}

function resolvedBackup({ bucketName: _name, existingBucket: _existing, oidc, ...b }: ParsedBackup): NonNullable<ProgramConfig["backup"]> {
    return { ...b, bucket: dumpBucket({ bucketName: _name, existingBucket: _existing }), role: backupRole(oidc) };
}
function databaseAccess(db: Pick<ParsedDatabase, "roles" | "existingSecrets">): DatabaseAccessConfig {
    if (db.existingSecrets) return { kind: "existing", secrets: db.existingSecrets };
    if (db.roles) return { kind: "roles", roles: db.roles };
    throw new Error("database without roles or existingSecrets passed validation");
}

function migrationRun(m: ParsedDatabase["migration"]): MigrationRunConfig {
    if (m.sqlDir !== undefined) return { kind: "sql", sqlDir: m.sqlDir };
    if (m.command !== undefined) return { kind: "command", command: m.command, downCommand: m.downCommand };
    throw new Error("database.migration without sqlDir or command passed validation");
}

function dumpBucket(b: Pick<ParsedBackup, "bucketName" | "existingBucket">): DumpBucketConfig {
    if (b.existingBucket) return { kind: "existing", ...b.existingBucket };
    if (b.bucketName) return { kind: "declared", name: b.bucketName };
    throw new Error("backup without bucketName or existingBucket passed validation");
}

function backupRole(o: ParsedBackup["oidc"]): BackupRoleConfig {
    if (o.roleArn) return { kind: "existing", arn: o.roleArn };
    if (o.providerArn && o.issuerUrl) return { kind: "oidc", providerArn: o.providerArn, issuerUrl: o.issuerUrl };
    throw new Error("backup.oidc without roleArn or providerArn and issuerUrl passed validation");
}

/** The canary section with its router's settings; crossFieldProblems has made sure they are there. */
function withRouting({ router, gateway, alb, ...tracks }: ParsedCanary): CanaryConfig {
    if (router === "gateway-api" && gateway) return { ...tracks, router, gateway };
    if (router === "alb" && alb) return { ...tracks, router, alb };
    if (router === "nginx" || router === "replicas") return { ...tracks, router };
    throw new Error(`canary.router ${router} without its settings passed validation`);
}

function datadogTags(c: Pick<ParsedConfig, "monitoring" | "release">, stack: string): ProgramConfig["datadog"] {
    return { env: c.monitoring?.env ?? stack, service: c.monitoring?.service ?? c.release.appName };
}

/** The config with only its strategy's section (crossFieldProblems has made sure it is there) and its stack defaults. */
function resolved({ strategy, blueGreen, canary, rolling, monitoring, database, backup, autoRollback, ...rest }: ParsedConfig, stack: string): ProgramConfig {
    const datadog = datadogTags({ monitoring, release: rest.release }, stack);
    const { pulumiAccessToken: _token, ...autoRollbackSettings } = autoRollback ?? {};
    const common = {
        ...rest,
        datadog,
        autoRollback: autoRollback && (autoRollbackSettings as AutoRollbackConfig),
        monitoring: monitoring && { ...monitoring, hostScope: monitoring.hostScope ?? `kube_cluster_name:${monitoring.kubeClusterName}` },
        database: database && resolvedDatabase(database),
        backup: backup && resolvedBackup(backup),
    };
    if (strategy === "blue-green" && blueGreen) return { ...common, strategy, blueGreen };
    if (strategy === "canary" && canary) return { ...common, strategy, canary: withRouting(canary) };
    if (strategy === "rolling") return { ...common, strategy, rolling };
    throw new Error(`strategy ${strategy} without its section passed validation`);
}

/**
 * The tracks that serve traffic while the release's migration runs, with their versions and the keys that set them:
 * a canary's stable and canary tracks (the canary serves testers even at weight 0), each blue/green color (the
 * standby too, unless standbyReplicas is 0: then it runs no pod), and for rolling the release's version and
 * release.previousVersion, whose pods serve until the rollout, which waits for the migration, replaces them.
 */
export function servingTracks(cfg: ProgramConfig): ServingTrack[] {
    if (cfg.strategy === "canary") {
        return [
            { track: "stable", key: "canary.stableVersion", version: cfg.canary.stableVersion },
            { track: "canary", key: "canary.canaryVersion", version: cfg.canary.canaryVersion },
        ];
    }
    if (cfg.strategy === "blue-green") {
        const bg = cfg.blueGreen;
        return (["blue", "green"] as const)
            .filter((color) => color === bg.activeColor || bg.standbyReplicas > 0)
            .map((color) => ({ track: color, key: `blueGreen.${color}Version`, version: color === "blue" ? bg.blueVersion : bg.greenVersion }));
    }
    const r = cfg.release;
    return [
        { track: "rolling", key: "release.version", version: r.version },
        ...(r.previousVersion && r.previousVersion !== r.version ? [{ track: "previous", key: "release.previousVersion", version: r.previousVersion }] : []),
    ];
}

/**
 * Refuses a stack whose roles the program creates through an admin connection that does not verify the server:
 * the PostgreSQL provider's own config (`postgresql:sslmode`, `postgresql:sslrootcert`) decides that connection.
 */
export function checkAdminConnection(cfg: ProgramConfig, admin: { name: string; get(key: string): string | undefined }): void {
    if (cfg.database?.access.kind !== "roles") return;
    const problems: string[] = [];
    const sslmode = admin.get("sslmode");
    if (sslmode === undefined || !verifiesServer(sslmode)) {
        problems.push(`  ${admin.name}:sslmode = ${describe(sslmode)}: must be verify-full or verify-ca: the program creates the roles through this connection, with the admin's password`);
    }
    if (admin.get("sslrootcert") === undefined)
        problems.push(
            `  ${admin.name}:sslrootcert = (not set): must name the CA bundle the server's certificate is checked against, such as ${cfg.database.tls?.caBundle ?? "certs/rds-ca-bundle.pem"}`,
        );
    if (problems.length > 0) throw new ConfigError(`Invalid stack configuration (nothing was declared):\n${problems.join("\n")}`);
}

/** Validates raw config values (as read from the stack; `stack` names the default Datadog env) and returns the typed config, or throws one ConfigError listing every problem. */
export function validateConfig(project: string, stack: string, raw: Record<string, unknown>, warn: (message: string) => void = () => undefined): ProgramConfig {
    const result = programSchema.safeParse(numbersAsWritten(programSchema, ownStrategySections(project, raw, warn)), { reportInput: true });
    const problems: Problem[] = result.success ? crossFieldProblems(result.data, stack) : result.error.issues.flatMap(schemaProblems);
    if (result.success && problems.length === 0) return resolved(result.data, stack);
    const lines = problems.map((p) => `  ${formatPath(project, p.path)}${p.input === SKIP ? "" : ` = ${describe(p.input)}`}: ${p.message}`);
    throw new ConfigError(`Invalid stack configuration (nothing was declared):\n${lines.join("\n")}`);
}

/** Keys of the project's namespace that the program reads apart from KEYS: the app's secrets (readAppSecrets). */
const SEPARATE_KEYS = ["appSecrets"] as const;
const STRATEGY_SECTIONS = { "blue-green": "blueGreen", canary: "canary", rolling: "rolling" } as const;

/**
 * The raw config without the sections of the strategies the stack does not run (left from a change of strategy, or
 * copied from another stack): the program never reads them, so their fields are not demanded. Each is named in a
 * warning. The separately read keys go too.
 */
function ownStrategySections(project: string, raw: Record<string, unknown>, warn: (message: string) => void): Record<string, unknown> {
    const own = { ...raw };
    for (const key of SEPARATE_KEYS) delete own[key];
    const strategy = raw.strategy;
    if (typeof strategy !== "string" || !Object.hasOwn(STRATEGY_SECTIONS, strategy)) return own;
    for (const [other, section] of Object.entries(STRATEGY_SECTIONS)) {
        if (other === strategy || own[section] === undefined) continue;
        delete own[section];
        warn(`${project}:${section} is ignored: strategy is "${strategy}", which reads ${project}:${STRATEGY_SECTIONS[strategy as keyof typeof STRATEGY_SECTIONS]} only`);
    }
    return own;
}

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)$/;

/**
 * `pulumi config set --path` writes true and false as booleans, integers as numbers and everything else as strings,
 * decimals included (README: Decisions). So wherever the schema wants a number, a string holding a decimal is read
 * as that number: every number field, present or future, takes what the CLI writes. Other strings stay, for the field
 * to refuse.
 */
function numbersAsWritten(schema: z.core.$ZodType, value: unknown): unknown {
    const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    const inner = (key: string) => def[key] as z.core.$ZodType;
    const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
    switch (def.type) {
        case "number":
            return typeof value === "string" && DECIMAL.test(value) ? Number(value) : value;
        case "optional":
        case "nullable":
        case "default":
        case "prefault":
        case "readonly":
            return numbersAsWritten(inner("innerType"), value);
        case "pipe": {
            // A preprocess is a transform piped into the schema that reads its result; a .transform() follows its schema.
            const [from, to] = [inner("in"), inner("out")];
            return numbersAsWritten(from._zod.def.type === "transform" ? to : from, value);
        }
        case "array":
            return Array.isArray(value) ? value.map((v) => numbersAsWritten(inner("element"), v)) : value;
        case "record":
            return isMap(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, numbersAsWritten(inner("valueType"), v)])) : value;
        case "object": {
            const shape = def.shape as Record<string, z.core.$ZodType>;
            return isMap(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Object.hasOwn(shape, k) ? numbersAsWritten(shape[k], v) : v])) : value;
        }
        default:
            return value;
    }
}

/** A schema issue as a problem: an unknown key of the namespace with the closest known one, CLI text with its reading. */
function schemaProblems(i: z.core.$ZodIssue): Problem[] {
    if (i.code === "unrecognized_keys") {
        if (i.path.length > 0) return [{ path: i.path, input: SKIP, message: i.message }];
        const known = [...KEYS, ...SEPARATE_KEYS];
        return i.keys.map((key) => {
            const near = closest(key, known);
            return { path: [key], input: SKIP, message: `is not a key of this program${near ? `: did you mean ${near}?` : ""} (it reads ${known.join(", ")})` };
        });
    }
    const input = (i as { input?: unknown }).input;
    let message = i.message;
    if (i.code === "invalid_type") {
        // zod's own wording is replaced (a field's message says more), and text where a list belongs gets the way to write one.
        const zods = message.startsWith("Invalid input");
        if (zods && i.expected === "int" && typeof input === "number") message = "must be a whole number";
        if (zods && i.expected === "number" && typeof input === "string") message = "must be a number such as 25 or 0.7";
        if (i.expected === "array" && typeof input === "string") {
            const at = i.path
                .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
                .join("")
                .slice(1);
            message = `must be a list, not text: set each item by its index, as pulumi config set --path writes lists (${at}[0], ${at}[1], …)`;
        }
    }
    return [{ path: i.path, input: isCredential(i.path) ? SKIP : input, message }];
}

/** The candidate nearest to a mistyped name (Levenshtein distance, ignoring case), if it is near enough to be meant. */
function closest(name: string, candidates: readonly string[]): string | undefined {
    const distance = (a: string, b: string) => {
        let row = Array.from({ length: b.length + 1 }, (_, j) => j);
        for (let i = 1; i <= a.length; i++) {
            const next = [i];
            for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
            row = next;
        }
        return row[b.length];
    };
    const scored = candidates.map((c) => ({ c, d: distance(name.toLowerCase(), c.toLowerCase()) })).sort((x, y) => x.d - y.d);
    return scored[0] && scored[0].d <= Math.max(2, Math.floor(name.length / 3)) ? scored[0].c : undefined;
}

/**
 * Reads every program key from stack config, failing on malformed JSON with the key's name. `config` is a
 * pulumi.Config, or anything that reads keys the way it does (the plan command reads a stack file). `stackKeys`, the
 * stack's fully qualified keys (pulumi.runtime.allConfig), brings in the namespace's unknown keys for
 * validateConfig to refuse: a mistyped section would otherwise be read as one left out.
 */
export function readRawConfig(config: { name: string; get(key: string): string | undefined }, stackKeys: string[] = []): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const known: readonly string[] = [...KEYS, ...SEPARATE_KEYS];
    const unknown = stackKeys.flatMap((k) => (k.startsWith(`${config.name}:`) && !known.includes(k.slice(config.name.length + 1)) ? [k.slice(config.name.length + 1)] : []));
    for (const key of unknown) raw[key] = config.get(key);
    for (const key of KEYS) {
        const text = config.get(key);
        if (text === undefined) continue;
        let value: unknown;
        try {
            value = key === "strategy" ? text : JSON.parse(text);
        } catch {
            throw new ConfigError(`Invalid stack configuration: ${config.name}:${key} = ${text}: must be an object`);
        }
        // Pulumi.yaml defaults optional sections to {}: an empty section is one the stack does not use.
        const empty = typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
        if (!empty) raw[key] = value;
    }
    return raw;
}

/** Whether the CLI passed a key as secret: the SDK's own check (runtime/config.js, marked internal, so untyped). */
const isConfigSecret = (key: string): boolean => (runtimeConfig as unknown as { isConfigSecret(k: string): boolean }).isConfigSecret(key);

/**
 * Reads `autoRollback.pulumiAccessToken` as a Pulumi secret; undefined when unset. A token stored in plain text is
 * refused: the CLI marks a key secret only when it was set with --secret.
 */
export function readAutoRollbackToken(config: pulumi.Config): pulumi.Output<string> | undefined {
    const text = config.get("autoRollback");
    if (text === undefined) return undefined;
    const token = (JSON.parse(text) as { pulumiAccessToken?: unknown }).pulumiAccessToken;
    if (typeof token !== "string") return undefined;
    if (!isConfigSecret(`${config.name}:autoRollback`)) {
        throw new ConfigError(
            `Invalid stack configuration (nothing was declared):\n  ${config.name}:autoRollback.pulumiAccessToken: must be set with \`pulumi config set --secret --path autoRollback.pulumiAccessToken\`, not in plain text`,
        );
    }
    return pulumi.secret(token);
}

const appSecretsSchema = z.record(envName, z.string(), { message: "must be a map of environment variable names to values" });

/**
 * Reads `appSecrets`, the app's secret environment, as a Pulumi secret. Errors name the offending keys but never
 * print a value.
 */
export function readAppSecrets(config: pulumi.Config): pulumi.Output<Record<string, string>> | undefined {
    const text = config.get("appSecrets");
    if (text === undefined) return undefined;
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        throw new ConfigError(`Invalid stack configuration: ${config.name}:appSecrets must be an object set with --secret`);
    }
    const result = appSecretsSchema.safeParse(parsed);
    if (!result.success) {
        const keys = result.error.issues.map((i) => formatPath(config.name, ["appSecrets", ...i.path])).join(", ");
        throw new ConfigError(`Invalid stack configuration: ${keys}: must be a map of environment variable names to string values`);
    }
    // No keys is no stringData at all: the API server drops an empty stringData, so the provider would see a diff,
    // and replace the Secret, on every run (pulumi/pulumi-kubernetes#3538).
    return Object.keys(result.data).length > 0 ? pulumi.secret(result.data) : undefined;
}
