// The release gate's decision, from what the stack's last `up` recorded, what config asks for and what Datadog said:
// no Pulumi and no I/O here (lib/gate/datadog.ts reads Datadog, program/gate.ts runs both before anything is declared).
import type { ProgramConfig } from "../config";
import { Judgment, renderScorecard } from "../judge/judge";

/** Each version's share of user traffic, in percent; a version without users is absent. */
export type Shares = Record<string, number>;

/** The traffic an `up` left, as its `gate` output records it. */
export interface TrafficRecord {
    shares: Shares;
    /** When these shares were first set (ISO 8601); absent when the up that set them could not tell. */
    since?: string;
}

/** What the gate knows of the traffic before this run. */
export type Before = { kind: "recorded"; traffic: TrafficRecord } | { kind: "first up" } | { kind: "not read" };

/** One version's share growing in this run. */
export interface Raise {
    version: string;
    from: number;
    to: number;
}

function add(shares: Shares, version: string, percent: number): Shares {
    if (percent > 0) shares[version] = (shares[version] ?? 0) + percent;
    return shares;
}

/** The shares a stable/canary pair at `weight` gives (one version when both tracks run it, after a promotion). */
const canaryShares = (stable: string, canary: string, weight: number): Shares =>
    add(add({}, stable, 100 - weight), canary, weight);

/** The shares this config sends each version once the `up` is done. */
export function trafficShares(cfg: ProgramConfig): Shares {
    switch (cfg.strategy) {
        case "canary":
            return canaryShares(cfg.canary.stableVersion, cfg.canary.canaryVersion, cfg.canary.weight);
        case "blue-green":
            return {
                [cfg.blueGreen.activeColor === "blue" ? cfg.blueGreen.blueVersion : cfg.blueGreen.greenVersion]: 100,
            };
        case "rolling":
            return { [cfg.release.version]: 100 };
    }
}

/**
 * The traffic the stack's outputs record: the `gate` output's, or for an up from before the gate, the shares its
 * `versions` and `traffic` outputs describe (with no time). Undefined when the stack has no outputs: the first up.
 */
export function recordedTraffic(outputs: Record<string, unknown> | undefined): TrafficRecord | undefined {
    if (!outputs || Object.keys(outputs).length === 0) return undefined;
    const gate = outputs.gate as { traffic?: TrafficRecord } | undefined;
    if (gate?.traffic?.shares) return gate.traffic;
    const versions = (outputs.versions ?? {}) as Record<string, string>;
    const traffic = (outputs.traffic ?? {}) as Record<string, unknown>;
    if (outputs.strategy === "canary" && typeof traffic.canaryWeight === "number")
        return { shares: canaryShares(versions.stable, versions.canary, traffic.canaryWeight) };
    // An up from before the gate named the active color's version `liveVersion`; later ups record the gate output.
    if (outputs.strategy === "blue-green" && typeof traffic.liveVersion === "string")
        return { shares: { [traffic.liveVersion]: 100 } };
    if (outputs.strategy === "rolling" && versions.stable) return { shares: { [versions.stable]: 100 } };
    return undefined;
}

/**
 * The versions whose share grows, less the one a rollback returns to: release.previousVersion, or when it is unset
 * every version but release.version. So lowering a canary (stable gains) and every rollback pass ungated.
 */
export function gatedRaises(
    before: Shares,
    after: Shares,
    release: Pick<ProgramConfig["release"], "version" | "previousVersion">,
): Raise[] {
    return Object.entries(after)
        .filter(([v, to]) => to > (before[v] ?? 0))
        .filter(([v]) =>
            release.previousVersion !== undefined ? v !== release.previousVersion : v === release.version,
        )
        .map(([version, to]) => ({ version, from: before[version] ?? 0, to }))
        .sort((a, b) => a.version.localeCompare(b.version));
}

/** A notifying monitor of a version, as Datadog lists it. */
export interface MonitorFinding {
    id: number;
    name: string;
    /** overall_state: Alert, Warn, No Data, OK, … */
    state: string;
    link: string;
}

/** What Datadog says of one version that gains traffic. */
export interface VersionEvidence {
    /** Its notifying per-version monitors (rollback triggers, error rate, latency, payments) in Alert. */
    alerting: MonitorFinding[];
    /** For a version already at a step: its requests over the observe window and its judgment against the baseline. */
    step?: {
        /** Requests (probes left out) over the window; null when Datadog has none. */
        requests: number | null;
        /** Against the version giving up the most traffic; absent when no other version served. */
        judged?: { baseline: string; judgment: Judgment };
    };
}

/** What reading Datadog gave. */
export type DatadogAnswer =
    | { kind: "read"; versions: Record<string, VersionEvidence> }
    /** Unreachable, too slow, failing or refusing the request: raising is refused. */
    | { kind: "unavailable"; message: string }
    /** Nothing was asked: no credentials, or no scope to ask in. */
    | { kind: "not evaluated"; reason: string };

export interface GateRules {
    /** plan.observeMinutes: how long a step is watched before the next. */
    observeMinutes: number;
    /** Requests a step needs in that window, and the key that sets the number. */
    minRequests: number;
    minRequestsKey: string;
    /** judge.thresholds.pass. */
    pass: number;
}

export interface GateInput {
    before: Before;
    after: Shares;
    release: Pick<ProgramConfig["release"], "version" | "previousVersion" | "gate">;
    /** Versions under an automatic rollback's mark: a raise to one needs release.gate.resume naming it. */
    halted: readonly string[];
    now: Date;
    rules: GateRules;
    datadog: DatadogAnswer;
}

export type GateOutcome = "passed" | "no raise" | "not evaluated" | "overridden" | "refused";

export interface GateDecision {
    outcome: GateOutcome;
    raises: Raise[];
    /** Why it refuses, or would without the override: one line each. */
    problems: string[];
    /** What the run prints: one line, or the refusal with its problems. */
    message: string;
    /** The traffic this run records for the next one. */
    traffic: TrafficRecord;
}

const describeRaise = (r: Raise) => `${r.version} (${r.from}% → ${r.to}%)`;
const sameShares = (a: Shares, b: Shares) =>
    JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Why Datadog's evidence does not let `r` through: alerting monitors, a step not yet observed, too few requests, the judge. */
function evidenceProblems(r: Raise, e: VersionEvidence, before: Before, now: Date, rules: GateRules): string[] {
    const problems = e.alerting.map((m) => `monitor "${m.name}" is ${m.state}: ${m.link}`);
    // From 0 there is no step to have observed: a canary's first step, a switch to a color that served the preview host.
    if (r.from === 0 || !e.step) return problems;
    const since = before.kind === "recorded" ? before.traffic.since : undefined;
    if (since !== undefined) {
        const minutes = Math.floor((now.getTime() - Date.parse(since)) / 60_000);
        if (minutes < rules.observeMinutes)
            problems.push(
                `${r.version} has been at ${r.from}% since ${since}: ${minutes} of the ${rules.observeMinutes} minutes of plan.observeMinutes observed`,
            );
    }
    const requests = e.step.requests ?? 0;
    if (requests < rules.minRequests) {
        problems.push(
            `${r.version} served ${requests} requests in the last ${rules.observeMinutes} minutes: fewer than ${rules.minRequests} (${rules.minRequestsKey}) to judge it`,
        );
    }
    const judged = e.step.judged;
    if (judged && judged.judgment.scorecard.verdict !== "Pass") {
        const card = renderScorecard(judged.judgment).trimEnd().split("\n");
        problems.push(
            `judge: ${r.version} against ${judged.baseline} scores ${judged.judgment.scorecard.score}, ${judged.judgment.scorecard.verdict}, below judge.thresholds.pass ${rules.pass}:`,
            ...card.map((l) => `  ${l}`.trimEnd()),
        );
    }
    return problems;
}

/** What let a raise through, in a few words. */
function passedEvidence(r: Raise, e: VersionEvidence | undefined, rules: GateRules): string {
    const parts = [`no monitor of ${r.version} alerts`];
    if (r.from > 0 && e?.step) {
        parts.push(`${e.step.requests ?? 0} requests in ${rules.observeMinutes} minutes at ${r.from}%`);
        const j = e.step.judged;
        parts.push(
            j
                ? `judged ${j.judgment.scorecard.verdict} (score ${j.judgment.scorecard.score}) against ${j.baseline}`
                : "no other version to judge it against",
        );
    }
    return parts.join(", ");
}

/**
 * Decides whether this run may send the traffic config asks for. A version that gains traffic (gatedRaises) passes
 * only while none of its notifying monitors alerts and, once it is at a step, that step has been observed for
 * plan.observeMinutes with at least the traffic guard's requests and the judge passes it. A halted version needs
 * release.gate.resume; release.gate.override lets the rest through and is recorded. Datadog down or slow refuses a
 * raise; without credentials the gate is "not evaluated", never passed.
 */
export function evaluateGate(input: GateInput): GateDecision {
    const { before, after, release, now, rules, datadog } = input;
    const override = release.gate.override;
    const traffic: TrafficRecord =
        before.kind === "recorded" && sameShares(before.traffic.shares, after)
            ? before.traffic
            : {
                  shares: after,
                  ...(before.kind === "not read" ? {} : { since: now.toISOString().replace(/\.\d{3}Z$/, "Z") }),
              };
    const decide = (outcome: GateOutcome, raises: Raise[], problems: string[], message: string): GateDecision => ({
        outcome,
        raises,
        problems,
        message,
        traffic,
    });

    if (before.kind === "not read") {
        const reason = datadog.kind === "not evaluated" ? datadog.reason : "the stack's last traffic was not read";
        return decide(
            "not evaluated",
            [],
            [],
            `release gate: not evaluated (${reason}): a raise of traffic in this run is not checked`,
        );
    }
    const raises = gatedRaises(before.kind === "recorded" ? before.traffic.shares : {}, after, release);
    if (raises.length === 0)
        return decide(
            "no raise",
            [],
            [],
            "release gate: no version gains traffic (lowering traffic and rollbacks are not gated)",
        );

    const what = raises.map(describeRaise).join(", ");
    // The mark of an automatic rollback is lifted by a person naming the version, not by an override.
    const halted = raises
        .filter((r) => input.halted.includes(r.version) && release.gate.resume !== r.version)
        .map(
            (r) =>
                `${r.version} was halted by an automatic rollback: raising its traffic again takes release.gate.resume = "${r.version}"`,
        );
    const problems = [...halted];
    if (datadog.kind === "unavailable") {
        problems.push(
            `Datadog did not answer (${datadog.message}): raising traffic is refused while Datadog is down or slow; lowering it and rolling back are not gated`,
        );
    } else if (datadog.kind === "read") {
        for (const r of raises)
            problems.push(...evidenceProblems(r, datadog.versions[r.version] ?? { alerting: [] }, before, now, rules));
    }
    const refusal = (verb: string) =>
        [`release gate: raising traffic to ${what} ${verb}:`, ...problems.map((p) => `  ${p}`)].join("\n");
    if (halted.length > 0 || (problems.length > 0 && !override)) {
        return decide(
            "refused",
            raises,
            problems,
            `${refusal("is refused; nothing was declared")}\nWait and run again, lower the traffic, or roll back (\`pulumi stack output rollback\`)${halted.length < problems.length ? "; in an emergency set release.gate.override.reason and .approver" : ""}.`,
        );
    }
    if (problems.length > 0 && override) {
        const by = `release.gate.override: "${override.reason}", approved by ${override.approver ?? "nobody (release.gate.override.approver is not set)"}`;
        return decide("overridden", raises, problems, `${refusal("would be refused")}\nOverridden by ${by}`);
    }
    if (datadog.kind === "not evaluated")
        return decide(
            "not evaluated",
            raises,
            [],
            `release gate: not evaluated (${datadog.reason}): raising traffic to ${what} is not checked`,
        );
    const evidence =
        datadog.kind === "read"
            ? raises.map((r) => passedEvidence(r, datadog.versions[r.version], rules)).join("; ")
            : "";
    return decide("passed", raises, [], `release gate: raising traffic to ${what} passes: ${evidence}`);
}
