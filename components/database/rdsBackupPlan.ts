import * as backup from "@pulumi/aws/backup";
import * as iam from "@pulumi/aws/iam";
import * as pulumi from "@pulumi/pulumi";
import { LibraryComponent } from "../componentType";

/** What the RDS endpoint is: an instance has a :db: ARN, Aurora and Multi-AZ DB clusters a :cluster: ARN. */
export type RdsKind = "instance" | "aurora-cluster" | "multi-az-cluster";

/** AWS Backup's resource type for each kind (README, Decisions: "AWS Backup for RDS"). */
export const BACKUP_RESOURCE_TYPE: Record<RdsKind, string> = {
    instance: "RDS",
    "aurora-cluster": "Aurora",
    "multi-az-cluster": "RDS",
};

export interface RdsBackupPlanArgs {
    /** Whether the ARN names an instance or a cluster. */
    kind: RdsKind;
    /** ARN of the RDS instance or cluster to protect. */
    arn: pulumi.Input<string>;
    /** DB subnet group the restore test restores into. */
    subnetGroupName: pulumi.Input<string>;
    /** Security groups of the restored test copy. */
    securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
    /** AWS Backup schedule, e.g. cron(0 5 ? * * *). */
    schedule: string;
    /** Days a recovery point is kept. */
    retentionDays: number;
    /** When AWS Backup restores the latest recovery point to prove it restores, e.g. cron(0 6 ? * SUN *). */
    restoreTestSchedule: string;
    /** KMS key that encrypts the vault. */
    kmsKeyArn: pulumi.Input<string>;
    /** Prefix of the AWS resource names. */
    namePrefix: string;
    /** Tags on every AWS resource. */
    tags: Record<string, string>;
}

/**
 * AWS Backup for an RDS instance or cluster: an encrypted vault, a plan and selection, and a restore-testing plan
 * that restores the latest recovery point on a schedule into the given subnet group and security groups. The vault
 * is protected: deleting it would delete every recovery point.
 */
export class RdsBackupPlan extends LibraryComponent {
    constructor(name: string, args: RdsBackupPlanArgs, opts?: pulumi.ComponentResourceOptions) {
        super("RdsBackupPlan", name, opts);
        for (const [field, value] of [
            ["schedule", args.schedule],
            ["restoreTestSchedule", args.restoreTestSchedule],
        ]) {
            if (!isAwsCron(value))
                throw new pulumi.ResourceError(
                    `${field} must be an AWS cron expression such as cron(0 5 ? * * *), got "${value}"`,
                    this,
                );
        }
        const opt = { parent: this };
        const role = new iam.Role(
            `${name}-role`,
            {
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [
                        { Effect: "Allow", Principal: { Service: "backup.amazonaws.com" }, Action: "sts:AssumeRole" },
                    ],
                }),
                tags: args.tags,
            },
            opt,
        );
        for (const [suffix, policy] of [
            ["backup", "AWSBackupServiceRolePolicyForBackup"],
            ["restore", "AWSBackupServiceRolePolicyForRestores"],
        ]) {
            new iam.RolePolicyAttachment(
                `${name}-${suffix}-policy`,
                { role: role.name, policyArn: `arn:aws:iam::aws:policy/service-role/${policy}` },
                opt,
            );
        }
        const vault = new backup.Vault(
            `${name}-vault`,
            { name: `${args.namePrefix}-vault`, kmsKeyArn: args.kmsKeyArn, tags: args.tags },
            { ...opt, protect: true },
        );
        const plan = new backup.Plan(
            `${name}-plan`,
            {
                name: `${args.namePrefix}-plan`,
                rules: [
                    {
                        ruleName: "scheduled",
                        targetVaultName: vault.name,
                        schedule: args.schedule,
                        startWindow: 60,
                        completionWindow: 360,
                        lifecycle: { deleteAfter: args.retentionDays },
                    },
                ],
                tags: args.tags,
            },
            opt,
        );
        new backup.Selection(
            `${name}-selection`,
            { name: `${args.namePrefix}-rds`, planId: plan.id, iamRoleArn: role.arn, resources: [args.arn] },
            opt,
        );
        const testing = new backup.RestoreTestingPlan(
            `${name}-restore-testing`,
            {
                name: `${args.namePrefix.replace(/[^A-Za-z0-9_]/g, "_")}_restore_testing`,
                scheduleExpression: args.restoreTestSchedule,
                recoveryPointSelection: {
                    algorithm: "LATEST_WITHIN_WINDOW",
                    includeVaults: [vault.arn],
                    recoveryPointTypes: ["SNAPSHOT"],
                    selectionWindowDays: 7,
                },
                tags: args.tags,
            },
            opt,
        );
        new backup.RestoreTestingSelection(
            `${name}-restore-testing-selection`,
            {
                name: "rds_latest",
                restoreTestingPlanName: testing.name,
                protectedResourceType: BACKUP_RESOURCE_TYPE[args.kind],
                protectedResourceArns: [args.arn],
                // Without them the test restores into the default VPC (README, Decisions: "AWS Backup for RDS").
                restoreMetadataOverrides: {
                    dbSubnetGroupName: args.subnetGroupName,
                    vpcSecurityGroupIds: pulumi.output(args.securityGroupIds).apply((ids) => JSON.stringify(ids)),
                },
                iamRoleArn: role.arn,
                validationWindowHours: 4,
            },
            opt,
        );
        this.registerOutputs({ vaultName: vault.name });
    }
}

/** An AWS Backup schedule: `cron(...)` with six fields. */
export function isAwsCron(expr: string): boolean {
    return /^cron\(\S+( \S+){5}\)$/.test(expr);
}
