// How the judge's metrics are read from Datadog for two versions in flight: the same metrics and tags the
// per-version monitors query (components/monitoring/queries.ts), one point per step.
import { labelValue } from "../../policy/rules";
import type { Timeseries } from "../datadog/model";
import { JudgeMetricName, SeriesPair } from "./judge";

/** What tells a version's traffic apart in Datadog. */
export interface DatadogScope {
    service: string;
    env: string;
    /** APM entry span: trace.<span>.hits/.errors count requests, trace.<span> is the latency distribution. */
    span: string;
    /** resource_name values that are not user traffic (probes), left out of the request metrics. */
    excludeResources: readonly string[];
    /** The app's payment count metrics; without them no payment metric is judged. */
    payments?: { total: string; failed: string };
}

/** One judge metric as Datadog gives it: the queries of one version, and how one point is made of their values. */
interface MetricReading {
    queries: Record<string, string>;
    point: (v: Record<string, number | null>) => number;
}

/** A ratio in percent of two counts: no point without a denominator; a missing numerator is none counted. */
const percentOf = (numerator: number | null, denominator: number | null): number =>
    denominator === null || denominator === 0 ? NaN : ((numerator ?? 0) / denominator) * 100;

/** The judge's metrics for one version, queried as its per-version monitors query them. */
export function versionReadings(s: DatadogScope, version: string): Partial<Record<JudgeMetricName, MetricReading>> {
    const scope = `service:${s.service},env:${s.env},version:${labelValue(version)}`;
    const requests = `${scope}${s.excludeResources.map((r) => `,!resource_name:${r}`).join("")}`;
    const span = `trace.${s.span}`;
    const readings: Partial<Record<JudgeMetricName, MetricReading>> = {
        errorRatePct: {
            queries: {
                errors: `sum:${span}.errors{${requests}}.as_count()`,
                hits: `sum:${span}.hits{${requests}}.as_count()`,
            },
            point: (v) => percentOf(v.errors, v.hits),
        },
        p95LatencySeconds: { queries: { p95: `p95:${span}{${requests}}` }, point: (v) => v.p95 ?? NaN },
    };
    if (s.payments) {
        readings.paymentFailurePct = {
            queries: {
                failed: `sum:${s.payments.failed}{${scope}}.as_count()`,
                total: `sum:${s.payments.total}{${scope}}.as_count()`,
            },
            point: (v) => percentOf(v.failed, v.total),
        };
    }
    return readings;
}

const SIDES = ["canary", "baseline"] as const;

/** Every query of both versions, each under a name that says metric, query and side. */
export function judgeQueries(s: DatadogScope, versions: { canary: string; baseline: string }): Record<string, string> {
    const named: Record<string, string> = {};
    for (const side of SIDES) {
        for (const [metric, r] of Object.entries(versionReadings(s, versions[side]))) {
            for (const [key, query] of Object.entries(r.queries)) named[`${metric}.${key}.${side}`] = query;
        }
    }
    return named;
}

/**
 * The canary's and baseline's series of each metric, for times before `until`: one point per time, NaN where a
 * version had nothing to measure.
 */
export function judgeSeriesFrom(
    data: Timeseries,
    s: DatadogScope,
    versions: { canary: string; baseline: string },
    until = Infinity,
): Record<string, SeriesPair> {
    const times = data.times.map((t, i) => [t, i] as const).filter(([t]) => t < until);
    const series: Record<string, SeriesPair> = {};
    const canary = versionReadings(s, versions.canary);
    for (const metric of Object.keys(canary) as JudgeMetricName[]) {
        const pair = { canary: [] as number[], baseline: [] as number[] };
        for (const side of SIDES) {
            const reading = versionReadings(s, versions[side])[metric];
            if (!reading) continue;
            for (const [, i] of times) {
                const v = Object.fromEntries(
                    Object.keys(reading.queries).map((key) => [
                        key,
                        data.values[`${metric}.${key}.${side}`]?.[i] ?? null,
                    ]),
                );
                pair[side].push(reading.point(v));
            }
        }
        series[metric] = pair;
    }
    return series;
}
