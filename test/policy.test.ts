import * as assert from "assert";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { policies, PACK_ENFORCEMENT } from "../policy/policies";
import type { PolicyViolation } from "../lib/plan/types";
import { readPolicyConfig, runPolicies } from "../tools/offline/policy";
import { DeclaredResource, ProgramRun } from "../tools/offline/types";
import { at, find, PROJECT, preview, ROOT, runStack } from "./helpers";

const configOf = (stack: string) => readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));

function previewWithPolicy(stack: string, sets: string[]): { code: number; violations: PolicyViolation[] } {
    const r = preview(["--stack", stack, ...sets.flatMap((s) => ["--set", s]), "--json"]);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return { code: r.code, violations: JSON.parse(r.stdout).policy.violations };
}

const firing = (violations: PolicyViolation[]) => [...new Set(violations.map((v) => v.policy))];

/** A copy of the run with one resource changed. */
function edited(run: ProgramRun, name: string, change: (r: DeclaredResource) => void): ProgramRun {
    const copy: ProgramRun = structuredClone(run);
    const r = copy.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource ${name}`);
    change(r);
    return copy;
}

describe("the policy pack", () => {
    it("imports nothing from outside its folder, so `pulumi policy publish` (which packs only policy/) ships all it needs", () => {
        const dir = path.join(ROOT, "policy");
        const outside = readdirSync(dir)
            .filter((f) => f.endsWith(".ts"))
            .flatMap((f) => [...readFileSync(path.join(dir, f), "utf8").matchAll(/from "(\.\.\/[^"]*)"/g)].map((m) => `${f}: ${m[1]}`));
        assert.deepStrictEqual(outside, []);
    });

    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    it("passes both stacks of the real program", async () => {
        assert.deepStrictEqual(await runPolicies(production, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT), []);
        assert.deepStrictEqual(await runPolicies(staging, PROJECT, policies, configOf("staging"), PACK_ENFORCEMENT), []);
        const r = preview(["--stack", "production", "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.deepStrictEqual(JSON.parse(r.stdout).policy, { violations: [] });
    });

    describe("fires on config that breaks the checklist, and only the policy concerned", () => {
        it("images-pinned-and-allowed: an image from an unscanned registry; mandatory in production, so exit 1", () => {
            const { code, violations } = previewWithPolicy("production", ["release.image=docker.io/someone/myapp"]);
            assert.strictEqual(code, 1);
            assert.deepStrictEqual(firing(violations), ["images-pinned-and-allowed"]);
            assert.deepStrictEqual(violations[0], {
                policy: "images-pinned-and-allowed",
                level: "mandatory",
                message: 'container "myapp" pulls from docker.io, not an allowed registry (registry.example.com)',
                resource: "myapp-stable-deployment",
            });
        });

        it("replicas-survive-node-loss: a one-pod canary", () => {
            const { violations } = previewWithPolicy("production", ["canary.canaryReplicas=1"]);
            assert.deepStrictEqual(violations, [
                {
                    policy: "replicas-survive-node-loss",
                    level: "mandatory",
                    message: "Deployment myapp-canary runs 1 replica: the loss of one node takes it down",
                    resource: "myapp-canary-deployment",
                },
            ]);
        });

        it("no-plaintext-secrets: a password in plain env", () => {
            const { violations } = previewWithPolicy("production", ["release.env.DB_PASSWORD=hunter2hunter2"]);
            assert.deepStrictEqual(firing(violations), ["no-plaintext-secrets"]);
            assert.strictEqual(violations.length, 2);
            assert.strictEqual(violations[0].message, 'container "myapp" sets DB_PASSWORD in plain text; take it from a Secret');
        });

        it("monitors-for-plan-alerts: a threshold loosened, even with a reason the program accepts", () => {
            const { violations } = previewWithPolicy("production", ["monitoring.thresholds.errorRatePct=2", "monitoring.looserThresholdReasons.errorRatePct=partner retry storm, INC-1234"]);
            assert.deepStrictEqual(firing(violations), ["monitors-for-plan-alerts"]);
            assert.deepStrictEqual(
                violations.map((v) => v.resource),
                ["myapp-monitoring-error-rate-pct-stable", "myapp-monitoring-error-rate-pct-canary"],
            );
        });

        it("rollback-path-present: a scaled-down blue/green standby, advisory in staging, so exit 0", () => {
            const { code, violations } = previewWithPolicy("staging", ["blueGreen.standbyReplicas=0"]);
            assert.strictEqual(code, 0);
            assert.deepStrictEqual(violations, [
                {
                    policy: "rollback-path-present",
                    level: "advisory",
                    message: "the green color is scaled to 0: switching back would wait for cold pods",
                    resource: "myapp-green-deployment",
                },
            ]);
        });

        it("rollback-path-present: a weight outside the steps the deployment-plan ConfigMap declares", async () => {
            assert.strictEqual(at(find(production, ":ConfigMap", "myapp-deployment-plan"), "data")["canary-steps"], "5,25,100", "stack config's canary.steps");
            const run = edited(production, "myapp-deployment-plan", (r: any) => (r.inputs.data["canary-steps"] = "10,50,100"));
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(violations, [
                { policy: "rollback-path-present", level: "mandatory", message: "canary weight 5 is not 0 or a declared step (10, 50, 100)", resource: "myapp-canary-ingress" },
            ]);
        });

        it("rollback-path-present: a canary whose steps no ConfigMap declares", async () => {
            const run = edited(production, "myapp-deployment-plan", (r: any) => delete r.inputs.data["canary-steps"]);
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(violations, [
                { policy: "rollback-path-present", level: "mandatory", message: "no deployment-plan ConfigMap declares the canary's steps (key canary-steps)", resource: null },
            ]);
        });

        it("rollback-path-present: steps changed in stack config need no policy config edit", async () => {
            const run = runStack("production", ["canary.steps[1]=50", "canary.weight=50"]);
            assert.deepStrictEqual(await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT), []);
        });
    });

    describe("fires on a declared resource with one field changed, and only the policy concerned", () => {
        const cases: [string, "production" | "staging", string, (r: DeclaredResource) => void, string][] = [
            [
                "gate-override-approved",
                "production",
                "myapp-deployment-plan",
                (r: any) => (r.inputs.data["gate-override-reason"] = "the fix for the payment outage is in v1.2.3"),
                "the release gate is overridden without an approver: ConfigMap myapp-deployment-plan has no gate-override-approver (set release.gate.override.approver)",
            ],
            [
                "gate-override-approved",
                "staging",
                "myapp-deployment-plan",
                (r: any) => (r.inputs.data["gate-override-approver"] = "@myapp-release-lead"),
                "the release gate is overridden without a reason: ConfigMap myapp-deployment-plan has no gate-override-reason (set release.gate.override.reason)",
            ],
            [
                "container-probes-and-resources",
                "production",
                "myapp-canary-deployment",
                (r: any) => delete r.inputs.spec.template.spec.containers[0].readinessProbe,
                'container "myapp" has no readiness probe',
            ],
            [
                "container-probes-and-resources",
                "production",
                "myapp-release-db-migrate-expand-v1-2-3",
                (r: any) => delete r.inputs.spec.template.spec.containers[0].resources.limits.memory,
                'container "migrate" has no memory limit',
            ],
            [
                "restricted-pod-security",
                "production",
                "myapp-stable-deployment",
                (r: any) => (r.inputs.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true),
                'container "myapp" allows privilege escalation',
            ],
            [
                "images-pinned-and-allowed",
                "staging",
                "myapp-smoke-green",
                (r: any) => (r.inputs.spec.template.spec.containers[0].image = "registry.example.com/myapp-smoke:latest"),
                'container "smoke-test" runs registry.example.com/myapp-smoke:latest, which is not pinned to a tag or digest',
            ],
            [
                "images-pinned-and-allowed",
                "production",
                "myapp-stable-deployment",
                (r: any) => (r.inputs.spec.template.spec.containers[0].image = `registry.example.com/myapp:latest@sha256:${"a".repeat(64)}`),
                `container "myapp" runs registry.example.com/myapp:latest@sha256:${"a".repeat(64)}, which is not pinned to a tag or digest`,
            ],
            [
                "images-pinned-and-allowed",
                "production",
                "myapp-canary-deployment",
                (r: any) => (r.inputs.spec.template.spec.containers[0].image = "registry.example.com/myapp@sha256:abc"),
                'container "myapp" runs registry.example.com/myapp@sha256:abc, which is not pinned to a tag or digest',
            ],
            [
                "no-plaintext-secrets",
                "production",
                "myapp-db-backup-scripts",
                (r: any) => (r.inputs.data["env.sh"] = "export DATABASE_URL=postgresql://myapp:hunter2@db:5432/myapp"),
                'ConfigMap key "env.sh" holds what looks like a secret; use a Secret',
            ],
            [
                "hpa-on-every-deployment",
                "production",
                "myapp-stable-deployment",
                (r: any) => (r.ignoreChanges = []),
                'Deployment myapp-stable sets spec.replicas (6) that HorizontalPodAutoscaler myapp-stable also sets, with neither ignoreChanges ["spec.replicas"] nor pulumi.com/patchForce: the apply conflicts once the autoscaler has scaled',
            ],
            [
                "backup-bucket-hardened",
                "production",
                "myapp-backups-versioning",
                (r: any) => (r.inputs.versioningConfiguration.status = "Suspended"),
                "bucket myapp-production-db-backups is not versioned",
            ],
            [
                "backup-bucket-hardened",
                "staging",
                "myapp-backups-tls-only",
                (r: any) => (r.inputs.policy = JSON.stringify({ Version: "2012-10-17", Statement: [] })),
                "bucket myapp-staging-db-backups accepts requests without TLS",
            ],
            [
                "database-backup-scheduled",
                "production",
                "myapp-db-backup-backup",
                (r: any) => (r.inputs.spec.concurrencyPolicy = "Allow"),
                "backup CronJob myapp-db-backup lets runs overlap: set concurrencyPolicy to Forbid",
            ],
            [
                "backup-before-migration",
                "production",
                "myapp-release-db-migrate-expand-v1-2-3",
                (r) => (r.dependencies = r.dependencies.filter((d) => d !== "myapp-release-db-predeploy-backup-v1-2-3")),
                "migration Job myapp-migrate-expand-v1-2-3 does not wait for a pre-deploy backup",
            ],
            ["migration-before-new-version", "production", "myapp-canary-deployment", (r) => (r.dependencies = []), "Deployment myapp-canary may roll out before the migration"],
            [
                "smoke-test-before-switch",
                "staging",
                "myapp-live",
                (r) => (r.dependencies = r.dependencies.filter((d) => d !== "myapp-smoke-blue")),
                "live Service myapp selects blue without waiting for its smoke test",
            ],
            [
                "capacity-follows-traffic",
                "staging",
                "myapp-live",
                (r) => (r.dependencies = r.dependencies.filter((d) => d !== "myapp-blue-capacity-live")),
                "live Service myapp switches to Deployment myapp-blue without waiting for its ready pods for the traffic it takes over",
            ],
            [
                "capacity-follows-traffic",
                "production",
                "myapp-canary-ingress",
                // The canary track's component stands for every resource beneath it, its capacity step included.
                (r) => (r.dependencies = r.dependencies.filter((d) => d !== "myapp-canary-capacity-w5" && d !== "myapp-canary")),
                "myapp-canary-ingress moves the canary weight without waiting for the ready pods of Deployment myapp-canary for its share",
            ],
            [
                "capacity-follows-traffic",
                "production",
                "myapp-canary-hpa",
                (r: any) => (r.inputs.spec.maxReplicas = 4),
                "the canary's autoscaler stops at 4 pods, but its largest step (100%) can take that share of a fleet of up to 24: 24 pods",
            ],
            [
                "downtime-never-mutes-rollback-triggers",
                "production",
                "myapp-monitoring-deployment-window",
                (r: any) => (r.inputs.monitorIdentifier.monitorTags = ["service:myapp", "env:production"]),
                "downtime myapp-monitoring-deployment-window mutes [production] myapp: Error rate above 1% (track:stable)",
            ],
            [
                "release-owners-assigned",
                "production",
                "myapp-deployment-plan",
                (r: any) => delete r.inputs.data["rollback-owner"],
                "no rollback owner is assigned: ConfigMap myapp-deployment-plan has no rollback-owner (set plan.people.rollbackOwner)",
            ],
            [
                "monitors-for-plan-alerts",
                "production",
                "myapp-monitoring-payment-failure-pct",
                (r: any) => (r.inputs.message = r.inputs.message.replace("@pagerduty-myapp ", "")),
                "monitor [production] myapp: Payment failure rate above 5% is a critical alert but pages nobody (@pagerduty…)",
            ],
            // A label or tag the pack looks for that is missing is a violation, never a reason to skip the check.
            [
                "rollback-path-present",
                "production",
                "myapp-canary-deployment",
                (r: any) => delete r.inputs.metadata.labels.track,
                "Deployment myapp-canary has neither a color nor a track label: the pack cannot tell which rollback path it belongs to",
            ],
            [
                "smoke-test-before-switch",
                "staging",
                "myapp-live",
                (r: any) => delete r.inputs.metadata.labels["app.kubernetes.io/component"],
                "Service myapp has no app.kubernetes.io/component label: the pack cannot tell whether it is the live Service, which must wait for its color's smoke test",
            ],
            [
                "smoke-test-before-switch",
                "staging",
                "myapp-live",
                (r: any) => delete r.inputs.spec.selector.color,
                "live Service myapp selects no color: it sends traffic to both colors, one of them untested",
            ],
            [
                "database-backup-scheduled",
                "production",
                "myapp-db-backup-backup",
                (r: any) => delete r.inputs.metadata.labels["app.kubernetes.io/component"],
                "CronJob myapp-db-backup has no app.kubernetes.io/component label: the pack cannot tell whether it is the database's backup or its restore drill",
            ],
            [
                "monitors-for-plan-alerts",
                "production",
                "myapp-canary-deployment",
                (r: any) => delete r.inputs.spec.template.metadata.labels["tags.datadoghq.com/version"],
                "Deployment myapp-canary has no tags.datadoghq.com/version label on its pods: Datadog cannot tag its traffic with its version, so no monitor judges it",
            ],
            [
                "monitors-for-plan-alerts",
                "production",
                "myapp-monitoring-rollback-now-error-rate-pct-canary",
                (r: any) => (r.inputs.tags = r.inputs.tags.filter((t: string) => t !== "severity:rollback")),
                "monitor [production] myapp: Rollback trigger (now): error rate above 5% (track:canary) is tagged plan-alert:rollbackNowErrorRatePct but not severity:rollback",
            ],
            [
                "monitors-for-plan-alerts",
                "production",
                "myapp-monitoring-p95-latency-seconds-canary",
                (r: any) => (r.inputs.tags = r.inputs.tags.filter((t: string) => t !== "track:canary")),
                "monitor [production] myapp: p95 response time above 2 s (track:canary) judges one version in flight but has no color: or track: tag",
            ],
        ];
        it("release-owners-assigned: a deployment-plan ConfigMap without data assigns nobody (and holds no canary steps)", async () => {
            const run = edited(production, "myapp-deployment-plan", (r: any) => delete r.inputs.data);
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.filter((v) => v.policy === "release-owners-assigned").map((v) => v.message),
                [
                    "no deployment lead is assigned: ConfigMap myapp-deployment-plan has no deployment-lead (set plan.people.deploymentLead)",
                    "no rollback owner is assigned: ConfigMap myapp-deployment-plan has no rollback-owner (set plan.people.rollbackOwner)",
                ],
            );
            assert.deepStrictEqual(firing(violations).sort(), ["release-owners-assigned", "rollback-path-present"]);
        });

        for (const [policy, stack, resource, change, message] of cases) {
            it(`${policy}: ${message}`, async () => {
                const run = edited(stack === "production" ? production : staging, resource, change);
                const violations = await runPolicies(run, PROJECT, policies, configOf(stack), PACK_ENFORCEMENT);
                assert.deepStrictEqual(firing(violations), [policy]);
                assert.strictEqual(violations[0].message, message);
                assert.strictEqual(violations[0].level, stack === "production" ? "mandatory" : "advisory");
            });
        }

        it("hpa-on-every-deployment: a Deployment whose autoscaler targets something else", async () => {
            const run = edited(production, "myapp-canary-hpa", (r: any) => (r.inputs.spec.scaleTargetRef.name = "something-else"));
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => [v.policy, v.message]),
                [["hpa-on-every-deployment", "Deployment myapp-canary has no HorizontalPodAutoscaler"]],
            );
        });

        it("replicas-survive-node-loss: an autoscaler whose minimum is one replica", async () => {
            const run = edited(production, "myapp-canary-hpa", (r: any) => (r.inputs.spec.minReplicas = 1));
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => [v.policy, v.message]),
                [["replicas-survive-node-loss", "Deployment myapp-canary runs 1 replica: the loss of one node takes it down"]],
            );
        });

        it("a migration Job without its component label: both policies that need to find the migration say so", async () => {
            const run = edited(production, "myapp-release-db-migrate-expand-v1-2-3", (r: any) => delete r.inputs.metadata.labels["app.kubernetes.io/component"]);
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => [v.policy, v.message, v.resource]),
                [
                    [
                        "migration-before-new-version",
                        "Job myapp-migrate-expand-v1-2-3 has no app.kubernetes.io/component label: the pack cannot tell whether it is the release's migration, which the Deployments must wait for",
                        "myapp-release-db-migrate-expand-v1-2-3",
                    ],
                    [
                        "backup-before-migration",
                        "Job myapp-migrate-expand-v1-2-3 has no app.kubernetes.io/component label: the pack cannot tell whether it is a migration, which must wait for a pre-deploy backup",
                        "myapp-release-db-migrate-expand-v1-2-3",
                    ],
                ],
            );
        });

        it("downtime-never-mutes-rollback-triggers: a critical monitor that lost its severity tag is still never muted", async () => {
            const run = edited(
                production,
                "myapp-monitoring-payment-failure-pct",
                (r: any) => (r.inputs.tags = [...r.inputs.tags.filter((t: string) => t !== "severity:critical"), "deployment-window:mute"]),
            );
            const violations = await runPolicies(run, PROJECT, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => [v.policy, v.message]),
                [
                    ["monitors-for-plan-alerts", "monitor [production] myapp: Payment failure rate above 5% is tagged plan-alert:paymentFailurePct but not severity:critical"],
                    ["downtime-never-mutes-rollback-triggers", "downtime myapp-monitoring-deployment-window mutes [production] myapp: Payment failure rate above 5%"],
                ],
            );
        });

        it("covers every policy of the pack with a violating case", () => {
            const covered = new Set([...cases.map((c) => c[0]), "replicas-survive-node-loss", "rollback-path-present"]);
            assert.deepStrictEqual(
                policies.map((p) => p.name).filter((n) => !covered.has(n)),
                [],
            );
        });
    });

    it("tolerates values unknown during preview without crashing", async () => {
        // During `pulumi preview` computed values arrive as undefined: blank every string and number, or every
        // top-level input, of every resource. A policy that dereferences an unknown value throws, and fails this.
        const blank = (v: unknown): unknown =>
            Array.isArray(v)
                ? v.map(blank)
                : v && typeof v === "object"
                  ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, blank(x)]))
                  : typeof v === "string" || typeof v === "number"
                    ? undefined
                    : v;
        for (const run of [production, staging]) {
            const deep: ProgramRun = { ...run, resources: run.resources.map((r) => ({ ...r, inputs: blank(r.inputs) as Record<string, unknown> })) };
            await assert.doesNotReject(runPolicies(deep, PROJECT, policies, {}, PACK_ENFORCEMENT));
            const shallow: ProgramRun = { ...run, resources: run.resources.map((r) => ({ ...r, inputs: Object.fromEntries(Object.keys(r.inputs).map((k) => [k, undefined])) })) };
            await assert.doesNotReject(runPolicies(shallow, PROJECT, policies, {}, PACK_ENFORCEMENT));
        }
    });

    it("maps every policy in the coverage table of its README", () => {
        const readme = readFileSync(path.join(ROOT, "policy", "README.md"), "utf8");
        const named = new Set([...readme.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]));
        assert.deepStrictEqual(
            policies.map((p) => p.name).filter((n) => !named.has(n)),
            [],
        );
        for (const p of policies) assert.match(p.description, /^Checklist "/, `${p.name} must name the checklist item it enforces`);
    });
});
