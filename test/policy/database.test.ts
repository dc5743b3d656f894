import {
    backupBeforeMigration,
    backupBucketHardened,
    databaseBackupScheduled,
    migrationBeforeNewVersion,
} from "../../policy/database";
import {
    assertNoViolations,
    assertViolations,
    canaryOnDatabase,
    canaryStack,
    databaseStack,
    named,
    without,
    mutated,
} from "./fixtures";

const COMPONENT_LABEL = "app.kubernetes.io/component";

describe("policy backup-bucket-hardened", () => {
    it("passes a versioned, KMS-encrypted, private, TLS-only bucket whose dumps expire", () =>
        assertNoViolations(backupBucketHardened, databaseStack()));

    const cases: [string, string, (p: any) => void, string][] = [
        [
            "suspended versioning",
            "shop-backups-versioning",
            (p) => (p.versioningConfiguration.status = "Suspended"),
            "bucket shop-db-backups is not versioned",
        ],
        [
            "AES256 instead of KMS",
            "shop-backups-encryption",
            (p) => (p.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm = "AES256"),
            "bucket shop-db-backups is not encrypted with KMS",
        ],
        [
            "public policies allowed",
            "shop-backups-public-access",
            (p) => (p.blockPublicPolicy = false),
            "bucket shop-db-backups does not block all public access",
        ],
        [
            "a policy that does not deny plain HTTP",
            "shop-backups-tls-only",
            (p) => (p.policy = JSON.stringify({ Version: "2012-10-17", Statement: [] })),
            "bucket shop-db-backups accepts requests without TLS",
        ],
        [
            "a lifecycle that expires nothing",
            "shop-backups-lifecycle",
            (p) => (p.rules[0].status = "Disabled"),
            "bucket shop-db-backups has no lifecycle rule that expires dumps",
        ],
    ];
    for (const [what, name, change, message] of cases) {
        it(`refuses ${what}`, () =>
            assertViolations(backupBucketHardened, mutated(databaseStack(), name, change), [
                [message, "shop-backups"],
            ]));
    }

    it("refuses a bucket with no policy at all", () =>
        assertViolations(backupBucketHardened, without(databaseStack(), "shop-backups-tls-only"), [
            ["bucket shop-db-backups has no policy denying requests without TLS", "shop-backups"],
        ]));
});

describe("policy database-backup-scheduled", () => {
    it("passes a database with a non-overlapping backup to a named bucket and a restore drill", () =>
        assertNoViolations(databaseBackupScheduled, databaseStack()));

    it("asks nothing of a stack without a database", () => assertNoViolations(databaseBackupScheduled, canaryStack()));

    it("refuses a backup whose runs may overlap", () =>
        assertViolations(
            databaseBackupScheduled,
            mutated(databaseStack(), "shop-db-backup", (p) => (p.spec.concurrencyPolicy = "Allow")),
            [["backup CronJob shop-db-backup lets runs overlap: set concurrencyPolicy to Forbid", "shop-db-backup"]],
        ));

    it("refuses a backup that names no bucket", () =>
        assertViolations(
            databaseBackupScheduled,
            mutated(
                databaseStack(),
                "shop-db-backup",
                (p) =>
                    (p.spec.jobTemplate.spec.template.spec.containers[0].env =
                        p.spec.jobTemplate.spec.template.spec.containers[0].env.slice(0, 1)),
            ),
            [["backup CronJob shop-db-backup names no bucket: set BACKUP_BUCKET", "shop-db-backup"]],
        ));

    it("refuses a database without a restore drill, also when its Secrets are made outside the stack (no roles declared)", () =>
        assertViolations(
            databaseBackupScheduled,
            without(databaseStack(), "shop-db-restore-drill", "shop-db-app-role"),
            [["the database has no scheduled restore drill", null]],
        ));

    it("refuses an unlabelled CronJob, which could be the backup, and then finds no backup", () =>
        assertViolations(
            databaseBackupScheduled,
            mutated(databaseStack(), "shop-db-backup", (p) => delete p.metadata.labels[COMPONENT_LABEL]),
            [
                [
                    "CronJob shop-db-backup has no app.kubernetes.io/component label: the pack cannot tell whether it is the database's backup or its restore drill",
                    "shop-db-backup",
                ],
                ["the database has no scheduled backup CronJob", null],
            ],
        ));
});

describe("policy backup-before-migration", () => {
    it("passes a migration that waits for the pre-deploy backup", () =>
        assertNoViolations(backupBeforeMigration, databaseStack()));

    it("refuses a migration that does not wait for it", () =>
        assertViolations(
            backupBeforeMigration,
            mutated(databaseStack(), "shop-migrate-v2-1-0", (_p, r) => (r.dependsOn = [])),
            [["migration Job shop-migrate-v2-1-0 does not wait for a pre-deploy backup", "shop-migrate-v2-1-0"]],
        ));

    it("accepts a migration that waits for the backup through another resource", () => {
        const stack = mutated(databaseStack(), "shop-migrate-v2-1-0", (_p, r) => (r.dependsOn = ["shop-db-app-role"]));
        named(stack, "shop-db-app-role").dependsOn = ["shop-predeploy-backup-v2-1-0"];
        return assertNoViolations(backupBeforeMigration, stack);
    });

    it("refuses an unlabelled Job, which could be a migration", () =>
        assertViolations(
            backupBeforeMigration,
            mutated(databaseStack(), "shop-migrate-v2-1-0", (p) => delete p.metadata.labels[COMPONENT_LABEL]),
            [
                [
                    "Job shop-migrate-v2-1-0 has no app.kubernetes.io/component label: the pack cannot tell whether it is a migration, which must wait for a pre-deploy backup",
                    "shop-migrate-v2-1-0",
                ],
            ],
        ));
});

describe("policy migration-before-new-version", () => {
    it("passes Deployments that wait for the release's migration", () =>
        assertNoViolations(migrationBeforeNewVersion, canaryOnDatabase()));

    it("asks nothing of a release without a migration", () =>
        assertNoViolations(migrationBeforeNewVersion, canaryStack()));

    it("refuses a Deployment that may roll out before the migration", () =>
        assertViolations(
            migrationBeforeNewVersion,
            mutated(canaryOnDatabase(), "shop-canary-deployment", (_p, r) => (r.dependsOn = [])),
            [["Deployment shop-canary may roll out before the migration", "shop-canary-deployment"]],
        ));

    it("refuses an unlabelled Job, which could be the migration", () =>
        assertViolations(
            migrationBeforeNewVersion,
            mutated(
                canaryOnDatabase(),
                "shop-predeploy-backup-v2-1-0",
                (p) => delete p.metadata.labels[COMPONENT_LABEL],
            ),
            [
                [
                    "Job shop-predeploy-backup-v2-1-0 has no app.kubernetes.io/component label: the pack cannot tell whether it is the release's migration, which the Deployments must wait for",
                    "shop-predeploy-backup-v2-1-0",
                ],
            ],
        ));
});
