// The way between states, as far as the program's declarations show it: who sets a Deployment's count, what a traffic
// decision waits for, what the printed rollback leaves to run. The engine-side proofs are in e2e/ (capacity, switch,
// rollback-jobs, pod-ratio, strategy).
import * as assert from "assert";
import * as path from "path";
import { liveStateOf } from "../../../tools/offline/diff";
import { applyProjectConfig, readProject, toRunRequest } from "../../../tools/offline/stackConfig";
import { ProgramRun } from "../../../tools/offline/types";
import { all, at, byOp, diffOf, find, PROJECT, ROOT, runConfig, runStack, stackConfig } from "../../helpers";
import { runProgramSync } from "../../support/programThread";

/** The config edits of a printed `pulumi config set … && pulumi config rm … && pulumi up` command, as --set entries. */
function editsOf(printed: string): { sets: string[]; removed: string[] } {
    const sets: string[] = [];
    const removed: string[] = [];
    for (const part of printed.split(" && ")) {
        const set = /^pulumi config set --stack \S+ --path (\S+) (\S+)$/.exec(part);
        const rm = /^pulumi config rm --stack \S+ --path (\S+)$/.exec(part);
        if (set) sets.push(`${set[1]}=${set[2]}`);
        else if (rm) removed.push(rm[1]);
        else assert.match(part, /^pulumi up --stack \S+$/);
    }
    return { sets, removed };
}

/** Runs the stack after `before`, then after the printed rollback of that state, as a user would. */
function afterRollback(stack: string, before: string[]): { printed: string; run: ProgramRun } {
    const printed = String(runStack(stack, before).outputs.rollback);
    const { sets, removed } = editsOf(printed);
    const config = stackConfig(stack, [...before, ...sets]);
    for (const key of removed)
        delete (config[`myapp:${key.split(".")[0]}`] as Record<string, unknown>)[key.split(".")[1]];
    return { printed, run: runConfig(stack, config) };
}

const VARIANTS: [string, string[]][] = [
    ["staging", []],
    ["staging", ["blueGreen.previewReplicas=0"]],
    ["production", []],
    ["production", ["canary.router=gateway-api", "canary.gateway.name=public", "canary.gateway.namespace=gateways"]],
    [
        "production",
        [
            "canary.router=alb",
            "canary.alb.certificateArn=arn:aws:acm:us-east-1:123456789012:certificate/x",
            "release.drainSeconds=40",
        ],
    ],
    ["production", ["canary.router=pod-ratio", "release.replicas=20"]],
    ["production", ["strategy=rolling"]],
];

describe("who sets a Deployment's count", () => {
    for (const [stack, sets] of VARIANTS) {
        it(`Pulumi applies it only when it creates the Deployment, never over the autoscaler (${stack} ${sets.join(" ")})`, () => {
            const run = runStack(stack, sets);
            for (const d of all(run, ":Deployment")) {
                assert.deepStrictEqual(d.ignoreChanges, ["spec.replicas"], d.name);
                assert.strictEqual(at(d, "metadata.annotations"), undefined, `${d.name}: no forced apply`);
            }
            // The autoscaler and the disruption budget of a Deployment come after it.
            for (const r of [...all(run, ":HorizontalPodAutoscaler"), ...all(run, ":PodDisruptionBudget")]) {
                const target = all(run, ":Deployment").find((d) => at(d, "metadata.name") === at(r, "metadata.name"))!;
                assert.ok(r.dependsOn.includes(target.name), `${r.name} depends on ${target.name}`);
            }
        });
    }

    it("a Deployment's pods refer to the Secrets they read by name, so a change of a Secret's data rolls them instead of replacing the Deployment", () => {
        const run = runStack("production");
        for (const d of all(run, ":Deployment")) {
            assert.deepStrictEqual(at(d, "spec.template.spec.containers")[0].envFrom, [
                { secretRef: { name: "myapp-env" } },
                { secretRef: { name: "myapp-db-app" } },
            ]);
            assert.ok(
                d.dependsOn.includes("myapp-env") && d.dependsOn.includes("myapp-db-roles-app-secret"),
                d.dependsOn.join(","),
            );
        }
    });

    it("a change of appSecrets rolls the pods through a fingerprint of the values, which carries none of them", () => {
        const withSecrets = (value: string) => {
            const config = stackConfig("production");
            config["myapp:appSecrets"] = { SENTRY_DSN: value };
            return runProgramSync({
                ...toRunRequest(
                    PROJECT,
                    "production",
                    applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), "production", config),
                ),
                revealSecrets: true,
            });
        };
        const checksum = (run: ProgramRun) =>
            at(find(run, ":Deployment", "myapp-stable-deployment"), "spec.template.metadata.annotations")[
                "checksum/app-secrets"
            ];
        const [a, b] = [
            withSecrets("https://one@sentry.example.com/1"),
            withSecrets("https://two@sentry.example.com/1"),
        ];
        assert.match(checksum(a), /^[0-9a-f]{16}$/);
        assert.notStrictEqual(checksum(a), checksum(b));
        assert.ok(!JSON.stringify(find(a, ":Deployment", "myapp-stable-deployment").inputs).includes("one@sentry"));
    });
});

describe("a traffic decision waits for capacity where the traffic goes", () => {
    it("weight 25 → 100 raises the canary's autoscaler minimum to the fleet's 8 pods, and the canary Ingress waits for them ready", () => {
        const base = runStack("production", ["canary.weight=25"]);
        const run = runConfig("production", stackConfig("production", ["canary.weight=100"]), liveStateOf(base));
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "myapp-canary-hpa"), "spec.minReplicas"), 8);
        const gate = find(run, ":DeploymentPatch", "myapp-canary-capacity-w100");
        assert.strictEqual(at(gate, "metadata.name"), "myapp-canary");
        assert.ok(
            JSON.parse(at(gate, "metadata.annotations")["pulumi.com/waitFor"]).includes(
                "jsonpath={$[?@.readyReplicas>7]}",
            ),
        );
        assert.deepStrictEqual(gate.ignoreChanges, ["spec"], "its count is applied once, when the decision is made");
        assert.ok(find(run, ":Ingress", "myapp-canary-ingress").dependsOn.includes(gate.name));
        assert.deepStrictEqual(byOp(diffOf("production", ["canary.weight=25"], ["canary.weight=100"])).create, [
            "myapp-canary-capacity-w100",
            "myapp-stable-capacity-w100",
        ]);
    });

    it("a switch to a preview color whose Deployment does not change still waits for its ready pods, and records the decision for the next one", () => {
        const run = runStack("staging", ["blueGreen.activeColor=green"]);
        const gate = find(run, ":DeploymentPatch", "myapp-green-capacity-live");
        assert.ok(
            JSON.parse(at(gate, "metadata.annotations")["pulumi.com/waitFor"]).includes(
                "jsonpath={$[?@.readyReplicas>1]}",
            ),
        );
        assert.strictEqual(at(gate, "metadata.annotations")["traffic.release/share"], "100");
        assert.deepStrictEqual(find(run, ":Service", "myapp-live").dependsOn, [
            "myapp-green-capacity-live",
            "myapp-smoke-green",
        ]);
        assert.ok(byOp(diffOf("staging", [], ["blueGreen.activeColor=green"])).create.includes(gate.name));
    });

    it("pod-ratio router 50 → 0: stable is raised to all 8 pods first; the canary goes to 0 only in a step after stable's", () => {
        const sets = [
            "canary.router=pod-ratio",
            "release.replicas=8",
            "canary.steps[0]=25",
            "canary.steps[1]=50",
            "canary.weight=50",
        ];
        const base = runStack("production", sets);
        const run = runConfig("production", stackConfig("production", [...sets, "canary.weight=0"]), liveStateOf(base));
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "myapp-stable-hpa"), "spec.minReplicas"), 8);
        const settle = find(run, ":DeploymentPatch", "myapp-canary-settle-w0");
        assert.deepStrictEqual(at(settle, "spec"), { replicas: 0 });
        assert.deepStrictEqual(settle.dependsOn, ["myapp-stable-capacity-w0"]);
        assert.ok(
            JSON.parse(
                at(find(run, ":DeploymentPatch", "myapp-stable-capacity-w0"), "metadata.annotations")[
                    "pulumi.com/waitFor"
                ],
            ).includes("jsonpath={$[?@.readyReplicas>7]}"),
        );
    });
});

describe("the plan says how capacity follows traffic", () => {
    it("each canary step and the promotion raise the receiving track before the weight moves", () => {
        const readme = String(runStack("production").outputs.readme).split("\n");
        for (const line of [
            "- first the canary autoscaler's minimum rises to 25% of the pods the fleet runs at that moment (at least 2), and the provider waits until that many canary pods are ready",
            "- then Ingress myapp-canary: canary weight 25; no pod restarts",
            "- first the canary autoscaler's minimum rises to 100% of the pods the fleet runs at that moment (at least 2), and the provider waits until that many canary pods are ready",
            "- first the stable autoscaler's minimum rises to 100% of the pods the fleet runs at that moment (at least 6), and the provider waits until that many stable pods are ready",
        ])
            assert.ok(readme.includes(line), line);
    });
});

describe("the printed rollback from any state", () => {
    it("canary at 25%: the config it leaves declares no release Job, waits for none, and keeps the canary's pods", () => {
        const { printed, run } = afterRollback("production", ["canary.weight=25"]);
        assert.match(printed, /--path canary\.weight 0 && .*--path release\.version v1\.2\.2 && pulumi up/);
        assert.deepStrictEqual(all(run, ":Job"), []);
        for (const d of all(run, ":Deployment"))
            assert.ok(!d.dependsOn.some((x) => x.startsWith("myapp-release-db")), d.name);
        assert.deepStrictEqual(find(run, ":Deployment", "myapp-canary-deployment").ignoreChanges, [
            "spec.replicas",
            "spec.template",
        ]);
        assert.deepStrictEqual(find(run, ":Deployment", "myapp-stable-deployment").ignoreChanges, ["spec.replicas"]);
        assert.strictEqual(
            at(find(run, ":Ingress", "myapp-canary-ingress"), "metadata.annotations")[
                "nginx.ingress.kubernetes.io/canary-weight"
            ],
            "0",
        );
    });

    it("a release whose canary never rolled (its backup failed): the rollback does not roll it either", () => {
        const { run } = afterRollback("production", [
            "release.version=v1.2.4",
            "canary.canaryVersion=v1.2.4",
            "canary.weight=25",
        ]);
        const canary = find(run, ":Deployment", "myapp-canary-deployment");
        assert.deepStrictEqual(
            canary.ignoreChanges,
            ["spec.replicas", "spec.template"],
            "the cluster's pods stay as they are",
        );
        assert.deepStrictEqual(all(run, ":Job"), []);
    });

    it("with a restore configured: the rollback drops it, so a failed or stuck restore cannot hold the traffic back", () => {
        const { printed, run } = afterRollback("production", [
            "canary.weight=25",
            "database.restore.key=postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump",
        ]);
        assert.match(printed, /pulumi config rm --stack production --path database\.restore && pulumi up/);
        assert.deepStrictEqual(all(run, ":Job"), []);
    });

    it("blue/green after the switch: back to blue, with green's pods and smoke test left alone", () => {
        const { printed, run } = afterRollback("staging", ["blueGreen.activeColor=green"]);
        assert.match(printed, /--path blueGreen\.activeColor blue && .*--path release\.version v1\.2\.2 && pulumi up/);
        assert.deepStrictEqual(
            all(run, ":Job").map((j) => j.name),
            ["myapp-smoke-blue"],
            "no smoke test of the color rolled back from, which may be the Job that failed",
        );
        assert.deepStrictEqual(find(run, ":Deployment", "myapp-green-deployment").ignoreChanges, [
            "spec.replicas",
            "spec.template",
        ]);
        assert.deepStrictEqual(at(find(run, ":Service", "myapp-live"), "spec.selector"), {
            "app.kubernetes.io/name": "myapp",
            color: "blue",
        });
        assert.strictEqual(
            String(run.outputs.rollback),
            "none needed: the active color runs the previous version v1.2.2",
        );
    });
});

describe("the smoke test's retry", () => {
    it("a smoke test runs once for its color, version and attempt: a new smoke image runs no test again", () => {
        const diff = diffOf("staging", [], ["blueGreen.smokeTest.image=registry.example.com/myapp-smoke:v1.2.4"]);
        assert.deepStrictEqual(diff.steps, []);
        assert.deepStrictEqual(find(runStack("staging"), ":Job", "myapp-smoke-blue").ignoreChanges, ["spec"]);
    });

    it("blueGreen.smokeTest.attempt renames the released version's smoke Job only, so it runs again", () => {
        const run = runStack("staging", ["blueGreen.smokeTest.attempt=2"]);
        assert.strictEqual(at(find(run, ":Job", "myapp-smoke-green"), "metadata.name"), "myapp-smoke-green-v1-2-3-a2");
        assert.strictEqual(at(find(run, ":Job", "myapp-smoke-blue"), "metadata.name"), "myapp-smoke-blue-v1-2-2");
        assert.strictEqual(
            (runStack("staging").outputs.traffic as Record<string, string>).retrySmokeTest,
            "pulumi config set --stack staging --path blueGreen.smokeTest.attempt 2 && pulumi up --stack staging",
        );
    });
});

describe("a change of strategy", () => {
    it("finds the app's Service and Ingress under the same names in every strategy, so the engine's aliases move them", () => {
        for (const [stack, sets] of [
            ["staging", []],
            ["production", []],
            ["production", ["strategy=rolling"]],
        ] as const) {
            const run = runStack(stack, [...sets]);
            assert.strictEqual(at(find(run, ":Service", "myapp-live"), "metadata.name"), "myapp");
            assert.strictEqual(at(find(run, ":Ingress", "myapp-ingress"), "metadata.name"), "myapp");
        }
    });
});
