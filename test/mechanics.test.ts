// Release mechanics that only a real cluster shows, checked through what the engine records: the dependencies it
// orders steps by, and the fields each object selects by.
import * as assert from "assert";
import { diffRuns } from "../lib/offline/diff";
import { engineDependencies } from "../lib/offline/graph";
import { ProgramRun } from "../lib/offline/types";
import { all, at, find, preview, runStack } from "./helpers";

/** Every resource `from` waits for, directly or through others, by the engine's recorded dependencies. */
function waitsFor(run: ProgramRun, from: string): Set<string> {
    const deps = engineDependencies(run);
    const seen = new Set<string>();
    const visit = (n: string) => {
        for (const d of deps.get(n) ?? []) {
            if (!seen.has(d)) {
                seen.add(d);
                visit(d);
            }
        }
    };
    visit(from);
    return seen;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe("blue/green switch order, by the engine's dependencies", () => {
    for (const standby of [0, 1]) {
        it(`standbyReplicas ${standby}: the incoming color is at full size and tested before the live Service moves; the outgoing shrinks after`, () => {
            const run = runStack("staging", [`blueGreen.standbyReplicas=${standby}`, "blueGreen.activeColor=green"]);
            const green = find(run, ":Deployment", "myapp-green-deployment");
            assert.strictEqual(at(green, "spec.replicas"), 2, "release.replicas, applied by Pulumi and awaited until ready");
            assert.deepStrictEqual(at(green, "metadata.annotations"), { "pulumi.com/patchForce": "true" });
            assert.deepStrictEqual(green.ignoreChanges, []);
            const blue = find(run, ":Deployment", "myapp-blue-deployment");
            assert.strictEqual(at(blue, "spec.replicas"), standby);
            assert.deepStrictEqual(at(blue, "metadata.annotations"), { "pulumi.com/patchForce": "true" });

            assert.deepStrictEqual(engineDependencies(run).get("myapp-live"), ["myapp-smoke-green"]);
            const live = waitsFor(run, "myapp-live");
            assert.ok(live.has("myapp-green-deployment") && live.has("myapp-green-hpa"), "the live Service waits for the incoming color");
            assert.ok(!live.has("myapp-blue-deployment"), "the live Service does not wait for the outgoing color");
            assert.ok(waitsFor(run, "myapp-blue-deployment").has("myapp-live"), "the outgoing Deployment shrinks only after the live Service moved");
            if (standby > 0) {
                assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "myapp-blue-hpa"), "spec.minReplicas"), standby);
                assert.ok(waitsFor(run, "myapp-blue-hpa").has("myapp-live"), "the outgoing autoscaler's minimum drops only after the live Service moved");
            } else {
                assert.deepStrictEqual(
                    all(run, ":HorizontalPodAutoscaler").map((h) => h.name),
                    ["myapp-green-hpa"],
                );
            }
        });
    }
});

describe("canary replica ownership across router changes", () => {
    it("leaving the replicas router at weight 0 brings the canary back to its configured size", () => {
        const before = ["canary.router=replicas", "release.replicas=20", "canary.weight=0"];
        const diff = diffRuns(runStack("production", before), runStack("production", [...before, "canary.router=nginx"]));
        const canary = diff.changed.find((c) => c.name === "myapp-canary-deployment");
        assert.ok(canary?.paths.includes("spec.replicas"), "the engine applies the canary's new count; an autoscaler never scales up from 0");
        assert.strictEqual(at(find(runStack("production", [...before, "canary.router=nginx"]), ":Deployment", "myapp-canary-deployment"), "spec.replicas"), 2);
    });
});

describe("batch pods", () => {
    const variants: [string, string[]][] = [
        ["staging", []],
        ["production", []],
        ["production", ["canary.router=replicas", "release.replicas=20"]],
    ];
    for (const [stack, sets] of variants) {
        it(`are selected by no app Service or PodDisruptionBudget (${stack} ${sets.join(" ")})`, () => {
            const run = runStack(stack, sets);
            const selectors = [
                ...all(run, ":Service").map((s) => ({ name: s.name, selector: at(s, "spec.selector") as Record<string, string> })),
                ...all(run, ":PodDisruptionBudget").map((p) => ({ name: p.name, selector: at(p, "spec.selector.matchLabels") as Record<string, string> })),
            ];
            const batchPods = [
                ...all(run, ":Job").map((j) => ({ name: j.name, labels: at(j, "spec.template.metadata.labels") })),
                ...all(run, ":CronJob").map((j) => ({ name: j.name, labels: at(j, "spec.jobTemplate.spec.template.metadata.labels") })),
            ];
            assert.ok(batchPods.length >= 1);
            for (const pod of batchPods) {
                const selectedBy = selectors.filter((s) => matches(s.selector, pod.labels)).map((s) => s.name);
                assert.deepStrictEqual(selectedBy, [], `${pod.name}'s pods`);
            }
            // The same matcher does find the app's own pods, so the check above can fail.
            for (const d of all(run, ":Deployment").filter((x) => at(x, "spec.replicas") > 0)) {
                assert.ok(
                    selectors.some((s) => s.name.endsWith("-pdb") && matches(s.selector, at(d, "spec.template.metadata.labels"))),
                    `${d.name} has a disruption budget`,
                );
            }
        });
    }
});

describe("the offline preview's --json", () => {
    it("gives each resource the dependencies the engine records, components expanded to their resources", () => {
        const r = preview(["--stack", "production", "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const resources: { name: string; dependsOn: string[]; ignoreChanges: string[] }[] = JSON.parse(r.stdout).resources;
        const byName = new Map(resources.map((x) => [x.name, x]));
        const stable = byName.get("myapp-stable-deployment")!;
        assert.ok(stable.dependsOn.includes("myapp-release-db-migrate-expand-v1-2-3"), stable.dependsOn.join(","));
        assert.ok(!stable.dependsOn.includes("myapp-release-db"), "a component is expanded to the resources beneath it");
        assert.deepStrictEqual(stable.ignoreChanges, ["spec.replicas"]);
        assert.deepStrictEqual(byName.get("myapp-canary-ingress")!.dependsOn, [
            "myapp-stable-deployment",
            "myapp-stable-pdb",
            "myapp-stable-hpa",
            "myapp-canary-deployment",
            "myapp-canary-pdb",
            "myapp-canary-hpa",
        ]);
    });
});
