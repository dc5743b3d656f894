import * as assert from "assert";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { policies, PACK_ENFORCEMENT } from "../../policy/policies";
import type { PolicyViolation } from "../../lib/plan/types";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { ProgramRun } from "../../tools/offline/types";
import { preview, ROOT, runStack } from "../helpers";

const configOf = (stack: string) => readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));

function previewWithPolicy(stack: string, sets: string[]): { code: number; violations: PolicyViolation[] } {
    const r = preview(["--stack", stack, ...sets.flatMap((s) => ["--set", s]), "--json"]);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return { code: r.code, violations: JSON.parse(r.stdout).policy.violations };
}

describe("the policy pack", () => {
    it("imports nothing from outside its folder, so `pulumi policy publish` (which packs only policy/) ships all it needs", () => {
        const dir = path.join(ROOT, "policy");
        const outside = readdirSync(dir)
            .filter((f) => f.endsWith(".ts"))
            .flatMap((f) =>
                [...readFileSync(path.join(dir, f), "utf8").matchAll(/from "(\.\.\/[^"]*)"/g)].map(
                    (m) => `${f}: ${m[1]}`,
                ),
            );
        assert.deepStrictEqual(outside, []);
    });

    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    it("passes both stacks of the real program", async () => {
        assert.deepStrictEqual(await runPolicies(production, policies, configOf("production"), PACK_ENFORCEMENT), []);
        assert.deepStrictEqual(await runPolicies(staging, policies, configOf("staging"), PACK_ENFORCEMENT), []);
    });

    // The policies' own cases are unit tests on fixtures (test/policy/). These run the real program, or the offline
    // preview as a user does, for what only they show: exit codes and levels per stack, and stack config reaching the pack.
    describe("the offline preview applies each stack's enforcement level", () => {
        it("exits 1 on a mandatory violation in production", () => {
            const { code, violations } = previewWithPolicy("production", ["release.image=docker.io/someone/myapp"]);
            assert.strictEqual(code, 1);
            assert.deepStrictEqual(violations, [
                {
                    policy: "images-pinned-and-allowed",
                    level: "mandatory",
                    message: 'container "myapp" pulls from docker.io, not an allowed registry (registry.example.com)',
                    resource: "myapp-stable-deployment",
                },
                {
                    policy: "images-pinned-and-allowed",
                    level: "mandatory",
                    message: 'container "myapp" pulls from docker.io, not an allowed registry (registry.example.com)',
                    resource: "myapp-canary-deployment",
                },
            ]);
        });

        it("exits 0 on an advisory violation in staging: a scaled-down blue/green preview color", () => {
            const { code, violations } = previewWithPolicy("staging", ["blueGreen.previewReplicas=0"]);
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
    });

    describe("reads the program's stack config through what it declares", () => {
        it("monitors-for-plan-alerts refuses a threshold loosened, even with a reason the program accepts", async () => {
            const run = runStack("production", [
                "monitoring.thresholds.errorRatePct=2",
                "monitoring.looserThresholdReasons.errorRatePct=partner retry storm, INC-1234",
            ]);
            const violations = await runPolicies(run, policies, configOf("production"), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => [v.policy, v.resource]),
                [
                    ["monitors-for-plan-alerts", "myapp-monitoring-error-rate-pct-stable"],
                    ["monitors-for-plan-alerts", "myapp-monitoring-error-rate-pct-canary"],
                ],
            );
        });

        it("rollback-path-present takes canary steps changed in stack config with no policy config edit", async () => {
            const run = runStack("production", ["canary.steps[1]=50", "canary.weight=50"]);
            assert.deepStrictEqual(await runPolicies(run, policies, configOf("production"), PACK_ENFORCEMENT), []);
        });
    });

    it("has fixture tests for every policy of the pack: a clean case and a changed one", () => {
        const dir = path.join(ROOT, "test", "policy");
        const tests = readdirSync(dir)
            .filter((f) => f.endsWith(".test.ts"))
            .map((f) => readFileSync(path.join(dir, f), "utf8"))
            .join("\n");
        const blocks = new Map(
            [...tests.matchAll(/describe\("policy ([a-z0-9-]+)", \(\) => \{([\s\S]*?)\n\}\);/g)].map((m) => [
                m[1],
                m[2],
            ]),
        );
        for (const p of policies) {
            const block = blocks.get(p.name) ?? "";
            assert.match(block, /assertNoViolations\(/, `${p.name}: no clean fixture case in test/policy/`);
            assert.match(block, /assertViolations\(/, `${p.name}: no case that changes the fixture in test/policy/`);
        }
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
            const deep: ProgramRun = {
                ...run,
                resources: run.resources.map((r) => ({ ...r, inputs: blank(r.inputs) as Record<string, unknown> })),
            };
            await assert.doesNotReject(runPolicies(deep, policies, {}, PACK_ENFORCEMENT));
            const shallow: ProgramRun = {
                ...run,
                resources: run.resources.map((r) => ({
                    ...r,
                    inputs: Object.fromEntries(Object.keys(r.inputs).map((k) => [k, undefined])),
                })),
            };
            await assert.doesNotReject(runPolicies(shallow, policies, {}, PACK_ENFORCEMENT));
        }
    });

    it("maps every policy in the coverage table of its README", () => {
        const readme = readFileSync(path.join(ROOT, "policy", "README.md"), "utf8");
        const named = new Set([...readme.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]));
        assert.deepStrictEqual(
            policies.map((p) => p.name).filter((n) => !named.has(n)),
            [],
        );
        for (const p of policies)
            assert.match(p.description, /^Checklist "/, `${p.name} must name the checklist item it enforces`);
    });
});
