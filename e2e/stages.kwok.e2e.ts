import * as assert from "assert";
import { kube } from "./lib/engine";
import { Kube } from "./lib/kube";

// The harness's own cluster: kwok's Stages (e2e/kwok/stages.yaml) decide how pods end. Not run against a real
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

/** Polls the Job until it has a Complete or Failed condition that is True, for at most a minute. */
async function outcome(k: Kube, name: string): Promise<string> {
    for (let i = 0; i < 60; i++) {
        const j = await k.get(`/apis/batch/v1/namespaces/${NS}/jobs/${name}`);
        const done = (j.status?.conditions ?? []).find((c: any) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
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
        for (let i = 0; i < 30 && (await k.request("GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status !== 200; i++) {
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
});
