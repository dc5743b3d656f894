import * as assert from "assert";
import { RunDiff } from "../../../tools/offline/diff";
import { byOp, diffOf } from "../../helpers";

function assertNoPodRestart(diff: RunDiff): void {
    const restarts = diff.steps.filter((s) => s.changes.some((c) => c.path.startsWith("spec.template")));
    assert.deepStrictEqual(restarts, [], "a pod template changed");
}

/**
 * The diff less the monitors of the variants that gained or lost their users, after checking those are updated only
 * in what a version's users decide: who is told (message), reminders (renotifyInterval) and the users:none tag.
 */
function withoutUsersChange(diff: RunDiff, variants: string[]): RunDiff {
    const ofVariant = (name: string) =>
        variants.some((v) => new RegExp(`^myapp-monitoring-.*-${v}(-condition)?$`).test(name));
    const moved = diff.steps.filter((s) => s.type.endsWith(":Monitor") && ofVariant(s.name));
    assert.ok(moved.length > 0, `no monitor of ${variants.join(", ")} changed`);
    for (const s of moved) {
        assert.strictEqual(s.op, "update", s.name);
        const paths = s.changes.map((c) => c.path);
        assert.ok(
            paths.every((p) => p === "message" || p === "renotifyInterval" || /^tags\[\d+\]$/.test(p)),
            `${s.name}: ${paths.join(", ")}`,
        );
    }
    return { ...diff, steps: diff.steps.filter((s) => !moved.includes(s)) };
}

const WEIGHT = 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]';
/** The traffic decision named after each weight (components/traffic/capacity.ts): one step per track, replaced by the next. */
const steps = (kind: "capacity" | "settle", weight: number, tracks = ["canary", "stable"]) =>
    tracks.map((t) => `myapp-${t}-${kind}-w${weight}`);

describe("traffic shifts and rollbacks, through the offline preview's diff", () => {
    it("canary 5 → 25 updates only the canary Ingress weight, with a capacity step per track", () => {
        // The fleet of 6 + 2 pods already carries 25% on 2 canary pods: no minimum moves.
        assert.deepStrictEqual(byOp(diffOf("production", [], ["canary.weight=25"])), {
            create: steps("capacity", 25),
            update: [["myapp-canary-ingress", [WEIGHT]]],
            replace: [],
            delete: steps("capacity", 5),
        });
    });

    it("canary 25 → 100 raises the canary's autoscaler minimum to the whole fleet before the weight moves; no pod restarts; stable's monitors change only in who is told", () => {
        const diff = withoutUsersChange(diffOf("production", ["canary.weight=25"], ["canary.weight=100"]), ["stable"]);
        assert.deepStrictEqual(byOp(diff), {
            create: steps("capacity", 100),
            update: [
                ["myapp-canary-hpa", ["spec.minReplicas"]],
                ["myapp-canary-ingress", [WEIGHT]],
            ],
            replace: [],
            delete: steps("capacity", 25),
        });
        assertNoPodRestart(diff);
    });

    it("rollback from 25 to 0 raises stable's minimum to the pods both tracks ran, then moves the weight", () => {
        const diff = withoutUsersChange(diffOf("production", ["canary.weight=25"], ["canary.weight=0"]), ["canary"]);
        assert.deepStrictEqual(byOp(diff), {
            create: steps("capacity", 0),
            update: [
                ["myapp-canary-ingress", [WEIGHT]],
                ["myapp-stable-hpa", ["spec.minReplicas"]],
            ],
            replace: [],
            delete: steps("capacity", 25),
        });
    });

    it("promotion rolls stable to the canary's version, returns the weight to 0, re-aims stable's monitors and drops the canary's duplicates", () => {
        const diff = diffOf("production", ["canary.weight=100"], ["canary.stableVersion=v1.2.3", "canary.weight=0"]);
        // At weight 100 stable reached no user; promoted, it serves them all again.
        const version = [
            'metadata.labels["app.kubernetes.io/version"]',
            'metadata.labels["tags.datadoghq.com/version"]',
        ];
        const ops = byOp(diff);
        assert.deepStrictEqual(ops.create, steps("capacity", 0));
        assert.deepStrictEqual(ops.replace, []);
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
        const traffic = [
            "low-payments-5m",
            "low-requests-10m",
            "low-requests-15m",
            "low-requests-5m",
            "no-requests-5m",
        ];
        const names = (track: string) =>
            [
                ...perVersion.map((m) => `${m}-${track}`),
                ...perVersion.map((g) => `${g}-${track}-condition`),
                ...traffic.map((t) => `${t}-${track}`),
            ]
                .map((m) => `myapp-monitoring-${m}`)
                .sort();
        assert.deepStrictEqual(ops.delete, [...names("canary"), ...steps("capacity", 100)].sort());
        // A Deployment's new pod template rolls its pods in place: an update, not a replacement.
        assert.deepStrictEqual(
            ops.update.filter(([name]) => !name.startsWith("myapp-monitoring-")),
            [
                ["myapp-canary-ingress", [WEIGHT]],
                [
                    "myapp-stable-deployment",
                    [
                        ...version,
                        'spec.template.metadata.labels["app.kubernetes.io/version"]',
                        'spec.template.metadata.labels["tags.datadoghq.com/version"]',
                        "spec.template.spec.containers[0].image",
                    ],
                ],
                ["myapp-stable-hpa", version],
                ["myapp-stable-pdb", version],
            ],
        );
        const monitors = ops.update
            .filter(([name]) => name.startsWith("myapp-monitoring-"))
            .map(([name, paths]) => ({ name, paths }));
        assert.deepStrictEqual(
            monitors.map((c) => c.name),
            names("stable"),
        );
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

    it("blue/green switch moves the active and preview Service selectors after a capacity step of each color, named after its role", () => {
        const diff = withoutUsersChange(diffOf("staging", [], ["blueGreen.activeColor=green"]), ["blue", "green"]);
        assert.deepStrictEqual(byOp(diff), {
            create: ["myapp-blue-capacity-standby", "myapp-green-capacity-live"],
            update: [
                ["myapp-live", ["spec.selector.color"]],
                ["myapp-preview", ["spec.selector.color"]],
            ],
            replace: [],
            delete: ["myapp-blue-capacity-live", "myapp-green-capacity-standby"],
        });
    });

    it("blue/green switch back is the same two selectors, and restarts nothing", () => {
        const diff = withoutUsersChange(
            diffOf("staging", ["blueGreen.activeColor=green"], ["blueGreen.activeColor=blue"]),
            ["blue", "green"],
        );
        assert.deepStrictEqual(byOp(diff).update, [
            ["myapp-live", ["spec.selector.color"]],
            ["myapp-preview", ["spec.selector.color"]],
        ]);
        assertNoPodRestart(diff);
    });

    it("a strategy change lists the Deployments it deletes, not the reads of them it stops making: the engine neither creates nor deletes what it only reads", () => {
        const diff = diffOf("staging", ["blueGreen.activeColor=green"], ["strategy=rolling"]);
        const deployments = (op: string) =>
            diff.steps
                .filter((s) => s.op === op && s.type === "kubernetes:apps/v1:Deployment")
                .map((s) => s.name)
                .sort();
        assert.deepStrictEqual(deployments("delete"), ["myapp-blue-deployment", "myapp-green-deployment"]);
        assert.deepStrictEqual(deployments("create"), ["myapp-app-deployment"]);
    });

    it("with a smaller preview color, a switch moves the colors' autoscaler minimums, not their counts, and restarts no pod", () => {
        const diff = withoutUsersChange(
            diffOf("staging", ["blueGreen.previewReplicas=1"], ["blueGreen.activeColor=green"]),
            ["blue", "green"],
        );
        assert.deepStrictEqual(byOp(diff).update, [
            ["myapp-blue-hpa", ["spec.minReplicas"]],
            ["myapp-green-hpa", ["spec.minReplicas"]],
            ["myapp-live", ["spec.selector.color"]],
            ["myapp-preview", ["spec.selector.color"]],
        ]);
        assertNoPodRestart(diff);
    });

    it("gateway-api shift changes only the HTTPRoute weights", () => {
        const gw = ["canary.router=gateway-api", "canary.gateway.name=public", "canary.gateway.namespace=gateways"];
        const diff = diffOf("production", gw, ["canary.weight=25"]);
        const ops = byOp(diff);
        assert.deepStrictEqual(
            [ops.update, ops.replace],
            [[["myapp-route", ["spec.rules[1].backendRefs[0].weight", "spec.rules[1].backendRefs[1].weight"]]], []],
        );
    });

    it("pod-ratio shift wakes the canary at 0 and takes stable down only after it, without restarting a pod", () => {
        const diff = withoutUsersChange(
            diffOf(
                "production",
                ["canary.router=pod-ratio", "release.replicas=20", "canary.weight=0"],
                ["canary.weight=25"],
            ),
            ["canary"],
        );
        assert.deepStrictEqual(byOp(diff), {
            create: [...steps("capacity", 25), "myapp-canary-hpa", "myapp-canary-pdb", ...steps("settle", 25)].sort(),
            update: [
                // The canary's new autoscaler can grow, so the autoscaler-at-maximum monitor now names it.
                ["myapp-monitoring-autoscaler-at-max-pct", ["query"]],
                ["myapp-stable-hpa", ["spec.maxReplicas", "spec.minReplicas"]],
            ],
            replace: [],
            delete: [...steps("capacity", 0, ["stable"]), ...steps("settle", 0)].sort(),
        });
        assertNoPodRestart(diff);
    });
});
