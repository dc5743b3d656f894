// Release mechanics that only a real cluster shows, checked through what the engine records: the dependencies it
// orders steps by, and the fields each object selects by.
import * as assert from "assert";
import { diffRuns, liveStateOf } from "../../../tools/offline/diff";
import { engineDependencies } from "../../../tools/offline/graph";
import { ProgramRun } from "../../../tools/offline/types";
import { all, at, find, preview, runConfig, runStack, stackConfig } from "../../helpers";

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
    for (const preview of [0, 1]) {
        it(`previewReplicas ${preview}: the incoming color's ready pods and smoke test come before the active Service moves; the outgoing shrinks after`, () => {
            const run = runStack("staging", [`blueGreen.previewReplicas=${preview}`, "blueGreen.activeColor=green"]);
            // Pulumi applies a count only when it creates a Deployment: the autoscaler owns it after that.
            for (const d of all(run, ":Deployment")) {
                assert.deepStrictEqual(d.ignoreChanges, ["spec.replicas"], d.name);
                assert.strictEqual(at(d, "metadata.annotations"), undefined, d.name);
            }
            assert.deepStrictEqual(engineDependencies(run).get("myapp-live"), [
                "myapp-green-capacity-live",
                "myapp-smoke-green",
            ]);
            const active = waitsFor(run, "myapp-live");
            for (const r of ["myapp-green-deployment", "myapp-green-hpa", "myapp-green-capacity-live"])
                assert.ok(active.has(r), `the active Service waits for ${r}`);
            // The outgoing color is read before the switch (its count sizes the incoming one), and changed only after.
            assert.ok(active.has("myapp-blue-live"), "the active Service waits for the read of the outgoing color");
            if (preview > 0) {
                assert.strictEqual(
                    at(find(run, ":HorizontalPodAutoscaler", "myapp-blue-hpa"), "spec.minReplicas"),
                    preview,
                );
                assert.ok(
                    waitsFor(run, "myapp-blue-hpa").has("myapp-live"),
                    "the outgoing autoscaler's minimum drops only after the active Service moved",
                );
                assert.ok(!active.has("myapp-blue-hpa"));
            } else {
                const settle = find(run, ":DeploymentPatch", "myapp-blue-settle-standby");
                assert.ok(
                    waitsFor(run, settle.name).has("myapp-live"),
                    "the outgoing color goes to 0 only after the active Service moved",
                );
                assert.deepStrictEqual(
                    all(run, ":HorizontalPodAutoscaler").map((h) => h.name),
                    ["myapp-green-hpa"],
                );
            }
        });
    }
});

describe("canary replica ownership across router changes", () => {
    it("leaving the pod-ratio router at weight 0 wakes the canary at 0 with its configured pods before its share can grow", () => {
        const before = ["canary.router=pod-ratio", "release.replicas=20", "canary.weight=0"];
        const base = runStack("production", before);
        const after = runConfig(
            "production",
            stackConfig("production", [...before, "canary.router=nginx"]),
            liveStateOf(base),
        );
        // An autoscaler never scales up from 0 (ScalingDisabled): the decision's capacity step sets the count.
        const wake = find(after, ":DeploymentPatch", "myapp-canary-capacity-w0");
        assert.deepStrictEqual(at(wake, "spec"), { replicas: 2 });
        assert.strictEqual(at(find(after, ":HorizontalPodAutoscaler", "myapp-canary-hpa"), "spec.minReplicas"), 2);
        assert.ok(diffRuns(base, after).steps.some((s) => s.op === "create" && s.name === wake.name));
    });
});

describe("batch pods", () => {
    const variants: [string, string[]][] = [
        ["staging", []],
        ["production", []],
        ["production", ["canary.router=pod-ratio", "release.replicas=20"]],
    ];
    for (const [stack, sets] of variants) {
        it(`are selected by no app Service or PodDisruptionBudget (${stack} ${sets.join(" ")})`, () => {
            const run = runStack(stack, sets);
            const selectors = [
                ...all(run, ":Service").map((s) => ({
                    name: s.name,
                    selector: at(s, "spec.selector") as Record<string, string>,
                })),
                ...all(run, ":PodDisruptionBudget").map((p) => ({
                    name: p.name,
                    selector: at(p, "spec.selector.matchLabels") as Record<string, string>,
                })),
            ];
            const batchPods = [
                ...all(run, ":Job").map((j) => ({ name: j.name, labels: at(j, "spec.template.metadata.labels") })),
                ...all(run, ":CronJob").map((j) => ({
                    name: j.name,
                    labels: at(j, "spec.jobTemplate.spec.template.metadata.labels"),
                })),
            ];
            assert.ok(batchPods.length >= 1);
            for (const pod of batchPods) {
                const selectedBy = selectors.filter((s) => matches(s.selector, pod.labels)).map((s) => s.name);
                assert.deepStrictEqual(selectedBy, [], `${pod.name}'s pods`);
            }
            // The same matcher does find the app's own pods, so the check above can fail.
            for (const d of all(run, ":Deployment").filter((x) => at(x, "spec.replicas") > 0)) {
                assert.ok(
                    selectors.some(
                        (s) => s.name.endsWith("-pdb") && matches(s.selector, at(d, "spec.template.metadata.labels")),
                    ),
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
        const resources: { name: string; dependsOn: string[]; ignoreChanges: string[] }[] = JSON.parse(
            r.stdout,
        ).resources;
        const byName = new Map(resources.map((x) => [x.name, x]));
        const stable = byName.get("myapp-stable-deployment")!;
        assert.ok(stable.dependsOn.includes("myapp-release-db-migrate-expand-v1-2-3"), stable.dependsOn.join(","));
        assert.ok(
            !stable.dependsOn.includes("myapp-release-db"),
            "a component is expanded to the resources beneath it",
        );
        assert.deepStrictEqual(stable.ignoreChanges, ["spec.replicas"]);
        assert.deepStrictEqual(byName.get("myapp-canary-ingress")!.dependsOn, [
            "myapp-stable-deployment",
            "myapp-stable-live",
            "myapp-stable-pdb",
            "myapp-stable-hpa",
            "myapp-stable-capacity-w5",
            "myapp-canary-deployment",
            "myapp-canary-live",
            "myapp-canary-pdb",
            "myapp-canary-hpa",
            "myapp-canary-capacity-w5",
        ]);
        // A read of a live Deployment is marked: it declares nothing.
        assert.deepStrictEqual(
            resources.filter((x) => (x as { read?: boolean }).read).map((x) => x.name),
            ["myapp-stable-live", "myapp-canary-live"],
        );
    });
});
