import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { createHash } from "crypto";
import * as path from "path";
import { ExistingDatabaseSecrets } from "../../components/database";
import { validateConfig } from "../../lib/config";
import type { PolicyViolation } from "../../lib/plan/types";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { runProgramSync as runProgram } from "../support/programThread";
import { applyProjectConfig, readProject, StackConfig, toRunRequest } from "../../tools/offline/stackConfig";
import { DeclaredResource, ProgramRun } from "../../tools/offline/types";
import { PACK_ENFORCEMENT, policies } from "../../policy/policies";
import { all, at, dependencyNames, find, NOW, PROJECT, ROOT, stackConfig } from "../helpers";

const SECRETS = {
    app: "premade-db-app",
    migrator: "premade-db-migrator",
    backup: "premade-db-backup",
    drill: "premade-db-drill",
};
const BUCKET = "premade-dumps";
const ROLE_ARN = "arn:aws:iam::123456789012:role/premade-db-backup";
const KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9";

/**
 * A committed stack file with the existing-resource inputs the end-to-end harness sets, where only the Kubernetes
 * provider runs: the user's Secrets, bucket and IRSA role, and no monitoring or RDS plan.
 */
function existingStack(stack: string, edit: (database: any, backup: any) => void = () => undefined): StackConfig {
    const config = stackConfig(stack);
    delete config[`${PROJECT}:monitoring`];
    const database = config[`${PROJECT}:database`] as any;
    const backup = config[`${PROJECT}:backup`] as any;
    delete database.rds;
    delete database.roles;
    delete database.maxConnections;
    database.existingSecrets = { ...SECRETS };
    delete backup.bucketName;
    delete backup.objectLock;
    backup.existingBucket = { name: BUCKET };
    backup.oidc = { roleArn: ROLE_ARN };
    edit(database, backup);
    return config;
}

function run(stack: string, config: StackConfig): ProgramRun {
    return runProgram({
        ...toRunRequest(PROJECT, stack, applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), stack, config)),
        now: NOW,
    });
}

const podOf = (r: DeclaredResource) =>
    at(r, r.type.endsWith(":CronJob") ? "spec.jobTemplate.spec.template.spec" : "spec.template.spec");
const envOf = (r: DeclaredResource): any[] => podOf(r).containers[0].env;
const secretRefs = (r: DeclaredResource) =>
    envOf(r)
        .filter((e) => e.valueFrom?.secretKeyRef)
        .map((e) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`);
const envValue = (r: DeclaredResource, name: string) => envOf(r).find((e) => e.name === name)?.value;

const BASE_TYPES = [
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DeploymentPatch",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:batch/v1:Job",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "release:index:AppWorkload",
    "release:index:BackupSchedule",
    "release:index:ExistingDatabaseSecrets",
    "release:index:ReleaseDatabaseJobs",
];

/** Violations other than the missing monitors, which every stack that leaves `monitoring` out reports. */
function withoutMonitoring(violations: PolicyViolation[]): PolicyViolation[] {
    return violations.filter((v) => v.policy !== "monitors-for-plan-alerts");
}

describe("existing resources instead of declared ones", () => {
    const runs: Record<string, ProgramRun> = {};
    before(() => {
        for (const stack of ["staging", "production"]) runs[stack] = run(stack, existingStack(stack));
    });

    for (const [stack, strategy] of [
        ["staging", "release:index:BlueGreenDeployment"],
        ["production", "release:index:CanaryDeployment"],
    ]) {
        it(`${stack}: declares Kubernetes objects and components only: no AWS, PostgreSQL, random or Datadog resource`, () => {
            const types = [...new Set(runs[stack].resources.map((r) => r.type))].sort();
            assert.deepStrictEqual(types, [...BASE_TYPES, strategy].sort());
            assert.deepStrictEqual(
                runs[stack].resources.filter((r) => r.parent === "myapp-db-secrets").map((r) => `${r.type} ${r.name}`),
                [
                    "kubernetes:core/v1:Secret myapp-db-secrets-app",
                    "kubernetes:core/v1:Secret myapp-db-secrets-migrator",
                    "kubernetes:core/v1:Secret myapp-db-secrets-backup",
                    "kubernetes:core/v1:Secret myapp-db-secrets-drill",
                    "kubernetes:core/v1:ConfigMap myapp-db-secrets-ca",
                ],
            );
            // The four Secrets are reads: nothing of theirs is sent to the cluster.
            for (const kind of ["app", "migrator", "backup", "drill"])
                assert.deepStrictEqual(find(runs[stack], ":Secret", `myapp-db-secrets-${kind}`).inputs, {});
        });

        it(`${stack}: the Jobs, CronJobs and Deployments use the given Secrets and bucket, and the ServiceAccount the given role`, () => {
            const r = runs[stack];
            const backup = find(r, ":Job", "myapp-release-db-predeploy-backup-v1-2-3");
            const migration = find(r, ":Job", "myapp-release-db-migrate-expand-v1-2-3");
            const cron = find(r, ":CronJob", "myapp-db-backup-backup");
            const drill = find(r, ":CronJob", "myapp-db-backup-restore-drill");
            assert.deepStrictEqual(secretRefs(backup), [`DATABASE_URL=${SECRETS.backup}/DATABASE_URL`]);
            assert.deepStrictEqual(secretRefs(cron), [`DATABASE_URL=${SECRETS.backup}/DATABASE_URL`]);
            assert.deepStrictEqual(secretRefs(drill), [`DRILL_DATABASE_URL=${SECRETS.drill}/DATABASE_URL`]);
            assert.deepStrictEqual(secretRefs(migration), [`DATABASE_URL=${SECRETS.migrator}/DATABASE_URL`]);
            // The user's migrator acts as whatever owner its own login settings name: the program knows no owner role.
            assert.strictEqual(
                envOf(migration).find((e) => e.name === "MIGRATION_OWNER_ROLE"),
                undefined,
            );
            for (const job of [backup, cron, drill])
                assert.strictEqual(envValue(job, "BACKUP_BUCKET"), BUCKET, job.name);
            for (const job of [backup, cron, drill])
                assert.strictEqual(podOf(job).serviceAccountName, "myapp-db-backup");
            assert.deepStrictEqual(
                at(find(r, ":ServiceAccount", "myapp-db-backup-service-account"), "metadata.annotations"),
                { "eks.amazonaws.com/role-arn": ROLE_ARN },
            );
            for (const d of all(r, ":Deployment")) {
                assert.deepStrictEqual(
                    podOf(d).containers[0].envFrom,
                    [{ secretRef: { name: "myapp-env" } }, { secretRef: { name: SECRETS.app } }],
                    d.name,
                );
                // No URL is known offline; the checksum is the fingerprint of an empty read, a constant.
                assert.strictEqual(
                    at(d, "spec.template.metadata.annotations")["checksum/database-url"],
                    createHash("sha256").update("").digest("hex").slice(0, 16),
                );
            }
        });

        it(`${stack}: keeps the chain backup → migration → Deployments, each waiting for the Secret it reads`, () => {
            const r = runs[stack];
            const node = (name: string) => r.resources.find((x) => x.name === name)!;
            assert.deepStrictEqual(node("myapp-release-db-predeploy-backup-v1-2-3").dependsOn, ["myapp-db-backup"]);
            assert.deepStrictEqual(node("myapp-release-db-migrate-expand-v1-2-3").dependsOn, [
                "myapp-release-db-predeploy-backup-v1-2-3",
            ]);
            const deployments = all(r, ":Deployment");
            assert.strictEqual(deployments.length, 2);
            // Each waits for the Secrets it reads by name: an Output of a Secret in the pod spec would let a change of the
            // Secret's data replace the Deployment (DatabaseAccess.secretRefs).
            for (const d of deployments)
                assert.deepStrictEqual(
                    d.dependsOn,
                    ["myapp-release-db-migrate-expand-v1-2-3", "myapp-env", "myapp-db-secrets-app"],
                    d.name,
                );
            assert.ok(
                dependencyNames(node("myapp-release-db-predeploy-backup-v1-2-3")).includes("myapp-db-secrets-backup"),
            );
            assert.ok(
                dependencyNames(node("myapp-release-db-migrate-expand-v1-2-3")).includes("myapp-db-secrets-migrator"),
            );
            for (const d of deployments) assert.ok(dependencyNames(d).includes("myapp-db-secrets-app"), d.name);
        });

        it(`${stack}: the policy pack, with the stack's committed policy config, reports only the missing monitors`, async () => {
            const config = readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));
            const violations = await runPolicies(runs[stack], policies, config, PACK_ENFORCEMENT);
            assert.deepStrictEqual(withoutMonitoring(violations), []);
            // These stacks leave `monitoring` out: the checklist's "Monitoring configured" is then not proven, and says so.
            assert.ok(
                violations.some((v) => v.message === "no monitor for the plan's alert errorRatePct (Error rate)"),
            );
        });
    }

    it("the plan names the existing bucket the dumps go to", () => {
        const readme = run("production", existingStack("production")).outputs.readme as string;
        assert.ok(
            readme.includes(
                `dumps the database to s3://${BUCKET}/postgres/myapp/<UTC timestamp>-pre-deploy-v1.2.3.dump`,
            ),
            readme,
        );
        assert.ok(!readme.includes("s3://undefined"), "no bucket left unnamed");
    });

    it("runs a restore as the given migrator Secret", () => {
        const r = run(
            "staging",
            existingStack("staging", (database) => {
                database.restore = { key: "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.2.dump" };
                database.fence = { appRole: "premade_app", connectRole: "premade_app_connect" };
            }),
        );
        const restore = all(r, ":Job").find((j) => j.name.startsWith("myapp-release-db-restore-"))!;
        assert.deepStrictEqual(secretRefs(restore), [`DATABASE_URL=${SECRETS.migrator}/DATABASE_URL`]);
        assert.strictEqual(
            envOf(restore).find((e) => e.name === "MIGRATION_OWNER_ROLE"),
            undefined,
        );
        // The roles the restore fences the app out with are config's: the program made none.
        assert.deepStrictEqual(
            [envValue(restore, "FENCE_APP_ROLE"), envValue(restore, "FENCE_CONNECT_ROLE")],
            ["premade_app", "premade_app_connect"],
        );
        assert.strictEqual(envValue(restore, "BACKUP_BUCKET"), BUCKET);
    });

    it("with an existing bucket and the backup role created here, scopes the role to that bucket and its key", () => {
        const r = run(
            "production",
            existingStack("production", (_database, backup) => {
                backup.existingBucket.kmsKeyArn = KEY_ARN;
                backup.oidc = (stackConfig("production")[`${PROJECT}:backup`] as any).oidc;
            }),
        );
        assert.deepStrictEqual(
            [...new Set(r.resources.map((x) => x.type))].filter(
                (t) => !t.startsWith("kubernetes:") && !t.startsWith("release:index:"),
            ),
            ["aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"],
        );
        const statements = JSON.parse(at(find(r, ":RolePolicy", "myapp-db-backup-policy"), "policy")).Statement;
        const resources = Object.fromEntries(statements.map((s: any) => [s.Sid, s.Resource]));
        assert.deepStrictEqual(resources, {
            WriteDumps: `arn:aws:s3:::${BUCKET}/postgres/myapp/*.dump`,
            UseBucketKey: KEY_ARN,
            NeverDelete: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
        });
    });

    it("database-backup-scheduled still requires the restore drill when the stack declares no roles", async () => {
        const r = structuredClone(runs.production);
        r.resources = r.resources.filter((x) => x.name !== "myapp-db-backup-restore-drill");
        const violations = withoutMonitoring(
            await runPolicies(
                r,
                policies,
                readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")),
                PACK_ENFORCEMENT,
            ),
        );
        assert.deepStrictEqual(violations, [
            {
                policy: "database-backup-scheduled",
                level: "mandatory",
                message: "the database has no scheduled restore drill",
                resource: null,
            },
        ]);
    });

    it("database-backup-scheduled reports a backup CronJob that names no bucket", async () => {
        const r = structuredClone(runs.production);
        const cron = find(r, ":CronJob", "myapp-db-backup-backup");
        const container = podOf(cron).containers[0];
        container.env = container.env.filter((e: any) => e.name !== "BACKUP_BUCKET");
        const violations = withoutMonitoring(await runPolicies(r, policies, {}, PACK_ENFORCEMENT));
        assert.deepStrictEqual(violations, [
            {
                policy: "database-backup-scheduled",
                level: "mandatory",
                message: "backup CronJob myapp-db-backup names no bucket: set BACKUP_BUCKET",
                resource: "myapp-db-backup-backup",
            },
        ]);
    });
});

describe("ExistingDatabaseSecrets", () => {
    /** Builds the component under mocks whose reads return `urls` as the Secrets' DATABASE_URL; records reads and creates. */
    async function build(urls: Record<string, string>) {
        const reads: string[] = [];
        const creates: string[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => {
                    if (args.id) {
                        reads.push(`${args.type} ${args.id}`);
                        const name = args.id.split("/")[1];
                        return {
                            id: args.id,
                            state: {
                                metadata: { name },
                                data: { DATABASE_URL: Buffer.from(urls[name]).toString("base64") },
                            },
                        };
                    }
                    creates.push(`${args.type} ${args.name}`);
                    return { id: `${args.name}-id`, state: args.inputs };
                },
                call: () => ({}),
            },
            PROJECT,
            "test",
            false,
        );
        const c = new ExistingDatabaseSecrets("s", { appName: "myapp", namespace: "ns", names: SECRETS });
        const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
        const built = {
            reads,
            creates,
            c,
            checksum: await value(c.checksums.app),
            name: await value(c.secretNames.migrator),
            secret: await pulumi.isSecret(c.checksums.app),
        };
        // The component's outputs are registered after its children resolve: they must reach these mocks, not the next build's.
        await pulumi.runtime.disconnect();
        return built;
    }

    it("reads each Secret by namespace/name and creates none; its checksum follows the URL read", async () => {
        const urls = (password: string) =>
            Object.fromEntries(Object.values(SECRETS).map((n) => [n, `postgresql://u:${password}@db:5432/myapp`]));
        const first = await build(urls("one"));
        assert.deepStrictEqual(
            first.reads,
            Object.values(SECRETS).map((n) => `kubernetes:core/v1:Secret ns/${n}`),
        );
        assert.deepStrictEqual(first.creates, ["release:index:ExistingDatabaseSecrets s"]);
        assert.strictEqual(first.name, SECRETS.migrator);
        assert.strictEqual(first.secret, false, "the checksum is a plain fingerprint, fit for a pod annotation");
        const fingerprint = (url: string) =>
            createHash("sha256").update(Buffer.from(url).toString("base64")).digest("hex").slice(0, 16);
        assert.strictEqual(first.checksum, fingerprint("postgresql://u:one@db:5432/myapp"));
        const rotated = await build(urls("two"));
        assert.strictEqual(rotated.checksum, fingerprint("postgresql://u:two@db:5432/myapp"));
        assert.notStrictEqual(rotated.checksum, first.checksum);
    });
});

describe("existing-resource config validation", () => {
    const errorFor = (stack: string, config: StackConfig) => {
        const raw = Object.fromEntries(
            Object.entries(config)
                .filter(([k]) => k.startsWith(`${PROJECT}:`))
                .map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
        );
        try {
            validateConfig(PROJECT, stack, raw);
        } catch (err) {
            return (err as Error).message;
        }
        throw new Error("accepted");
    };
    const rejects = (config: StackConfig, expected: string[]) => {
        const message = errorFor("production", config);
        assert.deepStrictEqual(
            message.split("\n").slice(1),
            expected.map((e) => `  ${e}`),
        );
    };

    it("accepts the existing inputs on both committed stacks, with or without the key's ARN", () => {
        for (const stack of ["staging", "production"])
            assert.throws(() => errorFor(stack, existingStack(stack)), /accepted/);
        assert.throws(
            () =>
                errorFor(
                    "production",
                    existingStack("production", (_d, b) => (b.existingBucket.kmsKeyArn = KEY_ARN)),
                ),
            /accepted/,
        );
    });

    it("rejects roles, or maxConnections, beside existing Secrets", () =>
        rejects(
            existingStack("production", (database) => {
                database.roles = (stackConfig("production")[`${PROJECT}:database`] as any).roles;
                database.maxConnections = 200;
            }),
            [
                "myapp:database.roles: must be left out with database.existingSecrets: the program creates no roles, the Secrets' URLs decide who connects",
                "myapp:database.maxConnections = 200: must be left out with database.existingSecrets: the program creates no roles, the Secrets' URLs decide who connects",
            ],
        ));

    it("requires roles and maxConnections without existing Secrets", () =>
        rejects(
            existingStack("production", (database) => delete database.existingSecrets),
            [
                "myapp:database.roles = (not set): is required unless database.existingSecrets names Secrets made outside this program",
                "myapp:database.maxConnections = (not set): is required with database.roles: the roles' connection limits must fit in it",
            ],
        ));

    it("wants the roles a restore fences the app out with, which only the user knows", () =>
        rejects(
            existingStack(
                "production",
                (database) => (database.restore = { key: "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.2.dump" }),
            ),
            [
                "myapp:database.fence = (not set): is required with database.existingSecrets and database.restore.key: a restore shuts the app out first, so name the app's login role (appRole) and the role it holds CONNECT through (connectRole)",
            ],
        ));

    it("rejects a drill Secret shared with the app's", () =>
        rejects(
            existingStack("production", (database) => (database.existingSecrets.drill = SECRETS.app)),
            [
                'myapp:database.existingSecrets.drill = "premade-db-app": must differ from existingSecrets.app: the restore drill restores over the database its URL names',
            ],
        ));

    it("rejects a Secret name Kubernetes would refuse", () =>
        assert.ok(
            errorFor(
                "production",
                existingStack("production", (database) => (database.existingSecrets.app = "DB_App")),
            ).includes(
                'myapp:database.existingSecrets.app = "DB_App": must be a Kubernetes object name (lower-case DNS subdomain)',
            ),
        ));

    it("wants exactly one of bucketName and existingBucket", () => {
        rejects(
            existingStack("production", (_d, backup) => (backup.bucketName = "also-this-one")),
            [
                'myapp:backup.bucketName = "also-this-one": must be set, or else backup.existingBucket, but not both: the program creates the bucket named bucketName, or uses existingBucket',
            ],
        );
        rejects(
            existingStack("production", (_d, backup) => delete backup.existingBucket),
            [
                "myapp:backup.bucketName = (not set): must be set, or else backup.existingBucket, but not both: the program creates the bucket named bucketName, or uses existingBucket",
            ],
        );
    });

    it("rejects an object lock on an existing bucket", () =>
        rejects(
            existingStack("production", (_d, backup) => (backup.objectLock = { mode: "GOVERNANCE", days: 30 })),
            [
                "myapp:backup.objectLock: must be left out with backup.existingBucket: object lock is a setting of the existing bucket",
            ],
        ));

    it("wants either the OIDC provider or an existing role", () => {
        const oidc = (stackConfig("production")[`${PROJECT}:backup`] as any).oidc;
        rejects(
            existingStack("production", (_d, backup) => (backup.oidc = { ...oidc, roleArn: ROLE_ARN })),
            [
                `myapp:backup.oidc.providerArn = "${oidc.providerArn}": must be left out with backup.oidc.roleArn: the existing role's trust policy is its own`,
                `myapp:backup.oidc.issuerUrl = "${oidc.issuerUrl}": must be left out with backup.oidc.roleArn: the existing role's trust policy is its own`,
            ],
        );
        rejects(
            existingStack("production", (_d, backup) => (backup.oidc = { issuerUrl: oidc.issuerUrl })),
            [
                "myapp:backup.oidc.providerArn = (not set): is required unless backup.oidc.roleArn names an existing IAM role for the backup ServiceAccount",
                "myapp:backup.existingBucket.kmsKeyArn = (not set): is required when the program creates the backup role (no backup.oidc.roleArn): the role may use only the bucket's key",
            ],
        );
        assert.ok(
            errorFor(
                "production",
                existingStack("production", (_d, backup) => (backup.oidc.roleArn = "backup-role")),
            ).includes(
                'myapp:backup.oidc.roleArn = "backup-role": must be an IAM role ARN, arn:aws:iam::<account>:role/<name>',
            ),
        );
    });

    it("wants the bucket's key for an RDS backup plan, and a key ARN rather than an alias", () => {
        const rds = (stackConfig("production")[`${PROJECT}:database`] as any).rds;
        rejects(
            existingStack("production", (database) => (database.rds = rds)),
            [
                "myapp:backup.existingBucket.kmsKeyArn = (not set): is required with database.rds: the RDS backup vault is encrypted with the bucket's key",
            ],
        );
        assert.ok(
            errorFor(
                "production",
                existingStack(
                    "production",
                    (_d, backup) =>
                        (backup.existingBucket.kmsKeyArn = "arn:aws:kms:us-east-1:123456789012:alias/dumps"),
                ),
            ).includes(
                'myapp:backup.existingBucket.kmsKeyArn = "arn:aws:kms:us-east-1:123456789012:alias/dumps": must be a KMS key ARN',
            ),
        );
    });
});
