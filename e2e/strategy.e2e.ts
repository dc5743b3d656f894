import * as assert from "assert";
import { eventually, kube, namespace, timedUp, engineLog, UpResult } from "./lib/engine";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";
import { readyPods, replicaCounts, sampledDuring } from "./lib/traffic";

// A change of strategy on the engine (issue 17 item 7): the committed staging stack (blue/green) without `database`,
// `backup` and `monitoring`, moved to canary and then to rolling. The app's Service and Ingress are the same Kubernetes
// objects throughout: the engine updates them through their aliases instead of creating new ones and deleting the old.
const NS = "e2e-strategy";

describe("a change of strategy keeps the app's Service and Ingress: blue/green → canary → rolling (staging)", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const service = () => k.request("GET", `/api/v1/namespaces/${NS}/services/myapp`);
    const uids = async () => ({
        service: (await k.get(`/api/v1/namespaces/${NS}/services/myapp`)).metadata.uid as string,
        ingress: (await k.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp`)).metadata.uid as string,
    });
    let first: { service: string; ingress: string };

    /** `pulumi up` sampled every 200 ms: the app's Service must exist and select ready pods throughout. */
    async function changeStrategy(label: string): Promise<UpResult> {
        const run = await sampledDuring(
            async () => {
                const res = await service();
                return res.status === 200 ? await readyPods(k, NS, res.body.spec.selector) : -1;
            },
            () => timedUp(ps, onOutput),
        );
        measure(`strategy.${label}`, {
            seconds: run.result.seconds,
            changes: run.result.changes,
            steps: run.result.steps,
            minReadyBehindService: Math.min(...run.samples),
            samples: run.samples.length,
        });
        assert.ok(
            !(run.result.steps.delete ?? []).some((n) => n === "myapp-live" || n === "myapp-ingress"),
            JSON.stringify(run.result.steps),
        );
        assert.ok(
            !(run.result.steps.create ?? []).some((n) => n === "myapp-live" || n === "myapp-ingress"),
            JSON.stringify(run.result.steps),
        );
        assert.ok(
            Math.min(...run.samples) >= 2,
            `ready pods behind the app's Service (-1: no Service): ${run.samples.join(",")}`,
        );
        assert.deepStrictEqual(await uids(), first, "the app's Service and Ingress are the same objects");
        return run.result;
    }

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "staging",
            name: "e2e-strategy",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS },
        });
        await timedUp(ps, onOutput);
        first = await uids();
    });

    it("blue/green → canary: the app's Service moves from blue to the new stable track once its pods are ready; nothing deletes it", async function () {
        for (const [key, value] of Object.entries({
            strategy: "canary",
            "canary.stableVersion": "v1.2.2",
            "canary.canaryVersion": "v1.2.3",
            "canary.weight": "0",
            "canary.steps[0]": "5",
            "canary.steps[1]": "25",
            "canary.steps[2]": "100",
            "canary.router": "nginx",
        }))
            await ps.stack.setConfig(key, { value }, key !== "strategy");
        await changeStrategy("blueGreenToCanary");
        assert.strictEqual((await k.get(`/api/v1/namespaces/${NS}/services/myapp`)).spec.selector.track, "stable");
        await eventually(60, () => replicaCounts(k, NS), { "myapp-canary": 2, "myapp-stable": 2 });
    });

    it("canary → rolling: the same Service and Ingress front the rolling Deployment", async function () {
        await ps.stack.setConfig("strategy", { value: "rolling" });
        await changeStrategy("canaryToRolling");
        await eventually(60, () => replicaCounts(k, NS), { myapp: 2 });
    });
});
