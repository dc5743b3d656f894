import * as assert from "assert";
import { isKubernetesCron, validateConfig } from "../lib/config";
import { ProgramRun } from "../lib/offline/types";
import { all, at, configErrorFor, find, preview, PROJECT, runStack, stackConfig, writeStackFile } from "./helpers";

describe("database safety under mocks", () => {
    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    it("orders one release: backup, migration, new pods, smoke test, traffic switch", () => {
        const deps = (name: string) => staging.resources.find((r) => r.name === name)!.dependsOn;
        assert.deepStrictEqual(deps("myapp-release-db-predeploy-backup"), ["myapp-db-backup"]);
        assert.deepStrictEqual(deps("myapp-release-db-migration"), ["myapp-release-db-predeploy-backup", "myapp-release-db-migrations"]);
        assert.deepStrictEqual(deps("myapp-blue-deployment"), ["myapp-release-db-migration"]);
        // green is the standby: it changes only once the live Service has moved.
        assert.deepStrictEqual(deps("myapp-green-deployment"), ["myapp-release-db-migration", "myapp-live"]);
        assert.deepStrictEqual(deps("myapp-smoke-green"), ["myapp-green", "myapp-green-svc"]);
        assert.deepStrictEqual(deps("myapp-live"), ["myapp-smoke-blue"]);
        assert.deepStrictEqual(find(production, ":Deployment", "myapp-canary-deployment").dependsOn, ["myapp-release-db-migration"]);
    });

    it("names the release's Jobs after its version and waits for each", () => {
        const backup = find(production, ":Job", "myapp-release-db-predeploy-backup");
        assert.strictEqual(at(backup, "metadata.name"), "myapp-predeploy-backup-v1-2-3");
        assert.strictEqual(at(backup, "metadata.annotations")["pulumi.com/timeoutSeconds"], "3660");
        assert.strictEqual(at(backup, "spec.ttlSecondsAfterFinished"), undefined);
        const pod = at(backup, "spec.template.spec");
        assert.strictEqual(pod.serviceAccountName, "myapp-db-backup");
        assert.deepStrictEqual(pod.containers[0].command, ["/bin/sh", "/scripts/backup.sh"]);
        assert.deepStrictEqual(pod.containers[0].env, [
            { name: "BACKUP_BUCKET", value: "myapp-production-db-backups" },
            { name: "BACKUP_PREFIX", value: "postgres/myapp" },
            { name: "AWS_REGION", value: "us-east-1" },
            { name: "BACKUP_LABEL", value: "pre-deploy-v1.2.3" },
            { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "myapp-db-backup", key: "DATABASE_URL" } } },
        ]);
        assert.deepStrictEqual(pod.volumes.find((v: any) => v.name === "tmp"), { name: "tmp", emptyDir: { sizeLimit: "50Gi" } });

        const migration = find(production, ":Job", "myapp-release-db-migration");
        assert.strictEqual(at(migration, "metadata.name"), "myapp-migrate-v1-2-3");
        assert.strictEqual(at(migration, "spec.activeDeadlineSeconds"), 600, "twice the plan's 5-minute estimate");
        assert.strictEqual(at(migration, "spec.backoffLimit"), 0);
        assert.deepStrictEqual(at(migration, "spec.template.spec.containers")[0].command, ["/bin/sh", "/scripts/migrate-sql.sh", "up"]);
    });

    it("ships only the migrations of the configured phase, with their down files", () => {
        const files = (run: ProgramRun) => Object.keys(at(find(run, ":ConfigMap", "myapp-release-db-migrations"), "data")).sort();
        const expand = ["001_users_email_verified", "002_users_email_verified_index", "003_payments_stripe_payment_intent_id", "004_payments_stripe_payment_intent_id_index"];
        assert.deepStrictEqual(files(production), expand.flatMap((v) => [`${v}.down.sql`, `${v}.up.sql`]));
        assert.strictEqual(at(find(production, ":ConfigMap", "myapp-release-db-migrations"), "immutable"), true);
        // The contract phase's DROP COLUMN passes the lint there, and only there.
        const contract = runStack("production", ["database.migration.phase=contract"]);
        assert.strictEqual(files(contract).length, 12);
        assert.ok(files(contract).includes("006_users_drop_is_verified.up.sql"));
    });

    it("hardens the backup bucket", () => {
        const r = (suffix: string, name: string) => find(production, suffix, `myapp-backups-${name}`);
        assert.strictEqual(at(r(":Key", "key"), "enableKeyRotation"), true);
        assert.strictEqual(at(r(":Bucket", "bucket"), "objectLockEnabled"), true);
        assert.strictEqual(at(r(":Bucket", "bucket"), "forceDestroy"), false);
        assert.deepStrictEqual(at(r(":BucketVersioning", "versioning"), "versioningConfiguration"), { status: "Enabled" });
        assert.deepStrictEqual(at(r(":BucketServerSideEncryptionConfiguration", "encryption"), "rules"), [
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:mock:us-east-1:123456789012:myapp-backups-key" }, bucketKeyEnabled: true },
        ]);
        const block = r(":BucketPublicAccessBlock", "public-access").inputs;
        assert.deepStrictEqual([block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets], [true, true, true, true]);
        assert.deepStrictEqual(at(r(":BucketOwnershipControls", "ownership"), "rule"), { objectOwnership: "BucketOwnerEnforced" });
        const policy = JSON.parse(at(r(":BucketPolicy", "tls-only"), "policy"));
        assert.deepStrictEqual(policy.Statement, [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: ["arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket", "arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket/*"],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ]);
        const rule = at(r(":BucketLifecycleConfiguration", "lifecycle"), "rules")[0];
        assert.deepStrictEqual(rule.transitions, [
            { days: 30, storageClass: "STANDARD_IA" },
            { days: 90, storageClass: "GLACIER" },
        ]);
        assert.deepStrictEqual(rule.expiration, { days: 365 });
        assert.deepStrictEqual(at(r(":BucketObjectLockConfiguration", "object-lock"), "rule"), { defaultRetention: { mode: "GOVERNANCE", days: 35 } });
        assert.deepStrictEqual(all(staging, ":BucketObjectLockConfiguration"), [], "staging asks for no object lock");
    });

    it("lets the backup identity write and read its own prefix only, and delete nothing", () => {
        const trust = JSON.parse(at(find(production, ":Role", "myapp-db-backup-role"), "assumeRolePolicy"));
        assert.deepStrictEqual(trust.Statement[0].Condition, {
            StringEquals: {
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": "system:serviceaccount:production:myapp-db-backup",
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": "sts.amazonaws.com",
            },
        });
        const statements = JSON.parse(at(find(production, ":RolePolicy", "myapp-db-backup-policy"), "policy")).Statement;
        const bucket = "arn:aws:mock:us-east-1:123456789012:myapp-backups-bucket";
        assert.deepStrictEqual(statements, [
            { Sid: "ReadWriteOwnPrefix", Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: `${bucket}/postgres/myapp/*` },
            { Sid: "ListOwnPrefix", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket, Condition: { StringLike: { "s3:prefix": ["postgres/myapp/*"] } } },
            { Sid: "UseBucketKey", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: "arn:aws:mock:us-east-1:123456789012:myapp-backups-key" },
            {
                Sid: "NeverDelete",
                Effect: "Deny",
                Action: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:BypassGovernanceRetention"],
                Resource: [bucket, `${bucket}/*`],
            },
        ]);
        const allowed = statements.filter((s: any) => s.Effect === "Allow").flatMap((s: any) => [s.Action].flat());
        assert.ok(!allowed.some((a: string) => a.includes("Delete")));
        const sa = find(production, ":ServiceAccount", "myapp-db-backup-service-account");
        assert.strictEqual(at(sa, "metadata.annotations")["eks.amazonaws.com/role-arn"], "arn:aws:mock:us-east-1:123456789012:myapp-db-backup-role");
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
        const drillEnv = at(find(production, ":CronJob", "myapp-db-backup-restore-drill"), "spec.jobTemplate.spec.template.spec.containers")[0].env;
        assert.deepStrictEqual(drillEnv.slice(3), [
            { name: "DRILL_DATABASE_URL", valueFrom: { secretKeyRef: { name: "myapp-db-drill", key: "DATABASE_URL" } } },
            { name: "DRILL_CHECK_SQL", value: "SELECT count(*) > 0 FROM users" },
        ]);
    });

    it("separates the app, migrator and backup roles with connection limits", () => {
        const role = (kind: string) => find(production, ":Role", `myapp-db-roles-${kind}`).inputs;
        assert.deepStrictEqual(
            ["app", "migrator", "backup"].map((k) => [role(k).name, role(k).connectionLimit, role(k).password]),
            [
                ["myapp_app", 150, "[secret]"],
                ["myapp_migrator", 5, "[secret]"],
                ["myapp_backup", 3, "[secret]"],
            ],
        );
        const grants = Object.fromEntries(
            all(production, ":Grant").map((g) => [g.name.replace("myapp-db-roles-", ""), (g.inputs.privileges as string[]).join(",")]),
        );
        assert.deepStrictEqual(grants, {
            "migrator-database": "CONNECT,CREATE,TEMPORARY",
            "migrator-schema": "CREATE,USAGE",
            "app-database": "CONNECT",
            "app-schema": "USAGE",
            "app-tables": "SELECT,INSERT,UPDATE,DELETE",
            "app-sequences": "SELECT,USAGE,UPDATE",
            "backup-database": "CONNECT",
            "backup-schema": "USAGE",
            "backup-tables": "SELECT",
            "backup-sequences": "SELECT",
        });
        const app = find(production, ":Deployment", "myapp-canary-deployment");
        assert.deepStrictEqual(at(app, "spec.template.spec.containers")[0].envFrom, [{ secretRef: { name: "myapp-env" } }, { secretRef: { name: "myapp-db-app" } }]);
    });

    it("declares AWS Backup with a restore-testing plan when config names an RDS instance", () => {
        assert.deepStrictEqual(at(find(production, ":Selection", "myapp-rds-backup-selection"), "resources"), ["arn:aws:rds:us-east-1:123456789012:db:myapp-production"]);
        assert.strictEqual(at(find(production, ":Plan", "myapp-rds-backup-plan"), "rules")[0].schedule, "cron(0 5 ? * * *)");
        assert.strictEqual(at(find(production, ":RestoreTestingPlan", "myapp-rds-backup-restore-testing"), "scheduleExpression"), "cron(0 6 ? * SUN *)");
        assert.strictEqual(at(find(production, ":RestoreTestingSelection", "myapp-rds-backup-restore-testing-selection"), "protectedResourceType"), "RDS");
        assert.deepStrictEqual(all(staging, ":Vault"), []);
    });

    it("keeps every password and database URL out of plain text", () => {
        for (const run of [production, staging]) {
            const text = JSON.stringify(run);
            assert.ok(!text.includes("offline-password("), `${run.stack}: a generated password reached an input or output in plain text`);
            assert.ok(!text.includes("postgresql://"), `${run.stack}: a database URL reached an input or output in plain text`);
            const secrets = run.resources.filter((x) => x.type === "kubernetes:core/v1:Secret" && x.name.startsWith("myapp-db-roles"));
            assert.deepStrictEqual(
                secrets.map((s) => s.inputs.stringData),
                ["[secret]", "[secret]", "[secret]", "[secret]"],
            );
        }
    });

    it("restores a named dump by config, after the pre-deploy backup and before the migration", () => {
        const key = "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump";
        const run = runStack("production", [`database.restore.key=${key}`]);
        const restore = find(run, ":Job", "myapp-release-db-restore");
        assert.match(at(restore, "metadata.name"), /^myapp-restore-[0-9a-f]{10}$/);
        assert.deepStrictEqual(restore.dependsOn, ["myapp-release-db-predeploy-backup"]);
        const c = at(restore, "spec.template.spec.containers")[0];
        assert.deepStrictEqual(c.command, ["/bin/sh", "/scripts/restore.sh"]);
        assert.deepStrictEqual(c.env.find((e: any) => e.name === "RESTORE_KEY"), { name: "RESTORE_KEY", value: key });
        assert.deepStrictEqual(c.env.find((e: any) => e.name === "DATABASE_URL").valueFrom.secretKeyRef.name, "myapp-db-migrator");
        assert.deepStrictEqual(find(run, ":Job", "myapp-release-db-migration").dependsOn, ["myapp-release-db-restore", "myapp-release-db-migrations"]);
    });

    it("rolls back by config with the down direction, or runs the release image's own command", () => {
        const down = runStack("production", ["database.migration.run=down", "database.migration.downSteps=2"]);
        const job = find(down, ":Job", "myapp-release-db-migration");
        assert.strictEqual(at(job, "metadata.name"), "myapp-migrate-down-v1-2-3");
        assert.deepStrictEqual(at(job, "spec.template.spec.containers")[0].command, ["/bin/sh", "/scripts/migrate-sql.sh", "down", "2"]);

        const cfg = stackConfig("production");
        const migration = (cfg["myapp:database"] as any).migration;
        delete migration.sqlDir;
        migration.command = ["python", "manage.py", "migrate"];
        migration.downCommand = ["python", "manage.py", "migrate", "app", "0042_previous_migration"];
        const r = preview(["--stack", "production", "--config-file", writeStackFile(cfg), "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const commandJob = JSON.parse(r.stdout).resources.find((x: any) => x.name === "myapp-release-db-migration");
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
                "  migrations/003_payments_stripe_payment_intent_id.up.sql:4: prefer-text-field: Changing the size of a `varchar` field requires an `ACCESS EXCLUSIVE` lock, that will prevent all reads and writes to the table.",
            ].join("\n"),
        );
        assert.strictEqual(r.stdout, "");
    });

});

describe("database config validation", () => {
    const rejects = (sets: string[], expected: string) => assert.ok(configErrorFor("production", sets).includes(`  ${expected}`), `expected "${expected}"`);

    it("rejects a restore that names no dump of this database", () =>
        rejects(
            ["database.restore.key=other/thing.sql"],
            'myapp:database.restore.key = "other/thing.sql": must name a dump under backup.prefix, like postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump',
        ));
    it("rejects a malformed cron schedule", () => rejects(["backup.schedule=0 25 * * *"], 'myapp:backup.schedule = "0 25 * * *": must be a five-field cron schedule'));
    it("rejects a malformed drill schedule", () => rejects(["backup.restoreDrill.schedule=every sunday"], 'myapp:backup.restoreDrill.schedule = "every sunday": must be a five-field cron schedule'));
    it("rejects a retention shorter than the configured minimum", () =>
        rejects(["backup.retentionDays=20", "backup.objectLock.days=10"], "myapp:backup.retentionDays = 20: must be at least backup.minimumRetentionDays (35)"));
    it("rejects a GLACIER transition S3 would refuse", () =>
        rejects(["backup.glacierAfterDays=45"], "myapp:backup.glacierAfterDays = 45: must be at least 30 days after infrequentAccessAfterDays (30) and before retentionDays (365)"));
    it("rejects an unknown phase", () =>
        rejects(["database.migration.phase=shrink"], 'myapp:database.migration.phase = "shrink": Invalid option: expected one of "expand"|"backfill"|"migrate-code"|"contract"'));
    it("rejects a migration with both SQL files and a command", () =>
        rejects(["database.migration.command[0]=migrate"], "myapp:database.migration = (not set): must set exactly one of sqlDir"));
    it("rejects connection limits the server cannot hold", () =>
        rejects(["database.roles.app.connectionLimit=195"], "myapp:database.roles = 203: connection limits add up to more than maxConnections (200)"));
    it("rejects an object lock that outlives the retention", () => rejects(["backup.objectLock.days=400"], "myapp:backup.objectLock.days = 400: must be shorter than retentionDays (365)"));
    it("rejects database without backup", () => {
        const cfg = stackConfig("production");
        delete cfg["myapp:backup"];
        const raw = Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k.slice(PROJECT.length + 1), v]));
        assert.throws(() => validateConfig(PROJECT, "production", raw), /myapp:backup = \(not set\): is required with database/);
    });
    it("reads cron the way the CronJob controller does", () => {
        for (const ok of ["0 */6 * * *", "30 4 * * 0", "0 0 1 JAN,JUL *", "*/15 9-17 * * MON-FRI", "@daily"]) assert.strictEqual(isKubernetesCron(ok), true, ok);
        for (const bad of ["0 */6 * *", "60 * * * *", "0 0 0 * *", "* * * * 8", "0 0 * * * *", "@sometimes", "5-1 * * * *", "*/0 * * * *"]) {
            assert.strictEqual(isKubernetesCron(bad), false, bad);
        }
    });
});
