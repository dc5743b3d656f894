import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { diffRuns, Step } from "../../../tools/offline/diff";
import { DeclaredResource, ProgramRun } from "../../../tools/offline/types";
import { resourceUrn } from "../../../tools/offline/urn";
import { at, declare, diffOf, preview } from "../../helpers";

const WEIGHT = 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]';
const CANARY = "urn:pulumi:production::myapp::release:index:CanaryDeployment";
const WORKLOAD = `${CANARY}$release:index:AppWorkload$kubernetes:apps/v1:DeploymentPatch`;
/** The steps of canary 5 → 25 on production: a capacity step per track for 25 replaces 5's, and the Ingress's weight. */
const WEIGHT_25: Step[] = [
    ...["stable", "canary"].map((t): Step => {
        const name = `myapp-${t}-capacity-w25`;
        return {
            op: "create",
            urn: `${WORKLOAD}::${name}`,
            type: "kubernetes:apps/v1:DeploymentPatch",
            name,
            parent: `myapp-${t}`,
            changes: [],
        };
    }),
    {
        op: "update",
        urn: `${CANARY}$kubernetes:networking.k8s.io/v1:Ingress::myapp-canary-ingress`,
        type: "kubernetes:networking.k8s.io/v1:Ingress",
        name: "myapp-canary-ingress",
        parent: "myapp",
        changes: [{ path: WEIGHT, old: "5", new: "25" }],
    },
    ...["canary", "stable"].map((t): Step => {
        const name = `myapp-${t}-capacity-w5`;
        return {
            op: "delete",
            urn: `${WORKLOAD}::${name}`,
            type: "kubernetes:apps/v1:DeploymentPatch",
            name,
            parent: `myapp-${t}`,
            changes: [],
        };
    }),
];

/** A resource as capture records it, on stack "test"; its URN from its parent's. */
function declared(
    type: string,
    name: string,
    parent: DeclaredResource | null,
    more: Partial<DeclaredResource> = {},
): DeclaredResource {
    const custom = !type.startsWith("release:");
    return {
        type,
        name,
        urn: resourceUrn("test", "myapp", parent?.urn, type, name),
        parent: parent?.name ?? null,
        parentUrn: parent?.urn ?? null,
        dependsOn: [],
        dependencies: [],
        ignoreChanges: [],
        custom,
        inputs: {},
        ...more,
    };
}
const run = (...resources: DeclaredResource[]): ProgramRun => ({ stack: "test", resources, outputs: {} });
const configMap = (name: string, parent: DeclaredResource | null, data = { a: "1" }) =>
    declared("kubernetes:core/v1:ConfigMap", "cm", parent, {
        inputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data },
    });

describe("the offline preview's --diff, as `pulumi preview --diff` shows it", () => {
    it("prints the diff first, before the tree: each step with its symbol and each changed input old => new", () => {
        const r = preview(["--stack", "production", "--set", "canary.weight=25", "--diff"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.deepStrictEqual(r.stdout.split("\n").slice(0, 10), [
            "Diff against the stack's config without the edits:",
            "  + create  kubernetes:apps/v1:DeploymentPatch  myapp-stable-capacity-w25",
            "  + create  kubernetes:apps/v1:DeploymentPatch  myapp-canary-capacity-w25",
            "  ~ update  kubernetes:networking.k8s.io/v1:Ingress  myapp-canary-ingress",
            `      ~ ${WEIGHT}: "5" => "25"`,
            "  - delete  kubernetes:apps/v1:DeploymentPatch  myapp-canary-capacity-w5",
            "  - delete  kubernetes:apps/v1:DeploymentPatch  myapp-stable-capacity-w5",
            "  Resources: +2 to create, ~1 to update, -2 to delete, 152 unchanged",
            "",
            "myapp-production (147 resources, 10 components)",
        ]);
    });

    it("--json gives the diff as steps with the engine's ops, URNs and old and new values, and the count left the same", () => {
        const r = preview(["--stack", "production", "--set", "canary.weight=25", "--diff", "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const diff = JSON.parse(r.stdout).diff;
        assert.deepStrictEqual(diff, { steps: WEIGHT_25, same: 152 });
        assert.deepStrictEqual(diffOf("production", [], ["canary.weight=25"]), diff);
    });

    it("a weight change is an update of the canary Ingress, in place", () => {
        assert.deepStrictEqual(
            diffOf("production", [], ["canary.weight=25"]).steps.filter((s) => s.op === "update" || s.op === "replace"),
            WEIGHT_25.filter((s) => s.op === "update"),
        );
    });

    it("never prints a secret's value: a new or rotated app secret replaces the Secret (its data is immutable to the provider) and shows [secret]", () => {
        const diff = diffOf("production", [], ["appSecrets.SENTRY_DSN=https://one@sentry.example.com/1"]);
        assert.deepStrictEqual(
            diff.steps.find((s) => s.name === "myapp-env"),
            {
                op: "replace",
                urn: "urn:pulumi:production::myapp::kubernetes:core/v1:Secret::myapp-env",
                type: "kubernetes:core/v1:Secret",
                name: "myapp-env",
                parent: null,
                changes: [{ path: "stringData", new: "[secret]", replaces: true }],
                // Same name and namespace: the old Secret must go before the new one can be created.
                deleteBeforeReplace: true,
            },
        );
        assert.ok(!JSON.stringify(diff).includes("one@sentry"));
        // A rotated value: "[secret]" on both sides, and still the replacement the engine will make.
        const rotated = diffOf(
            "production",
            ["appSecrets.SENTRY_DSN=https://one@sentry.example.com/1"],
            ["appSecrets.SENTRY_DSN=https://two@sentry.example.com/2"],
        );
        assert.deepStrictEqual(rotated.steps.find((s) => s.name === "myapp-env")?.changes, [
            { path: "stringData", old: "[secret]", new: "[secret]", replaces: true },
        ]);
        assert.ok(!/(one|two)@sentry/.test(JSON.stringify(rotated)));
    });

    it("a ConfigMap whose metadata.name changes is replaced, the new one created before the old is deleted", () => {
        const diff = diffOf("production", [], ["release.version=v1.2.4", "canary.canaryVersion=v1.2.4"]);
        assert.deepStrictEqual(
            diff.steps.filter((s) => s.op === "replace"),
            [
                {
                    op: "replace",
                    urn: "urn:pulumi:production::myapp::release:index:ReleaseDatabaseJobs$kubernetes:core/v1:ConfigMap::myapp-release-db-migrations",
                    type: "kubernetes:core/v1:ConfigMap",
                    name: "myapp-release-db-migrations",
                    parent: "myapp-release-db",
                    changes: [
                        {
                            path: "metadata.name",
                            old: "myapp-migrate-expand-v1-2-3",
                            new: "myapp-migrate-expand-v1-2-4",
                            replaces: true,
                        },
                    ],
                },
            ],
        );
    });

    it("replaces where the Kubernetes provider or replaceOnChanges forces it, and updates elsewhere", () => {
        const job = (template: unknown, completions = 1) =>
            declared("kubernetes:batch/v1:Job", "job", null, {
                inputs: { metadata: { name: "job" }, spec: { completions, template } },
            });
        const ops = (before: DeclaredResource, after: DeclaredResource) =>
            diffRuns(run(before), run(after)).steps.map((s) => [s.op, s.changes.map((c) => c.path)]);
        assert.deepStrictEqual(ops(job({ image: "a" }), job({ image: "b" })), [["replace", ["spec.template.image"]]]);
        assert.deepStrictEqual(ops(job({ image: "a" }), { ...job({ image: "b" }), ignoreChanges: ["spec"] }), []);
        const deployment = (selector: unknown, replicas: number) =>
            declared("kubernetes:apps/v1:Deployment", "d", null, { inputs: { spec: { selector, replicas } } });
        assert.deepStrictEqual(
            ops(deployment({ matchLabels: { a: "1" } }, 1), deployment({ matchLabels: { a: "2" } }, 1)),
            [["replace", ["spec.selector.matchLabels.a"]]],
        );
        assert.deepStrictEqual(
            ops(deployment({ matchLabels: { a: "1" } }, 1), deployment({ matchLabels: { a: "1" } }, 2)),
            [["update", ["spec.replicas"]]],
        );
        const monitor = (query: string, more: Partial<DeclaredResource> = {}) =>
            declared("datadog:index/monitor:Monitor", "m", null, { inputs: { query }, ...more });
        assert.deepStrictEqual(ops(monitor("a"), monitor("b")), [["update", ["query"]]]);
        assert.deepStrictEqual(ops(monitor("a"), monitor("b", { replaceOnChanges: ["query"] })), [
            ["replace", ["query"]],
        ]);
    });

    it("a change of parent is a delete and a create: the URN holds the parent's type", () => {
        const a = declared("release:index:A", "a", null);
        const b = declared("release:index:B", "b", null);
        const diff = diffRuns(run(a, b, configMap("cm", a)), run(a, b, configMap("cm", b)));
        assert.deepStrictEqual(
            diff.steps.map((s) => [s.op, s.urn, s.parent]),
            [
                ["create", "urn:pulumi:test::myapp::release:index:B$kubernetes:core/v1:ConfigMap::cm", "b"],
                ["delete", "urn:pulumi:test::myapp::release:index:A$kubernetes:core/v1:ConfigMap::cm", "a"],
            ],
        );
        assert.strictEqual(diff.same, 2);
    });

    it("two components named alike hold a ConfigMap named alike: each has its own URN and inputs, and the diff finds it under its own parent", async () => {
        const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
        // Components A and B are both "svc", each with a ConfigMap "cm"; "moved" is A's, then B's. The second run
        // changes B's type, with the old one as its alias, and the data of B's "cm".
        const declareTwo = (bType: string, bData: string, movedUnder: "a" | "b") =>
            declare(() => {
                const a = new pulumi.ComponentResource("test:index:A", "svc", {}, {});
                const b = new pulumi.ComponentResource(bType, "svc", {}, { aliases: [{ type: "test:index:B" }] });
                new k8s.core.v1.ConfigMap("cm", { data: { from: "a" } }, { parent: a });
                new k8s.core.v1.ConfigMap("cm", { data: { from: bData } }, { parent: b });
                new k8s.core.v1.ConfigMap("moved", {}, { parent: movedUnder === "a" ? a : b });
            });
        const before = await declareTwo("test:index:B", "b", "a");
        const after = await declareTwo("test:index:B2", "b2", "b");
        const urn = (parentType: string, name: string) =>
            `urn:pulumi:test::myapp::${parentType}$${CONFIG_MAP}::${name}`;
        assert.deepStrictEqual(
            before.resources.filter((r) => r.name === "cm").map((r) => [r.urn, r.parentUrn, at(r, "data")]),
            [
                [urn("test:index:A", "cm"), "urn:pulumi:test::myapp::test:index:A::svc", { from: "a" }],
                [urn("test:index:B", "cm"), "urn:pulumi:test::myapp::test:index:B::svc", { from: "b" }],
            ],
        );
        assert.deepStrictEqual(diffRuns(before, after), {
            steps: [
                {
                    op: "replace",
                    urn: urn("test:index:B2", "cm"),
                    type: CONFIG_MAP,
                    name: "cm",
                    parent: "svc",
                    changes: [{ path: "data.from", old: "b", new: "b2", replaces: true }],
                },
                // A new parent is a new URN: the engine creates the resource and deletes the old one.
                {
                    op: "create",
                    urn: urn("test:index:B2", "moved"),
                    type: CONFIG_MAP,
                    name: "moved",
                    parent: "svc",
                    changes: [],
                },
                {
                    op: "delete",
                    urn: urn("test:index:A", "moved"),
                    type: CONFIG_MAP,
                    name: "moved",
                    parent: "svc",
                    changes: [],
                },
            ],
            same: 3,
        });
    });

    it("an alias that names no parent is under the parent's old URN when the parent matched through an alias, and the root Stack as a parent is the top", () => {
        const old = declared("release:index:Old", "old", null);
        const renamed = declared("release:index:New", "app", null, {
            aliases: [{ type: "release:index:Old", name: "old" }],
        });
        const cm = declared("kubernetes:core/v1:ConfigMap", "app-config", old);
        const renamedCm = declared("kubernetes:core/v1:ConfigMap", "app-cm", renamed, {
            aliases: [{ name: "app-config" }],
        });
        assert.deepStrictEqual(diffRuns(run(old, cm), run(renamed, renamedCm)), { steps: [], same: 2 });
        const a = declared("release:index:A", "a", null);
        const moved = {
            ...configMap("cm", a),
            aliases: [{ parent: "urn:pulumi:test::myapp::pulumi:pulumi:Stack::myapp-test" }],
        };
        assert.deepStrictEqual(diffRuns(run(a, configMap("cm", null)), run(a, moved)), { steps: [], same: 2 });
    });

    it("an alias is no replace: a resource found under its old URN, or under its parent's alias, is the same resource", () => {
        const a = declared("release:index:A", "a", null);
        const b = declared("release:index:B", "b", null);
        const labelled = (cm: DeclaredResource) => ({
            ...cm,
            inputs: { ...cm.inputs, metadata: { name: "cm", labels: { v: "2" } } },
        });
        const moved = { ...labelled(configMap("cm", b)), aliases: [{ parent: a.urn }] };
        assert.deepStrictEqual(diffRuns(run(a, b, configMap("cm", a)), run(a, b, moved)), {
            steps: [
                {
                    op: "update",
                    urn: moved.urn,
                    type: moved.type,
                    name: "cm",
                    parent: "b",
                    changes: [{ path: "metadata.labels", new: { v: "2" } }],
                },
            ],
            same: 2,
        });
        // A component whose type was renamed, with the old type as its alias: its children follow it (inheritedChildAlias).
        const old = declared("myapp:deploy:A", "a", null);
        const renamed = { ...a, aliases: [{ type: "myapp:deploy:A" }] };
        assert.deepStrictEqual(diffRuns(run(old, configMap("cm", old)), run(renamed, configMap("cm", renamed))), {
            steps: [],
            same: 2,
        });
    });

    it("a change of strategy updates the app's Service in place: its aliases name it under the other strategies", () => {
        const diff = diffOf("staging", [], ["strategy=rolling"]);
        assert.deepStrictEqual(
            diff.steps.find((s) => s.name === "myapp-live"),
            {
                op: "update",
                urn: "urn:pulumi:staging::myapp::release:index:RollingDeployment$kubernetes:core/v1:Service::myapp-live",
                type: "kubernetes:core/v1:Service",
                name: "myapp-live",
                parent: "myapp",
                changes: [
                    { path: "metadata.annotations", old: { "pulumi.com/skipAwait": "true" } },
                    { path: "spec.selector.color", old: "blue" },
                    { path: "spec.selector.track", new: "stable" },
                ],
            },
        );
    });
});
