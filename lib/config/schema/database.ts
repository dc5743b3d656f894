import { z } from "zod";
import { isAwsCron, isS3Prefix } from "../../../components/database";
import { bytesOf, isKubernetesCron } from "../../../components/kubernetes";
import { PHASES } from "../../migrations";
import { pinnedImage, version } from "./fields";

// The database the release migrates, and the backups taken before it does.

const cronSchedule = z.string().refine(isKubernetesCron, {
    message: 'must be a five-field cron schedule such as "0 */6 * * *" or a macro such as "@daily"',
});
const awsCron = z.string().refine(isAwsCron, "must be an AWS cron expression such as cron(0 5 ? * * *)");
const roleSchema = z.strictObject({
    name: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a PostgreSQL role name"),
    connectionLimit: z.number().int().min(1, "must be at least 1").max(10000),
});

const ownerRoleSchema = z.strictObject({ name: roleSchema.shape.name });
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a PostgreSQL schema name");
const dnsSubdomain = z
    .string()
    .regex(
        /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
        "must be a Kubernetes object name (lower-case DNS subdomain)",
    );
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name");
const AWS_PARTITION = "aws(-[a-z]+)*";
const kmsKeyArn = z
    .string()
    .regex(
        new RegExp(`^arn:${AWS_PARTITION}:kms:[a-z0-9-]+:\\d{12}:key/[A-Za-z0-9-]+$`),
        "must be a KMS key ARN, arn:aws:kms:<region>:<account>:key/<key id> (IAM policies match keys by key ARN, not alias)",
    );
const iamRoleArn = z
    .string()
    .regex(
        new RegExp(`^arn:${AWS_PARTITION}:iam::\\d{12}:role/[A-Za-z0-9+=,.@_/-]+$`),
        "must be an IAM role ARN, arn:aws:iam::<account>:role/<name>",
    );
const RDS_KINDS = ["instance", "aurora-cluster", "multi-az-cluster"] as const;

export const databaseSchema = z.strictObject({
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
    roles: z
        .strictObject({
            owner: ownerRoleSchema,
            app: roleSchema,
            migrator: roleSchema,
            backup: roleSchema,
            drill: roleSchema,
        })
        .optional(),
    /** Instead of roles: the names of Secrets made outside this program, in release.namespace, each with a DATABASE_URL key. */
    existingSecrets: z
        .strictObject({ app: dnsSubdomain, migrator: dnsSubdomain, backup: dnsSubdomain, drill: dnsSubdomain })
        .optional(),
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
            arn: z
                .string()
                .regex(
                    /^arn:aws:rds:[a-z0-9-]+:\d{12}:(db|cluster):[A-Za-z0-9-]+$/,
                    "must be an RDS ARN, arn:aws:rds:<region>:<account>:db:<name> or :cluster:<name>",
                ),
            backupSchedule: awsCron,
            restoreTestSchedule: awsCron,
            /** DB subnet group a restore test restores into. */
            subnetGroupName: z.string().min(1),
            /** Security groups of the restored test copy. */
            securityGroupIds: z
                .array(
                    z.string().regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group ID such as sg-0123456789abcdef0"),
                )
                .min(1),
        })
        .optional(),
});

export const backupSchema = z.strictObject({
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
    objectLock: z
        .strictObject({ mode: z.enum(["GOVERNANCE", "COMPLIANCE"]), days: z.number().int().min(1) })
        .optional(),
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
