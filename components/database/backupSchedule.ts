import * as iam from "@pulumi/aws/iam";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DatabaseFence, PodVolume } from "./databaseRoles";
import { appLabels, batchLabels, batchPodTemplate, IGNORE_DISRUPTIONS, JobContainer } from "../kubernetes/objects";
import { Component, COMPONENT, ENV } from "../../policy/contract";
import { LibraryComponent } from "../componentType";
import { isS3Prefix } from "./backupBucket";
import { cronLongestGapSeconds } from "../kubernetes/cron";
import type { DatabaseDumps } from "./releaseDatabaseJobs";

/** The scripts the pods this component declares run (a release's pre-deploy backup and restore among them). */
export const DATABASE_SCRIPTS = ["backup.sh", "restore.sh", "restore-drill.sh", "pg-lib.sh", "dump-lib.sh"] as const;

export interface BackupScheduleArgs {
    /** App name: prefix of every object name. */
    appName: string;
    /** Namespace of the CronJobs, ServiceAccount and ConfigMap. */
    namespace: string;
    /** Bucket the dumps go to. */
    bucketName: pulumi.Input<string>;
    /** Key prefix of this database's dumps; the only place the backup identity may write. */
    prefix: string;
    /** AWS region of the bucket. */
    region: string;
    /** The IAM role the ServiceAccount assumes through IRSA: an existing one, or one to create. */
    role: BackupRole;
    /** Pinned image with pg_dump, pg_restore, psql and the AWS CLI. */
    toolsImage: string;
    /** Shell scripts by file name, mounted at /scripts: every one of DATABASE_SCRIPTS, and any file they source. */
    scripts: Record<string, string>;
    /** Name of the Secret with the backup role's DATABASE_URL, as an Output of the Secret, which the pods then wait for. */
    backupDatabaseSecret: pulumi.Input<string>;
    /** Name of the Secret with the drill role's DATABASE_URL on the scratch database, for the restore drill. */
    drillDatabaseSecret: pulumi.Input<string>;
    /** The server's CA bundle, mounted in every pod that connects when the URLs verify the server. */
    caVolume?: PodVolume;
    /** Cron schedule (UTC) of the backup. */
    schedule: string;
    /** Cron schedule (UTC) of the restore drill. */
    drillSchedule: string;
    /** Query the drill runs on the restored copy; a missing row or a zero fails the drill. */
    drillCheckSql: string;
    /**
     * The role that owns the schema, which a restore acts as: the drill fails on a dump holding an object another role
     * owns, as the restore would. Undefined when the roles are not the program's.
     */
    ownerRole?: string;
    /** Deadline of one backup or drill run. */
    deadlineSeconds: number;
    /** Size of the scratch volume the dump is written to. */
    scratchSize: string;
    /** Tags on the AWS resources. */
    tags: Record<string, string>;
}

/**
 * The pods' IAM identity. `existingArn`: a role made outside this program, behind one ServiceAccount for every pod
 * here; its trust policy must admit that ServiceAccount and its permissions are its owner's. Otherwise three roles to
 * create, one per ServiceAccount (backups, restores, the drill), each trusted by the cluster's OIDC provider for its
 * own ServiceAccount only, each using the bucket's key and deleting nothing: backups write dumps; a restore reads
 * dumps, brings archived ones back (s3:RestoreObject), and writes only its pre-restore dump and its marker; the drill
 * only reads.
 */
export type BackupRole =
    | {
          /** ARN of the existing role every pod here assumes. */
          existingArn: pulumi.Input<string>;
      }
    | {
          /** The cluster's IAM OIDC provider, which the created roles trust. */
          oidc: {
              /** ARN of the IAM OIDC provider, e.g. an EKS cluster's. */
              providerArn: pulumi.Input<string>;
              /** Its issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>). */
              issuerUrl: pulumi.Input<string>;
          };
          /** ARN of the bucket the dumps go to. */
          bucketArn: pulumi.Input<string>;
          /** ARN of the KMS key that encrypts the bucket. */
          keyArn: pulumi.Input<string>;
      };

/**
 * Scheduled backups with a least-privilege identity: a ServiceAccount bound through IRSA to an IAM role that may
 * write and read dumps under its own prefix and delete nothing; a CronJob that dumps and uploads; and a restore
 * drill that restores the newest dump into a scratch database and checks it. The release's pre-deploy backup uses
 * the same identity and script (see `backupPod`).
 */
export class BackupSchedule extends LibraryComponent implements DatabaseDumps {
    /** ServiceAccount the backup pods run as. */
    public readonly serviceAccountName: string;
    /** ServiceAccount the restore pods run as (the backup pods' when the IAM role is an existing one). */
    public readonly restoreServiceAccountName: string;
    /** ServiceAccount the drill pods run as (the backup pods' when the IAM role is an existing one). */
    public readonly drillServiceAccountName: string;
    /** ConfigMap holding the scripts, mounted at /scripts. */
    public readonly scriptsConfigMap: k8s.core.v1.ConfigMap;
    /** Key prefix of the dumps. */
    public readonly prefix: string;
    /** ARN of the IAM role behind the backup ServiceAccount. */
    public readonly roleArn: pulumi.Output<string>;
    private readonly args: BackupScheduleArgs;

    constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("BackupSchedule", name, opts);
        const missing = DATABASE_SCRIPTS.filter((f) => args.scripts[f] === undefined);
        if (missing.length > 0) throw new pulumi.ResourceError(`scripts lacks ${missing.join(", ")}`, this);
        if (!isS3Prefix(args.prefix)) {
            throw new pulumi.ResourceError(
                `prefix must be an S3 key prefix without leading or trailing slash, got "${args.prefix}"`,
                this,
            );
        }
        this.args = args;
        this.prefix = args.prefix;
        const app = args.appName;
        const opt = { parent: this };
        this.serviceAccountName = `${app}-db-backup`;
        const separate = !("existingArn" in args.role);
        this.restoreServiceAccountName = separate ? `${app}-db-restore` : this.serviceAccountName;
        this.drillServiceAccountName = separate ? `${app}-db-drill` : this.serviceAccountName;

        const identity = (
            component: Component,
            suffix: string,
            serviceAccountName: string,
            roleArn: pulumi.Output<string>,
        ) =>
            new k8s.core.v1.ServiceAccount(
                `${name}-${suffix}`,
                {
                    metadata: {
                        name: serviceAccountName,
                        namespace: args.namespace,
                        labels: batchLabels(app, component),
                        annotations: { "eks.amazonaws.com/role-arn": roleArn },
                    },
                    // IRSA projects its own token (README, Decisions: "IRSA without the API token").
                    automountServiceAccountToken: false,
                },
                opt,
            );
        if ("existingArn" in args.role) {
            this.roleArn = pulumi.output(args.role.existingArn);
        } else {
            const role = args.role;
            const objects = (pattern: string) => pulumi.interpolate`${role.bucketArn}/${args.prefix}/${pattern}`;
            const list = {
                Sid: "ListOwnPrefix",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: role.bucketArn,
                Condition: { StringLike: { "s3:prefix": [`${args.prefix}/*`] } },
            };
            this.roleArn = this.createRole(
                `${name}-role`,
                `${name}-policy`,
                this.serviceAccountName,
                `writes ${app} database dumps`,
                role,
                [
                    // A dump is a multipart upload: an interrupted one is aborted by the CLI, not left to the lifecycle rule.
                    {
                        Sid: "WriteDumps",
                        Effect: "Allow",
                        Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                        Resource: objects("*.dump"),
                    },
                ],
            );
            identity(
                COMPONENT.restore,
                "restore-service-account",
                this.restoreServiceAccountName,
                this.createRole(
                    `${name}-restore-role`,
                    `${name}-restore-policy`,
                    this.restoreServiceAccountName,
                    `restores ${app} database dumps`,
                    role,
                    [
                        {
                            Sid: "ReadDumps",
                            Effect: "Allow",
                            Action: ["s3:GetObject", "s3:RestoreObject"],
                            Resource: objects("*"),
                        },
                        list,
                        {
                            Sid: "WritePreRestoreDumpsAndMarkers",
                            Effect: "Allow",
                            Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                            Resource: [objects("*-pre-restore-*.dump"), objects("restores/*")],
                        },
                    ],
                ),
            );
            identity(
                COMPONENT.restoreDrill,
                "drill-service-account",
                this.drillServiceAccountName,
                this.createRole(
                    `${name}-drill-role`,
                    `${name}-drill-policy`,
                    this.drillServiceAccountName,
                    `reads ${app} database dumps for the restore drill`,
                    role,
                    [{ Sid: "ReadDumps", Effect: "Allow", Action: "s3:GetObject", Resource: objects("*") }, list],
                ),
            );
        }
        identity(COMPONENT.backup, "service-account", this.serviceAccountName, this.roleArn);
        this.scriptsConfigMap = new k8s.core.v1.ConfigMap(
            `${name}-scripts`,
            {
                metadata: {
                    name: `${app}-db-scripts`,
                    namespace: args.namespace,
                    labels: appLabels(app, COMPONENT.database),
                },
                data: args.scripts,
            },
            opt,
        );

        const cron = (
            component: Component,
            cronName: string,
            schedule: string,
            pod: k8s.types.input.core.v1.PodTemplateSpec,
        ) =>
            new k8s.batch.v1.CronJob(
                `${name}-${component}`,
                {
                    metadata: { name: cronName, namespace: args.namespace, labels: batchLabels(app, component) },
                    spec: {
                        schedule,
                        timeZone: "Etc/UTC",
                        // A backup still running when the next one is due is left to finish; two at once would double the load.
                        concurrencyPolicy: "Forbid",
                        startingDeadlineSeconds: 600,
                        successfulJobsHistoryLimit: 3,
                        failedJobsHistoryLimit: 5,
                        jobTemplate: {
                            spec: {
                                backoffLimit: 1,
                                activeDeadlineSeconds: args.deadlineSeconds,
                                podFailurePolicy: IGNORE_DISRUPTIONS,
                                template: pod,
                            },
                        },
                    },
                },
                { ...opt, dependsOn: [this.scriptsConfigMap] },
            );
        cron(
            COMPONENT.backup,
            `${app}-db-backup`,
            args.schedule,
            this.backupPod("scheduled", batchLabels(app, COMPONENT.backup)),
        );
        cron(
            COMPONENT.restoreDrill,
            `${app}-db-restore-drill`,
            args.drillSchedule,
            this.toolsPod(batchLabels(app, COMPONENT.restoreDrill), this.drillServiceAccountName, {
                name: "restore-drill",
                image: args.toolsImage,
                command: ["/bin/sh", "/scripts/restore-drill.sh"],
                env: [
                    ...this.bucketEnv(),
                    {
                        name: "DRILL_DATABASE_URL",
                        valueFrom: { secretKeyRef: { name: args.drillDatabaseSecret, key: ENV.databaseUrl } },
                    },
                    { name: "DRILL_CHECK_SQL", value: args.drillCheckSql },
                    // Every backup run succeeding, the newest dump is at most one schedule gap old; two gaps is one missed run.
                    { name: "DRILL_MAX_AGE_SECONDS", value: String(2 * cronLongestGapSeconds(args.schedule)) },
                    ...(args.ownerRole ? [{ name: "SCHEMA_OWNER_ROLE", value: args.ownerRole }] : []),
                ],
            }),
        );
        this.registerOutputs({
            serviceAccountName: this.serviceAccountName,
            restoreServiceAccountName: this.restoreServiceAccountName,
            drillServiceAccountName: this.drillServiceAccountName,
            roleArn: this.roleArn,
        });
    }

    /** An IAM role that only `serviceAccountName` may assume through IRSA, with `statements` and the key and no-delete rules every role here has. */
    private createRole(
        roleName: string,
        policyName: string,
        serviceAccountName: string,
        purpose: string,
        role: Exclude<BackupRole, { existingArn: unknown }>,
        statements: Record<string, unknown>[],
    ): pulumi.Output<string> {
        const args = this.args;
        const opt = { parent: this };
        const serviceAccount = `system:serviceaccount:${args.namespace}:${serviceAccountName}`;
        // The cluster's provider and issuer are often another stack's outputs (an EKS cluster's OIDC provider).
        const assumeRolePolicy = pulumi
            .all([role.oidc.providerArn, role.oidc.issuerUrl])
            .apply(([providerArn, issuerUrl]) => {
                const issuer = issuerUrl.replace(/^https:\/\//, "");
                return JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Principal: { Federated: providerArn },
                            Action: "sts:AssumeRoleWithWebIdentity",
                            Condition: {
                                StringEquals: {
                                    [`${issuer}:sub`]: serviceAccount,
                                    [`${issuer}:aud`]: "sts.amazonaws.com",
                                },
                            },
                        },
                    ],
                });
            });
        const created = new iam.Role(
            roleName,
            {
                description: `IRSA role of ${args.namespace}/${serviceAccountName}: ${purpose}`,
                assumeRolePolicy,
                maxSessionDuration: 3600,
                tags: args.tags,
            },
            opt,
        );
        new iam.RolePolicy(
            policyName,
            {
                role: created.id,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        ...statements,
                        {
                            Sid: "UseBucketKey",
                            Effect: "Allow",
                            Action: ["kms:GenerateDataKey", "kms:Decrypt"],
                            Resource: role.keyArn,
                        },
                        {
                            Sid: "NeverDelete",
                            Effect: "Deny",
                            Action: [
                                "s3:DeleteObject",
                                "s3:DeleteObjectVersion",
                                "s3:PutLifecycleConfiguration",
                                "s3:PutBucketPolicy",
                                "s3:BypassGovernanceRetention",
                            ],
                            Resource: [role.bucketArn, pulumi.interpolate`${role.bucketArn}/*`],
                        },
                    ],
                }),
            },
            opt,
        );
        return created.arn;
    }

    private bucketEnv(): k8s.types.input.core.v1.EnvVar[] {
        return [
            { name: ENV.backupBucket, value: this.args.bucketName },
            { name: "BACKUP_PREFIX", value: this.args.prefix },
            { name: "AWS_REGION", value: this.args.region },
        ];
    }

    private toolsPod(
        labels: Record<string, string>,
        serviceAccountName: string,
        container: JobContainer,
    ): k8s.types.input.core.v1.PodTemplateSpec {
        const ca = this.args.caVolume;
        return batchPodTemplate({
            labels,
            serviceAccountName,
            tmpSize: this.args.scratchSize,
            container: {
                ...container,
                volumeMounts: [{ name: "scripts", mountPath: "/scripts", readOnly: true }, ...(ca ? [ca.mount] : [])],
            },
            volumes: [
                { name: "scripts", configMap: { name: this.scriptsConfigMap.metadata.name, defaultMode: 0o555 } },
                ...(ca ? [ca.volume] : []),
            ],
        });
    }

    /** The pod that dumps the database and uploads it with `label` in the key; the release's pre-deploy backup runs it too. */
    public backupPod(label: string, labels: Record<string, string>): k8s.types.input.core.v1.PodTemplateSpec {
        return this.toolsPod(labels, this.serviceAccountName, {
            name: "backup",
            image: this.args.toolsImage,
            command: ["/bin/sh", "/scripts/backup.sh"],
            env: [
                ...this.bucketEnv(),
                { name: "BACKUP_LABEL", value: label },
                {
                    name: ENV.databaseUrl,
                    valueFrom: { secretKeyRef: { name: this.args.backupDatabaseSecret, key: ENV.databaseUrl } },
                },
            ],
        });
    }

    /**
     * The pod that restores one dump over the database as the migrator, acting as the schema owner, with the app
     * fenced out (`fence`) while it dumps what is there and restores. restore.sh refuses to run when the marker object
     * of this key and run exists and writes it after a successful restore, so the same restore never runs twice,
     * whatever happens to the Job object.
     */
    public restorePod(
        restore: { key: string; run: number; markerKey: string },
        migratorSecret: pulumi.Input<string>,
        ownerRole: string | undefined,
        fence: DatabaseFence,
        labels: Record<string, string>,
    ): k8s.types.input.core.v1.PodTemplateSpec {
        return this.toolsPod(labels, this.restoreServiceAccountName, {
            name: "restore",
            image: this.args.toolsImage,
            command: ["/bin/sh", "/scripts/restore.sh"],
            env: [
                ...this.bucketEnv(),
                { name: "RESTORE_KEY", value: restore.key },
                { name: "RESTORE_RUN", value: String(restore.run) },
                { name: "RESTORE_MARKER_KEY", value: restore.markerKey },
                { name: "FENCE_APP_ROLE", value: fence.appRole },
                { name: "FENCE_CONNECT_ROLE", value: fence.connectRole },
                ...(ownerRole ? [{ name: "MIGRATION_OWNER_ROLE", value: ownerRole }] : []),
                { name: ENV.databaseUrl, valueFrom: { secretKeyRef: { name: migratorSecret, key: ENV.databaseUrl } } },
            ],
        });
    }
}
