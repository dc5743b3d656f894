import * as assert from "assert";
import { existingResourceStack } from "./lib/existing";
import { kube, engineLog, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { jobs, podUids } from "./lib/observe";
import { runPrinted } from "./lib/printed";
import { measure } from "./lib/report";
import { ProjectStack } from "./lib/stack";

// `pulumi stack output rollback`, run exactly as printed, rolls back. The stack is the committed
// production canary stack (nginx router) with the README's existing-resource inputs, in its own namespace.
//
// How the printed command runs here: it is `pulumi config set --stack <s> --path canary.weight 0 && pulumi config set
// --stack <s> --path release.version v1.2.2 && pulumi up --stack <s>`. The config part runs in bash exactly as printed, with the real CLI, in the stack's program directory and with
// the stack's file backend and passphrase. The `pulumi up` part needs the Node.js language host, which the Go module
// proxy refuses to serve, so it runs as the Automation API's `up` of the same stack (same CLI, engine, provider and
// stack file; the program served inline). With pulumi-language-nodejs on PATH it runs as printed (e2e/lib/printed.ts).
const NS = "e2e-rollback";
const WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";

describe("the printed rollback command rolls the production canary back", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog();
    const weight = async () =>
        (await k.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp-canary`)).metadata.annotations[
            WEIGHT
        ];
    const rollback = async () => (await ps.stack.outputs()).rollback.value as string;
    let pods: Record<string, string>;

    before(async function () {
        k = kube();
        ps = await existingResourceStack(k, { base: "production", name: "e2e-rollback", namespace: NS });
        await timedUp(ps, onOutput);
    });

    it("a weight shift to 25 updates only the canary Ingress", async function () {
        assert.strictEqual(await weight(), "5");
        pods = await podUids(k, NS, "app.kubernetes.io/name=myapp");
        await ps.stack.setConfig("canary.weight", { value: "25" }, true);
        const t0 = Date.now();
        const res = await ps.stack.up({ onOutput });
        const seconds = (Date.now() - t0) / 1000;
        measure("rollback.weightShiftUp", { from: 5, to: 25, seconds, changes: res.summary.resourceChanges });
        assert.strictEqual(res.summary.result, "succeeded");
        assert.strictEqual(res.summary.resourceChanges?.update, 1, JSON.stringify(res.summary.resourceChanges));
        assert.strictEqual(await weight(), "25");
        assert.deepStrictEqual(await podUids(k, NS, "app.kubernetes.io/name=myapp"), pods);
    });

    it("`pulumi stack output rollback` prints weight 0 and the release back to v1.2.2; run as printed, stable is raised to the fleet's 8 pods, the API server holds weight 0, no pod restarts", async function () {
        const printed = await rollback();
        assert.strictEqual(
            printed,
            "pulumi config set --stack e2e-rollback --path canary.weight 0 && pulumi config set --stack e2e-rollback --path release.version v1.2.2 && pulumi up --stack e2e-rollback",
        );
        const run = await runPrinted(ps, printed, onOutput);
        measure("rollback.rollbackUp", {
            printed,
            configPart: "bash, real CLI, exactly as printed",
            upPart:
                ps.mode === "local"
                    ? "as printed (--yes --skip-preview)"
                    : "Automation API up of the same stack (inline program)",
            seconds: run.upSeconds,
            changes: run.up.summary.resourceChanges,
        });
        assert.strictEqual(run.up.summary.result, "succeeded");
        // The canary Ingress's weight and stable's autoscaler minimum (6 + 2 pods served before the rollback).
        assert.strictEqual(run.up.summary.resourceChanges?.update, 2, JSON.stringify(run.up.summary.resourceChanges));
        assert.strictEqual(await weight(), "0");
        assert.strictEqual(
            (await k.get(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/myapp-stable`)).spec
                .minReplicas,
            8,
        );
        // The stable Service still selects the stable track; the canary keeps running for a forward fix or a retry.
        assert.strictEqual((await k.get(`/api/v1/namespaces/${NS}/services/myapp`)).spec.selector.track, "stable");
        const after = await podUids(k, NS, "app.kubernetes.io/name=myapp");
        for (const [name, uid] of Object.entries(pods)) assert.strictEqual(after[name], uid, `${name} was replaced`);
        // A rollback runs no database Job and waits for none: the release's Jobs are no longer declared.
        assert.deepStrictEqual(await jobs(k, NS), {});
        // Back at weight 0 with stable on the previous version there is nothing left to roll back.
        assert.strictEqual(
            await rollback(),
            "none needed: the canary carries no traffic (canary.weight 0) and stable runs the previous version",
        );
    });
});
