import * as assert from "assert";
import { validateConfig } from "../../../lib/config";
import {
    DatadogAnswer,
    evaluateGate,
    GateInput,
    gatedRaises,
    recordedTraffic,
    trafficShares,
    VersionEvidence,
} from "../../../lib/gate/gate";
import { monitorLinks } from "../../../lib/gate/datadog";
import { judgeSeries } from "../../../lib/judge/judge";
import { programConfig, PROJECT } from "../../helpers";

// The release gate's decision on its own (lib/gate/gate.ts): production's canary v1.2.3 against stable v1.2.2, at 25%
// since 14:00, asked at 14:45 to go to 100%.
const NOW = new Date("2026-11-27T14:45:00Z");
const AT_25 = { shares: { "v1.2.2": 75, "v1.2.3": 25 }, since: "2026-11-27T14:00:00Z" };
const RULES = { observeMinutes: 30, minRequests: 100, minRequestsKey: "monitoring.trafficGuard.minRequests", pass: 95 };
const RELEASE = { version: "v1.2.3", previousVersion: "v1.2.2", gate: {} };
const TRIGGER = {
    id: 4101,
    name: "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary)",
    state: "Alert",
    link: "https://app.datadoghq.com/monitors/4101",
};

const base = [0.2, 0.22, 0.21, 0.23, 0.2, 0.24, 0.22];
const errors = { canary: [0.5, 0.4, 0.6, 0.5, 0.45, 0.55, 0.5], baseline: [0.45, 0.55, 0.5, 0.4, 0.6, 0.5, 0.52] };
/** Errors alike, and p95 alike (Pass) or the canary's twice stable's (High on latency, which weighs 20: score 80, Marginal). */
const judged = (latency: "alike" | "doubled") => ({
    baseline: "v1.2.2",
    judgment: judgeSeries(
        {
            errorRatePct: errors,
            p95LatencySeconds: {
                canary: latency === "alike" ? base.slice().reverse() : base.map((x) => x * 2),
                baseline: base,
            },
        },
        { thresholds: { pass: 95, marginal: 75 }, groupWeights: { errors: 80 }, metrics: {} },
    ),
});
const healthy: VersionEvidence = { alerting: [], step: { requests: 5400, judged: judged("alike") } };
const read = (evidence: VersionEvidence): DatadogAnswer => ({ kind: "read", versions: { "v1.2.3": evidence } });

function input(over: Partial<GateInput> = {}): GateInput {
    return {
        before: { kind: "recorded", traffic: AT_25 },
        after: { "v1.2.3": 100 },
        release: RELEASE,
        halted: [],
        now: NOW,
        rules: RULES,
        datadog: read(healthy),
        ...over,
    };
}

const ADVICE =
    "Wait and run again, lower the traffic, or roll back (`pulumi stack output rollback`); in an emergency set release.gate.override.reason and .approver.";

describe("the release gate's decision", () => {
    it("refuses raising the canary from 25% to 100% while its rollback trigger alerts, naming the monitor, its state and its link", () => {
        const d = evaluateGate(input({ datadog: read({ ...healthy, alerting: [TRIGGER] }) }));
        assert.strictEqual(d.outcome, "refused");
        assert.strictEqual(
            d.message,
            [
                "release gate: raising traffic to v1.2.3 (25% → 100%) is refused; nothing was declared:",
                '  monitor "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary)" is Alert: https://app.datadoghq.com/monitors/4101',
                ADVICE,
            ].join("\n"),
        );
    });

    it("refuses a step observed for less than plan.observeMinutes, or with fewer requests than the traffic guard's minimum", () => {
        const d = evaluateGate(
            input({
                now: new Date("2026-11-27T14:12:30Z"),
                datadog: read({ alerting: [], step: { requests: 40, judged: judged("alike") } }),
            }),
        );
        assert.deepStrictEqual(d.problems, [
            "v1.2.3 has been at 25% since 2026-11-27T14:00:00Z: 12 of the 30 minutes of plan.observeMinutes observed",
            "v1.2.3 served 40 requests in the last 30 minutes: fewer than 100 (monitoring.trafficGuard.minRequests) to judge it",
        ]);
        assert.strictEqual(
            evaluateGate(input({ datadog: read({ alerting: [], step: { requests: null } }) })).problems[0],
            "v1.2.3 served 0 requests in the last 30 minutes: fewer than 100 (monitoring.trafficGuard.minRequests) to judge it",
        );
    });

    it("refuses a Marginal judgment with the scorecard", () => {
        const d = evaluateGate(
            input({ datadog: read({ alerting: [], step: { requests: 5400, judged: judged("doubled") } }) }),
        );
        assert.strictEqual(d.outcome, "refused");
        assert.deepStrictEqual(d.problems, [
            "judge: v1.2.3 against v1.2.2 scores 80, Marginal, below judge.thresholds.pass 95:",
            "  metric             classification  estimate  98% interval  effect size",
            "  errorRatePct       Pass            0         [-0.1, 0.1]   0.9943",
            "  p95LatencySeconds  High            0.2199    [0.18, 0.26]  2",
            "",
            "  groups: errors 100, latency 0",
            "  score 80: Marginal",
        ]);
    });

    it("lets a healthy, observed canary judged Pass through, and keeps the time its new share starts", () => {
        const d = evaluateGate(input());
        assert.strictEqual(d.outcome, "passed");
        assert.strictEqual(
            d.message,
            "release gate: raising traffic to v1.2.3 (25% → 100%) passes: no monitor of v1.2.3 alerts, 5400 requests in 30 minutes at 25%, judged Pass (score 100) against v1.2.2",
        );
        assert.deepStrictEqual(d.traffic, { shares: { "v1.2.3": 100 }, since: "2026-11-27T14:45:00Z" });
    });

    it("never gates lowering the canary or a rollback, even with Datadog down: the previous version gains, and it is the rollback's", () => {
        const down: DatadogAnswer = {
            kind: "unavailable",
            message: "list monitors: cannot reach Datadog: ECONNREFUSED",
        };
        const lower = evaluateGate(input({ after: { "v1.2.2": 95, "v1.2.3": 5 }, datadog: down }));
        assert.deepStrictEqual(
            [lower.outcome, lower.message],
            ["no raise", "release gate: no version gains traffic (lowering traffic and rollbacks are not gated)"],
        );
        const rollback = evaluateGate(
            input({
                after: { "v1.2.2": 100 },
                release: { version: "v1.2.2", previousVersion: "v1.2.2", gate: {} },
                datadog: down,
            }),
        );
        assert.strictEqual(rollback.outcome, "no raise");
        // An up that moves nothing keeps the time the shares were set.
        assert.deepStrictEqual(evaluateGate(input({ after: AT_25.shares })).traffic, AT_25);
    });

    it("refuses raising while Datadog is down or slow", () => {
        const d = evaluateGate(
            input({
                datadog: {
                    kind: "unavailable",
                    message: "list monitors: Datadog did not answer within 30 s (1 attempt)",
                },
            }),
        );
        assert.deepStrictEqual(d.problems, [
            "Datadog did not answer (list monitors: Datadog did not answer within 30 s (1 attempt)): raising traffic is refused while Datadog is down or slow; lowering it and rolling back are not gated",
        ]);
        assert.strictEqual(d.outcome, "refused");
    });

    it('says "not evaluated" without credentials, never "passed"', () => {
        const noCredentials: DatadogAnswer = {
            kind: "not evaluated",
            reason: "no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY",
        };
        const d = evaluateGate(input({ before: { kind: "not read" }, datadog: noCredentials }));
        assert.deepStrictEqual(
            [d.outcome, d.message],
            [
                "not evaluated",
                "release gate: not evaluated (no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY): a raise of traffic in this run is not checked",
            ],
        );
        // Without the time it cannot tell, the next run judges the window on its data alone.
        assert.deepStrictEqual(d.traffic, { shares: { "v1.2.3": 100 } });
    });

    it("lets an override through, saying what it would refuse; an override does not lift an automatic rollback's halt, release.gate.resume does", () => {
        const override = { reason: "payment outage fix, stable is worse", approver: "@myapp-release-lead" };
        const d = evaluateGate(
            input({ release: { ...RELEASE, gate: { override } }, datadog: read({ ...healthy, alerting: [TRIGGER] }) }),
        );
        assert.strictEqual(d.outcome, "overridden");
        assert.strictEqual(
            d.message,
            [
                "release gate: raising traffic to v1.2.3 (25% → 100%) would be refused:",
                '  monitor "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary)" is Alert: https://app.datadoghq.com/monitors/4101',
                'Overridden by release.gate.override: "payment outage fix, stable is worse", approved by @myapp-release-lead',
            ].join("\n"),
        );
        const halted = evaluateGate(input({ release: { ...RELEASE, gate: { override } }, halted: ["v1.2.3"] }));
        assert.strictEqual(
            halted.message,
            [
                "release gate: raising traffic to v1.2.3 (25% → 100%) is refused; nothing was declared:",
                '  v1.2.3 was halted by an automatic rollback: raising its traffic again takes release.gate.resume = "v1.2.3"',
                "Wait and run again, lower the traffic, or roll back (`pulumi stack output rollback`).",
            ].join("\n"),
        );
        assert.strictEqual(
            evaluateGate(input({ release: { ...RELEASE, gate: { resume: "v1.2.3" } }, halted: ["v1.2.3"] })).outcome,
            "passed",
        );
    });
});

describe("which versions the release gate asks about", () => {
    it("a promotion, a blue/green switch and a canary's first step; not the version a rollback returns to", () => {
        assert.deepStrictEqual(gatedRaises(AT_25.shares, { "v1.2.3": 100 }, RELEASE), [
            { version: "v1.2.3", from: 25, to: 100 },
        ]);
        assert.deepStrictEqual(gatedRaises({ "v1.2.2": 100 }, { "v1.2.3": 100 }, RELEASE), [
            { version: "v1.2.3", from: 0, to: 100 },
        ]);
        assert.deepStrictEqual(gatedRaises({ "v1.2.2": 100 }, { "v1.2.2": 95, "v1.2.3": 5 }, RELEASE), [
            { version: "v1.2.3", from: 0, to: 5 },
        ]);
        // 100 → 25 gives stable back 75%: a rollback of a step, never gated; without a previous version, only release.version is.
        assert.deepStrictEqual(gatedRaises({ "v1.2.3": 100 }, AT_25.shares, RELEASE), []);
        assert.deepStrictEqual(gatedRaises({ "v1.2.3": 100 }, AT_25.shares, { version: "v1.2.3" }), []);
    });

    it("reads each version's share from config: a canary's two tracks (one version after a promotion), the active color", () => {
        const config = (stack: string, sets: string[] = []) =>
            validateConfig(PROJECT, stack, programConfig(stack, sets));
        assert.deepStrictEqual(trafficShares(config("production")), { "v1.2.2": 95, "v1.2.3": 5 });
        assert.deepStrictEqual(
            trafficShares(config("production", ["canary.stableVersion=v1.2.3", "canary.weight=0"])),
            { "v1.2.3": 100 },
        );
        assert.deepStrictEqual(trafficShares(config("staging")), { "v1.2.2": 100 });
        assert.deepStrictEqual(trafficShares(config("staging", ["blueGreen.activeColor=green"])), { "v1.2.3": 100 });
    });

    it("reads the traffic the last up recorded, or from an up before the gate, its versions and weight", () => {
        assert.deepStrictEqual(recordedTraffic({ gate: { traffic: AT_25 } }), AT_25);
        assert.deepStrictEqual(
            recordedTraffic({
                strategy: "canary",
                versions: { stable: "v1.2.2", canary: "v1.2.3" },
                traffic: { canaryWeight: 25 },
            }),
            { shares: AT_25.shares },
        );
        // Before the gate, the traffic output named the active color's version liveVersion.
        assert.deepStrictEqual(recordedTraffic({ strategy: "blue-green", traffic: { liveVersion: "v1.2.2" } }), {
            shares: { "v1.2.2": 100 },
        });
        assert.strictEqual(recordedTraffic({}), undefined);
    });

    it("links each monitor on Datadog's web app for the API URL or site in use", () => {
        assert.strictEqual(monitorLinks(undefined, undefined)(7), "https://app.datadoghq.com/monitors/7");
        assert.strictEqual(monitorLinks(undefined, "datadoghq.eu")(7), "https://app.datadoghq.eu/monitors/7");
        assert.strictEqual(monitorLinks(undefined, "us3.datadoghq.com")(7), "https://us3.datadoghq.com/monitors/7");
        assert.strictEqual(
            monitorLinks("https://api.datadoghq.com/", undefined)(7),
            "https://app.datadoghq.com/monitors/7",
        );
    });
});
