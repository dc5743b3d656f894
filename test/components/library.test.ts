import * as k8s from "@pulumi/kubernetes";
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import * as path from "path";
import {
    aliasFormerTypes,
    BackupSchedule,
    DatabaseDumps,
    DatabaseRoles,
    DatabaseRolesArgs,
    ExistingDatabaseSecrets,
    PodVolume,
    RdsBackupPlan,
    ReleaseDatabaseJobs,
    RollingDeployment,
    RollingDeploymentArgs,
} from "../../components/index";
import { captureDeclarations } from "../../tools/offline/capture";
import { at, find, PROJECT, backupScheduleArgs, ROOT } from "../helpers";

// The library as another program uses it: through the barrel, with inputs that are other resources' outputs.
const declareRevealed = (body: () => void) =>
    captureDeclarations({ project: PROJECT, stack: "test", config: {}, secretKeys: [], revealSecrets: true }, () => {
        body();
        return {};
    });

/** The orders service's database roles, on a server at `host`:`port`. */
function ordersRoles(host: pulumi.Input<string>, port: pulumi.Input<number>, sslmode: string): DatabaseRolesArgs {
    const role = (name: string) => ({ name, connectionLimit: 10 });
    return {
        host,
        port,
        database: "orders",
        drillDatabase: "orders_restore_drill",
        sslmode,
        roles: {
            owner: { name: "orders_owner" },
            app: role("orders_app"),
            migrator: role("orders_migrator"),
            backup: role("orders_backup"),
            drill: role("orders_drill"),
        },
        namespace: "orders",
        appName: "orders",
        schemas: ["public"],
    };
}

/** The catalog service's rolling release of v3.1.0 from `image`, behind `tlsSecretName`. */
function catalogRelease(image: pulumi.Input<string>, tlsSecretName: pulumi.Input<string>): RollingDeploymentArgs {
    return {
        template: {
            appName: "catalog",
            namespace: "catalog",
            image,
            containerPort: 8080,
            readinessPath: "/ready",
            livenessPath: "/live",
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
            env: {},
            secretEnvFrom: [],
            maxReplicas: 6,
            targetCpuUtilization: 70,
            drainSeconds: 10,
        },
        version: "v3.1.0",
        replicas: 2,
        maxSurge: 1,
        maxUnavailable: 0,
        progressDeadlineSeconds: 600,
        host: "catalog.example.com",
        ingressClassName: "nginx",
        tlsSecretName,
    };
}

describe("the component library", () => {
    it("loads from its sources in a checkout, built or not, without Node's warning about a package.json main that is not built", () => {
        const components = path.join(ROOT, "components");
        const r = spawnSync(
            process.execPath,
            [
                "--trace-deprecation",
                "-r",
                path.join(ROOT, "lib", "register.js"),
                "-e",
                `process.stdout.write(require.resolve(${JSON.stringify(components)}))`,
            ],
            { encoding: "utf8" },
        );
        assert.deepStrictEqual([r.status, r.stderr, r.stdout], [0, "", path.join(components, "index.ts")]);
    });

    it("takes a database host and port that are outputs of another resource into the connection URLs", async () => {
        const run = await declareRevealed(() => {
            const endpoint = new k8s.core.v1.ConfigMap("endpoint", {
                data: { host: "orders.cluster-x.us-east-1.rds.amazonaws.com", port: "6432" },
            });
            new DatabaseRoles(
                "orders-db",
                ordersRoles(
                    endpoint.data.apply((d) => d.host),
                    endpoint.data.apply((d) => Number(d.port)),
                    "require",
                ),
            );
        });
        const url: string = at(find(run, ":Secret", "orders-db-app-secret"), "stringData.DATABASE_URL");
        // The offline run's RandomPassword result is offline-password(<name>) (tools/offline/capture.ts).
        assert.strictEqual(
            url,
            "postgresql://orders_app:offline-password(orders-db-app-password)@orders.cluster-x.us-east-1.rds.amazonaws.com:6432/orders?sslmode=require",
        );
    });

    it("takes the RDS ARN, subnet group and security groups as outputs", async () => {
        const run = await declareRevealed(() => {
            const db = new k8s.core.v1.ConfigMap("rds", {
                data: { arn: "arn:aws:rds:us-east-1:123456789012:db:orders", subnets: "orders-subnets", sg: "sg-0a" },
            });
            new RdsBackupPlan("orders-rds-backup", {
                kind: "instance",
                arn: db.data.apply((d) => d.arn),
                subnetGroupName: db.data.apply((d) => d.subnets),
                securityGroupIds: [db.data.apply((d) => d.sg)],
                schedule: "cron(0 5 ? * * *)",
                restoreTestSchedule: "cron(0 6 ? * SUN *)",
                retentionDays: 35,
                kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/x",
                namePrefix: "orders-production",
                tags: {},
            });
        });
        const selection = find(run, ":RestoreTestingSelection", "orders-rds-backup-restore-testing-selection");
        assert.deepStrictEqual(at(selection, "protectedResourceArns"), [
            "arn:aws:rds:us-east-1:123456789012:db:orders",
        ]);
        assert.deepStrictEqual(at(selection, "restoreMetadataOverrides"), {
            dbSubnetGroupName: "orders-subnets",
            vpcSecurityGroupIds: '["sg-0a"]',
        });
    });

    it("takes an image repository and a TLS Secret name that are outputs (an ECR repository, a certificate's Secret)", async () => {
        const run = await declareRevealed(() => {
            const outputs = new k8s.core.v1.ConfigMap("outputs", {
                data: { repositoryUrl: "123456789012.dkr.ecr.us-east-1.amazonaws.com/catalog", tls: "catalog-tls" },
            });
            new RollingDeployment(
                "catalog",
                catalogRelease(
                    outputs.data.apply((d) => d.repositoryUrl),
                    outputs.data.apply((d) => d.tls),
                ),
            );
        });
        assert.strictEqual(
            at(find(run, ":Deployment", "catalog-app-deployment"), "spec.template.spec.containers")[0].image,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/catalog:v3.1.0",
        );
        assert.deepStrictEqual(at(find(run, ":Ingress", "catalog-ingress"), "spec.tls"), [
            { hosts: ["catalog.example.com"], secretName: "catalog-tls" },
        ]);
    });

    it("mounts the database CA bundle in /etc/db-ca, which the URLs name, unless caMountPath names another directory", async () => {
        const volumes: PodVolume[] = [];
        const run = await declareRevealed(() => {
            const roles = new DatabaseRoles("orders-db", {
                ...ordersRoles("orders.internal", 5432, "verify-full"),
                caBundle: "-----BEGIN CERTIFICATE-----",
            });
            const existing = new ExistingDatabaseSecrets("billing-db", {
                appName: "billing",
                namespace: "billing",
                names: {
                    app: "billing-app",
                    migrator: "billing-migrator",
                    backup: "billing-backup",
                    drill: "billing-drill",
                },
                caBundle: "-----BEGIN CERTIFICATE-----",
                caMountPath: "/etc/billing/db-ca",
            });
            volumes.push(roles.caVolume!, existing.caVolume!);
        });
        assert.deepStrictEqual(
            volumes.map((v) => v.mount),
            [
                { name: "db-ca", mountPath: "/etc/db-ca", readOnly: true },
                { name: "db-ca", mountPath: "/etc/billing/db-ca", readOnly: true },
            ],
        );
        assert.strictEqual(
            at(find(run, ":Secret", "orders-db-app-secret"), "stringData.DATABASE_URL"),
            "postgresql://orders_app:offline-password(orders-db-app-password)@orders.internal:5432/orders?sslmode=verify-full&sslrootcert=/etc/db-ca/ca.pem",
        );
    });

    it("gives its components no alias from another type until the program names its former types, nested components and the live objects' other strategies included", async () => {
        const aliased = (withFormer: boolean) =>
            declareRevealed(() => {
                if (withFormer) aliasFormerTypes("orders:deploy");
                new RollingDeployment("catalog", catalogRelease("registry.example.com/catalog", "catalog-tls"));
            }).then((run) =>
                run.resources.flatMap((r) => {
                    // The Kubernetes SDK's own aliases, a kind's other API versions, are left out.
                    const aliases = r.aliases?.filter((a) => !a.type?.startsWith("kubernetes:")) ?? [];
                    return aliases.length > 0 ? [[r.type, r.name, aliases]] : [];
                }),
            );
        const parent = (module: string, strategy: string) => `urn:pulumi:test::myapp::${module}:${strategy}::catalog`;
        assert.deepStrictEqual(await aliased(false), [
            [
                "kubernetes:core/v1:Service",
                "catalog-live",
                [
                    { parent: parent("release:index", "BlueGreenDeployment") },
                    { parent: parent("release:index", "CanaryDeployment") },
                ],
            ],
            [
                "kubernetes:networking.k8s.io/v1:Ingress",
                "catalog-ingress",
                [
                    { parent: parent("release:index", "BlueGreenDeployment") },
                    { parent: parent("release:index", "BlueGreenDeployment"), name: "catalog-live-ingress" },
                    { parent: parent("release:index", "CanaryDeployment") },
                ],
            ],
        ]);
        assert.deepStrictEqual(await aliased(true), [
            ["release:index:RollingDeployment", "catalog", [{ type: "orders:deploy:RollingDeployment" }]],
            ["release:index:AppWorkload", "catalog-app", [{ type: "orders:deploy:AppWorkload" }]],
            [
                "kubernetes:core/v1:Service",
                "catalog-live",
                [
                    { parent: parent("release:index", "BlueGreenDeployment") },
                    { parent: parent("orders:deploy", "BlueGreenDeployment") },
                    { parent: parent("release:index", "CanaryDeployment") },
                    { parent: parent("orders:deploy", "CanaryDeployment") },
                ],
            ],
            [
                "kubernetes:networking.k8s.io/v1:Ingress",
                "catalog-ingress",
                [
                    { parent: parent("release:index", "BlueGreenDeployment") },
                    { parent: parent("release:index", "BlueGreenDeployment"), name: "catalog-live-ingress" },
                    { parent: parent("orders:deploy", "BlueGreenDeployment") },
                    { parent: parent("orders:deploy", "BlueGreenDeployment"), name: "catalog-live-ingress" },
                    { parent: parent("release:index", "CanaryDeployment") },
                    { parent: parent("orders:deploy", "CanaryDeployment") },
                ],
            ],
        ]);
    });

    it("trusts the OIDC provider of a cluster whose ARN and issuer are outputs (an EKS cluster)", async () => {
        const run = await declareRevealed(() => {
            const cluster = new k8s.core.v1.ConfigMap("cluster", {
                data: {
                    providerArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
                    issuer: "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
                },
            });
            const secret = (kind: string) =>
                new k8s.core.v1.Secret(`s-${kind}`, {
                    metadata: { name: `orders-db-${kind}` },
                    stringData: { DATABASE_URL: "x" },
                }).metadata.name;
            new BackupSchedule(
                "orders-db-backup",
                backupScheduleArgs(
                    "orders",
                    {
                        oidc: {
                            providerArn: cluster.data.apply((d) => d.providerArn),
                            issuerUrl: cluster.data.apply((d) => d.issuer),
                        },
                        bucketArn: "arn:aws:s3:::orders-dumps",
                        keyArn: "arn:aws:kms:us-east-1:123456789012:key/x",
                    },
                    secret,
                ),
            );
        });
        const trust = JSON.parse(at(find(run, ":Role", "orders-db-backup-role"), "assumeRolePolicy"));
        assert.deepStrictEqual(trust.Statement[0].Principal, {
            Federated: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
        });
        assert.deepStrictEqual(trust.Statement[0].Condition, {
            StringEquals: {
                "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:orders:orders-db-backup",
                "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
            },
        });
    });

    it("runs a release's database Jobs on any DatabaseDumps, not only a BackupSchedule", async () => {
        /** Dumps made by a team's own tool: its pods, no CronJob, no ConfigMap of this library's scripts. */
        class VendorDumps extends pulumi.ComponentResource implements DatabaseDumps {
            public readonly prefix = "vendor/orders";
            constructor(name: string) {
                super("test:index:VendorDumps", name);
                this.registerOutputs({});
            }
            backupPod(label: string, labels: Record<string, string>) {
                return {
                    metadata: { labels },
                    spec: {
                        restartPolicy: "Never",
                        containers: [
                            { name: "dump", image: "registry.example.com/vendor-dump:2.4.0", args: ["--label", label] },
                        ],
                    },
                };
            }
            restorePod(
                restore: { key: string },
                _secret: pulumi.Input<string>,
                _owner: string | undefined,
                _fence: unknown,
                labels: Record<string, string>,
            ) {
                return {
                    metadata: { labels },
                    spec: {
                        restartPolicy: "Never",
                        containers: [
                            {
                                name: "restore",
                                image: "registry.example.com/vendor-dump:2.4.0",
                                args: ["--restore", restore.key],
                            },
                        ],
                    },
                };
            }
        }
        const run = await declareRevealed(() => {
            const dumps = new VendorDumps("vendor");
            new ReleaseDatabaseJobs("orders-release-db", {
                appName: "orders",
                namespace: "orders",
                version: "v2.0.0",
                previousVersion: "v1.9.0",
                backups: dumps,
                migratorSecret: "orders-db-migrator",
                migration: {
                    kind: "sql",
                    migrations: [
                        {
                            version: "001_orders_add_note",
                            up: "ALTER TABLE orders ADD COLUMN note text;",
                            down: "ALTER TABLE orders DROP COLUMN note;",
                        },
                    ],
                    toolsImage: "registry.example.com/pg-tools:15",
                    runner: { "migrate-sql.sh": "#!/bin/sh\n" },
                },
                phase: "expand",
                direction: "up",
                downSteps: 1,
                migrationDeadlineSeconds: 600,
                lockRetrySeconds: 300,
                backoffLimit: 0,
                backupDeadlineSeconds: 1800,
                attempt: 1,
            });
        });
        const backup = find(run, ":Job", "orders-release-db-predeploy-backup-v2-0-0");
        assert.deepStrictEqual(at(backup, "spec.template.spec.containers")[0], {
            name: "dump",
            image: "registry.example.com/vendor-dump:2.4.0",
            args: ["--label", "pre-deploy-v2.0.0"],
        });
        assert.deepStrictEqual(backup.dependsOn, ["vendor"]);
        assert.deepStrictEqual(find(run, ":Job", "orders-release-db-migrate-expand-v2-0-0").dependsOn, [
            "orders-release-db-predeploy-backup-v2-0-0",
        ]);
        // The SQL migration needs nothing from the dumps: its runner and files come from the release's own ConfigMap.
        const volumes = at(find(run, ":Job", "orders-release-db-migrate-expand-v2-0-0"), "spec.template.spec.volumes");
        assert.deepStrictEqual(
            volumes.filter((v: any) => v.configMap).map((v: any) => [v.name, v.configMap.name]),
            [
                ["scripts", "orders-migrate-expand-v2-0-0"],
                ["migrations", "orders-migrate-expand-v2-0-0"],
            ],
        );
    });
});
