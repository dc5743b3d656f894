import * as assert from "assert";
import { compareEdit, kube, namespace, policyConfigWithoutMonitors, timedUp, engineLog } from "./lib/engine";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// The offline preview agrees with the engine on the database edits: the committed production stack with the existing-resource inputs
// (README "Bringing existing resources"), so its Job chain is declared and runs (kwok completes the pods); only
// `monitoring` is dropped. After one `pulumi up`, each edit is previewed by the engine and by the offline preview on
// the same config, compared, and reverted without an up. canary.e2e.ts and bluegreen.e2e.ts compare the traffic edits
// they apply.
const NS = "e2e-agreement";
const SECRETS = {
    app: "premade-db-app",
    migrator: "premade-db-migrator",
    backup: "premade-db-backup",
    drill: "premade-db-drill",
};

function secret(name: string, url: string) {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: NS },
        type: "Opaque",
        stringData: { DATABASE_URL: url },
    };
}

describe("the offline preview agrees with the engine on database edits (production with existing Secrets, bucket and role; no monitoring)", function () {
    let ps: ProjectStack;
    let policyConfig: string;
    const onOutput = engineLog(80);

    before(async function () {
        const k = kube();
        await namespace(k, NS);
        // Test-only URLs for a server that does not exist: the program only reads them (Secret.get) and fingerprints them.
        const url = (role: string, db: string) =>
            `postgresql://${role}:e2e-only@myapp-production.example.internal:5432/${db}?sslmode=verify-full&sslrootcert=/etc/myapp/db-ca/ca.pem`;
        for (const [role, name] of Object.entries(SECRETS)) {
            await k.ensure(
                `/api/v1/namespaces/${NS}/secrets`,
                secret(name, url(`myapp_${role}`, role === "drill" ? "myapp_restore_drill" : "myapp")),
            );
        }
        ps = await projectStack({
            base: "production",
            name: "e2e-agreement",
            drop: ["monitoring"],
            set: {
                "release.namespace": NS,
                ...Object.fromEntries(
                    Object.entries(SECRETS).map(([role, name]) => [`database.existingSecrets.${role}`, name]),
                ),
                "database.fence.appRole": "myapp_app",
                "database.fence.connectRole": "myapp_app_connect",
                "backup.existingBucket.name": "premade-dumps",
                "backup.oidc.roleArn": "arn:aws:iam::123456789012:role/premade-db-backup",
            },
        });
        for (const key of [
            "database.roles",
            "database.maxConnections",
            "database.rds",
            "backup.bucketName",
            "backup.objectLock",
            "backup.oidc.providerArn",
            "backup.oidc.issuerUrl",
        ]) {
            await ps.stack.removeConfig(key, true);
        }
        policyConfig = policyConfigWithoutMonitors(ps, "production");
        measure("agreement.firstDeploy", await timedUp(ps, onOutput));
    });

    const edits: { edit: string; set: Record<string, string>; revert: Record<string, string | null> }[] = [
        {
            edit: "database.toolsImage",
            set: { "database.toolsImage": "registry.example.com/platform/pg-tools:15.9-awscli-2.17.0" },
            revert: { "database.toolsImage": "registry.example.com/platform/pg-tools:15.8-awscli-2.17.0" },
        },
        {
            edit: "database.migration.attempt 2 (the retry command)",
            set: { "database.migration.attempt": "2" },
            revert: { "database.migration.attempt": null },
        },
        {
            edit: "database.restore.key",
            set: { "database.restore.key": "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump" },
            revert: { "database.restore": null },
        },
        {
            edit: "a new canary release v1.2.4",
            // Stable still runs v1.2.2, so that stays release.previousVersion (a rollback returns to what stable runs).
            set: { "release.version": "v1.2.4", "canary.canaryVersion": "v1.2.4" },
            revert: { "release.version": "v1.2.3", "canary.canaryVersion": "v1.2.3" },
        },
        {
            edit: "canary weight 25 with the Job chain declared",
            set: { "canary.weight": "25" },
            revert: { "canary.weight": "5" },
        },
    ];
    // The restore edit is reverted by removing `database.restore`: `pulumi config rm --path database.restore.key`
    // leaves `restore: {}`, which the program refuses ("database.restore.key = (not set)").
    for (const e of edits) {
        it(`${e.edit}: the engine's preview and the offline preview take the same step on each URN and name the same paths`, async function () {
            try {
                const a = await compareEdit(ps, e.edit, e.set, policyConfig, onOutput);
                assert.deepStrictEqual(a.offline, a.engine);
                assert.ok(
                    Object.keys(a.engine.ops).length > 0,
                    "the edit changes something, so agreement is not vacuous",
                );
            } finally {
                for (const [key, value] of Object.entries(e.revert)) {
                    if (value === null) await ps.stack.removeConfig(key, true);
                    else await ps.stack.setConfig(key, { value }, true);
                }
            }
        });
    }
});
