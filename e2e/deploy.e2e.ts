import * as assert from "assert";
import * as path from "path";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// The AWS, Datadog, PostgreSQL and random providers cannot be built here (no Go modules are published for them), so
// the sections that need them are removed from the committed stack file.
const UNBUILDABLE = ["database", "backup", "monitoring"];
const NS = "production";
const IMAGE = "registry.example.com/myapp";

function kube(): Kube {
    if (!process.env.KUBECONFIG) throw new Error("KUBECONFIG is not set: run through `npm run test:e2e`, or set E2E_USE_PATH=1 and KUBECONFIG");
    return new Kube(process.env.KUBECONFIG);
}

/** The Deployments of the namespace as name -> image, readyReplicas/replicas, read from the API server. */
async function deployments(k: Kube): Promise<Record<string, { image: string; ready: string }>> {
    const out: Record<string, { image: string; ready: string }> = {};
    for (const d of await k.list(`/apis/apps/v1/namespaces/${NS}/deployments`)) {
        out[d.metadata.name] = { image: d.spec.template.spec.containers[0].image, ready: `${d.status.readyReplicas ?? 0}/${d.spec.replicas}` };
    }
    return out;
}

describe("production canary stack on the engine and a real API server", function () {
    let ps: ProjectStack;
    let k: Kube;
    let log = "";

    before(async function () {
        k = kube();
        // The program deploys into an existing namespace, as on a real cluster.
        await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        ps = await projectStack({ base: "production", name: "e2e-production", drop: UNBUILDABLE });
    });

    afterEach(function () {
        if (this.currentTest?.state === "failed" && log) process.stderr.write(`--- engine output ---\n${log.split("\n").slice(-80).join("\n")}\n`);
        log = "";
    });

    it("pulumi up creates the stable and canary Deployments, and kwok makes their pods Ready", async function () {
        const t0 = Date.now();
        const res = await ps.stack.up({ onOutput: (s) => { log += s; } });
        measure("firstDeploy", { mode: ps.mode, seconds: (Date.now() - t0) / 1000, changes: res.summary.resourceChanges });
        assert.strictEqual(res.summary.result, "succeeded");
        assert.deepStrictEqual(await deployments(k), {
            "myapp-stable": { image: `${IMAGE}:v1.2.2`, ready: "6/6" },
            "myapp-canary": { image: `${IMAGE}:v1.2.3`, ready: "2/2" },
        });
        const pods = await k.list(`/api/v1/namespaces/${NS}/pods`);
        const ready = pods.filter((p) => p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"));
        assert.strictEqual(ready.length, 8);
    });

    it("pulumi preview with the policy pack passes on the committed stack", async function () {
        const policy = path.join(ps.workDir, "policy");
        const res = await ps.stack.preview({
            policyPacks: [policy],
            policyPackConfigs: [path.join(policy, "config", "production.json")],
            onOutput: (s) => { log += s; },
        });
        measure("policyPreview", { changes: res.changeSummary });
        assert.doesNotMatch(log, /mandatory/);
    });
});
