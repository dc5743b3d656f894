import * as assert from "assert";
import { existingResourceStack } from "./lib/existing";
import { kube, engineLog, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { deployments, DeploymentState, jobs } from "./lib/observe";
import { runPrinted } from "./lib/printed";
import { measure } from "./lib/report";
import { ProjectStack } from "./lib/stack";

// failures stop the release. Stacks from the committed files with the README's existing-resource
// inputs, each in its own namespace. kwok (e2e/kwok/stages.yaml) fails a pod whose container image ends in "-fail".

const TOOLS = "registry.example.com/platform/pg-tools:15.8-awscli-2.17.0";
const FAILING_TOOLS = `${TOOLS}-fail`;

/** `pulumi up` that must fail: returns the engine's output and the summary the Automation API read back. */
async function failingUp(ps: ProjectStack): Promise<{ output: string; changes: Record<string, number> | undefined }> {
    let output = "";
    let failed = false;
    await ps.stack
        .up({
            onOutput: (s) => {
                output += s;
            },
        })
        .catch(() => {
            failed = true;
        });
    assert.ok(failed, `pulumi up succeeded:\n${output.slice(-2000)}`);
    const [last] = await ps.stack.history(1);
    assert.strictEqual(last.result, "failed");
    return { output, changes: last.resourceChanges };
}

function withoutStatus(d: Record<string, DeploymentState>) {
    return Object.fromEntries(
        Object.entries(d).map(([n, s]) => [
            n,
            { uid: s.uid, generation: s.generation, image: s.image, template: s.templateHash },
        ]),
    );
}

describe("a failing smoke test on the staging blue/green stack leaves the active Service where it was", function () {
    const NS = "e2e-bg-fail";
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog();

    before(async function () {
        k = kube();
        ps = await existingResourceStack(k, { base: "staging", name: "e2e-bg-fail", namespace: NS });
        const up = await timedUp(ps, onOutput);
        measure("failures.blueGreen.firstDeploy", { changes: up.changes });
    });

    it("releasing v1.2.4 on green and switching to it, with a smoke test that fails: pulumi up fails, the active Service still selects blue", async function () {
        const active = async () => (await k.get(`/api/v1/namespaces/${NS}/services/myapp`)).spec.selector;
        const selectorBefore = await active();
        assert.strictEqual(selectorBefore.color, "blue");
        const blueBefore = (await deployments(k, NS))["myapp-blue"];
        for (const [key, value] of Object.entries({
            "release.version": "v1.2.4",
            "blueGreen.greenVersion": "v1.2.4",
            "blueGreen.smokeTest.image": "registry.example.com/myapp-smoke:v1.2.4-fail",
            "blueGreen.activeColor": "green",
        }))
            await ps.stack.setConfig(key, { value }, true);
        const { output, changes } = await failingUp(ps);
        onOutput(output);
        measure("failures.blueGreen.failingSmokeTest", { changes });

        const j = await jobs(k, NS);
        assert.strictEqual(j["myapp-smoke-green-v1-2-4"]?.outcome, "Failed", JSON.stringify(j));
        assert.deepStrictEqual(await active(), selectorBefore);
        // The new version's pods ran (the smoke test needs them); the outgoing color was not touched.
        const after = await deployments(k, NS);
        assert.strictEqual(after["myapp-green"].image, "registry.example.com/myapp:v1.2.4");
        assert.deepStrictEqual(withoutStatus({ b: after["myapp-blue"] }), withoutStatus({ b: blueBefore }));
        // The preview Service moves only with the active one: it still selects the failed green, so the preview host
        // reaches it for debugging.
        assert.strictEqual(
            (await k.get(`/api/v1/namespaces/${NS}/services/myapp-preview`)).spec.selector.color,
            "green",
        );
    });
});

describe("a failing backup or migration on the production canary stack changes no Deployment; the printed retry works", function () {
    const NS = "e2e-migration-fail";
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog();

    before(async function () {
        k = kube();
        ps = await existingResourceStack(k, { base: "production", name: "e2e-migration-fail", namespace: NS });
        await timedUp(ps, onOutput);
    });

    it("5b: release v1.2.4 with a tools image that fails: pulumi up fails at the pre-deploy backup, no migration runs, no Deployment changed", async function () {
        const before = withoutStatus(await deployments(k, NS));
        await ps.stack.setConfig("release.version", { value: "v1.2.4" }, true);
        await ps.stack.setConfig("canary.canaryVersion", { value: "v1.2.4" }, true);
        await ps.stack.setConfig("database.toolsImage", { value: FAILING_TOOLS }, true);
        const { output, changes } = await failingUp(ps);
        onOutput(output);
        measure("failures.migration.failingToolsImage", { changes });
        const j = await jobs(k, NS);
        // The backup runs the same tools image as the migration and comes first, so it is the Job that fails.
        assert.strictEqual(j["myapp-predeploy-backup-v1-2-4"]?.outcome, "Failed", JSON.stringify(j));
        assert.strictEqual(j["myapp-migrate-expand-v1-2-4"], undefined, "the migration was never created");
        assert.deepStrictEqual(withoutStatus(await deployments(k, NS)), before);
    });

    it("5c: after restoring the tools image, the printed database.retryFailedJob command (attempt 2) releases v1.2.4", async function () {
        await ps.stack.setConfig("database.toolsImage", { value: TOOLS }, true);
        const printed = ((await ps.stack.outputs()).database.value as { retryFailedJob: string }).retryFailedJob;
        assert.strictEqual(
            printed,
            "pulumi config set --stack e2e-migration-fail --path database.migration.attempt 2 && pulumi up --stack e2e-migration-fail",
        );
        const run = await runPrinted(ps, printed, onOutput);
        measure("failures.migration.retry", {
            printed,
            configPart: "real CLI",
            upPart: `Automation API (${ps.mode})`,
            seconds: run.upSeconds,
            changes: run.up.summary.resourceChanges,
        });
        assert.strictEqual(run.up.summary.result, "succeeded");
        const j = await jobs(k, NS);
        assert.strictEqual(j["myapp-predeploy-backup-v1-2-4-a2"]?.outcome, "Complete");
        assert.strictEqual(j["myapp-migrate-expand-v1-2-4-a2"]?.outcome, "Complete");
        assert.strictEqual(j["myapp-predeploy-backup-v1-2-4"], undefined, "the failed backup Job is gone");
        assert.strictEqual((await deployments(k, NS))["myapp-canary"].image, "registry.example.com/myapp:v1.2.4");
    });

    it("5b: a migration that fails (next phase, failing tools image) after its backup: pulumi up fails, no Deployment changed", async function () {
        const before = withoutStatus(await deployments(k, NS));
        const jobsBefore = await jobs(k, NS);
        await ps.stack.setConfig("database.migration.phase", { value: "backfill" }, true);
        await ps.stack.setConfig("database.toolsImage", { value: FAILING_TOOLS }, true);
        // A pod template change the release would roll out once the migration has passed.
        await ps.stack.setConfig("release.env.FEATURE_EMAIL_VERIFICATION", { value: "on" }, true);
        const { output, changes } = await failingUp(ps);
        onOutput(output);
        measure("failures.migration.failingMigration", { changes });
        const j = await jobs(k, NS);
        // The pre-deploy backup of v1.2.4 (attempt 2) already ran for this version: it is the same object.
        assert.strictEqual(
            j["myapp-predeploy-backup-v1-2-4-a2"].uid,
            jobsBefore["myapp-predeploy-backup-v1-2-4-a2"].uid,
        );
        assert.strictEqual(j["myapp-migrate-backfill-v1-2-4-a2"]?.outcome, "Failed", JSON.stringify(j));
        assert.deepStrictEqual(withoutStatus(await deployments(k, NS)), before);
    });

    it("5c: the printed retry (attempt 3) with the tools image restored runs a fresh backup and the migration, then rolls the Deployments", async function () {
        await ps.stack.setConfig("database.toolsImage", { value: TOOLS }, true);
        const printed = ((await ps.stack.outputs()).database.value as { retryFailedJob: string }).retryFailedJob;
        assert.strictEqual(
            printed,
            "pulumi config set --stack e2e-migration-fail --path database.migration.attempt 3 && pulumi up --stack e2e-migration-fail",
        );
        const run = await runPrinted(ps, printed, onOutput);
        measure("failures.migration.retryAfterFailedMigration", {
            seconds: run.upSeconds,
            changes: run.up.summary.resourceChanges,
        });
        assert.strictEqual(run.up.summary.result, "succeeded");
        const j = await jobs(k, NS);
        assert.strictEqual(j["myapp-predeploy-backup-v1-2-4-a3"]?.outcome, "Complete");
        assert.strictEqual(j["myapp-migrate-backfill-v1-2-4-a3"]?.outcome, "Complete");
        const d = await k.get(`/apis/apps/v1/namespaces/${NS}/deployments/myapp-canary`);
        assert.ok(
            d.spec.template.spec.containers[0].env.some(
                (e: any) => e.name === "FEATURE_EMAIL_VERIFICATION" && e.value === "on",
            ),
        );
    });
});
