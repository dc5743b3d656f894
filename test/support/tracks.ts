import { DatadogStandIn } from "./datadogStandIn";

/** Minute-to-minute noise of an error rate: a deterministic 0 to 0.5 percentage points. */
export const noise = (m: number, prime: number) => ((m * prime) % 11) * 0.05;

/**
 * Serves production's canary (v1.2.3) and stable (v1.2.2) on the stand-in, as their per-version monitors and the
 * judge query them: 1000 requests a minute, errors at `canaryErrorPct` by minute for the canary and about 1% for
 * stable, a p95 of 0.2 to 0.24 s and payments. `minute` says which minute a point's time falls in.
 */
export function serveProductionTracks(
    dd: DatadogStandIn,
    span: string,
    canaryErrorPct: (minute: number) => number,
    minute: (t: number) => number,
): void {
    const scope = (version: string) => `service:myapp,env:production,version:${version},!resource_name:get_/health/*`;
    for (const [version, errorPct] of [
        ["v1.2.3", canaryErrorPct],
        ["v1.2.2", (m: number) => 1 + noise(m, 7919)],
    ] as const) {
        dd.setMetric(`sum:${span}.hits{${scope(version)}}.as_count()`, () => 1000);
        dd.setMetric(`sum:${span}.errors{${scope(version)}}.as_count()`, (t) => 10 * errorPct(minute(t)));
        dd.setMetric(`p95:${span}{${scope(version)}}`, (t) => 0.2 + (minute(t) % 5) * 0.01);
        dd.setMetric(`sum:payment.total{service:myapp,env:production,version:${version}}.as_count()`, () => 50);
        dd.setMetric(
            `sum:payment.failed{service:myapp,env:production,version:${version}}.as_count()`,
            (t) => minute(t) % 4,
        );
    }
}
