import * as pulumi from "@pulumi/pulumi";
import { labelValue } from "../../policy/rules";
import { HPA_TAG, MONITOR_TAG, tag } from "../../policy/contract";
import {
    AlertQuery,
    AlertSpec,
    BUILT_IN_PER_VERSION_ALERTS,
    BuiltInAlert,
    isBuiltInAlert,
    isPerVersion,
    MonitorSpec,
    TrafficGuard,
    VersionInFlight,
} from "./alerts";
import { kebab, num } from "./messages";
import type { ReleaseMonitoringArgs } from "./releaseMonitoring";

type Query = (threshold: number) => string;
type ServiceWideBuiltIn = Exclude<BuiltInAlert, (typeof BUILT_IN_PER_VERSION_ALERTS)[number]>;

/** The tag scopes every query of the component is written in. */
export interface Scopes {
    /** `service:…,env:…`. */
    base: string;
    /** `trace.<span>`. */
    span: string;
    /** `,!resource_name:…` for each probe: what leaves probes out of a scope. */
    notProbes: string;
    /** The service's user requests: `base` without the probes. */
    requests: string;
    /** The app's containers: cluster, namespace and app name. */
    kube: string;
}

export function scopesOf(args: ReleaseMonitoringArgs): Scopes {
    const base = `service:${args.service},env:${args.env}`;
    // Probes are not user traffic (README, Decisions: "Tag filters in metric queries").
    const notProbes = args.trafficGuard.excludeResources.map((r) => `,!resource_name:${r}`).join("");
    return {
        base,
        span: `trace.${args.span}`,
        notProbes,
        requests: `${base}${notProbes}`,
        kube: `kube_cluster_name:${args.kubeClusterName},kube_namespace:${args.namespace},kube_app_name:${args.appName}`,
    };
}

/**
 * The app role's connections over its own connection limit, as a fraction: the limit is what runs out first, well
 * before max_connections (README, Decisions: "Database metrics by role").
 */
function connections(databaseScope: string, r: ReleaseMonitoringArgs["appRole"]): string {
    return r
        ? `sum:postgresql.connections{${databaseScope},user:${r.name}} / ${r.connectionLimit}`
        : `max:postgresql.percent_usage_connections{${databaseScope}}`;
}

/** The scope of the app's own queries: its role's, when known (Database Monitoring tags query metrics by user). */
export function appQueries(databaseScope: string, r: ReleaseMonitoringArgs["appRole"]): string {
    return r ? `${databaseScope},user:${r.name}` : databaseScope;
}

/** A custom alert's query in `scope`, its comparison taken from which side is bad. */
function customQuery(q: AlertQuery, scope: string, bad: AlertSpec["bad"]): Query {
    const op = bad === "above" ? ">" : "<";
    const body =
        "query" in q
            ? q.query.split("$scope").join(scope)
            : "ratio" in q
              ? `sum(${q.window}):sum:${q.ratio.numerator}{${scope}}.as_count() / sum:${q.ratio.denominator}{${scope}}.as_count() * 100`
              : `${q.timeAggregation}(${q.window}):${q.spaceAggregation ?? "avg"}:${q.metric}{${scope}}`;
    return (t) => `${body} ${op} ${num(t)}`;
}

/** The evaluation window of a query, such as last_5m: Datadog query alerts start with `<aggregation>(<window>):`. */
function windowOf(query: string): string | undefined {
    return /^\w+\((last_\w+)\):/.exec(query)?.[1];
}

/**
 * Every monitor spec the alerts ask for: per version in flight first, in the order the alerts are given, then
 * service-wide. An alert whose query needs an argument that is missing is a ResourceError naming both.
 */
export function monitorSpecs(
    args: ReleaseMonitoringArgs,
    { base, span, notProbes, kube }: Scopes,
    parent: pulumi.Resource,
): MonitorSpec[] {
    const needs = <T>(alert: string, value: T | undefined, what: string): T => {
        if (value === undefined) throw new pulumi.ResourceError(`alert ${alert} needs ${what}`, parent);
        return value;
    };
    const alerts = Object.entries(args.alerts).flatMap(([alert, a]) => (a ? [{ alert, a }] : []));
    const customGuard = (alert: string, a: AlertSpec, scope: string, query: Query): TrafficGuard | undefined => {
        const g = a.guard;
        if (!g) return undefined;
        const window = needs(
            alert,
            g.window ?? windowOf(query(a.critical)),
            "guard.window (its query has no `<aggregation>(last_…):` window)",
        );
        return { counter: g.counter, window, min: g.min, count: `sum:${g.metric}{${scope}}.as_count()` };
    };

    // After a promotion stable and canary run the same version: one set of monitors, with the advice of the
    // variant that serves users (stable's, or the active color's).
    const versions = args.versions.filter((v) => {
        const same = args.versions.filter((w) => w.version === v.version);
        return v === (same.find((w) => w.noUsers === undefined) ?? same[0]);
    });
    const specs: MonitorSpec[] = [];
    for (const v of versions) specs.push(...perVersionSpecs(v));
    for (const { alert, a } of alerts.filter((x) => !isPerVersion(x.alert, x.a))) {
        // With no autoscaler that can grow, none can be pinned at a maximum it did not start at.
        if (alert === "autoscalerAtMaxPct" && args.autoscalers.length === 0) continue;
        const query = isBuiltInAlert(alert)
            ? serviceWide(alert as ServiceWideBuiltIn)
            : customQuery(needs(alert, a.query, "a query"), base, a.bad);
        const guard = isBuiltInAlert(alert) ? undefined : customGuard(alert, a, base, query);
        specs.push({
            alert,
            a,
            query,
            versionTag: tag(MONITOR_TAG.version, labelValue(args.releaseVersion)),
            rollback: args.rollbackHint,
            suffix: kebab(alert),
            guard,
        });
    }
    return specs;

    function perVersionSpecs(v: VersionInFlight): MonitorSpec[] {
        const scope = `${base},version:${labelValue(v.version)}`;
        const requests = `${scope}${notProbes}`;
        const errorRate = (window: string) => (t: number) =>
            `sum(${window}):sum:${span}.errors{${requests}}.as_count() / sum:${span}.hits{${requests}}.as_count() * 100 > ${num(t)}`;
        // "5 minutes sustained": every minute of the window above the threshold, so it fires no sooner than "roll
        // back now" over the same five minutes (README, Decisions: "One page per incident, no warning on a rollback
        // trigger").
        const sustainedErrorRate = (window: string) => (t: number) =>
            `min(${window}):sum:${span}.errors{${requests}}.as_rate() / sum:${span}.hits{${requests}}.as_rate() * 100 > ${num(t)}`;
        const p95 = (window: string) => (t: number) => `percentile(${window}):p95:${span}{${requests}} > ${num(t)}`;
        const requestsIn = (window: string): TrafficGuard => ({
            counter: "requests",
            window,
            min: args.trafficGuard.minRequests,
            count: `sum:${span}.hits{${requests}}.as_count()`,
        });
        // The contract's per-version alerts on the service's own traces: the policy pack requires each one declared for every version in flight.
        const builtIn: Record<(typeof BUILT_IN_PER_VERSION_ALERTS)[number], { query: Query; guard: TrafficGuard }> = {
            errorRatePct: { query: sustainedErrorRate("last_5m"), guard: requestsIn("last_5m") },
            p95LatencySeconds: { query: p95("last_10m"), guard: requestsIn("last_10m") },
            rollbackNowErrorRatePct: { query: errorRate("last_5m"), guard: requestsIn("last_5m") },
            rollbackNowP95Seconds: { query: p95("last_5m"), guard: requestsIn("last_5m") },
            rollbackSustainedErrorRatePct: { query: errorRate("last_15m"), guard: requestsIn("last_15m") },
            rollbackSustainedP95Seconds: { query: p95("last_15m"), guard: requestsIn("last_15m") },
        };
        const custom = (alert: string, a: AlertSpec) => {
            const query = customQuery(needs(alert, a.query, "a query"), scope, a.bad);
            const window = needs(
                alert,
                windowOf(query(a.critical)),
                "a query with a `<aggregation>(last_…):` window, for its request guard",
            );
            return { query, guard: customGuard(alert, a, scope, query) ?? requestsIn(window) };
        };
        return alerts
            .filter(({ alert, a }) => isPerVersion(alert, a))
            .map(({ alert, a }) => {
                const { query, guard } = isBuiltInAlert(alert)
                    ? builtIn[alert as keyof typeof builtIn]
                    : custom(alert, a);
                const gone = { ...requestsIn("last_5m"), min: 1 };
                return {
                    alert,
                    a,
                    query,
                    versionTag: tag(MONITOR_TAG.version, labelValue(v.version)),
                    variantTag: tag(v.variantKey, v.variantValue),
                    rollback: v.rollbackCommand && `\`${v.rollbackCommand}\``,
                    suffix: `${kebab(alert)}-${v.variantValue}`,
                    perVersion: v,
                    guard,
                    gone,
                };
            });
    }

    function serviceWide(alert: ServiceWideBuiltIn): Query {
        switch (alert) {
            // Per call, in milliseconds, for the app's own role only (README, Decisions: "Database metrics by role").
            case "dbQueryMs": {
                const db = appQueries(needs(alert, args.databaseScope, "databaseScope"), args.appRole);
                return (t) =>
                    `sum(last_10m):sum:postgresql.queries.time{${db}}.as_count() / sum:postgresql.queries.count{${db}}.as_count() / 1000000 > ${num(t)}`;
            }
            case "dbConnectionsPct": {
                const db = needs(alert, args.databaseScope, "databaseScope");
                return (t) => `avg(last_5m):${connections(db, args.appRole)} * 100 > ${num(t)}`;
            }
            case "cacheHitPct": {
                const db = needs(alert, args.databaseScope, "databaseScope");
                return (t) =>
                    `sum(last_15m):sum:postgresql.buffer_hit{${db}}.as_count() / ( sum:postgresql.buffer_hit{${db}}.as_count() + sum:postgresql.disk_read{${db}}.as_count() ) * 100 < ${num(t)}`;
            }
            // Nanocores over cores (README, Decisions: "Kubernetes metrics' units and tags").
            case "cpuPct":
                return (t) =>
                    `avg(last_10m):sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{${kube}} by {kube_deployment} * 100 > ${num(t)}`;
            // The working set, per pod: what the OOM killer watches (README, Decisions: "Kubernetes metrics' units and tags").
            case "memoryPct":
                return (t) =>
                    `avg(last_10m):sum:kubernetes.memory.working_set{${kube}} by {kube_deployment,pod_name} / sum:kubernetes.memory.limits{${kube}} by {kube_deployment,pod_name} * 100 > ${num(t)}`;
            case "diskIoPct": {
                const hosts = needs(alert, args.hostScope, "hostScope");
                return (t) => `avg(last_10m):max:system.io.util{${hosts}} by {host,device} > ${num(t)}`;
            }
            // Pinned for the whole window: min(). Named autoscalers only, in the boolean filter form (README, Decisions:
            // "Kubernetes metrics' units and tags", "Tag filters in metric queries").
            case "autoscalerAtMaxPct": {
                const hpa = `kube_cluster_name:${args.kubeClusterName} AND kube_namespace:${args.namespace} AND ${HPA_TAG} IN (${[...args.autoscalers].sort().join(", ")})`;
                return (t) =>
                    `min(last_15m):sum:kubernetes_state.hpa.current_replicas{${hpa}} by {${HPA_TAG}} / sum:kubernetes_state.hpa.max_replicas{${hpa}} by {${HPA_TAG}} * 100 >= ${num(t)}`;
            }
        }
    }
}
