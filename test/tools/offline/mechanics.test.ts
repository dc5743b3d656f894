// Release mechanics that only a real cluster shows, checked through what the engine records: the dependencies it
// orders steps by, and the fields each object selects by.
import * as assert from "assert";
import { diffRuns, liveStateOf } from "../../../tools/offline/diff";
import { engineDependencies } from "../../../tools/offline/graph";
import { policyResources } from "../../../tools/offline/policy";
import { treeLines } from "../../../tools/offline/tree";
import { DeclaredResource, ProgramRun } from "../../../tools/offline/types";
import { resourceUrn, urnName } from "../../../tools/offline/urn";
import { all, at, find, preview, runConfig, runStack, stackConfig } from "../../helpers";

/** The URN of the one resource of the run named `name`. */
function urnOf(run: ProgramRun, name: string): string {
    const named = run.resources.filter((r) => r.name === name);
    assert.strictEqual(named.length, 1, `one resource named ${name}`);
    return named[0].urn;
}

/** The names of the resources the engine records `name` depending on. */
const dependenciesOf = (run: ProgramRun, name: string) =>
    (engineDependencies(run).get(urnOf(run, name)) ?? []).map(urnName);

/** The names of every resource `from` waits for, directly or through others, by the engine's recorded dependencies. */
function waitsFor(run: ProgramRun, from: string): Set<string> {
    const deps = engineDependencies(run);
    const seen = new Set<string>();
    const visit = (urn: string) => {
        for (const d of deps.get(urn) ?? []) {
            if (!seen.has(d)) {
                seen.add(d);
                visit(d);
            }
        }
    };
    visit(urnOf(run, from));
    return new Set([...seen].map(urnName));
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
            assert.deepStrictEqual(dependenciesOf(run, "myapp-live"), [
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

describe("resources that share a name, as the engine allows for different types or parents", () => {
    // A component `api` holding a Deployment `api`, a ConfigMap `api` at the top, and a Service that depends on the
    // component: the engine tells them apart by URN, and so must the dependencies and what the policies see.
    const urn = (parent: string | undefined, type: string, name: string) =>
        resourceUrn("dev", "svc", parent, type, name);
    const component = urn(undefined, "svc:index:Api", "api");
    const resource = (type: string, name: string, parentUrn: string | null, dependencies: string[] = []) =>
        ({
            type,
            name,
            urn: urn(parentUrn ?? undefined, type, name),
            parent: parentUrn && urnName(parentUrn),
            parentUrn,
            dependsOn: [],
            dependencies,
            ignoreChanges: [],
            custom: type !== "svc:index:Api",
            inputs: {},
        }) satisfies DeclaredResource;
    const run: ProgramRun = {
        stack: "dev",
        outputs: {},
        resources: [
            resource("svc:index:Api", "api", null),
            resource("kubernetes:apps/v1:Deployment", "api", component),
            resource("kubernetes:core/v1:ConfigMap", "api", null),
            resource("kubernetes:core/v1:Service", "web", null, [component]),
        ],
    };

    it("a dependency on the component expands to its own Deployment, not to the ConfigMap of the same name", () => {
        assert.deepStrictEqual(engineDependencies(run).get(urn(undefined, "kubernetes:core/v1:Service", "web")), [
            "urn:pulumi:dev::svc::svc:index:Api$kubernetes:apps/v1:Deployment::api",
        ]);
    });

    it("the tree view puts the Deployment under the component and the ConfigMap at the top, once each", () => {
        assert.deepStrictEqual(treeLines(run, "svc").slice(0, 5), [
            "svc-dev (3 resources, 1 components)",
            "├─ svc:index:Api  api",
            "│  └─ kubernetes:apps/v1:Deployment  api",
            "├─ kubernetes:core/v1:ConfigMap  api",
            "└─ kubernetes:core/v1:Service  web",
        ]);
    });

    it("policies see four resources, each with its engine URN and only the Deployment under the component", () => {
        const seen = policyResources(run).map((r) => ({ urn: r.urn, parent: r.parent?.urn ?? null }));
        assert.deepStrictEqual(seen, [
            { urn: "urn:pulumi:dev::svc::svc:index:Api::api", parent: null },
            {
                urn: "urn:pulumi:dev::svc::svc:index:Api$kubernetes:apps/v1:Deployment::api",
                parent: "urn:pulumi:dev::svc::svc:index:Api::api",
            },
            { urn: "urn:pulumi:dev::svc::kubernetes:core/v1:ConfigMap::api", parent: null },
            { urn: "urn:pulumi:dev::svc::kubernetes:core/v1:Service::web", parent: null },
        ]);
    });
});
