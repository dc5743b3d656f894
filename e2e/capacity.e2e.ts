import * as assert from "assert";
import { eventually, kube, namespace, timedUp, engineLog } from "./lib/engine";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";
import { readyPods, replicaCounts, sampledDuring, scaleAsAutoscaler } from "./lib/traffic";

// Capacity follows traffic, on the engine (issue 17 items 1 and 2): the committed production canary stack (nginx
// router) without `database`, `backup` and `monitoring`, in its own namespace. The harness runs no metrics server:
// the spec plays the autoscaler by writing /scale as kube-controller-manager, and the real HPA controller enforces
// the minimums the program sets.
const NS = "e2e-capacity";
const WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";
const track = (name: string) => ({ "app.kubernetes.io/name": "myapp", track: name });

describe("capacity follows traffic on the engine: the autoscaler's count survives refresh, edits and rotation; a weight moves only onto ready pods for its share (production canary)", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const weight = async () =>
        (await k.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp-canary`)).metadata.annotations[
            WEIGHT
        ] as string;

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "production",
            name: "e2e-capacity",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS },
        });
        await timedUp(ps, onOutput);
        await eventually(60, () => replicaCounts(k, NS), { "myapp-canary": 2, "myapp-stable": 6 });
    });

    it("after the autoscalers grew both tracks, `pulumi refresh`, an unrelated edit and a secret rotation (pods roll) leave every count where the autoscaler put it, sampled throughout", async function () {
        await scaleAsAutoscaler(k, NS, "myapp-stable", 10);
        await scaleAsAutoscaler(k, NS, "myapp-canary", 5);
        await eventually(
            60,
            async () => [await readyPods(k, NS, track("stable")), await readyPods(k, NS, track("canary"))],
            [10, 5],
        );

        const refresh = await ps.stack.refresh({ onOutput });
        assert.strictEqual(refresh.summary.result, "succeeded");
        await ps.stack.setConfig("release.env.FEATURE_EMAIL_VERIFICATION", { value: "on" }, true);
        await ps.stack.setConfig(
            "appSecrets.SENTRY_DSN",
            { value: "https://rotated@sentry.example.com/1", secret: true },
            true,
        );
        const run = await sampledDuring(
            () => replicaCounts(k, NS),
            () => timedUp(ps, onOutput),
        );
        measure("capacity.refreshEditRotation", {
            seconds: run.result.seconds,
            changes: run.result.changes,
            samples: run.samples.length,
        });
        const lowest = (name: string) => Math.min(...run.samples.map((s) => s[name]));
        assert.deepStrictEqual(
            { stable: lowest("myapp-stable"), canary: lowest("myapp-canary") },
            { stable: 10, canary: 5 },
            JSON.stringify(run.samples),
        );
        // The edit and the rotation rolled the pods (the env and the appSecrets checksum are in the pod template).
        const template = (await k.get(`/apis/apps/v1/namespaces/${NS}/deployments/myapp-canary`)).spec.template;
        assert.ok(template.spec.containers[0].env.some((e: any) => e.name === "FEATURE_EMAIL_VERIFICATION"));
        assert.match(template.metadata.annotations["checksum/app-secrets"], /^[0-9a-f]{16}$/);
        await eventually(
            60,
            async () => [await readyPods(k, NS, track("stable")), await readyPods(k, NS, track("canary"))],
            [10, 5],
        );
    });

    it("weight 5 → 100: the canary has ready pods for the whole fleet (10 stable + 5 canary) before the canary Ingress says 100", async function () {
        await ps.stack.setConfig("canary.weight", { value: "100" }, true);
        const run = await sampledDuring(
            async () => ({ weight: await weight(), canaryReady: await readyPods(k, NS, track("canary")) }),
            () => timedUp(ps, onOutput),
        );
        const moved = run.samples.filter((s) => s.weight === "100");
        measure("capacity.shiftTo100", {
            seconds: run.result.seconds,
            changes: run.result.changes,
            samples: run.samples.length,
            firstAt100: moved[0],
        });
        assert.ok(moved.length > 0, "the weight moved");
        assert.ok(
            moved.every((s) => s.canaryReady >= 15),
            `canary ready pods once the weight was 100: ${moved.map((s) => s.canaryReady).join(",")}`,
        );
        const hpa = await k.get(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/myapp-canary`);
        assert.strictEqual(hpa.spec.minReplicas, 15);
    });

    it("promotion (stable v1.2.3, weight 0): stable rolls and has ready pods for the fleet the canary served before the weight returns to 0", async function () {
        await ps.stack.setConfig("canary.stableVersion", { value: "v1.2.3" }, true);
        await ps.stack.setConfig("canary.weight", { value: "0" }, true);
        const run = await sampledDuring(
            async () => ({ weight: await weight(), stableReady: await readyPods(k, NS, track("stable")) }),
            () => timedUp(ps, onOutput),
        );
        const back = run.samples.filter((s) => s.weight === "0");
        measure("capacity.promotion", {
            seconds: run.result.seconds,
            changes: run.result.changes,
            samples: run.samples.length,
            firstAt0: back[0],
        });
        assert.ok(back.length > 0, "the weight moved");
        assert.ok(
            back.every((s) => s.stableReady >= 15),
            `stable ready pods once the weight was 0: ${back.map((s) => s.stableReady).join(",")}`,
        );
        const stable = await k.get(`/apis/apps/v1/namespaces/${NS}/deployments/myapp-stable`);
        assert.strictEqual(stable.spec.template.spec.containers[0].image, "registry.example.com/myapp:v1.2.3");
    });

    it("an `up` with nothing changed moves no floor and plans no change", async function () {
        const preview = await ps.stack.preview({ onOutput });
        measure("capacity.previewAfterPromotion", preview.changeSummary);
        assert.deepStrictEqual(Object.keys(preview.changeSummary).sort(), ["read", "same"]);
    });
});
