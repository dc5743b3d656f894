// The release gate, run by releaseProgram between validating config and declaring the first resource: it reads the
// traffic the stack's last `up` recorded (its own outputs, through a StackReference to itself), asks Datadog about
// each version that would gain traffic, and stops the program when the gate refuses.
import * as pulumi from "@pulumi/pulumi";
import { ProgramConfig } from "../lib/config";
import { apiUrlFromEnv, credentialsFromEnv, DatadogCredentials } from "../lib/datadog/credentials";
import { monitorLinks, readEvidence } from "../lib/gate/datadog";
import {
    Before,
    DatadogAnswer,
    evaluateGate,
    GateDecision,
    gatedRaises,
    GateRules,
    recordedTraffic,
    trafficShares,
} from "../lib/gate/gate";
import { DatadogScope } from "../lib/judge/datadogSeries";

/** The gate refused: printed as is (a RunError carries no stack trace), with nothing declared. */
export class GateRefusal extends pulumi.RunError {
    constructor(message: string) {
        super(message);
        this.name = "GateRefusal";
    }
}

/** The gate's Datadog scope: monitoring's when this stack declares the monitors, else release.gate.scope. */
function gateScope(cfg: ProgramConfig): (DatadogScope & { minRequests: number; minRequestsKey: string }) | undefined {
    const { service, env } = cfg.datadog;
    const m = cfg.monitoring;
    if (m) {
        const payments = m.metrics && { total: m.metrics.paymentTotal, failed: m.metrics.paymentFailed };
        return {
            service,
            env,
            span: m.span,
            excludeResources: m.trafficGuard.excludeResources,
            payments,
            minRequests: m.trafficGuard.minRequests,
            minRequestsKey: "monitoring.trafficGuard.minRequests",
        };
    }
    const s = cfg.release.gate.scope;
    return (
        s && {
            service,
            env,
            span: s.span,
            excludeResources: s.excludeResources,
            minRequests: s.minRequests,
            minRequestsKey: "release.gate.scope.minRequests",
        }
    );
}

const plain = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

/** The Datadog provider's keys from stack config (datadog:apiKey, datadog:appKey), else the environment's. */
async function credentials(): Promise<DatadogCredentials | undefined> {
    const provider = new pulumi.Config("datadog");
    const [apiKey, appKey] = [provider.getSecret("apiKey"), provider.getSecret("appKey")];
    if (apiKey && appKey) return { apiKey: await plain(apiKey), appKey: await plain(appKey) };
    return credentialsFromEnv();
}

/** The stack's outputs the gate reads, as its last `up` left them: a read of this stack's own state, which creates nothing. */
async function lastOutputs(app: string): Promise<Record<string, unknown>> {
    const self = new pulumi.StackReference(`${app}-gate-last-up`, {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const outputs: Record<string, unknown> = {};
    for (const name of ["strategy", "versions", "traffic", "gate"]) {
        const { value, secretValue } = await self.getOutputDetails(name);
        if ((value ?? secretValue) !== undefined) outputs[name] = value ?? secretValue;
    }
    return outputs;
}

/**
 * Decides whether this run may send the traffic config asks for (lib/gate/gate.ts), before anything else is
 * declared; throws GateRefusal when it may not. `halted` names the versions an automatic rollback marked.
 */
export async function releaseGate(cfg: ProgramConfig, now: Date, halted: readonly string[]): Promise<GateDecision> {
    const creds = await credentials();
    const scope = gateScope(cfg);
    // Without credentials the gate asks nothing, so it needs no history either; a halt is checked whatever Datadog says.
    let before: Before = { kind: "not read" };
    if (creds || halted.length > 0) {
        const recorded = recordedTraffic(await lastOutputs(cfg.release.appName));
        before = recorded ? { kind: "recorded", traffic: recorded } : { kind: "first up" };
    }
    const after = trafficShares(cfg);
    const previous = before.kind === "recorded" ? before.traffic.shares : {};
    const raises = before.kind === "not read" ? [] : gatedRaises(previous, after, cfg.release);
    let datadog: DatadogAnswer;
    if (!creds)
        datadog = {
            kind: "not evaluated",
            reason: "no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY",
        };
    else if (!scope)
        datadog = {
            kind: "not evaluated",
            reason: "no Datadog scope: the stack sets neither monitoring nor release.gate.scope",
        };
    else if (raises.length === 0) datadog = { kind: "read", versions: {} };
    else {
        const apiUrl = (new pulumi.Config("datadog").get("apiUrl") || undefined) ?? apiUrlFromEnv();
        // Loaded here only: the client takes longer to load than the rest of the program (README Benchmarks).
        const { createDatadogReader } = await import("../lib/datadog/reader");
        const reader = createDatadogReader({ credentials: creds, baseUrl: apiUrl });
        datadog = await readEvidence(reader, scope, raises, previous, {
            now,
            observeMinutes: cfg.plan.observeMinutes,
            stepSeconds: cfg.judge.stepSeconds,
            judge: cfg.judge,
            link: monitorLinks(apiUrl, process.env.DD_SITE),
        });
    }
    const rules: GateRules = {
        observeMinutes: cfg.plan.observeMinutes,
        minRequests: scope?.minRequests ?? 0,
        minRequestsKey: scope?.minRequestsKey ?? "",
        pass: cfg.judge.thresholds.pass,
    };
    const decision = evaluateGate({ before, after, release: cfg.release, halted, now, rules, datadog });
    if (decision.outcome === "refused") throw new GateRefusal(decision.message);
    // Seen in every preview and up: a gate that did not look, or was overridden, says so.
    if (decision.outcome === "not evaluated" || decision.outcome === "overridden")
        void pulumi.log.warn(decision.message);
    else void pulumi.log.info(decision.message);
    return decision;
}

/** The `gate` stack output: the decision, the traffic the next run compares with, and the override with its approver. */
export function gateOutput(decision: GateDecision, cfg: ProgramConfig): Record<string, unknown> {
    const override = cfg.release.gate.override;
    return {
        outcome: decision.outcome,
        message: decision.message,
        traffic: decision.traffic,
        ...(override ? { override: { reason: override.reason, approver: override.approver ?? null } } : {}),
    };
}
