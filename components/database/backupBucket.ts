import * as kms from "@pulumi/aws/kms";
import * as s3 from "@pulumi/aws/s3";
import * as pulumi from "@pulumi/pulumi";
import { LibraryComponent } from "../componentType";

export interface BackupBucketArgs {
    /** Globally unique bucket name. */
    bucketName: string;
    /** Days after which a dump is deleted. */
    retentionDays: number;
    /** Days after which a dump moves to STANDARD_IA. */
    infrequentAccessAfterDays: number;
    /** Days after which a dump moves to GLACIER. */
    glacierAfterDays: number;
    /** Object lock: dumps cannot be deleted or overwritten for `days`. GOVERNANCE can be lifted by privileged users; COMPLIANCE cannot. */
    objectLock?: {
        /** GOVERNANCE: privileged users can lift the lock; COMPLIANCE: nobody can. */
        mode: "GOVERNANCE" | "COMPLIANCE";
        /** Days each dump stays locked. */
        days: number;
    };
    /** Tags on every AWS resource. */
    tags: Record<string, string>;
}

/**
 * An S3 bucket for database dumps: versioned, encrypted with a rotating KMS key, closed to the public and to ACLs,
 * reachable over TLS only, with dumps moving to colder storage and expiring after the retention, and optionally
 * locked against deletion.
 */
export class BackupBucket extends LibraryComponent {
    /** The bucket. */
    public readonly bucket: s3.Bucket;
    /** The KMS key that encrypts every object. */
    public readonly key: kms.Key;

    constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("BackupBucket", name, opts);
        const problems = Object.entries(lifecycleProblems({ ...args, objectLockDays: args.objectLock?.days }));
        if (problems.length > 0)
            throw new pulumi.ResourceError(
                problems.map(([setting, problem]) => `${setting} ${problem}`).join("; "),
                this,
            );
        const opt = { parent: this };

        this.key = new kms.Key(
            `${name}-key`,
            {
                description: `Encrypts database dumps in ${args.bucketName}`,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                tags: args.tags,
            },
            // Deleting the key makes every dump unreadable: protected like the bucket.
            { ...opt, protect: true },
        );
        new kms.Alias(`${name}-key-alias`, { name: `alias/${args.bucketName}`, targetKeyId: this.key.keyId }, opt);

        this.bucket = new s3.Bucket(
            `${name}-bucket`,
            {
                bucket: args.bucketName,
                objectLockEnabled: args.objectLock !== undefined,
                forceDestroy: false,
                tags: args.tags,
            },
            { ...opt, protect: true },
        );
        const bucket = this.bucket.id;
        new s3.BucketOwnershipControls(
            `${name}-ownership`,
            { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
            opt,
        );
        new s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            {
                bucket,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            opt,
        );
        const versioning = new s3.BucketVersioning(
            `${name}-versioning`,
            { bucket, versioningConfiguration: { status: "Enabled" } },
            opt,
        );
        new s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket,
                rules: [
                    {
                        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: this.key.arn },
                        bucketKeyEnabled: true,
                    },
                ],
            },
            opt,
        );
        new s3.BucketPolicy(
            `${name}-tls-only`,
            {
                bucket,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Sid: "DenyInsecureTransport",
                            Effect: "Deny",
                            Principal: "*",
                            Action: "s3:*",
                            Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
                            Condition: { Bool: { "aws:SecureTransport": "false" } },
                        },
                    ],
                }),
            },
            opt,
        );
        new s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket,
                rules: [
                    {
                        id: "dumps-to-cold-storage-then-expire",
                        status: "Enabled",
                        filter: { prefix: "" },
                        transitions: [
                            { days: args.infrequentAccessAfterDays, storageClass: "STANDARD_IA" },
                            { days: args.glacierAfterDays, storageClass: "GLACIER" },
                        ],
                        expiration: { days: args.retentionDays },
                        // An overwritten or deleted dump stays as a noncurrent version at least as long as the lock would have kept it.
                        noncurrentVersionExpiration: { noncurrentDays: Math.max(30, args.objectLock?.days ?? 0) },
                        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
                    },
                ],
            },
            // S3 rejects lifecycle rules on a bucket whose versioning is still being set up.
            { ...opt, dependsOn: [versioning] },
        );
        if (args.objectLock) {
            new s3.BucketObjectLockConfiguration(
                `${name}-object-lock`,
                {
                    bucket,
                    objectLockEnabled: "Enabled",
                    rule: { defaultRetention: { mode: args.objectLock.mode, days: args.objectLock.days } },
                },
                { ...opt, dependsOn: [versioning] },
            );
        }
        this.registerOutputs({ bucketName: this.bucket.bucket, keyArn: this.key.arn });
    }
}

/** An S3 key prefix as the backup identity's policy scopes it: segments without leading or trailing slash. */
export function isS3Prefix(prefix: string): boolean {
    return /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/.test(prefix);
}

/** Days after which a dump moves to STANDARD_IA, then GLACIER, then expires; and an optional object lock. */
export interface DumpLifecycle {
    /** Days after which a dump moves to STANDARD_IA. */
    infrequentAccessAfterDays: number;
    /** Days after which a dump moves to GLACIER. */
    glacierAfterDays: number;
    /** Days after which a dump is deleted. */
    retentionDays: number;
    /** Days each dump stays locked, when the bucket locks them. */
    objectLockDays?: number;
}

/**
 * What S3 refuses in a dump lifecycle, by the setting at fault: STANDARD_IA no sooner than 30 days, GLACIER at least
 * 30 days after that (an object stays in STANDARD_IA at least 30 days), expiry after GLACIER, and a lock shorter
 * than the retention.
 */
export function lifecycleProblems(l: DumpLifecycle): Partial<Record<keyof DumpLifecycle, string>> {
    const problems: Partial<Record<keyof DumpLifecycle, string>> = {};
    if (l.infrequentAccessAfterDays < 30)
        problems.infrequentAccessAfterDays = "must be at least 30: S3 moves nothing to STANDARD_IA sooner";
    if (!(l.glacierAfterDays >= l.infrequentAccessAfterDays + 30 && l.retentionDays > l.glacierAfterDays)) {
        problems.glacierAfterDays = `must be at least 30 days after infrequentAccessAfterDays (${l.infrequentAccessAfterDays}) and before retentionDays (${l.retentionDays})`;
    }
    if (l.objectLockDays !== undefined && l.objectLockDays >= l.retentionDays)
        problems.objectLockDays = `must be shorter than retentionDays (${l.retentionDays})`;
    return problems;
}
