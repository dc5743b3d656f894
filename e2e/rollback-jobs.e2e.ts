import * as assert from "assert";
import { existingResourceStack } from "./lib/existing";
import { kube, engineLog, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { jobs, podUids } from "./lib/observe";
import { runPrinted } from "./lib/printed";
import { measure } from "./lib/report";
import { ProjectStack } from "./lib/stack";
import { sampledDuring } from "./lib/traffic";

// The printed rollback from a state a release Job holds up (issue 17 item 3): the production canary stack with the
// README's existing-resource inputs, so the backup and migration Jobs run; kwok fails a pod whose image ends in -fail,
// and a pod that requests more ephemeral storage than a node has stays Pending.
const NS = "e2e-rollback-jobs";
const TOOLS = "registry.example.com/platform/pg-tools:15.8-awscli-2.17.0";
const WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";

describe("the printed rollback from a failed or stuck release Job: one command, one up, in seconds (production canary with database Jobs)", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const weight = async () =>
        (await k.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp-canary`)).metadata.annotations[
            WEIGHT
        ] as string;
    const set = async (values: Record<string, string>) => {
        for (const [key, value] of Object.entries(values)) await ps.stack.setConfig(key, { value }, true);
    };
    const rollback = async () => (await ps.stack.outputs()).rollback.value as string;

    /** Runs the printed rollback, timing the `pulumi up` and when the canary Ingress's weight reached 0. */
    async function rollBack(label: string) {
        const printed = await rollback();
        assert.strictEqual(
            printed,
            "pulumi config set --stack e2e-rollback-jobs --path canary.weight 0 && pulumi config set --stack e2e-rollback-jobs --path release.version v1.2.2 && pulumi up --stack e2e-rollback-jobs",
        );
        const t0 = Date.now();
        let backAt: number | undefined;
        const run = await sampledDuring(
            async () => {
                const w = await weight();
                if (w === "0") backAt ??= Date.now();
                return w;
            },
            () => runPrinted(ps, printed, onOutput),
        );
        measure(`rollbackJobs.${label}`, {
            printed,
            upSeconds: run.result.upSeconds,
            secondsToWeight0: backAt && (backAt - t0) / 1000,
            changes: run.result.up.summary.resourceChanges,
        });
        assert.strictEqual(run.result.up.summary.result, "succeeded");
        assert.strictEqual(await weight(), "0");
        return run.result;
    }

    before(async function () {
        k = kube();
        ps = await existingResourceStack(k, { base: "production", name: "e2e-rollback-jobs", namespace: NS });
        await timedUp(ps, onOutput);
        await set({ "canary.weight": "25" });
        await timedUp(ps, onOutput);
        assert.strictEqual(await weight(), "25");
    });

    it("a backfill migration fails while the canary takes 25%: the up fails and the Job stays Failed in state; the printed rollback moves the weight to 0 in one up and removes the failed Job", async function () {
        await set({ "database.migration.phase": "backfill", "database.toolsImage": `${TOOLS}-fail` });
        let failed = false;
        await ps.stack.up({ onOutput }).catch(() => (failed = true));
        assert.ok(failed, "the failing migration did not fail the up");
        assert.strictEqual((await jobs(k, NS))["myapp-migrate-backfill-v1-2-3"]?.outcome, "Failed");
        assert.strictEqual(await weight(), "25");
        const pods = await podUids(k, NS, "app.kubernetes.io/name=myapp");

        await rollBack("afterFailedMigration");
        const after = await jobs(k, NS);
        assert.deepStrictEqual(
            Object.keys(after),
            [],
            `a rollback runs and keeps no release Job: ${JSON.stringify(after)}`,
        );
        // Stable may gain pods (its minimum rises to the 8 the fleet ran); no pod is replaced.
        const podsAfter = await podUids(k, NS, "app.kubernetes.io/name=myapp");
        for (const [name, uid] of Object.entries(pods))
            assert.strictEqual(podsAfter[name], uid, `${name} was replaced`);
        assert.strictEqual(
            await rollback(),
            "none needed: the canary carries no traffic (canary.weight 0) and stable runs the previous version",
        );
    });

    it("back to the release (attempt 2, tools image fixed): the backfill runs and the canary takes 25% again", async function () {
        await set({
            "release.version": "v1.2.3",
            "database.toolsImage": TOOLS,
            "database.migration.attempt": "2",
            "canary.weight": "25",
        });
        const up = await timedUp(ps, onOutput);
        measure("rollbackJobs.forwardAgain", { seconds: up.seconds, changes: up.changes });
        const j = await jobs(k, NS);
        assert.strictEqual(j["myapp-migrate-backfill-v1-2-3-a2"]?.outcome, "Complete");
        assert.strictEqual(await weight(), "25");
    });

    it("a backup Job stuck Pending (its scratch space fits no node) holds the up; after interrupting it, the printed rollback moves the weight to 0 in one up without waiting for the Job", async function () {
        // 2Ti of scratch: the kwok nodes offer 1Ti of ephemeral storage, so the scheduler never places the pod.
        await set({ "database.migration.attempt": "3", "backup.scratchSize": "2Ti" });
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), 20_000);
        let failed = false;
        await ps.stack.up({ onOutput, signal: abort.signal }).catch(() => (failed = true));
        clearTimeout(timer);
        assert.ok(failed, "the up with a Pending backup ended by itself");
        const pending = (await jobs(k, NS))["myapp-predeploy-backup-v1-2-3-a3"];
        assert.strictEqual(pending?.outcome, "running", JSON.stringify(pending));
        assert.strictEqual(await weight(), "25");

        await rollBack("afterStuckBackup");
        assert.strictEqual((await jobs(k, NS))["myapp-predeploy-backup-v1-2-3-a3"], undefined, "the stuck Job is gone");
    });
});
