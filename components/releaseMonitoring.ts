import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { alertTitle, AlertName, PLAN_ALERTS, PlanAlert, Severity } from "../policy/planAlerts";

/** A version in flight and what distinguishes its pods: track stable/canary or color blue/green. */
export interface VersionInFlight {
    /** Image version. */
    version: string;
    /** Tag key that tells it apart: "track" or "color". */
    variantKey: "track" | "color";
    /** Tag value: stable, canary, blue or green. */
    variantValue: string;
    /** The command that takes traffic off this version, quoted in its monitors' messages; none for the version a rollback returns to. */
    rollbackCommand?: string;
}

export interface ReleaseMonitoringArgs {
    /** APM service name (the service tag). */
    service: string;
    /** Datadog env tag. */
    env: string;
    /** APM entry span; trace.<span>.hits/.errors count requests, trace.<span> is the latency distribution in seconds. */
    span: string;
    /** Kubernetes namespace of the app, for the container metrics' scope. */
    namespace: string;
    /** app.kubernetes.io/name of the pods (kube_app_name tag). */
    appName: string;
    /** Versions in flight; each gets its own error-rate, latency and rollback-trigger monitors. */
    versions: VersionInFlight[];
    /** The version being released, tagged on the service-wide monitors. */
    releaseVersion: string;
    /** Critical threshold of every plan alert. */
    thresholds: Record<AlertName, number>;
    /** Warning thresholds, where set. */
    warnings: Partial<Record<AlertName, number>>;
    /** Handles paged for rollback triggers and critical alerts, and handles told of everything. */
    notify: { pager: string[]; chat: string[] };
    /** Datadog priority (1 highest) per severity. */
    priorities: Record<Severity, number>;
    /** The app's own business metrics (count metrics). */
    metrics: { paymentTotal: string; paymentFailed: string; paymentSucceeded: string; emailSent: string; emailDelivered: string };
    /** Tag scope of the PostgreSQL integration's metrics, e.g. "env:production,db:myapp". */
    databaseScope: string;
    /** Tag scope of the hosts whose disks are watched. */
    hostScope: string;
    /** Service level objectives. */
    slo: { availabilityTarget: number; latencyTarget: number; timeframe: string };
    /** Deployment window during which warning-level monitors are muted. */
    deploymentWindow?: { start: string; end: string; timezone: string };
    /** How service-wide monitors tell the reader to roll back, e.g. "run the command printed by `pulumi stack output rollback`". */
    rollbackHint: string;
}

interface MonitorSpec {
    alert: AlertName;
    query: (threshold: number) => string;
    tags: string[];
    /** How to roll back, already phrased; undefined when rolling back cannot help. */
    rollback?: string;
    suffix: string;
}

/** errorRatePct → error-rate-pct, for resource names. */
function kebab(name: string): string {
    return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function round(x: number): number {
    return Number(x.toPrecision(4));
}

/** A threshold as Datadog stores it, matching the number written in the query. */
function num(x: number): string {
    return String(round(x));
}

/**
 * Datadog monitors for every alert and rollback trigger of the plan, a deployment dashboard, availability and latency
 * SLOs, and a downtime for the deployment window that mutes warning-level monitors only. Error-rate, latency and
 * rollback monitors exist per version in flight, so a canary is judged on its own traffic.
 */
export class ReleaseMonitoring extends pulumi.ComponentResource {
    /** Every monitor, by resource name. */
    public readonly monitors: Record<string, datadog.Monitor> = {};

    constructor(name: string, args: ReleaseMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("myapp:deploy:ReleaseMonitoring", name, {}, opts);
        if (args.versions.length === 0) throw new pulumi.ResourceError("at least one version in flight is needed", this);
        if (args.notify.pager.length === 0 || args.notify.chat.length === 0) {
            throw new pulumi.ResourceError("notify needs at least one pager and one chat handle", this);
        }
        const base = `service:${args.service},env:${args.env}`;
        const span = `trace.${args.span}`;
        const kube = `kube_namespace:${args.namespace},kube_app_name:${args.appName}`;
        const commonTags = [`service:${args.service}`, `env:${args.env}`, "managed-by:pulumi"];

        const specs: MonitorSpec[] = [];
        for (const v of args.versions) {
            const scope = `${base},version:${v.version}`;
            const tags = [`version:${v.version}`, `${v.variantKey}:${v.variantValue}`];
            const errorRate = (window: string) => (t: number) =>
                `sum(${window}):sum:${span}.errors{${scope}}.as_count() / sum:${span}.hits{${scope}}.as_count() * 100 > ${num(t)}`;
            const p95 = (window: string) => (t: number) => `percentile(${window}):p95:${span}{${scope}} > ${num(t)}`;
            const per = (alert: AlertName, query: (t: number) => string) =>
                specs.push({ alert, query, tags, rollback: v.rollbackCommand && `\`${v.rollbackCommand}\``, suffix: `${kebab(alert)}-${v.variantValue}` });
            per("errorRatePct", errorRate("last_5m"));
            per("p95LatencySeconds", p95("last_10m"));
            per("rollbackNowErrorRatePct", errorRate("last_5m"));
            per("rollbackNowP95Seconds", p95("last_5m"));
            per("rollbackSustainedErrorRatePct", errorRate("last_15m"));
            per("rollbackSustainedP95Seconds", p95("last_15m"));
        }
        const ratio = (window: string, numerator: string, denominator: string, op: string) => (t: number) =>
            `sum(${window}):sum:${numerator}{${base}}.as_count() / sum:${denominator}{${base}}.as_count() * 100 ${op} ${num(t)}`;
        const m = args.metrics;
        const db = args.databaseScope;
        const global = (alert: AlertName, query: (t: number) => string) =>
            specs.push({ alert, query, tags: [`version:${args.releaseVersion}`], rollback: args.rollbackHint, suffix: kebab(alert) });
        global("paymentFailurePct", ratio("last_5m", m.paymentFailed, m.paymentTotal, ">"));
        global("paymentSuccessPct", ratio("last_15m", m.paymentSucceeded, m.paymentTotal, "<"));
        global("emailDeliveryPct", ratio("last_30m", m.emailDelivered, m.emailSent, "<"));
        // postgresql.queries.time is nanoseconds of execution (Database Monitoring); per call, in milliseconds.
        global(
            "dbQueryMs",
            (t) => `sum(last_10m):sum:postgresql.queries.time{${db}}.as_count() / sum:postgresql.queries.count{${db}}.as_count() / 1000000 > ${num(t)}`,
        );
        global("dbConnectionsPct", (t) => `avg(last_5m):max:postgresql.percent_usage_connections{${db}} * 100 > ${num(t)}`);
        global(
            "cacheHitPct",
            (t) =>
                `sum(last_15m):sum:postgresql.buffer_hit{${db}}.as_count() / ( sum:postgresql.buffer_hit{${db}}.as_count() + sum:postgresql.disk_read{${db}}.as_count() ) * 100 < ${num(t)}`,
        );
        // kubernetes.cpu.usage.total is nanocores and kubernetes.cpu.limits cores; memory.usage_pct is a fraction of the limit.
        global(
            "cpuPct",
            (t) => `avg(last_10m):sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{${kube}} by {kube_deployment} * 100 > ${num(t)}`,
        );
        global("memoryPct", (t) => `avg(last_10m):max:kubernetes.memory.usage_pct{${kube}} by {kube_deployment} * 100 > ${num(t)}`);
        global("diskIoPct", (t) => `avg(last_10m):max:system.io.util{${args.hostScope}} by {host,device} > ${num(t)}`);

        for (const spec of specs) {
            const a: PlanAlert = PLAN_ALERTS[spec.alert];
            const critical = args.thresholds[spec.alert];
            const warning = args.warnings[spec.alert];
            // Recover a margin away from the threshold, so that a value hovering on it does not flap.
            const recovery = a.bad === "above" ? critical * 0.8 : critical + (100 - critical) * 0.2;
            const handles = a.severity === "warning" ? args.notify.chat : [...args.notify.pager, ...args.notify.chat];
            const action = !spec.rollback
                ? "This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook."
                : a.severity === "rollback"
                  ? `Roll back now: ${spec.rollback}`
                  : a.severity === "critical"
                    ? `The on-call engineer is paged. If it started with the release, roll back: ${spec.rollback}`
                    : `Watch the deployment dashboard; if it worsens, roll back: ${spec.rollback}`;
            const who = `${args.service} in ${args.env}${spec.tags[1] ? ` (${spec.tags[1]}, ${spec.tags[0]})` : ""}`;
            const title = alertTitle(spec.alert, critical);
            const message = [
                `{{#is_alert}}${title} for ${who}: {{value}} ${a.unit}.`,
                action,
                "{{/is_alert}}",
                ...(warning !== undefined ? [`{{#is_warning}}${alertTitle(spec.alert, warning)} for ${who}: {{value}} ${a.unit}. Nearing the critical ${num(critical)}.{{/is_warning}}`] : []),
                `{{#is_recovery}}Recovered: ${a.label} for ${who} is back within ${num(critical)} ${a.unit}.{{/is_recovery}}`,
                handles.join(" "),
            ].join("\n");
            this.monitors[spec.suffix] = new datadog.Monitor(
                `${name}-${spec.suffix}`,
                {
                    name: `[${args.env}] ${args.service}: ${title}${spec.tags[1] ? ` (${spec.tags[1]})` : ""}`,
                    type: "query alert",
                    query: spec.query(critical),
                    message,
                    monitorThresholds: {
                        critical: num(critical),
                        warning: warning !== undefined ? num(warning) : undefined,
                        criticalRecovery: num(recovery),
                    },
                    priority: String(args.priorities[a.severity]),
                    tags: [...commonTags, ...spec.tags, `severity:${a.severity}`, `plan-alert:${spec.alert}`],
                    // Missing data is not a breach: a quiet canary must not page or trigger a rollback.
                    notifyNoData: false,
                    requireFullWindow: false,
                    includeTags: true,
                    renotifyInterval: a.severity === "warning" ? 0 : 30,
                },
                { parent: this },
            );
        }

        this.declareSlos(name, args, base, span, commonTags);
        this.declareDashboard(name, args, base, span, kube);
        if (args.deploymentWindow) {
            const w = args.deploymentWindow;
            new datadog.DowntimeSchedule(
                `${name}-deployment-window`,
                {
                    scope: `env:${args.env}`,
                    // Only monitors carrying every one of these tags are muted: rollback triggers and critical pages never are.
                    monitorIdentifier: { monitorTags: [`service:${args.service}`, `env:${args.env}`, "severity:warning"] },
                    oneTimeSchedule: { start: w.start, end: w.end },
                    displayTimezone: w.timezone,
                    message: `Deployment window of ${args.service} ${args.releaseVersion}: warning-level monitors muted; rollback triggers and critical alerts stay live.`,
                    muteFirstRecoveryNotification: true,
                },
                { parent: this },
            );
        }
        this.registerOutputs({ monitorCount: Object.keys(this.monitors).length });
    }

    private declareSlos(name: string, args: ReleaseMonitoringArgs, base: string, span: string, tags: string[]): void {
        new datadog.ServiceLevelObjective(
            `${name}-availability-slo`,
            {
                name: `[${args.env}] ${args.service}: availability`,
                type: "metric",
                description: "Share of requests that do not fail.",
                query: {
                    numerator: `sum:${span}.hits{${base}}.as_count() - sum:${span}.errors{${base}}.as_count()`,
                    denominator: `sum:${span}.hits{${base}}.as_count()`,
                },
                thresholds: [{ timeframe: args.slo.timeframe, target: args.slo.availabilityTarget }],
                tags,
            },
            { parent: this },
        );
        new datadog.ServiceLevelObjective(
            `${name}-latency-slo`,
            {
                name: `[${args.env}] ${args.service}: p95 within ${num(args.thresholds.p95LatencySeconds)} s`,
                type: "time_slice",
                description: "Share of five-minute slices whose p95 response time is within the plan's threshold.",
                sliSpecification: {
                    timeSlice: {
                        comparator: "<=",
                        threshold: args.thresholds.p95LatencySeconds,
                        queryIntervalSeconds: 300,
                        query: {
                            formula: { formulaExpression: "query1" },
                            queries: [{ metricQuery: { name: "query1", dataSource: "metrics", query: `p95:${span}{${base}}` } }],
                        },
                    },
                },
                thresholds: [{ timeframe: args.slo.timeframe, target: args.slo.latencyTarget }],
                tags,
            },
            { parent: this },
        );
    }

    private declareDashboard(name: string, args: ReleaseMonitoringArgs, base: string, span: string, kube: string): void {
        const timeseries = (title: string, queries: string[], formula?: string) => ({
            definition: {
                type: "timeseries",
                title,
                show_legend: true,
                requests: [
                    {
                        response_format: "timeseries",
                        queries: queries.map((query, i) => ({ name: `q${i + 1}`, data_source: "metrics", query })),
                        formulas: [{ formula: formula ?? "q1" }],
                        display_type: "line",
                    },
                ],
            },
        });
        const byVersion = `{${base}} by {version}`;
        const db = args.databaseScope;
        const widgets = [
            timeseries("Error rate by version (%)", [`sum:${span}.errors${byVersion}.as_count()`, `sum:${span}.hits${byVersion}.as_count()`], "q1 / q2 * 100"),
            timeseries("p50 response time by version (s)", [`p50:${span}${byVersion}`]),
            timeseries("p95 response time by version (s)", [`p95:${span}${byVersion}`]),
            timeseries("p99 response time by version (s)", [`p99:${span}${byVersion}`]),
            timeseries("Throughput by version (requests/s)", [`sum:${span}.hits${byVersion}.as_rate()`]),
            timeseries("Database connections (% of max)", [`max:postgresql.percent_usage_connections{${db}}`], "q1 * 100"),
            timeseries(
                "Database cache hit rate (%)",
                [`sum:postgresql.buffer_hit{${db}}.as_count()`, `sum:postgresql.disk_read{${db}}.as_count()`],
                "q1 / (q1 + q2) * 100",
            ),
            timeseries(
                "Mean database query time (ms)",
                [`sum:postgresql.queries.time{${db}}.as_count()`, `sum:postgresql.queries.count{${db}}.as_count()`],
                "q1 / q2 / 1000000",
            ),
            timeseries(
                "CPU by deployment (% of limit)",
                [`sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment}`, `sum:kubernetes.cpu.limits{${kube}} by {kube_deployment}`],
                "q1 / 1000000000 / q2 * 100",
            ),
            timeseries("Memory by deployment (% of limit)", [`max:kubernetes.memory.usage_pct{${kube}} by {kube_deployment}`], "q1 * 100"),
        ];
        new datadog.DashboardJson(
            `${name}-dashboard`,
            {
                dashboard: JSON.stringify({
                    title: `[${args.env}] ${args.service} deployment`,
                    description: "Error rate, latency and throughput per version in flight; database and infrastructure health. Managed by Pulumi.",
                    layout_type: "ordered",
                    widgets,
                }),
            },
            { parent: this },
        );
    }
}
