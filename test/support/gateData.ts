// What the Datadog stand-in serves for the release gate's tests and e2e scenarios: a version's request, error,
// latency and payment metrics under the exact queries the gate and the judge send (lib/judge/datadogSeries.ts), and
// its notifying monitors tagged as ReleaseMonitoring tags them.
import { v1 } from "@datadog/datadog-api-client";
import { AddressInfo, createServer } from "net";
import { labelValue } from "../../policy/rules";
import { DatadogScope, versionReadings } from "../../lib/judge/datadogSeries";
import { DatadogStandIn } from "./datadogStandIn";

/** A version's traffic per minute; values vary by minute around these, so no two versions' series are identical. */
export interface VersionTraffic {
    requestsPerMinute: number;
    errorPct: number;
    p95Seconds: number;
    /** Shifts the minute-to-minute pattern, so that two versions alike are not the same series. */
    phase: number;
}

/** -0.5 … 0.5, a fixed pattern over minutes. */
const jitter = (t: number, phase: number) => (((Math.floor(t / 60_000) + phase) * 7) % 11) / 10 - 0.5;

/** Serves `version`'s metrics as the gate and the judge query them. */
export function serveVersion(dd: DatadogStandIn, scope: DatadogScope, version: string, v: VersionTraffic): void {
    const r = versionReadings(scope, version);
    const q = (metric: keyof typeof r, key: string) => r[metric]!.queries[key];
    dd.setMetric(q("errorRatePct", "hits"), () => v.requestsPerMinute);
    dd.setMetric(q("errorRatePct", "errors"), (t) =>
        Math.round((v.requestsPerMinute * (v.errorPct + 0.4 * jitter(t, v.phase))) / 100),
    );
    dd.setMetric(q("p95LatencySeconds", "p95"), (t) =>
        Number((v.p95Seconds * (1 + 0.1 * jitter(t, v.phase))).toFixed(4)),
    );
    if (r.paymentFailurePct) {
        dd.setMetric(q("paymentFailurePct", "total"), () => 40);
        dd.setMetric(q("paymentFailurePct", "failed"), (t) => (jitter(t, v.phase) > 0.3 ? 1 : 0));
    }
}

/** A notifying per-version monitor of `version` (a plan alert's), in `state`. */
export function versionMonitor(
    scope: DatadogScope,
    id: number,
    o: {
        version: string;
        track: string;
        alert: string;
        severity: string;
        title: string;
        state: v1.MonitorOverallStates;
    },
): v1.Monitor {
    return Object.assign(new v1.Monitor(), {
        id,
        name: `[${scope.env}] ${scope.service}: ${o.title} (track:${o.track})`,
        type: "composite",
        query: "1 && !2",
        tags: [
            `service:${scope.service}`,
            `env:${scope.env}`,
            "managed-by:pulumi",
            `version:${labelValue(o.version)}`,
            `track:${o.track}`,
            `severity:${o.severity}`,
            `plan-alert:${o.alert}`,
        ],
        overallState: o.state,
        state: Object.assign(new v1.MonitorState(), { groups: {} }),
    });
}

/** The canary's "roll back now" error-rate trigger, as production declares it. */
export const rollbackNowTrigger = (
    scope: DatadogScope,
    version: string,
    state: v1.MonitorOverallStates,
    id = 4101,
): v1.Monitor =>
    versionMonitor(scope, id, {
        version,
        track: "canary",
        alert: "rollbackNowErrorRatePct",
        severity: "rollback",
        title: "Rollback trigger (now): error rate above 5%",
        state,
    });

/** A loopback port nothing listens on any more: Datadog down. */
export async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
}
