import * as assert from "assert";
import * as path from "path";
import { runProgram } from "../../tools/offline/run";
import { applyProjectConfig, readProject, toRunRequest } from "../../tools/offline/stackConfig";
import { ProgramError, ProgramRun } from "../../tools/offline/types";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { DatadogScope } from "../../lib/judge/datadogSeries";
import { PACK_ENFORCEMENT, policies } from "../../policy/policies";
import { PROJECT, ROOT, stackConfig } from "../helpers";
import { DatadogStandIn, startDatadogStandIn } from "../support/datadogStandIn";
import { closedPort, rollbackNowTrigger, serveVersion } from "../support/gateData";

// The program with the release gate, under mocks, reading the Datadog stand-in on loopback through the official
// client (DATADOG_HOST is its server configuration), as `pulumi up` reads Datadog: production's canary at 25% since
// 14:00, asked at 14:45 to go to 100%.
const NOW = "2026-11-27T14:45:00Z";
const SCOPE: DatadogScope = {
    service: "myapp",
    env: "production",
    span: "web.request",
    excludeResources: ["get_/health/*"],
    payments: { total: "payment.total", failed: "payment.failed" },
};
/** What the stack's last `up` left in its outputs; the program reads them through a StackReference to itself. */
const LAST_UP = {
    strategy: "canary",
    versions: { stable: "v1.2.2", canary: "v1.2.3" },
    traffic: { canaryWeight: 25 },
    gate: { traffic: { shares: { "v1.2.2": 75, "v1.2.3": 25 }, since: "2026-11-27T14:00:00Z" } },
};
const SELF = "organization/myapp/production";
const configOf = (stack: string) => readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));

async function run(sets: string[], outputs: Record<string, unknown> = LAST_UP): Promise<ProgramRun> {
    const config = applyProjectConfig(
        readProject(path.join(ROOT, "Pulumi.yaml")),
        "production",
        stackConfig("production", sets),
    );
    return runProgram({ ...toRunRequest(PROJECT, "production", config), now: NOW, live: { [SELF]: { outputs } } });
}

async function refusal(p: Promise<unknown>): Promise<ProgramError> {
    try {
        await p;
    } catch (err) {
        return err as ProgramError;
    }
    throw new Error("the program ran");
}

const nonReads = (r: ProgramRun) => r.resources.filter((x) => !x.read).length;

describe("the release gate in the program, against the Datadog stand-in", function () {
    this.timeout(120_000);
    let dd: DatadogStandIn;
    const saved = { ...process.env };

    beforeEach(async () => {
        dd = await startDatadogStandIn();
        Object.assign(process.env, {
            DD_API_KEY: dd.credentials.apiKey,
            DD_APP_KEY: dd.credentials.appKey,
            DATADOG_HOST: dd.url,
        });
        serveVersion(dd, SCOPE, "v1.2.2", { requestsPerMinute: 600, errorPct: 0.5, p95Seconds: 0.2, phase: 0 });
        serveVersion(dd, SCOPE, "v1.2.3", { requestsPerMinute: 200, errorPct: 0.5, p95Seconds: 0.2, phase: 5 });
    });
    afterEach(async () => {
        for (const key of ["DD_API_KEY", "DD_APP_KEY", "DATADOG_HOST"])
            if (saved[key] === undefined) delete process.env[key];
        await dd.close();
        assert.deepStrictEqual(dd.invalid, [], "every request matched the client's types");
    });

    it("stops the up to 100 before anything is declared while the canary's rollback trigger alerts, naming the monitor, its state and its link", async () => {
        dd.monitors = [rollbackNowTrigger(SCOPE, "v1.2.3", "Alert")];
        const err = await refusal(run(["canary.weight=100"]));
        assert.strictEqual(err.exitCode, 1);
        assert.strictEqual(
            err.message,
            [
                "release gate: raising traffic to v1.2.3 (25% → 100%) is refused; nothing was declared:",
                `  monitor "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary)" is Alert: ${dd.url}/monitors/4101`,
                "Wait and run again, lower the traffic, or roll back (`pulumi stack output rollback`); in an emergency set release.gate.override.reason and .approver.",
            ].join("\n"),
        );
        // The read of the stack's own outputs is the one thing registered.
        assert.strictEqual(err.declaredBeforeFailure, 1);
        assert.deepStrictEqual(dd.requests[0].query, {
            monitor_tags: "service:myapp,env:production,version:v1.2.3",
            group_states: "all",
            page: "0",
            page_size: "100",
        });
    });

    it("lets the up to 100 through when the canary is healthy, observed and judged Pass, and records its new share from now", async () => {
        dd.monitors = [rollbackNowTrigger(SCOPE, "v1.2.3", "OK")];
        const r = await run(["canary.weight=100"]);
        assert.deepStrictEqual(r.outputs.gate, {
            outcome: "passed",
            message:
                "release gate: raising traffic to v1.2.3 (25% → 100%) passes: no monitor of v1.2.3 alerts, 6000 requests in 30 minutes at 25%, judged Pass (score 100) against v1.2.2",
            traffic: { shares: { "v1.2.3": 100 }, since: NOW },
        });
        assert.deepStrictEqual(
            dd.requests.map((q) => `${q.method} ${q.path}`),
            ["GET /api/v1/monitor", "POST /api/v2/query/scalar", "POST /api/v2/query/timeseries"],
        );
    });

    it("refuses a canary whose p95 doubles, judged Marginal, with the scorecard", async () => {
        serveVersion(dd, SCOPE, "v1.2.3", { requestsPerMinute: 200, errorPct: 0.5, p95Seconds: 0.4, phase: 5 });
        const err = await refusal(run(["canary.weight=100", "judge.groupWeights.latency=20"]));
        const lines = err.message.split("\n");
        assert.deepStrictEqual(lines.slice(0, 3), [
            "release gate: raising traffic to v1.2.3 (25% → 100%) is refused; nothing was declared:",
            "  judge: v1.2.3 against v1.2.2 scores 80, Marginal, below judge.thresholds.pass 95:",
            "    metric             classification  estimate      98% interval               effect size",
        ]);
        const card = lines.slice(3, -1).map((l) => l.trim());
        assert.deepStrictEqual(
            card.slice(0, 3).map((l) => l.split(/\s+/).slice(0, 2).join(" ")),
            ["errorRatePct Pass", "p95LatencySeconds High", "paymentFailurePct Pass"],
        );
        assert.deepStrictEqual(card.slice(-2), ["groups: errors 100, latency 0, payments 100", "score 80: Marginal"]);
    });

    it("with Datadog down refuses raising the canary and lets the rollback through", async () => {
        process.env.DATADOG_HOST = `http://127.0.0.1:${await closedPort()}`;
        const err = await refusal(run(["canary.weight=100"]));
        assert.match(
            err.message,
            /^release gate: raising traffic to v1\.2\.3 \(25% → 100%\) is refused; nothing was declared:\n {2}Datadog did not answer \(list monitors: cannot reach Datadog: ECONNREFUSED\)/,
        );
        const rollback = await run(["canary.weight=0", "release.version=v1.2.2"]);
        assert.deepStrictEqual(rollback.outputs.gate, {
            outcome: "no raise",
            message: "release gate: no version gains traffic (lowering traffic and rollbacks are not gated)",
            traffic: { shares: { "v1.2.2": 100 }, since: NOW },
        });
    });

    it("with an override lets the refused up through, and records reason and approver in the outputs, the plan and the ConfigMap the policy pack reads", async () => {
        dd.monitors = [rollbackNowTrigger(SCOPE, "v1.2.3", "Alert")];
        const sets = ["canary.weight=100", "release.gate.override.reason=the fix for the payment outage is in v1.2.3"];
        const unapproved = await run(sets);
        assert.strictEqual((unapproved.outputs.gate as any).outcome, "overridden");
        assert.deepStrictEqual((unapproved.outputs.gate as any).override, {
            reason: "the fix for the payment outage is in v1.2.3",
            approver: null,
        });
        const violations = await runPolicies(unapproved, policies, configOf("production"), PACK_ENFORCEMENT);
        assert.deepStrictEqual(
            violations.filter((v) => v.policy === "gate-override-approved"),
            [
                {
                    policy: "gate-override-approved",
                    level: "mandatory",
                    message:
                        "the release gate is overridden without an approver: ConfigMap myapp-deployment-plan has no gate-override-approver (set release.gate.override.approver)",
                    resource: "myapp-deployment-plan",
                },
            ],
        );
        const approved = await run([...sets, "release.gate.override.approver=@myapp-release-lead"]);
        assert.deepStrictEqual((approved.outputs.gate as any).override, {
            reason: "the fix for the payment outage is in v1.2.3",
            approver: "@myapp-release-lead",
        });
        assert.deepStrictEqual(
            (await runPolicies(approved, policies, configOf("production"), PACK_ENFORCEMENT)).filter(
                (v) => v.policy === "gate-override-approved",
            ),
            [],
        );
        assert.match(
            approved.outputs.readme as string,
            /\n\*\*Release Gate Overridden\*\*: "the fix for the payment outage is in v1\.2\.3", approved by @myapp-release-lead\.\n/,
        );
        assert.strictEqual(nonReads(approved), nonReads(unapproved));
    });

    it('without credentials says "not evaluated" and asks Datadog nothing', async () => {
        for (const key of ["DD_API_KEY", "DD_APP_KEY"]) delete process.env[key];
        const r = await run(["canary.weight=100"]);
        assert.strictEqual((r.outputs.gate as any).outcome, "not evaluated");
        assert.deepStrictEqual(dd.requests, []);
        assert.strictEqual(
            r.resources.some((x) => x.type === "pulumi:pulumi:StackReference"),
            false,
        );
    });
});
