import * as assert from "assert";
import { SLOW_NODE } from "./lib/cluster";
import { kube } from "./lib/engine";
import { Kube } from "./lib/kube";

// The harness's own cluster: kwok's Stages (e2e/kwok/stages.yaml) decide how pods start and end. Not run against a real
// cluster (E2E_USE_PATH=1), where real kubelets run the images.
const NS = "kwok-stages";

function job(name: string, image: string) {
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name, namespace: NS },
        spec: {
            backoffLimit: 0,
            template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image }] } },
        },
    };
}

function pod(name: string, image: string, nodeName?: string) {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS },
        spec: { nodeName, containers: [{ name: "main", image }] },
    };
}

/** Polls the Job until it has a Complete or Failed condition that is True, for at most a minute. */
async function outcome(k: Kube, name: string): Promise<string> {
    for (let i = 0; i < 60; i++) {
        const j = await k.get(`/apis/batch/v1/namespaces/${NS}/jobs/${name}`);
        const done = (j.status?.conditions ?? []).find(
            (c: any) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
        );
        if (done) return done.type;
        await new Promise((r) => setTimeout(r, 1000));
    }
    return "still running after 60s";
}

describe("kwok stages of the harness's cluster", function () {
    let k: Kube;

    before(async function () {
        k = kube();
        await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        // The namespace's default ServiceAccount comes from kube-controller-manager; pods are refused until it exists.
        for (
            let i = 0;
            i < 30 && (await k.request("GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status !== 200;
            i++
        ) {
            await new Promise((r) => setTimeout(r, 1000));
        }
    });

    it("a Job's pod runs and succeeds, so the Job completes", async function () {
        await k.ensure(`/apis/batch/v1/namespaces/${NS}/jobs`, job("succeeds", "registry.example.com/tools:1.0"));
        assert.strictEqual(await outcome(k, "succeeds"), "Complete");
    });

    it("a Job whose image ends in -fail fails", async function () {
        await k.ensure(`/apis/batch/v1/namespaces/${NS}/jobs`, job("fails", "registry.example.com/tools:1.0-fail"));
        assert.strictEqual(await outcome(k, "fails"), "Failed");
    });

    it("the slow node is cordoned, and a pod placed on it becomes Ready no sooner than 3 s after it was created", async function () {
        assert.strictEqual((await k.get(`/api/v1/nodes/${SLOW_NODE}`)).spec.unschedulable, true);
        await k.ensure(`/api/v1/namespaces/${NS}/pods`, pod("slow", "registry.example.com/app:1.0", SLOW_NODE));
        let ready: any;
        for (let i = 0; i < 60 && !ready; i++) {
            await new Promise((r) => setTimeout(r, 1000));
            const p = await k.get(`/api/v1/namespaces/${NS}/pods/slow`);
            ready = (p.status?.conditions ?? []).find((c: any) => c.type === "Ready" && c.status === "True");
            if (ready) ready = { ...ready, created: p.metadata.creationTimestamp };
        }
        assert.ok(ready, "the pod never became Ready");
        // Both timestamps have whole seconds: at least 3 s of delay shows as at least 2 s between them.
        assert.ok(Date.parse(ready.lastTransitionTime) - Date.parse(ready.created) >= 2000, JSON.stringify(ready));
    });

    it("a pod whose image ends in -pending stays Pending, as one whose image is never pulled", async function () {
        await k.ensure(`/api/v1/namespaces/${NS}/pods`, pod("pending", "registry.example.com/app:1.0-pending"));
        await new Promise((r) => setTimeout(r, 8000));
        const p = await k.get(`/api/v1/namespaces/${NS}/pods/pending`);
        assert.ok(p.spec.nodeName, "the pod was scheduled");
        assert.strictEqual(p.status.phase, "Pending");
        assert.ok(!(p.status.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"));
    });
});
