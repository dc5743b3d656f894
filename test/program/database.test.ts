import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { checkRestoreKey } from "../../program/release";
import { createHash } from "crypto";
import { readFileSync } from "fs";
import * as path from "path";
import {
    BackupBucket,
    BackupSchedule,
    RdsBackupPlan,
    readDatabaseScripts,
    ReleaseDatabaseJobs,
} from "../../components/database";
import { validateConfig } from "../../lib/config";
import { isKubernetesCron } from "../../components/kubernetes";
import { diffRuns } from "../../tools/offline/diff";
import { DeclaredResource, ProgramRun } from "../../tools/offline/types";
import {
    all,
    at,
    backupScheduleArgs,
    declare,
    dependencyNames,
    find,
    preview,
    programConfig,
    PROJECT,
    rejectsConfig,
    ROOT,
    runStack,
    stackConfig,
    writeStackFile,
} from "../helpers";

const BACKUP = "myapp-release-db-predeploy-backup-v1-2-3";
const MIGRATION = "myapp-release-db-migrate-expand-v1-2-3";
/** Edits that put both canary tracks, and the release, on one version. */
const ALL_ON = (version: string) => [
    `release.version=${version}`,
    "release.previousVersion=v1.2.2",
    `canary.stableVersion=${version}`,
    `canary.canaryVersion=${version}`,
];

/** Each release Job's logical name and metadata.name: the two things whose change makes the engine run it again. */
function jobIdentities(run: ProgramRun): string[] {
    return all(run, ":Job")
        .filter((j) => j.parent === "myapp-release-db")
        .map((j) => `${j.name} ${at(j, "metadata.name")}`);
}

describe("database safety under mocks", () => {
    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    it("orders one release: backup, migration, new pods, smoke test, traffic switch", () => {
        const deps = (name: string) => staging.resources.find((r) => r.name === name)!.dependsOn;
        assert.deepStrictEqual(deps(BACKUP), ["myapp-db-backup"]);
        assert.deepStrictEqual(deps(MIGRATION), [BACKUP]);
        // Every Deployment waits for the migration and for the Secrets its pods read.
        const secrets = ["myapp-env", "myapp-db-roles-app-secret"];
        assert.deepStrictEqual(deps("myapp-blue-deployment"), [MIGRATION, ...secrets]);
        assert.deepStrictEqual(deps("myapp-green-deployment"), [MIGRATION, ...secrets]);
        // green is the preview color: its autoscaler's minimum drops only once the active Service has moved.
        assert.deepStrictEqual(deps("myapp-green-hpa"), ["myapp-green-deployment", "myapp-live"]);
        assert.deepStrictEqual(deps("myapp-smoke-green"), ["myapp-green", "myapp-green-svc"]);
        assert.deepStrictEqual(deps("myapp-live"), ["myapp-blue-capacity-live", "myapp-smoke-blue"]);
        assert.deepStrictEqual(find(production, ":Deployment", "myapp-canary-deployment").dependsOn, [
            MIGRATION,
            ...secrets,
        ]);
    });

    it("names the release's Jobs after its version and waits for each", () => {
        const backup = find(production, ":Job", BACKUP);
        assert.strictEqual(at(backup, "metadata.name"), "myapp-predeploy-backup-v1-2-3");
        assert.strictEqual(at(backup, "metadata.annotations")["pulumi.com/timeoutSeconds"], "3660");
        assert.strictEqual(at(backup, "spec.ttlSecondsAfterFinished"), undefined);
        const pod = at(backup, "spec.template.spec");
        assert.strictEqual(pod.serviceAccountName, "myapp-db-backup");
        assert.deepStrictEqual(pod.containers[0].command, ["/bin/sh", "/scripts/backup.sh"]);
        assert.deepStrictEqual(pod.containers[0].env, [
            { name: "HOME", value: "/home/runner" },
            { name: "BACKUP_BUCKET", value: "myapp-production-db-backups" },
            { name: "BACKUP_PREFIX", value: "postgres/myapp" },
            { name: "AWS_REGION", value: "us-east-1" },
            { name: "BACKUP_LABEL", value: "pre-deploy-v1.2.3" },
            { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "myapp-db-backup", key: "DATABASE_URL" } } },
        ]);
        assert.deepStrictEqual(
            pod.volumes.find((v: any) => v.name === "tmp"),
            { name: "tmp", emptyDir: { sizeLimit: "50Gi" } },
        );

        const migration = find(production, ":Job", MIGRATION);
        assert.strictEqual(at(migration, "metadata.name"), "myapp-migrate-expand-v1-2-3");
        // Twice the plan's 5-minute estimate would kill the pod while a 30-minute CREATE INDEX CONCURRENTLY may still run:
        // the longest statement_timeout (1800 s), the lock retries (300 s) and a minute.
        assert.strictEqual(at(migration, "spec.activeDeadlineSeconds"), 2160);
        assert.strictEqual(at(migration, "spec.backoffLimit"), 0);
        assert.deepStrictEqual(at(migration, "spec.template.spec.containers")[0].command, [
            "/bin/sh",
            "/scripts/migrate-sql.sh",
            "up",
        ]);
    });

    it("ships only the migrations of the configured phase, with their down files, and the runner beside them", () => {
        const files = (run: ProgramRun) =>
            Object.keys(at(find(run, ":ConfigMap", "myapp-release-db-migrations"), "data")).sort();
        const expand = [
            "001_users_email_verified",
            "002_users_email_verified_index",
            "003_payments_stripe_payment_intent_id",
            "004_payments_stripe_payment_intent_id_index",
            "005_users_email_verified_sync",
        ];
        const sql = expand.flatMap((v) => [`${v}.down.sql`, `${v}.up.sql`]);
        assert.deepStrictEqual(files(production), [...sql, "migrate-sql.sh", "pg-lib.sh"]);
        const data = at(find(production, ":ConfigMap", "myapp-release-db-migrations"), "data");
        assert.deepStrictEqual(
            { "migrate-sql.sh": data["migrate-sql.sh"], "pg-lib.sh": data["pg-lib.sh"] },
            readDatabaseScripts().runner,
        );
        assert.strictEqual(at(find(production, ":ConfigMap", "myapp-release-db-migrations"), "immutable"), true);
        // The runner has one home: the scheduled dumps' ConfigMap holds only what their pods run.
        assert.deepStrictEqual(
            Object.keys(at(find(production, ":ConfigMap", "myapp-db-backup-scripts"), "data")).sort(),
            ["backup.sh", "dump-lib.sh", "pg-lib.sh", "restore-drill.sh", "restore.sh"],
        );
        // The pod mounts the runner at /scripts (executable) and only the SQL at /migrations.
        const volumes = at(
            find(production, ":Job", "myapp-release-db-migrate-expand-v1-2-3"),
            "spec.template.spec.volumes",
        );
        const byName = Object.fromEntries(volumes.map((v: any) => [v.name, v.configMap]));
        assert.deepStrictEqual(byName.scripts, {
            name: "myapp-migrate-expand-v1-2-3",
            defaultMode: 0o555,
            items: [
                { key: "migrate-sql.sh", path: "migrate-sql.sh" },
                { key: "pg-lib.sh", path: "pg-lib.sh" },
            ],
        });
        assert.deepStrictEqual(byName.migrations.items.map((i: any) => i.key).sort(), sql);
        // The contract phase's DROP COLUMN passes the lint there, and only there.
        const contract = runStack("production", ["database.migration.phase=contract", ...ALL_ON("v1.2.4")]);
        assert.strictEqual(files(contract).length, 16);
        assert.ok(files(contract).includes("007_users_drop_is_verified.up.sql"));
    });

    it("hardens the backup bucket", () => {
        const r = (suffix: string, name: string) => find(production, suffix, `myapp-backups-${name}`);
        assert.strictEqual(at(r(":Key", "key"), "enableKeyRotation"), true);
        assert.strictEqual(at(r(":Bucket", "bucket"), "objectLockEnabled"), true);
        assert.strictEqual(at(r(":Bucket", "bucket"), "forceDestroy"), false);
        assert.deepStrictEqual(at(r(":BucketVersioning", "versioning"), "versioningConfiguration"), {
            status: "Enabled",
        });
        assert.deepStrictEqual(at(r(":BucketServerSideEncryptionConfiguration", "encryption"), "rules"), [
            {
                applyServerSideEncryptionByDefault: {
                    sseAlgorithm: "aws:kms",
                    kmsMasterKeyId: "arn:aws:mock:us-east-1:123456789012:myapp-backups-key",
                },
                bucketKeyEnabled: true,
            },
        ]);
        const block = r(":BucketPublicAccessBlock", "public-access").inputs;
        assert.deepStrictEqual(
            [block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets],
            [true, true, true, true],
        );
        assert.deepStrictEqual(at(r(":BucketOwnershipControls", "ownership"), "rule"), {
            objectOwnership: "BucketOwnerEnforced",
        });
        const policy = JSON.parse(at(r(":BucketPolicy", "tls-only"), "policy"));
        assert.deepStrictEqual(policy.Statement, [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [
                    "arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket",
                    "arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket/*",
                ],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ]);
        const rule = at(r(":BucketLifecycleConfiguration", "lifecycle"), "rules")[0];
        assert.deepStrictEqual(rule.transitions, [
            { days: 30, storageClass: "STANDARD_IA" },
            { days: 90, storageClass: "GLACIER" },
        ]);
        assert.deepStrictEqual(rule.expiration, { days: 365 });
        assert.deepStrictEqual(
            rule.noncurrentVersionExpiration,
            { noncurrentDays: 35 },
            "an overwritten dump outlives the 35-day lock",
        );
        assert.deepStrictEqual(at(r(":BucketObjectLockConfiguration", "object-lock"), "rule"), {
            defaultRetention: { mode: "GOVERNANCE", days: 35 },
        });
        assert.deepStrictEqual(all(staging, ":BucketObjectLockConfiguration"), [], "staging asks for no object lock");
    });

    it("gives backups, restores and the drill an identity each: backups write dumps, the drill only reads, none deletes", () => {
        const bucket = "arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket";
        const dumps = (pattern: string) => `${bucket}/postgres/myapp/${pattern}`;
        const list = {
            Sid: "ListOwnPrefix",
            Effect: "Allow",
            Action: "s3:ListBucket",
            Resource: bucket,
            Condition: { StringLike: { "s3:prefix": ["postgres/myapp/*"] } },
        };
        const common = [
            {
                Sid: "UseBucketKey",
                Effect: "Allow",
                Action: ["kms:GenerateDataKey", "kms:Decrypt"],
                Resource: "arn:aws:mock:us-east-1:123456789012:myapp-backups-key",
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
                Resource: [bucket, `${bucket}/*`],
            },
        ];
        const expected: Record<string, [string, object[]]> = {
            "": [
                "myapp-db-backup",
                [
                    {
                        Sid: "WriteDumps",
                        Effect: "Allow",
                        Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                        Resource: dumps("*.dump"),
                    },
                ],
            ],
            "-restore": [
                "myapp-db-restore",
                [
                    // A dump the lifecycle moved to GLACIER is restored from there first.
                    {
                        Sid: "ReadDumps",
                        Effect: "Allow",
                        Action: ["s3:GetObject", "s3:RestoreObject"],
                        Resource: dumps("*"),
                    },
                    list,
                    {
                        Sid: "WritePreRestoreDumpsAndMarkers",
                        Effect: "Allow",
                        Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                        Resource: [dumps("*-pre-restore-*.dump"), dumps("restores/*")],
                    },
                ],
            ],
            "-drill": [
                "myapp-db-drill",
                [{ Sid: "ReadDumps", Effect: "Allow", Action: "s3:GetObject", Resource: dumps("*") }, list],
            ],
        };
        for (const [suffix, [serviceAccount, statements]] of Object.entries(expected)) {
            const trust = JSON.parse(
                at(find(production, ":Role", `myapp-db-backup${suffix}-role`), "assumeRolePolicy"),
            );
            assert.deepStrictEqual(trust.Statement[0].Condition, {
                StringEquals: {
                    "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": `system:serviceaccount:production:${serviceAccount}`,
                    "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": "sts.amazonaws.com",
                },
            });
            assert.deepStrictEqual(
                JSON.parse(at(find(production, ":RolePolicy", `myapp-db-backup${suffix}-policy`), "policy")).Statement,
                [...statements, ...common],
                suffix,
            );
            const sa = find(production, ":ServiceAccount", `myapp-db-backup${suffix}-service-account`);
            assert.deepStrictEqual(at(sa, "metadata.annotations"), {
                "eks.amazonaws.com/role-arn": `arn:aws:mock:us-east-1:123456789012:myapp-db-backup${suffix}-role`,
            });
            assert.strictEqual(at(sa, "automountServiceAccountToken"), false);
        }
        const podAccount = (r: DeclaredResource) =>
            r.type.endsWith(":CronJob") ? at(r, "spec.jobTemplate.spec.template.spec") : at(r, "spec.template.spec");
        const restoreRun = runStack("production", [
            "database.restore.key=postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump",
        ]);
        assert.deepStrictEqual(
            [
                find(production, ":CronJob", "myapp-db-backup-backup"),
                find(production, ":Job", BACKUP),
                find(production, ":CronJob", "myapp-db-backup-restore-drill"),
                all(restoreRun, ":Job")[0],
            ].map((r) => [podAccount(r).serviceAccountName, podAccount(r).automountServiceAccountToken]),
            [
                ["myapp-db-backup", false],
                ["myapp-db-backup", false],
                ["myapp-db-drill", false],
                ["myapp-db-restore", false],
            ],
        );
    });

    it("schedules backups and restore drills that never overlap", () => {
        for (const [name, schedule, script] of [
            ["myapp-db-backup-backup", "0 */6 * * *", "/scripts/backup.sh"],
            ["myapp-db-backup-restore-drill", "30 4 * * 0", "/scripts/restore-drill.sh"],
        ]) {
            const cron = find(production, ":CronJob", name);
            const spec = at(cron, "spec");
            assert.strictEqual(spec.schedule, schedule);
            assert.strictEqual(spec.concurrencyPolicy, "Forbid");
            assert.strictEqual(spec.successfulJobsHistoryLimit, 3);
            assert.strictEqual(spec.failedJobsHistoryLimit, 5);
            assert.strictEqual(spec.timeZone, "Etc/UTC");
            assert.strictEqual(spec.jobTemplate.spec.activeDeadlineSeconds, 3600);
            assert.deepStrictEqual(spec.jobTemplate.spec.template.spec.containers[0].command, ["/bin/sh", script]);
        }
        const drillEnv = at(
            find(production, ":CronJob", "myapp-db-backup-restore-drill"),
            "spec.jobTemplate.spec.template.spec.containers",
        )[0].env;
        assert.deepStrictEqual(drillEnv.slice(4), [
            {
                name: "DRILL_DATABASE_URL",
                valueFrom: { secretKeyRef: { name: "myapp-db-drill", key: "DATABASE_URL" } },
            },
            { name: "DRILL_CHECK_SQL", value: "SELECT count(*) > 0 FROM users" },
            // Backups every 6 hours: a newest dump older than 12 hours means at least one run failed or never ran.
            { name: "DRILL_MAX_AGE_SECONDS", value: "43200" },
            { name: "SCHEMA_OWNER_ROLE", value: "myapp_owner" },
        ]);
    });

    it("gives each login role a write-only password and makes an owner role own the schema, which the migrator acts as", () => {
        const role = (kind: string) => find(production, ":Role", `myapp-db-roles-${kind}`).inputs;
        assert.deepStrictEqual(
            ["app", "migrator", "backup", "drill"].map((k) => [
                role(k).name,
                role(k).connectionLimit,
                role(k).password,
                role(k).passwordWo,
                role(k).login,
            ]),
            [
                ["myapp_app", 150, undefined, "[secret]", true],
                ["myapp_migrator", 5, undefined, "[secret]", true],
                ["myapp_backup", 3, undefined, "[secret]", true],
                ["myapp_drill", 2, undefined, "[secret]", true],
            ],
        );
        // The version is the password's fingerprint: a new RandomPassword sets a new password.
        for (const k of ["app", "migrator", "backup", "drill"])
            assert.match(role(k).passwordWoVersion as string, /^[0-9a-f]{16}$/);
        assert.deepStrictEqual(role("owner"), { name: "myapp_owner", login: false });
        assert.strictEqual(role("migrator").assumeRole, "myapp_owner");
        assert.strictEqual(role("app").assumeRole, undefined);
        const membership = find(production, ":GrantRole", "myapp-db-roles-migrator-owner").inputs;
        assert.deepStrictEqual([membership.role, membership.grantRole], ["myapp_migrator", "myapp_owner"]);

        const grants = Object.fromEntries(
            all(production, ":Grant").map((g) => [
                g.name.replace("myapp-db-roles-", ""),
                `${String(g.inputs.role)} ${String(g.inputs.objectType)} ${(g.inputs.privileges as string[]).join(",")}`,
            ]),
        );
        assert.deepStrictEqual(grants, {
            "public-database": "public database ",
            "owner-database": "myapp_owner database CREATE,TEMPORARY",
            "owner-schema": "myapp_owner schema CREATE,USAGE",
            "migrator-database": "myapp_migrator database CONNECT,TEMPORARY",
            "connect-database": "myapp_app_connect database CONNECT",
            "public-schema": "public schema USAGE",
            "app-schema": "myapp_app schema USAGE",
            "app-tables": "myapp_app table SELECT,INSERT,UPDATE,DELETE",
            "app-sequences": "myapp_app sequence SELECT,USAGE,UPDATE",
            "backup-database": "myapp_backup database CONNECT",
            "backup-schema": "myapp_backup schema USAGE",
            "backup-tables": "myapp_backup table SELECT",
            "backup-sequences": "myapp_backup sequence SELECT",
        });
        // Tables a migration creates belong to the owner, so default privileges are the owner's.
        assert.deepStrictEqual(
            // In every schema (no schema set), schemas included: what a migration creates in a schema it adds is covered too.
            all(production, ":DefaultPrivileges").map((d) => [
                d.inputs.role,
                d.inputs.owner,
                d.inputs.objectType,
                d.inputs.schema,
            ]),
            [
                ["myapp_app", "myapp_owner", "schema", undefined],
                ["myapp_app", "myapp_owner", "table", undefined],
                ["myapp_app", "myapp_owner", "sequence", undefined],
                ["myapp_backup", "myapp_owner", "schema", undefined],
                ["myapp_backup", "myapp_owner", "table", undefined],
                ["myapp_backup", "myapp_owner", "sequence", undefined],
            ],
        );
        const migrate = at(find(production, ":Job", MIGRATION), "spec.template.spec.containers")[0];
        assert.deepStrictEqual(
            migrate.env.find((e: any) => e.name === "MIGRATION_OWNER_ROLE"),
            { name: "MIGRATION_OWNER_ROLE", value: "myapp_owner" },
        );
        const sql = (production.outputs.database as any).ownershipHandoverSql as string;
        assert.ok(sql.startsWith("-- Run once as the admin that created the objects"));
        assert.ok(sql.includes("EXECUTE format('ALTER %s %s OWNER TO %I', r.keyword, r.identity, 'myapp_owner');"));
        assert.ok(
            sql.includes(
                "(o.schema IN ('public') OR (o.type = 'schema' AND o.identity IN ('public') AND o.identity <> 'public'))",
            ),
        );
        const app = find(production, ":Deployment", "myapp-canary-deployment");
        assert.deepStrictEqual(at(app, "spec.template.spec.containers")[0].envFrom, [
            { secretRef: { name: "myapp-env" } },
            { secretRef: { name: "myapp-db-app" } },
        ]);
    });

    it("gives the restore drill a role that owns only the scratch database and cannot connect to the app's", () => {
        const scratch = find(production, ":Database", "myapp-db-roles-drill-database").inputs;
        assert.deepStrictEqual([scratch.name, scratch.owner], ["myapp_restore_drill", "myapp_drill"]);
        // PUBLIC loses CONNECT on the app's database; the drill role is granted nothing there.
        const publicGrant = find(production, ":Grant", "myapp-db-roles-public-database").inputs;
        assert.deepStrictEqual(
            [publicGrant.database, publicGrant.role, publicGrant.objectType, publicGrant.privileges],
            ["myapp", "public", "database", []],
        );
        assert.deepStrictEqual(
            all(production, ":Grant").filter((g) => g.inputs.role === "myapp_drill"),
            [],
        );
        const drillEnv = at(
            find(production, ":CronJob", "myapp-db-backup-restore-drill"),
            "spec.jobTemplate.spec.template.spec.containers",
        )[0].env;
        assert.deepStrictEqual(
            drillEnv.find((e: any) => e.name === "DRILL_DATABASE_URL").valueFrom.secretKeyRef.name,
            "myapp-db-drill",
        );
        assert.deepStrictEqual(find(production, ":Secret", "myapp-db-roles-drill-secret").dependsOn, [
            "myapp-db-roles-drill",
            "myapp-db-roles-drill-database",
            "myapp-db-roles-public-database",
        ]);
    });

    it("starts Jobs and Deployments only after the Secret they read, which waits for its role and grants", () => {
        assert.deepStrictEqual(find(production, ":Secret", "myapp-db-roles-migrator-secret").dependsOn, [
            "myapp-db-roles-migrator",
            "myapp-db-roles-owner-database",
            "myapp-db-roles-migrator-owner",
            "myapp-db-roles-migrator-database",
            "myapp-db-roles-migrator-connect",
            "myapp-db-roles-migrator-app",
            "myapp-db-roles-owner-schema",
            "myapp-db-roles-public-database",
        ]);
        assert.ok(dependencyNames(find(production, ":Job", MIGRATION)).includes("myapp-db-roles-migrator-secret"));
        assert.ok(dependencyNames(find(production, ":Job", BACKUP)).includes("myapp-db-roles-backup-secret"));
        assert.ok(
            dependencyNames(find(production, ":CronJob", "myapp-db-backup-backup")).includes(
                "myapp-db-roles-backup-secret",
            ),
        );
        assert.ok(
            dependencyNames(find(production, ":CronJob", "myapp-db-backup-restore-drill")).includes(
                "myapp-db-roles-drill-secret",
            ),
        );
        for (const d of ["myapp-canary-deployment", "myapp-stable-deployment"]) {
            assert.ok(dependencyNames(find(production, ":Deployment", d)).includes("myapp-db-roles-app-secret"), d);
        }
    });

    it("rolls the app's pods when its database URL changes, and re-runs no Job", () => {
        const annotation = (run: ProgramRun) =>
            at(find(run, ":Deployment", "myapp-canary-deployment"), "spec.template.metadata.annotations")[
                "checksum/database-url"
            ];
        const moved = runStack("production", [
            "database.host=myapp-production-2.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com",
        ]);
        assert.match(annotation(production), /^[0-9a-f]{16}$/);
        assert.match(annotation(moved), /^[0-9a-f]{16}$/);
        assert.notStrictEqual(annotation(moved), annotation(production));
        assert.deepStrictEqual(jobIdentities(moved), jobIdentities(production));
    });

    it("declares AWS Backup for the RDS kind config names, with the overrides a restore test needs", () => {
        const cluster = "arn:aws:rds:us-east-1:123456789012:cluster:myapp-production";
        assert.deepStrictEqual(at(find(production, ":Selection", "myapp-rds-backup-selection"), "resources"), [
            cluster,
        ]);
        assert.strictEqual(
            at(find(production, ":Plan", "myapp-rds-backup-plan"), "rules")[0].schedule,
            "cron(0 5 ? * * *)",
        );
        assert.strictEqual(
            at(find(production, ":RestoreTestingPlan", "myapp-rds-backup-restore-testing"), "scheduleExpression"),
            "cron(0 6 ? * SUN *)",
        );
        const selection = find(
            production,
            ":RestoreTestingSelection",
            "myapp-rds-backup-restore-testing-selection",
        ).inputs;
        assert.deepStrictEqual(
            [selection.protectedResourceType, selection.protectedResourceArns],
            ["Aurora", [cluster]],
        );
        assert.deepStrictEqual(selection.restoreMetadataOverrides, {
            dbSubnetGroupName: "myapp-production-db",
            vpcSecurityGroupIds: '["sg-0123456789abcdef0"]',
        });
        const instance = runStack("production", [
            "database.host=myapp-production.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com",
            "database.rds.kind=instance",
            "database.rds.arn=arn:aws:rds:us-east-1:123456789012:db:myapp-production",
        ]);
        assert.strictEqual(
            at(
                find(instance, ":RestoreTestingSelection", "myapp-rds-backup-restore-testing-selection"),
                "protectedResourceType",
            ),
            "RDS",
        );
        assert.deepStrictEqual(all(staging, ":Vault"), []);
    });

    it("keeps every password and database URL out of plain text", () => {
        for (const run of [production, staging]) {
            const text = JSON.stringify(run);
            assert.ok(
                !text.includes("offline-password("),
                `${run.stack}: a generated password reached an input or output in plain text`,
            );
            assert.ok(
                !text.includes("postgresql://"),
                `${run.stack}: a database URL reached an input or output in plain text`,
            );
            const secrets = run.resources.filter(
                (x) => x.type === "kubernetes:core/v1:Secret" && x.name.startsWith("myapp-db-roles"),
            );
            assert.deepStrictEqual(
                secrets.map((s) => s.inputs.stringData),
                ["[secret]", "[secret]", "[secret]", "[secret]"],
            );
        }
    });

    it("restores a named dump once, the app fenced out while the restore Job dumps what is there and restores; then the release's backup and migration", () => {
        const key = "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump";
        const run = runStack("production", [`database.restore.key=${key}`]);
        const hash = createHash("sha256").update(key).digest("hex");
        // The pre-restore dump is the restore Job's own, taken inside the fence: no Job of its own before it.
        assert.deepStrictEqual(jobIdentities(run), [
            `myapp-release-db-restore-${hash.slice(0, 10)} myapp-restore-${hash.slice(0, 10)}`,
            "myapp-release-db-predeploy-backup-v1-2-3 myapp-predeploy-backup-v1-2-3",
            "myapp-release-db-migrate-expand-v1-2-3 myapp-migrate-expand-v1-2-3",
        ]);
        const restore = find(run, ":Job", `myapp-release-db-restore-${hash.slice(0, 10)}`);
        assert.deepStrictEqual(restore.dependsOn, ["myapp-db-backup"]);
        const c = at(restore, "spec.template.spec.containers")[0];
        assert.deepStrictEqual(c.command, ["/bin/sh", "/scripts/restore.sh"]);
        assert.deepStrictEqual(
            c.env.filter((e: any) =>
                [
                    "RESTORE_KEY",
                    "RESTORE_RUN",
                    "RESTORE_MARKER_KEY",
                    "FENCE_APP_ROLE",
                    "FENCE_CONNECT_ROLE",
                    "MIGRATION_OWNER_ROLE",
                ].includes(e.name),
            ),
            [
                { name: "RESTORE_KEY", value: key },
                { name: "RESTORE_RUN", value: "1" },
                { name: "RESTORE_MARKER_KEY", value: `postgres/myapp/restores/${hash.slice(0, 16)}-run-1.json` },
                { name: "FENCE_APP_ROLE", value: "myapp_app" },
                { name: "FENCE_CONNECT_ROLE", value: "myapp_app_connect" },
                { name: "MIGRATION_OWNER_ROLE", value: "myapp_owner" },
            ],
        );
        assert.deepStrictEqual(
            c.env.find((e: any) => e.name === "DATABASE_URL").valueFrom.secretKeyRef.name,
            "myapp-db-migrator",
        );
        assert.deepStrictEqual(find(run, ":Job", BACKUP).dependsOn, ["myapp-db-backup", restore.name]);
        assert.deepStrictEqual(find(run, ":Job", MIGRATION).dependsOn, [BACKUP]);

        // Applying the same key again takes an explicit run number: a new Job, a new marker.
        const again = runStack("production", [`database.restore.key=${key}`, "database.restore.run=2"]);
        const second = find(again, ":Job", `myapp-release-db-restore-${hash.slice(0, 10)}-r2`);
        assert.deepStrictEqual(
            at(second, "spec.template.spec.containers")[0].env.find((e: any) => e.name === "RESTORE_MARKER_KEY"),
            { name: "RESTORE_MARKER_KEY", value: `postgres/myapp/restores/${hash.slice(0, 16)}-run-2.json` },
        );
        assert.throws(() => find(again, ":Job", restore.name));
    });

    it("leaves every Job alone on an edit outside its purpose, and a restore alone on a new release", () => {
        const key = "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump";
        const base = runStack("production", [`database.restore.key=${key}`]);
        const edited = runStack("production", [
            `database.restore.key=${key}`,
            "database.toolsImage=registry.example.com/platform/pg-tools:15.9-awscli-2.18.0",
            "backup.scratchSize=80Gi",
            "backup.deadlineMinutes=90",
        ]);
        // Same logical names and metadata.names; every difference lies under spec, which the Jobs ignore and the
        // offline diff leaves out as the engine does, or is the provider's wait annotation, updated in place (only
        // spec.template and the name replace).
        assert.deepStrictEqual(jobIdentities(edited), jobIdentities(base));
        for (const job of all(edited, ":Job")) {
            const before = find(base, ":Job", job.name);
            const changed = diffRuns(
                { stack: "a", resources: [before], outputs: {} },
                { stack: "b", resources: [job], outputs: {} },
            ).steps.flatMap((s) => s.changes.map((c) => c.path));
            // The engine diffs nothing under spec (ignoreChanges): at most the wait annotation changes, in place.
            assert.ok(
                changed.every((p) => p === 'metadata.annotations["pulumi.com/timeoutSeconds"]'),
                `${job.name}: ${changed.join(", ")}`,
            );
        }
        // A new version runs a new backup and migration; the restore of the same key stays the same resource.
        const next = runStack("production", [
            `database.restore.key=${key}`,
            "release.version=v1.2.4",
            "release.previousVersion=v1.2.3",
            "canary.canaryVersion=v1.2.4",
            "canary.stableVersion=v1.2.3",
        ]);
        const ids = jobIdentities(next);
        assert.deepStrictEqual(
            ids.filter((i) => i.includes("restore")),
            jobIdentities(base).filter((i) => i.includes("restore")),
        );
        assert.ok(ids.includes("myapp-release-db-migrate-expand-v1-2-4 myapp-migrate-expand-v1-2-4"));
    });

    it("declares every release Job to ignore changes to its spec, so the engine never replaces it for an edit", async () => {
        const ignored: Record<string, string[] | undefined> = {};
        await declare(() => {
            pulumi.runtime.registerStackTransformation((args) => {
                if (args.type === "kubernetes:batch/v1:Job") ignored[args.name] = args.opts.ignoreChanges;
                return undefined;
            });
            const secret = (kind: string) =>
                new k8s.core.v1.Secret(`s-${kind}`, {
                    metadata: { name: `db-${kind}` },
                    stringData: { DATABASE_URL: "x" },
                }).metadata.name;
            const backups = new BackupSchedule(
                "b",
                backupScheduleArgs(
                    "myapp",
                    {
                        oidc: { providerArn: "arn:aws:iam::123456789012:oidc-provider/x", issuerUrl: "https://x" },
                        bucketArn: "arn:aws:s3:::myapp-dumps",
                        keyArn: "arn:aws:kms:us-east-1:123456789012:key/x",
                    },
                    secret,
                ),
            );
            new ReleaseDatabaseJobs("r", {
                appName: "myapp",
                namespace: "ns",
                version: "v2",
                previousVersion: "v1",
                backups,
                migratorSecret: secret("migrator"),
                ownerRole: "owner",
                fence: { appRole: "app", connectRole: "app_connect" },
                migration: { kind: "command", image: "app:v2", command: ["migrate"] },
                phase: "expand",
                direction: "up",
                downSteps: 1,
                migrationDeadlineSeconds: 600,
                lockRetrySeconds: 300,
                backoffLimit: 0,
                backupDeadlineSeconds: 600,
                attempt: 1,
                restore: { key: "p/x.dump", run: 1 },
            });
        });
        assert.deepStrictEqual(Object.keys(ignored).length, 3);
        for (const [name, paths] of Object.entries(ignored)) assert.deepStrictEqual(paths, ["spec"], name);
    });

    it("retries a failed backup and migration with one config edit that renames both Jobs", () => {
        const retry = runStack("production", ["database.migration.attempt=2"]);
        assert.deepStrictEqual(jobIdentities(retry), [
            "myapp-release-db-predeploy-backup-v1-2-3-a2 myapp-predeploy-backup-v1-2-3-a2",
            "myapp-release-db-migrate-expand-v1-2-3-a2 myapp-migrate-expand-v1-2-3-a2",
        ]);
        assert.strictEqual(
            (retry.outputs.database as any).retryFailedJob,
            "pulumi config set --stack production --path database.migration.attempt 3 && pulumi up --stack production",
        );
    });

    it("runs no backup and touches no database when rolling back to the previous version", () => {
        const back = runStack("production", ["release.version=v1.2.2"]);
        assert.deepStrictEqual(all(back, ":Job"), []);
        assert.deepStrictEqual(find(back, ":Deployment", "myapp-stable-deployment").dependsOn, [
            "myapp-env",
            "myapp-db-roles-app-secret",
        ]);
        // A down migration is a deliberate database change, so it still runs, after a backup of its own.
        const down = runStack("production", [
            ...ALL_ON("v1.2.2"),
            "database.migration.run=down",
            "database.migration.downFor=v1.2.2",
        ]);
        assert.deepStrictEqual(jobIdentities(down), [
            "myapp-release-db-predown-backup-v1-2-2 myapp-predown-backup-v1-2-2",
            "myapp-release-db-migrate-down-1-expand-v1-2-2 myapp-migrate-down-1-expand-v1-2-2",
        ]);
    });

    it("backs up before a down migration, under a label of its own", () => {
        const down = runStack("production", [
            ...ALL_ON("v1.2.2"),
            "database.migration.run=down",
            "database.migration.downFor=v1.2.2",
            "database.migration.downSteps=2",
        ]);
        const before = find(down, ":Job", "myapp-release-db-predown-backup-v1-2-2");
        assert.deepStrictEqual(
            at(before, "spec.template.spec.containers")[0].env.find((e: any) => e.name === "BACKUP_LABEL"),
            { name: "BACKUP_LABEL", value: "pre-down-v1.2.2" },
        );
        const job = find(down, ":Job", "myapp-release-db-migrate-down-2-expand-v1-2-2");
        assert.deepStrictEqual(job.dependsOn, [before.name]);
        // The runner gets the versions to roll back, newest first, and the release and attempt it records them under.
        const c = at(job, "spec.template.spec.containers")[0];
        assert.deepStrictEqual(c.command, [
            "/bin/sh",
            "/scripts/migrate-sql.sh",
            "down",
            "005_users_email_verified_sync",
            "004_payments_stripe_payment_intent_id_index",
        ]);
        assert.deepStrictEqual(
            c.env
                .filter((e: any) => e.name.startsWith("MIGRATION_") && e.name !== "MIGRATIONS_DIR")
                .map((e: any) => `${e.name}=${e.value}`),
            [
                "MIGRATION_OWNER_ROLE=myapp_owner",
                "MIGRATION_SCHEMAS=public",
                "MIGRATION_RELEASE=v1.2.2",
                "MIGRATION_ATTEMPT=1",
            ],
        );
    });

    it("gives every batch pod a writable HOME and reserves its scratch space, and lets Jobs survive a node drain", () => {
        const pods = (run: ProgramRun) => [
            ...all(run, ":Job").map((j) => [j.name, at(j, "spec"), at(j, "spec.template.spec")] as const),
            ...all(run, ":CronJob").map(
                (j) => [j.name, at(j, "spec.jobTemplate.spec"), at(j, "spec.jobTemplate.spec.template.spec")] as const,
            ),
        ];
        const checked = [...pods(production), ...pods(staging)];
        assert.deepStrictEqual(
            checked.length,
            10,
            "production: 2 Jobs, 2 CronJobs; staging: 4 Jobs (2 smoke tests), 2 CronJobs",
        );
        for (const [name, jobSpec, pod] of checked) {
            const c = pod.containers[0];
            assert.deepStrictEqual(c.env[0], { name: "HOME", value: "/home/runner" }, name);
            assert.deepStrictEqual(c.volumeMounts[1], { name: "home", mountPath: "/home/runner" }, name);
            assert.deepStrictEqual(pod.volumes[1], { name: "home", emptyDir: { sizeLimit: "64Mi" } }, name);
            const tmp = pod.volumes[0].emptyDir.sizeLimit;
            const expected = { "1Gi": "1088Mi", "50Gi": "51264Mi", "10Gi": "10304Mi" }[tmp as string];
            assert.strictEqual(c.resources.requests["ephemeral-storage"], expected, `${name} (${tmp})`);
            assert.strictEqual(c.resources.limits["ephemeral-storage"], expected, `${name} (${tmp})`);
            assert.deepStrictEqual(
                jobSpec.podFailurePolicy,
                { rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] },
                name,
            );
            assert.strictEqual(pod.restartPolicy, "Never", name);
        }
        assert.strictEqual(
            at(find(production, ":Job", BACKUP), "spec.template.spec.volumes")[0].emptyDir.sizeLimit,
            "50Gi",
        );
    });

    it("mounts the configured CA bundle in every pod that connects and names it in every URL", () => {
        const ca = find(production, ":ConfigMap", "myapp-db-roles-ca");
        assert.strictEqual(
            at(ca, "data")["ca.pem"],
            readFileSync(path.join(ROOT, "certs", "rds-ca-bundle.pem"), "utf8"),
        );
        const templates = [
            ...all(production, ":Job").map((j) => at(j, "spec.template.spec")),
            ...all(production, ":CronJob").map((j) => at(j, "spec.jobTemplate.spec.template.spec")),
            ...all(production, ":Deployment").map((d) => at(d, "spec.template.spec")),
        ];
        assert.strictEqual(templates.length, 6);
        for (const pod of templates) {
            assert.deepStrictEqual(
                pod.volumes.find((v: any) => v.name === "db-ca"),
                { name: "db-ca", configMap: { name: "myapp-db-ca" } },
            );
            assert.deepStrictEqual(
                pod.containers[0].volumeMounts.find((m: any) => m.name === "db-ca"),
                { name: "db-ca", mountPath: "/etc/myapp/db-ca", readOnly: true },
            );
        }
    });

    it("protects the KMS key and the backup vault, whose deletion would lose every backup", async () => {
        const protectedNames: string[] = [];
        await declare(() => {
            pulumi.runtime.registerStackTransformation((args) => {
                if (args.opts.protect) protectedNames.push(args.name);
                return undefined;
            });
            new BackupBucket("b", {
                bucketName: "dumps",
                retentionDays: 365,
                infrequentAccessAfterDays: 30,
                glacierAfterDays: 90,
                tags: {},
            });
            new RdsBackupPlan("r", {
                kind: "instance",
                arn: "arn:aws:rds:us-east-1:123456789012:db:x",
                subnetGroupName: "g",
                securityGroupIds: ["sg-0123456789abcdef0"],
                schedule: "cron(0 5 ? * * *)",
                restoreTestSchedule: "cron(0 6 ? * SUN *)",
                retentionDays: 35,
                kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/x",
                namePrefix: "x",
                tags: {},
            });
        });
        assert.deepStrictEqual(protectedNames, ["b-key", "b-bucket", "r-vault"]);
    });

    it("runs the release image's own migration command when config names one", () => {
        const cfg = stackConfig("production");
        const migration = (cfg["myapp:database"] as any).migration;
        delete migration.sqlDir;
        migration.command = ["python", "manage.py", "migrate"];
        migration.downCommand = ["python", "manage.py", "migrate", "app", "0042_previous_migration"];
        const r = preview(["--stack", "production", "--config-file", writeStackFile(cfg), "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const commandJob = JSON.parse(r.stdout).resources.find((x: any) => x.name === MIGRATION);
        const c = commandJob.inputs.spec.template.spec.containers[0];
        assert.strictEqual(c.image, "registry.example.com/myapp:v1.2.3");
        assert.deepStrictEqual(c.command, ["python", "manage.py", "migrate"]);
    });

    it("refuses, at preview time, a destructive migration outside the contract phase", () => {
        const cfg = stackConfig("production");
        (cfg["myapp:database"] as any).migration.allow = {};
        const r = preview(["--stack", "production", "--config-file", writeStackFile(cfg)]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(
            r.stderr.trim(),
            [
                'Migrations refused for phase "expand" (myapp:database.migration.phase); allow a rule for a file in myapp:database.migration.allow only with care:',
                "  migrations/003_payments_stripe_payment_intent_id.up.sql:5: prefer-text-field: Changing the size of a `varchar` field requires an `ACCESS EXCLUSIVE` lock, that will prevent all reads and writes to the table.",
            ].join("\n"),
        );
        assert.strictEqual(r.stdout, "");
    });
});

describe("database config validation", () => {
    it("rejects a restore that names no dump of this database", () =>
        rejectsConfig(
            "production",
            ["database.restore.key=other/thing.sql"],
            'myapp:database.restore.key = "other/thing.sql": must name a dump under backup.prefix, like postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump',
        ));
    it("rejects a malformed cron schedule", () =>
        rejectsConfig(
            "production",
            ["backup.schedule=0 25 * * *"],
            'myapp:backup.schedule = "0 25 * * *": must be a five-field cron schedule',
        ));
    it("rejects a malformed drill schedule", () =>
        rejectsConfig(
            "production",
            ["backup.restoreDrill.schedule=every sunday"],
            'myapp:backup.restoreDrill.schedule = "every sunday": must be a five-field cron schedule',
        ));
    it("rejects a retention shorter than the configured minimum", () =>
        rejectsConfig(
            "production",
            ["backup.retentionDays=20", "backup.objectLock.days=10"],
            "myapp:backup.retentionDays = 20: must be at least backup.minimumRetentionDays (35)",
        ));
    it("rejects a GLACIER transition S3 would refuse", () =>
        rejectsConfig(
            "production",
            ["backup.glacierAfterDays=45"],
            "myapp:backup.glacierAfterDays = 45: must be at least 30 days after infrequentAccessAfterDays (30) and before retentionDays (365)",
        ));
    it("rejects an unknown phase", () =>
        rejectsConfig(
            "production",
            ["database.migration.phase=shrink"],
            'myapp:database.migration.phase = "shrink": Invalid option: expected one of "expand"|"backfill"|"migrate-code"|"contract"',
        ));
    it("rejects a migration with both SQL files and a command", () =>
        rejectsConfig(
            "production",
            ["database.migration.command[0]=migrate"],
            "myapp:database.migration = (not set): must set exactly one of sqlDir",
        ));
    it("rejects connection limits the server cannot hold", () =>
        rejectsConfig(
            "production",
            ["database.roles.app.connectionLimit=195"],
            "myapp:database.roles = 205: connection limits add up to more than maxConnections (200)",
        ));
    it("rejects an RDS ARN of the wrong kind", () =>
        rejectsConfig(
            "production",
            ["database.rds.arn=arn:aws:rds:us-east-1:123456789012:db:myapp-production"],
            'myapp:database.rds.arn = "arn:aws:rds:us-east-1:123456789012:db:myapp-production": must be a :cluster: ARN for rds.kind "aurora-cluster", got a :db: ARN',
        ));
    it("rejects an instance kind for a cluster endpoint", () =>
        rejectsConfig(
            "production",
            ["database.rds.kind=instance", "database.rds.arn=arn:aws:rds:us-east-1:123456789012:db:myapp-production"],
            'myapp:database.rds.kind = "instance": must be "aurora-cluster" or "multi-az-cluster": database.host myapp-production.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com is a cluster endpoint',
        ));
    it("rejects a tools image whose pg_dump is older than the server", () =>
        rejectsConfig(
            "production",
            ["database.serverMajorVersion=16"],
            "myapp:database.toolsPgDumpMajorVersion = 15: must be at least database.serverMajorVersion (16): pg_dump refuses a server newer than itself; use a tools image built for PostgreSQL 16",
        ));
    it("rejects verify-full without a CA bundle", () => {
        const cfg = stackConfig("staging");
        delete (cfg["myapp:database"] as any).tls;
        const raw = Object.fromEntries(
            Object.entries(cfg)
                .filter(([k]) => k.startsWith(`${PROJECT}:`))
                .map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
        );
        assert.throws(
            () => validateConfig(PROJECT, "staging", raw),
            /myapp:database\.tls\.caBundle = \(not set\): is required with sslmode verify-full/,
        );
    });
    it("stops the offline preview with exit 2, before declaring anything, on a CA bundle path that is absent", () => {
        const r = preview(["--stack", "production", "--set", "database.tls.caBundle=certs/missing.pem"]);
        assert.strictEqual(r.code, 2, r.stderr);
        assert.ok(
            r.stderr.includes(
                `myapp:database.tls.caBundle = "certs/missing.pem": names no file (looked for ${path.join(ROOT, "certs", "missing.pem")})`,
            ),
            r.stderr,
        );
        assert.strictEqual(r.stdout, "");
    });
    it("rejects an object lock that outlives the retention", () =>
        rejectsConfig(
            "production",
            ["backup.objectLock.days=400"],
            "myapp:backup.objectLock.days = 400: must be shorter than retentionDays (365)",
        ));
    it("rejects database without backup", () => {
        const cfg = stackConfig("production");
        delete cfg["myapp:backup"];
        const raw = Object.fromEntries(
            Object.entries(cfg)
                .filter(([k]) => k.startsWith(`${PROJECT}:`))
                .map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
        );
        assert.throws(
            () => validateConfig(PROJECT, "production", raw),
            /myapp:backup = \(not set\): is required with database/,
        );
    });
    it("reads cron the way the CronJob controller does", () => {
        for (const ok of ["0 */6 * * *", "30 4 * * 0", "0 0 1 JAN,JUL *", "*/15 9-17 * * MON-FRI", "@daily"])
            assert.strictEqual(isKubernetesCron(ok), true, ok);
        for (const bad of [
            "0 */6 * *",
            "60 * * * *",
            "0 0 0 * *",
            "* * * * 8",
            "0 0 * * * *",
            "@sometimes",
            "5-1 * * * *",
            "*/0 * * * *",
        ]) {
            assert.strictEqual(isKubernetesCron(bad), false, bad);
        }
    });
});

describe("a restore key checked against S3 before anything is declared", () => {
    const key = "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.2.dump";
    /** The invokes the program made, under mocks that answer S3's getObject as `present` says. */
    async function check(
        sets: string[],
        present: boolean,
    ): Promise<{ calls: Record<string, unknown>[]; error?: Error }> {
        const calls: Record<string, unknown>[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => ({ id: args.name, state: args.inputs }),
                call: (args) => {
                    if (args.token !== "aws:s3/getObject:getObject") return {};
                    calls.push(args.inputs);
                    // The AWS provider's data source fails for a missing object (the mock runtime drops the message).
                    if (!present) throw new Error(`reading S3 Object (${args.inputs.key}): couldn't find resource`);
                    return { bucket: args.inputs.bucket, key: args.inputs.key, contentLength: 1024 };
                },
            },
            PROJECT,
            "production",
            false,
        );
        const cfg = validateConfig(PROJECT, "production", programConfig("production", sets));
        try {
            await checkRestoreKey(PROJECT, cfg);
            return { calls };
        } catch (err) {
            return { calls, error: err as Error };
        }
    }

    it("stops with a ConfigError naming the key when the object is missing", async () => {
        const { calls, error } = await check([`database.restore.key=${key}`], false);
        assert.deepStrictEqual(calls, [{ bucket: "myapp-production-db-backups", key }]);
        assert.strictEqual(error?.name, "ConfigError");
        assert.strictEqual(
            error?.message,
            `Invalid stack configuration (nothing was declared):\n  myapp:database.restore.key = "${key}": no such object in s3://myapp-production-db-backups`,
        );
    });

    it("goes on when the object exists, and asks S3 nothing without a restore key", async () => {
        assert.deepStrictEqual(await check([`database.restore.key=${key}`], true), {
            calls: [{ bucket: "myapp-production-db-backups", key }],
        });
        assert.deepStrictEqual(await check([], false), { calls: [] });
    });
});
