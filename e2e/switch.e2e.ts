import * as assert from "assert";
import { eventually, kube, labelSelector, namespace, timedUp, engineLog } from "./lib/engine";
import { Kube } from "./lib/kube";
import { jobs } from "./lib/observe";
import { runPrinted } from "./lib/printed";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";
import { readyPods, replicaCounts, sampledDuring, scaleAsAutoscaler } from "./lib/traffic";

// A blue/green switch on the engine (issue 17 items 1, 4 and 5): the committed staging stack without `database`,
// `backup` and `monitoring`, in its own namespace; the smoke-test Jobs run (kwok completes them, fails an image ending
// in -fail, and fails one ending in -flaky unless its Job is a retry: e2e/kwok/stages.yaml).
const NS = "e2e-switch";
const color = (c: string) => ({ "app.kubernetes.io/name": "myapp", color: c });

describe("blue/green switch on the engine: the incoming color's ready pods for what the active color runs, proven at every switch; the smoke test's retry (staging)", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const activeColor = async () =>
        (await k.get(`/api/v1/namespaces/${NS}/services/myapp`)).spec.selector.color as string;
    const sample = async () => {
        const c = await activeColor();
        return { color: c, ready: await readyPods(k, NS, color(c)) };
    };

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "staging",
            name: "e2e-switch",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS },
        });
        await timedUp(ps, onOutput);
        await eventually(60, () => replicaCounts(k, NS), { "myapp-blue": 2, "myapp-green": 2 });
    });

    it("switch to green after the autoscaler grew active blue to 5: green has 5 ready pods before the active Service selects it", async function () {
        await scaleAsAutoscaler(k, NS, "myapp-blue", 5);
        await eventually(60, () => readyPods(k, NS, color("blue")), 5);
        await ps.stack.setConfig("blueGreen.activeColor", { value: "green" }, true);
        const run = await sampledDuring(sample, () => timedUp(ps, onOutput));
        const onGreen = run.samples.filter((s) => s.color === "green");
        measure("switch.toGreenAfterAutoscaling", {
            seconds: run.result.seconds,
            changes: run.result.changes,
            samples: run.samples.length,
            firstOnGreen: onGreen[0],
        });
        assert.ok(onGreen.length > 0, "the selector moved");
        assert.ok(
            run.samples.every((s) => s.ready >= 5),
            `ready pods behind the active Service: ${run.samples.map((s) => `${s.color}:${s.ready}`).join(",")}`,
        );
        assert.strictEqual(
            (await k.get(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/myapp-green`)).spec
                .minReplicas,
            5,
        );
    });

    it("switch back to blue, whose pods have all gone NotReady though its Deployment is unchanged: pulumi up waits for them and the active Service stays on green", async function () {
        // What a failing readiness probe does: the kubelet sets Ready=False on the pods (kwok leaves Running pods alone).
        for (const p of await k.list(`/api/v1/namespaces/${NS}/pods?labelSelector=${labelSelector(color("blue"))}`)) {
            const conditions = p.status.conditions.map((c: any) =>
                c.type === "Ready" || c.type === "ContainersReady" ? { ...c, status: "False" } : c,
            );
            await k.request(
                "PATCH",
                `/api/v1/namespaces/${NS}/pods/${p.metadata.name}/status`,
                { status: { conditions } },
                "application/merge-patch+json",
            );
        }
        await eventually(30, () => readyPods(k, NS, color("blue")), 0);
        await ps.stack.setConfig("blueGreen.activeColor", { value: "blue" }, true);
        const abort = new AbortController();
        const colors: string[] = [];
        let failed = false;
        const watch = setInterval(() => void activeColor().then((c) => colors.push(c)), 250);
        const timer = setTimeout(() => abort.abort(), 25_000);
        try {
            await ps.stack.up({ onOutput, signal: abort.signal });
        } catch {
            failed = true;
        } finally {
            clearTimeout(timer);
            clearInterval(watch);
        }
        measure("switch.toNotReadyPreview", { aborted: abort.signal.aborted, samples: colors.length });
        assert.ok(failed, "pulumi up did not report success");
        assert.ok(colors.length > 20 && colors.every((c) => c === "green"), colors.join(","));
        assert.strictEqual(await activeColor(), "green");
    });

    it("once blue's pods are ready again, the same up switches", async function () {
        for (const p of await k.list(`/api/v1/namespaces/${NS}/pods?labelSelector=${labelSelector(color("blue"))}`)) {
            const conditions = p.status.conditions.map((c: any) =>
                c.type === "Ready" || c.type === "ContainersReady" ? { ...c, status: "True" } : c,
            );
            await k.request(
                "PATCH",
                `/api/v1/namespaces/${NS}/pods/${p.metadata.name}/status`,
                { status: { conditions } },
                "application/merge-patch+json",
            );
        }
        const up = await timedUp(ps, onOutput);
        measure("switch.backToBlue", { seconds: up.seconds, changes: up.changes });
        assert.strictEqual(await activeColor(), "blue");
    });

    it("a flaky smoke test of the new version on the preview color fails the up; the printed retry runs it again as a new Job, and it passes", async function () {
        // The next release: v1.2.4 on the preview color (green), with blue active on v1.2.2.
        for (const [key, value] of Object.entries({
            "release.version": "v1.2.4",
            "blueGreen.greenVersion": "v1.2.4",
            "blueGreen.smokeTest.image": "registry.example.com/myapp-smoke:v1.2.4-flaky",
        }))
            await ps.stack.setConfig(key, { value }, true);
        let failed = "";
        await ps.stack.up({ onOutput }).catch((e: Error) => (failed = e.message));
        assert.ok(failed, "the first smoke test passed");
        const first = await jobs(k, NS);
        assert.strictEqual(
            first["myapp-smoke-green-v1-2-4"]?.outcome,
            "Failed",
            `${JSON.stringify(first)}\n${failed.slice(-3000)}`,
        );

        const printed = (await ps.stack.outputs()).traffic.value.retrySmokeTest as string;
        assert.strictEqual(
            printed,
            "pulumi config set --stack e2e-switch --path blueGreen.smokeTest.attempt 2 && pulumi up --stack e2e-switch",
        );
        const run = await runPrinted(ps, printed, onOutput);
        measure("switch.smokeRetry", { printed, seconds: run.upSeconds, changes: run.up.summary.resourceChanges });
        assert.strictEqual(run.up.summary.result, "succeeded");
        const after = await jobs(k, NS);
        assert.strictEqual(after["myapp-smoke-green-v1-2-4-a2"]?.outcome, "Complete");
        assert.strictEqual(after["myapp-smoke-green-v1-2-4"], undefined, "the failed Job is gone");
        assert.strictEqual(await activeColor(), "blue");
    });
});
