// Checklist "Database backup scheduled" and "Database migrations tested".
import * as s3 from "@pulumi/aws/s3";
import * as k8s from "@pulumi/kubernetes";
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import * as postgresql from "@pulumi/postgresql";
import { Unwrap } from "@pulumi/pulumi";
import { COMPONENT, ENV, LABEL } from "./contract";
import {
    component,
    dependsOnTransitively,
    k8sName,
    missingLabel,
    podSpec,
    ResourceClass,
    unlabelled,
} from "./resources";

/** The part of an IAM policy statement these checks read. */
interface Statement {
    Effect?: string;
    Condition?: Record<string, Record<string, unknown> | undefined>;
}

function denies(statements: Statement[], condition: (s: Statement) => boolean): boolean {
    return statements.some((s) => s.Effect === "Deny" && condition(s));
}

export const backupBucketHardened: StackValidationPolicy = {
    name: "backup-bucket-hardened",
    description:
        'Checklist "Database backup scheduled": every S3 bucket is versioned, KMS-encrypted, closed to the public, reachable over TLS only, and has a lifecycle that expires old dumps.',
    validateStack: (args, report) => {
        // A bucket's settings are resources of their own that name it, or, while its name is unknown, depend on it.
        const byBucket = (cls: ResourceClass, b: PolicyResource) =>
            args.resources.filter(
                (r) =>
                    r.isType(cls) &&
                    ((b.props.bucket !== undefined && r.props.bucket === b.props.bucket) ||
                        r.dependencies.some((d) => d.urn === b.urn)),
            );
        for (const b of args.resources.filter((r) => r.isType(s3.Bucket))) {
            const one = (cls: ResourceClass) => byBucket(cls, b)[0];
            const versioning = one(s3.BucketVersioning);
            if (versioning?.props.versioningConfiguration?.status !== "Enabled")
                report(`bucket ${b.props.bucket ?? b.name} is not versioned`, b.urn);
            const sse = one(s3.BucketServerSideEncryptionConfiguration);
            const algorithm = sse?.props.rules?.[0]?.applyServerSideEncryptionByDefault?.sseAlgorithm;
            if (algorithm !== "aws:kms" && algorithm !== "aws:kms:dsse")
                report(`bucket ${b.props.bucket ?? b.name} is not encrypted with KMS`, b.urn);
            const block = one(s3.BucketPublicAccessBlock)?.props ?? {};
            if (!(
                block.blockPublicAcls &&
                block.blockPublicPolicy &&
                block.ignorePublicAcls &&
                block.restrictPublicBuckets
            ))
                report(`bucket ${b.props.bucket ?? b.name} does not block all public access`, b.urn);
            const policy = one(s3.BucketPolicy)?.props.policy;
            if (typeof policy === "string") {
                const statements = JSON.parse(policy).Statement ?? [];
                if (!denies(statements, (s) => s.Condition?.Bool?.["aws:SecureTransport"] === "false"))
                    report(`bucket ${b.props.bucket ?? b.name} accepts requests without TLS`, b.urn);
            } else if (policy === undefined && !one(s3.BucketPolicy)) {
                report(`bucket ${b.props.bucket ?? b.name} has no policy denying requests without TLS`, b.urn);
            }
            const rules = one(s3.BucketLifecycleConfiguration)?.props.rules;
            if (
                !Array.isArray(rules) ||
                !rules.some(
                    (r: { status?: string; expiration?: { days?: number } }) =>
                        r.status === "Enabled" && (r.expiration?.days ?? 0) > 0,
                )
            )
                report(`bucket ${b.props.bucket ?? b.name} has no lifecycle rule that expires dumps`, b.urn);
        }
    },
};

/** The env entry `name` of the first container of a Job's or CronJob's pod, or undefined. */
function containerEnv(r: PolicyResource, name: string): Unwrap<k8s.types.input.core.v1.EnvVar> | undefined {
    return (podSpec(r)?.containers?.[0]?.env ?? []).find((e) => e.name === name);
}

export const databaseBackupScheduled: StackValidationPolicy = {
    name: "database-backup-scheduled",
    description:
        'Checklist "Database backup scheduled": a stack that manages a database (declares its roles, or runs Jobs that read a DATABASE_URL Secret) also schedules its backup to a named bucket, one run at a time, and a restore drill.',
    validateStack: (args, report) => {
        // A stack given existing database Secrets declares no roles; its Jobs still connect to the database.
        const batch = args.resources.filter((r) => r.isType(k8s.batch.v1.Job) || r.isType(k8s.batch.v1.CronJob));
        if (
            !args.resources.some((r) => r.isType(postgresql.Role)) &&
            !batch.some((r) => containerEnv(r, ENV.databaseUrl)?.valueFrom?.secretKeyRef !== undefined)
        )
            return;
        const crons = args.resources.filter((r) => r.isType(k8s.batch.v1.CronJob));
        for (const c of crons.filter((x) => missingLabel(x, LABEL.component))) {
            report(
                `${unlabelled(c, "CronJob")}: the pack cannot tell whether it is the database's backup or its restore drill`,
                c.urn,
            );
        }
        const backup = crons.find((c) => component(c) === COMPONENT.backup);
        if (!backup) report("the database has no scheduled backup CronJob");
        else {
            if (
                backup.props.spec?.concurrencyPolicy !== undefined &&
                backup.props.spec.concurrencyPolicy !== "Forbid"
            ) {
                report(
                    `backup CronJob ${k8sName(backup)} lets runs overlap: set concurrencyPolicy to Forbid`,
                    backup.urn,
                );
            }
            // The bucket is declared here (backup-bucket-hardened checks it) or made outside the stack (backup.existingBucket),
            // which the pack sees only by this name.
            const bucket = containerEnv(backup, ENV.backupBucket);
            if (podSpec(backup)?.containers !== undefined && (bucket === undefined || bucket.value === "")) {
                report(`backup CronJob ${k8sName(backup)} names no bucket: set ${ENV.backupBucket}`, backup.urn);
            }
        }
        if (!crons.some((c) => component(c) === COMPONENT.restoreDrill))
            report("the database has no scheduled restore drill");
    },
};

export const backupBeforeMigration: StackValidationPolicy = {
    name: "backup-before-migration",
    description:
        'Checklist "Database backup scheduled" and the plan\'s T-1h backup: every migration Job runs after a pre-deploy backup Job.',
    validateStack: (args, report) => {
        const backups = args.resources.filter(
            (r) => r.isType(k8s.batch.v1.Job) && component(r) === COMPONENT.predeployBackup,
        );
        for (const j of args.resources.filter((r) => r.isType(k8s.batch.v1.Job) && missingLabel(r, LABEL.component))) {
            report(
                `${unlabelled(j, "Job")}: the pack cannot tell whether it is a migration, which must wait for a pre-deploy backup`,
                j.urn,
            );
        }
        for (const m of args.resources.filter(
            (r) => r.isType(k8s.batch.v1.Job) && component(r) === COMPONENT.migration,
        )) {
            if (!backups.some((b) => dependsOnTransitively(m, b)))
                report(`migration Job ${k8sName(m)} does not wait for a pre-deploy backup`, m.urn);
        }
    },
};

export const migrationBeforeNewVersion: StackValidationPolicy = {
    name: "migration-before-new-version",
    description:
        "Checklist \"Database migrations tested\": the app's Deployments roll out only after the release's migration Job has succeeded.",
    validateStack: (args, report) => {
        for (const j of args.resources.filter((r) => r.isType(k8s.batch.v1.Job) && missingLabel(r, LABEL.component))) {
            report(
                `${unlabelled(j, "Job")}: the pack cannot tell whether it is the release's migration, which the Deployments must wait for`,
                j.urn,
            );
        }
        const migrations = args.resources.filter(
            (r) => r.isType(k8s.batch.v1.Job) && component(r) === COMPONENT.migration,
        );
        // A release without a database migration has nothing to wait for.
        if (migrations.length === 0) return;
        for (const d of args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment))) {
            if (!migrations.some((m) => dependsOnTransitively(d, m)))
                report(`Deployment ${k8sName(d)} may roll out before the migration`, d.urn);
        }
    },
};
