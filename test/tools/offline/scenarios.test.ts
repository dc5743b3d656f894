import * as assert from "assert";
import { RunDiff } from "../../../tools/offline/diff";
import { diffOf, preview, stackConfig, writeStackFile } from "../../helpers";

function assertNoPodRestart(diff: RunDiff): void {
    const restarts = diff.changed.filter((c) => c.paths.some((p) => p.startsWith("spec.template")));
    assert.deepStrictEqual(restarts, [], "a pod template changed");
}

/**
 * The diff less the monitors of the variants that gained or lost their users, after checking those changed only in
 * what a version's users decide: who is told (message), reminders (renotifyInterval) and the users:none tag.
 */
function withoutUsersChange(diff: RunDiff, variants: string[]): RunDiff {
    const ofVariant = (name: string) => variants.some((v) => new RegExp(`^myapp-monitoring-.*-${v}(-condition)?$`).test(name));
    const moved = diff.changed.filter((c) => c.type.endsWith(":Monitor") && ofVariant(c.name));
    assert.ok(moved.length > 0, `no monitor of ${variants.join(", ")} changed`);
    for (const c of moved)
        assert.ok(
            c.paths.every((p) => p === "message" || p === "renotifyInterval" || /^tags\[\d+\]$/.test(p)),
            `${c.name}: ${c.paths.join(", ")}`,
        );
    return { ...diff, changed: diff.changed.filter((c) => !moved.includes(c)) };
}

const WEIGHT = 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]';
const CANARY_INGRESS = { type: "kubernetes:networking.k8s.io/v1:Ingress", name: "myapp-canary-ingress" };
const PATCH = "kubernetes:apps/v1:DeploymentPatch";
/** The traffic decision named after each weight (components/traffic/capacity.ts): one step per track, replaced by the next. */
const steps = (kind: "capacity" | "settle", weight: number, tracks = ["canary", "stable"]) => tracks.map((t) => ({ type: PATCH, name: `myapp-${t}-${kind}-w${weight}` }));

describe("traffic shifts and rollbacks, through the offline preview's diff", () => {
    it("canary 5 → 25 changes only the canary Ingress weight, as `--diff` shows it", () => {
        const r = preview(["--stack", "production", "--config-file", writeStackFile(stackConfig("production")), "--set", "canary.weight=25", "--diff", "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        // The fleet of 6 + 2 pods already carries 25% on 2 canary pods: no minimum moves.
        assert.deepStrictEqual(JSON.parse(r.stdout).diff, { added: steps("capacity", 25), removed: steps("capacity", 5), changed: [{ ...CANARY_INGRESS, paths: [WEIGHT] }] });
        assert.deepStrictEqual(diffOf("production", [], ["canary.weight=25"]), JSON.parse(r.stdout).diff);
    });

    it("canary 25 → 100 raises the canary's autoscaler minimum to the whole fleet before the weight moves; no pod restarts; stable's monitors change only in who is told", () => {
        const diff = withoutUsersChange(diffOf("production", ["canary.weight=25"], ["canary.weight=100"]), ["stable"]);
        assert.deepStrictEqual(diff, {
            added: steps("capacity", 100),
            removed: steps("capacity", 25),
            changed: [
                { type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", name: "myapp-canary-hpa", paths: ["spec.minReplicas"] },
                { ...CANARY_INGRESS, paths: [WEIGHT] },
            ],
        });
        assertNoPodRestart(diff);
    });

    it("rollback from 25 to 0 raises stable's minimum to the pods both tracks ran, then moves the weight", () => {
        const diff = withoutUsersChange(diffOf("production", ["canary.weight=25"], ["canary.weight=0"]), ["canary"]);
        assert.deepStrictEqual(diff, {
            added: steps("capacity", 0),
            removed: steps("capacity", 25),
            changed: [
                { type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", name: "myapp-stable-hpa", paths: ["spec.minReplicas"] },
                { ...CANARY_INGRESS, paths: [WEIGHT] },
            ],
        });
    });

    it("promotion rolls stable to the canary's version, returns the weight to 0, re-aims stable's monitors and drops the canary's duplicates", () => {
        const diff = diffOf("production", ["canary.weight=100"], ["canary.stableVersion=v1.2.3", "canary.weight=0"]);
        // At weight 100 stable reached no user; promoted, it serves them all again.
        const version = ['metadata.labels["app.kubernetes.io/version"]', 'metadata.labels["tags.datadoghq.com/version"]'];
        assert.deepStrictEqual(diff.added, steps("capacity", 0));
        // Both tracks now run v1.2.3: one set of monitors judges it, with the stable track's advice.
        const perVersion = [
            "error-rate-pct",
            "p95-latency-seconds",
            "rollback-now-error-rate-pct",
            "rollback-now-p95-seconds",
            "rollback-sustained-error-rate-pct",
            "rollback-sustained-p95-seconds",
            "version-payment-failure-pct",
        ];
        // Each notifies through a composite of its condition and a traffic guard.
        const traffic = ["low-payments-5m", "low-requests-10m", "low-requests-15m", "low-requests-5m", "no-requests-5m"];
        const names = (track: string) =>
            [...perVersion.map((m) => `${m}-${track}`), ...perVersion.map((g) => `${g}-${track}-condition`), ...traffic.map((t) => `${t}-${track}`)]
                .map((m) => `myapp-monitoring-${m}`)
                .sort();
        assert.deepStrictEqual(diff.removed.map((r) => r.name).sort(), [...names("canary"), ...steps("capacity", 100).map((r) => r.name)].sort());
        assert.deepStrictEqual(
            diff.changed.filter((c) => c.type.startsWith("kubernetes:")),
            [
                {
                    type: "kubernetes:apps/v1:Deployment",
                    name: "myapp-stable-deployment",
                    paths: [
                        ...version,
                        'spec.template.metadata.labels["app.kubernetes.io/version"]',
                        'spec.template.metadata.labels["tags.datadoghq.com/version"]',
                        "spec.template.spec.containers[0].image",
                    ],
                },
                { type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", name: "myapp-stable-hpa", paths: version },
                { ...CANARY_INGRESS, paths: [WEIGHT] },
                { type: "kubernetes:policy/v1:PodDisruptionBudget", name: "myapp-stable-pdb", paths: version },
            ],
        );
        const monitors = diff.changed.filter((c) => !c.type.startsWith("kubernetes:"));
        assert.deepStrictEqual(monitors.map((c) => c.name).sort(), names("stable"));
        for (const m of monitors) {
            const composite = perVersion.some((g) => m.name === `myapp-monitoring-${g}-stable`);
            // Besides the version, what stable's users decide: who is told, reminders and the users:none tag it drops.
            const users = (p: string) => p === "renotifyInterval" || (p !== "tags[3]" && /^tags\[\d+\]$/.test(p));
            assert.deepStrictEqual(
                m.paths.filter((p) => !users(p)),
                composite ? ["message", "tags[3]"] : ["query", "tags[3]"],
                m.name,
            );
        }
    });

    it("blue/green switch moves the live and preview Service selectors after a capacity step of each color, named after its role", () => {
        const diff = withoutUsersChange(diffOf("staging", [], ["blueGreen.activeColor=green"]), ["blue", "green"]);
        assert.deepStrictEqual(diff, {
            added: [
                { type: PATCH, name: "myapp-blue-capacity-standby" },
                { type: PATCH, name: "myapp-green-capacity-live" },
            ],
            removed: [
                { type: PATCH, name: "myapp-blue-capacity-live" },
                { type: PATCH, name: "myapp-green-capacity-standby" },
            ],
            changed: [
                { type: "kubernetes:core/v1:Service", name: "myapp-live", paths: ["spec.selector.color"] },
                { type: "kubernetes:core/v1:Service", name: "myapp-preview", paths: ["spec.selector.color"] },
            ],
        });
    });

    it("blue/green switch back is the same two selectors, and restarts nothing", () => {
        const diff = withoutUsersChange(diffOf("staging", ["blueGreen.activeColor=green"], ["blueGreen.activeColor=blue"]), ["blue", "green"]);
        assert.deepStrictEqual(
            diff.changed.map((c) => [c.name, c.paths]),
            [
                ["myapp-live", ["spec.selector.color"]],
                ["myapp-preview", ["spec.selector.color"]],
            ],
        );
        assertNoPodRestart(diff);
    });

    it("a strategy change lists the Deployments it deletes, not the reads of them it stops making: the engine neither creates nor deletes what it only reads", () => {
        const diff = diffOf("staging", ["blueGreen.activeColor=green"], ["strategy=rolling"]);
        const deployments = (refs: RunDiff["removed"]) => refs.filter((r) => r.type === "kubernetes:apps/v1:Deployment").map((r) => r.name);
        assert.deepStrictEqual(deployments(diff.removed), ["myapp-blue-deployment", "myapp-green-deployment"]);
        assert.deepStrictEqual(deployments(diff.added), ["myapp-app-deployment"]);
    });

    it("with a smaller standby, a switch moves the colors' autoscaler minimums, not their counts, and restarts no pod", () => {
        const diff = withoutUsersChange(diffOf("staging", ["blueGreen.standbyReplicas=1"], ["blueGreen.activeColor=green"]), ["blue", "green"]);
        assert.deepStrictEqual(
            diff.changed.map((c) => [c.name, c.paths]),
            [
                ["myapp-blue-hpa", ["spec.minReplicas"]],
                ["myapp-green-hpa", ["spec.minReplicas"]],
                ["myapp-live", ["spec.selector.color"]],
                ["myapp-preview", ["spec.selector.color"]],
            ],
        );
        assertNoPodRestart(diff);
    });

    it("gateway-api shift changes only the HTTPRoute weights", () => {
        const gw = ["canary.router=gateway-api", "canary.gateway.name=public", "canary.gateway.namespace=gateways"];
        const diff = diffOf("production", gw, ["canary.weight=25"]);
        assert.deepStrictEqual(diff.changed, [
            {
                type: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
                name: "myapp-route",
                paths: ["spec.rules[1].backendRefs[0].weight", "spec.rules[1].backendRefs[1].weight"],
            },
        ]);
    });

    it("replicas-router shift wakes the canary at 0 and takes stable down only after it, without restarting a pod", () => {
        const diff = withoutUsersChange(diffOf("production", ["canary.router=replicas", "release.replicas=20", "canary.weight=0"], ["canary.weight=25"]), ["canary"]);
        assert.deepStrictEqual(
            diff.added,
            [
                ...steps("capacity", 25),
                ...steps("settle", 25),
                { type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", name: "myapp-canary-hpa" },
                { type: "kubernetes:policy/v1:PodDisruptionBudget", name: "myapp-canary-pdb" },
            ].sort((a, b) => `${a.type}::${a.name}`.localeCompare(`${b.type}::${b.name}`)),
        );
        assert.deepStrictEqual(
            diff.removed,
            [...steps("capacity", 0, ["stable"]), ...steps("settle", 0)].sort((a, b) => a.name.localeCompare(b.name)),
        );
        assert.deepStrictEqual(
            diff.changed.map((c) => [c.name, c.paths]),
            [
                // The canary's new autoscaler can grow, so the autoscaler-at-maximum monitor now names it.
                ["myapp-monitoring-autoscaler-at-max-pct", ["query"]],
                ["myapp-stable-hpa", ["spec.maxReplicas", "spec.minReplicas"]],
            ],
        );
        assertNoPodRestart(diff);
    });
});
