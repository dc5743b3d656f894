import * as assert from "assert";
import * as path from "path";
import {
    capacitySteps,
    compareEdit,
    eventually,
    kube,
    named,
    namespace,
    opsByName,
    pods,
    policyConfigWithoutMonitors,
    timedUp,
    engineLog,
    withoutFloors,
} from "./lib/engine";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// Issue 10 scenarios 2 (canary steps), 3 (promotion), 7 (offline preview agrees, for these edits) and 8 (the policy
// pack under the engine) on the committed production stack. They are about traffic, so `database`, `backup` and
// `monitoring` are dropped (their providers cannot run here); the stack deploys into a namespace of its own so it
// does not meet deploy.e2e.ts's stack.
const NS = "e2e-canary";
const IMAGE = "registry.example.com/myapp";
const APP = { "app.kubernetes.io/name": "myapp" };
const CANARY_INGRESS = "/apis/networking.k8s.io/v1/namespaces/e2e-canary/ingresses/myapp-canary";

async function weightAnnotation(k: Kube): Promise<string> {
    return (await k.get(CANARY_INGRESS)).metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"];
}

async function deployments(k: Kube): Promise<Record<string, { image: string; ready: string }>> {
    const out: Record<string, { image: string; ready: string }> = {};
    for (const d of await k.list(`/apis/apps/v1/namespaces/${NS}/deployments`)) {
        const s = d.status ?? {};
        out[d.metadata.name] = {
            image: d.spec.template.spec.containers[0].image,
            ready: `${s.readyReplicas ?? 0}/${s.updatedReplicas ?? 0}/${d.spec.replicas}`,
        };
    }
    return out;
}

describe("canary on the engine: weight steps, promotion, the offline preview's agreement, the policy pack (production, no database/backup/monitoring)", function () {
    let ps: ProjectStack;
    let k: Kube;
    let policyConfig: string;
    let resources = 0;
    const onOutput = engineLog(80);
    const shifts: { weight: number; seconds: number; changes: Record<string, number> }[] = [];

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "production",
            name: "e2e-canary",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS },
        });
        policyConfig = policyConfigWithoutMonitors(ps, "production");
        const first = await timedUp(ps, onOutput);
        resources = first.changes.create;
        measure("canary.firstDeploy", first);
        await eventually(60, () => deployments(k), {
            "myapp-canary": { image: `${IMAGE}:v1.2.3`, ready: "2/2/2" },
            "myapp-stable": { image: `${IMAGE}:v1.2.2`, ready: "6/6/6" },
        });
    });

    // 5 -> 25 -> 100 -> 0: the committed stack starts at 5. Each weight is a decision with a capacity step per track;
    // a track that receives traffic first has its autoscaler's minimum raised to its share of the fleet (6 + 2 pods):
    // at 100 the canary to 8; back at 0, stable to the 8 the canary ran.
    for (const [from, weight, floors] of [
        [5, 25, {}],
        [25, 100, { "myapp-canary-hpa": 8 }],
        [100, 0, { "myapp-canary-hpa": 2, "myapp-stable-hpa": 8 }],
    ] as [number, number, Record<string, number>][]) {
        it(`weight ${weight}: the engine and the offline preview name the canary Ingress's weight, the decision's capacity steps and the minimums it raises; pulumi up restarts no pod, the API server holds "${weight}"`, async function () {
            const before = await pods(k, NS, APP);
            const a = await compareEdit(
                ps,
                `canary weight ${weight}`,
                { "canary.weight": String(weight) },
                policyConfig,
                onOutput,
            );
            const raised = Object.fromEntries(Object.keys(floors).map((h) => [h, ["spec.minReplicas"]]));
            assert.deepStrictEqual(named(a.engine), {
                added: capacitySteps(weight),
                removed: capacitySteps(from),
                changed: {
                    "myapp-canary-ingress": ['metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]'],
                    ...raised,
                },
            });
            // A weight and a minimum change in place: updates, never replacements.
            assert.deepStrictEqual(
                Object.fromEntries(
                    Object.entries(opsByName(a.engine)).filter(([, op]) => op !== "create" && op !== "delete"),
                ),
                Object.fromEntries(Object.keys(a.engine.changed).map((name) => [name, "update"])),
            );
            // Back from 100 the offline preview cannot know the canary runs 8 (an earlier shift raised it).
            assert.deepStrictEqual(withoutFloors(a.offline), withoutFloors(a.engine));
            if (weight !== 0) assert.deepStrictEqual(a.offline, a.engine);

            const up = await timedUp(ps, onOutput);
            shifts.push({ weight, seconds: up.seconds, changes: up.changes });
            measure("canary.weightShifts", shifts);
            const n = Object.keys(floors).length;
            assert.deepStrictEqual(up.changes, {
                create: 2,
                delete: 2,
                read: 2,
                update: 1 + n,
                same: resources - 3 - n,
            });
            assert.deepStrictEqual(up.steps, {
                create: capacitySteps(weight),
                delete: capacitySteps(from),
                update: ["myapp-canary-ingress", ...Object.keys(floors)].sort(),
            });
            assert.strictEqual(await weightAnnotation(k), String(weight));
            for (const [hpa, min] of Object.entries(floors)) {
                assert.strictEqual(
                    (
                        await k.get(
                            `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/${hpa.replace(/-hpa$/, "")}`,
                        )
                    ).spec.minReplicas,
                    min,
                );
            }
            const after = await pods(k, NS, APP);
            assert.deepStrictEqual(
                before.all.filter((uid) => !after.all.includes(uid)),
                [],
                "no pod was replaced",
            );
        });
    }

    it("the documented promotion from weight 100 (stableVersion = canaryVersion, weight 0): stable rolls to v1.2.3 with what the canary ran, the canary keeps its pods", async function () {
        await ps.stack.setConfig("canary.weight", { value: "100" }, true);
        await timedUp(ps, onOutput);
        // No metrics server here: the autoscalers keep what the last decisions raised (8 and 8).
        const canaryBefore = await pods(k, NS, { ...APP, track: "canary" });
        const stableBefore = await pods(k, NS, { ...APP, track: "stable" });
        assert.deepStrictEqual([canaryBefore.ready.length, stableBefore.ready.length], [8, 8]);

        const a = await compareEdit(
            ps,
            "promotion",
            { "canary.stableVersion": "v1.2.3", "canary.weight": "0" },
            policyConfig,
            onOutput,
        );
        assert.deepStrictEqual(withoutFloors(a.offline), withoutFloors(a.engine));
        const up = await timedUp(ps, onOutput);
        measure("canary.promotion", up);
        // The stable track's Deployment (image and version labels), its autoscaler (version labels, and its minimum
        // raised to the canary's 8) and budget, the canary's minimum back to 2, and the weight; no Service, since
        // selectors name the track, not the version.
        assert.deepStrictEqual(up.steps, {
            create: capacitySteps(0),
            delete: capacitySteps(100),
            update: [
                "myapp-canary-hpa",
                "myapp-canary-ingress",
                "myapp-stable-deployment",
                "myapp-stable-hpa",
                "myapp-stable-pdb",
            ],
        });
        assert.deepStrictEqual(up.changes, { create: 2, delete: 2, read: 2, update: 5, same: resources - 7 });

        const live = await k.get(`/apis/apps/v1/namespaces/${NS}/deployments/myapp-stable`);
        assert.strictEqual(live.spec.template.spec.containers[0].image, `${IMAGE}:v1.2.3`);
        assert.strictEqual(live.spec.template.metadata.labels["app.kubernetes.io/version"], "v1.2.3");
        await eventually(60, () => deployments(k), {
            "myapp-canary": { image: `${IMAGE}:v1.2.3`, ready: "8/8/8" },
            "myapp-stable": { image: `${IMAGE}:v1.2.3`, ready: "8/8/8" },
        });
        assert.deepStrictEqual(await pods(k, NS, { ...APP, track: "canary" }), canaryBefore);
        const stableAfter = await pods(k, NS, { ...APP, track: "stable" });
        assert.strictEqual(stableAfter.ready.length, 8);
        assert.deepStrictEqual(
            stableAfter.all.filter((uid) => stableBefore.all.includes(uid)),
            [],
            "every stable pod is new",
        );
        assert.strictEqual(await weightAnnotation(k), "0");
    });

    it("the policy pack under the engine passes on the deployed stack (monitors-for-plan-alerts disabled: no monitors here), hpa-on-every-deployment included", async function () {
        const violations: { policy: string; level: string; message: string }[] = [];
        const res = await ps.stack.preview({
            policyPacks: [path.join(ps.workDir, "policy")],
            policyPackConfigs: [policyConfig],
            onOutput,
            onEvent: (e) => {
                if (e.policyEvent)
                    violations.push({
                        policy: e.policyEvent.policyName,
                        level: e.policyEvent.enforcementLevel,
                        message: e.policyEvent.message,
                    });
            },
        });
        measure("canary.policyPass", { violations, changeSummary: res.changeSummary });
        assert.deepStrictEqual(violations, []);
        assert.deepStrictEqual(res.changeSummary, { read: 2, same: resources });
    });

    it("the policy pack under the engine blocks a config edit that breaks a mandatory policy (canary.canaryReplicas = 1: replicas-survive-node-loss)", async function () {
        const a = await compareEdit(
            ps,
            "canaryReplicas 1 (policy violation)",
            { "canary.canaryReplicas": "1" },
            policyConfig,
            onOutput,
        );
        assert.deepStrictEqual(a.offline, a.engine);
        const mandatory: { policy: string; message: string }[] = [];
        let failure = "";
        await ps.stack
            .preview({
                policyPacks: [path.join(ps.workDir, "policy")],
                policyPackConfigs: [policyConfig],
                onOutput,
                onEvent: (e) => {
                    if (e.policyEvent?.enforcementLevel === "mandatory")
                        mandatory.push({
                            policy: e.policyEvent.policyName,
                            message: e.policyEvent.message.trim().split("\n").pop()!,
                        });
                },
            })
            .catch((e) => {
                failure = String(e);
            });
        measure("canary.policyBlock", mandatory);
        assert.deepStrictEqual(mandatory, [
            {
                policy: "replicas-survive-node-loss",
                message: "Deployment myapp-canary runs 1 replica: the loss of one node takes it down",
            },
        ]);
        assert.match(failure, /error: preview failed/);
        await ps.stack.setConfig("canary.canaryReplicas", { value: "2" }, true);
    });
});
