import * as assert from "assert";
import * as path from "path";
import { kube, moveFromFirstReleaseTokens, engineLog, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// The AWS, Datadog, PostgreSQL and random providers cannot be built here (no Go modules are published for them), so
// the sections that need them are removed from the committed stack file.
const UNBUILDABLE = ["database", "backup", "monitoring"];
const NS = "production";
const IMAGE = "registry.example.com/myapp";

/** The namespace's Deployments as name -> image and readyReplicas/replicas, read from the API server. */
async function deployments(k: Kube): Promise<Record<string, { image: string; ready: string }>> {
    const out: Record<string, { image: string; ready: string }> = {};
    for (const d of await k.list(`/apis/apps/v1/namespaces/${NS}/deployments`)) {
        out[d.metadata.name] = {
            image: d.spec.template.spec.containers[0].image,
            ready: `${d.status.readyReplicas ?? 0}/${d.spec.replicas}`,
        };
    }
    return out;
}

describe("production canary stack (without database, backup, monitoring) on the engine and a real API server", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog();
    let created = 0;

    before(async function () {
        k = kube();
        // The program deploys into an existing namespace, as on a real cluster.
        await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        ps = await projectStack({ base: "production", name: "e2e-production", drop: UNBUILDABLE });
    });

    it("pulumi up creates the stable and canary Deployments at their declared size and returns once every pod is Ready", async function () {
        const up = await timedUp(ps, onOutput);
        measure("firstDeploy", { programMode: ps.mode, seconds: up.seconds, changes: up.changes });
        created = up.changes.create ?? 0;
        // Every Deployment declares its size (README "Who owns spec.replicas"), so the provider's await returns only
        // when release.replicas and canary.canaryReplicas pods are ready: read at once, no polling.
        assert.deepStrictEqual(await deployments(k), {
            "myapp-canary": { image: `${IMAGE}:v1.2.3`, ready: "2/2" },
            "myapp-stable": { image: `${IMAGE}:v1.2.2`, ready: "6/6" },
        });
        const pods = await k.list(`/api/v1/namespaces/${NS}/pods`);
        const ready = pods.filter((p) =>
            p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
        );
        assert.strictEqual(ready.length, 8);
    });

    it("a preview right after the deploy plans no change", async function () {
        const res = await ps.stack.preview({
            diff: true,
            onOutput,
        });
        measure("previewAfterDeploy", res.changeSummary);
        // Everything the up created (the stack, the provider and the program's resources) is unchanged.
        assert.deepStrictEqual(res.changeSummary, { read: 2, same: created });
    });

    it("a stack the first release deployed, under its myapp:deploy:* type tokens, moves to release:index:* with no change: the components' aliases match every URN", async function () {
        const move = await moveFromFirstReleaseTokens(ps, onOutput);
        assert.deepStrictEqual(move, {
            before: ["myapp:deploy:AppWorkload", "myapp:deploy:CanaryDeployment"],
            after: ["release:index:AppWorkload", "release:index:CanaryDeployment"],
            // The two tracks' live Deployments are read (Deployment.get) on every run.
            preview: { read: 2, same: created },
            up: { read: 2, same: created },
            sameUrns: true,
        });
    });

    it("the policy pack runs under the engine, and on the deployed stack blocks only on the monitors this stack cannot have", async function () {
        const policy = path.join(ps.workDir, "policy");
        const mandatory = new Set<string>();
        await ps.stack
            .preview({
                policyPacks: [policy],
                policyPackConfigs: [path.join(policy, "config", "production.json")],
                onOutput,
                onEvent: (e) => {
                    if (e.policyEvent?.enforcementLevel === "mandatory") mandatory.add(e.policyEvent.policyName);
                },
            })
            .catch((e) => {
                onOutput(String(e));
            });
        measure("policyPreviewMandatory", [...mandatory].sort());
        // The monitoring section is removed (no Datadog provider here), so the plan's alerts have no monitors.
        assert.deepStrictEqual([...mandatory].sort(), ["monitors-for-plan-alerts"]);
    });
});
