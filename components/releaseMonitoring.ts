import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { labelValue, warningBeforeCritical } from "./rules";
import { HPA_TAG, MONITOR_TAG, MUTE_IN_DEPLOYMENT_WINDOW, PerVersionAlert, PER_VERSION_ALERTS, Severity, tag, VariantKey } from "../policy/contract";
import { LibraryComponent } from "./componentType";

/** A version in flight and what distinguishes its pods: track stable/canary or color blue/green. */
export interface VersionInFlight {
    /** Image version. */
    version: string;
    /** Tag key that tells it apart: the pods' variant label, "track" or "color". */
    variantKey: VariantKey;
    /** Tag value: stable, canary, blue or green. */
    variantValue: string;
    /** The command that takes traffic off this version, quoted in its monitors' messages; none for the version a rollback returns to. */
    rollbackCommand?: string;
}

/**
 * The service-wide alerts this component knows how to query, in the order it declares them. Their names, like the
 * contract's per-version alerts, are the `plan-alert` tag values the policy pack and the deployment plan read.
 */
export const SERVICE_ALERTS = [
    "paymentFailurePct",
    "paymentSuccessPct",
    "emailDeliveryPct",
    "dbQueryMs",
    "dbConnectionsPct",
    "cacheHitPct",
    "cpuPct",
    "memoryPct",
    "diskIoPct",
    "autoscalerAtMaxPct",
] as const;
export type ServiceAlert = (typeof SERVICE_ALERTS)[number];
/** Every alert this component can declare: judged per version in flight, or service-wide. */
export type AlertKind = PerVersionAlert | ServiceAlert;

/** One alert to declare: its thresholds, and how it reads and notifies. */
export interface AlertSpec {
    /** Critical threshold, in `unit`. */
    critical: number;
    /** Warning threshold, on the quiet side of `critical`; without it the alert has no warning tier. */
    warning?: number;
    /** "above": a value over the threshold is bad; "below": a value under it is. */
    bad: "above" | "below";
    /** rollback: page and say roll back; critical: page; warning: chat only. */
    severity: Severity;
    /** Noise while pods roll (warm-up, the autoscaler reacting): muted in the deployment window. */
    rolloutNoise?: boolean;
    /** What is measured, as titles and messages name it, e.g. "Error rate". */
    label: string;
    /** Unit the thresholds are written in: "%" or a unit such as "s" or "ms". */
    unit: string;
}

export interface ReleaseMonitoringArgs {
    /** APM service name (the service tag), as the pods' `tags.datadoghq.com/service` label sets it. */
    service: string;
    /** Datadog env tag, as the pods' `tags.datadoghq.com/env` label sets it. */
    env: string;
    /** APM entry span; trace.<span>.hits/.errors count requests, trace.<span> is the latency distribution in seconds. */
    span: string;
    /** Kubernetes namespace of the app, for the container metrics' scope. */
    namespace: string;
    /** app.kubernetes.io/name of the pods (kube_app_name tag). */
    appName: string;
    /**
     * Names of the app's autoscalers that can add pods (minReplicas below maxReplicas). One pinned at min = max sits
     * "at its maximum" from the start and is left out; with none, there is no autoscaler-at-maximum monitor.
     */
    autoscalers: string[];
    /** Versions in flight; each distinct version gets its own monitors for the per-version alerts declared. */
    versions: VersionInFlight[];
    /** The version being released, tagged on the service-wide monitors. */
    releaseVersion: string;
    /** The alerts to declare; an alert left out gets no monitor. */
    alerts: Partial<Record<AlertKind, AlertSpec>>;
    /** Handles paged for rollback triggers and critical alerts, and handles told of everything. */
    notify: { pager: string[]; chat: string[] };
    /** Datadog priority (1 highest) per severity. */
    priorities: Record<Severity, number>;
    /** The app's own business metrics (count metrics); required by the payment and email alerts. */
    metrics?: { paymentTotal: string; paymentFailed: string; paymentSucceeded: string; emailSent: string; emailDelivered: string };
    /** Tag scope of the PostgreSQL integration's metrics, e.g. "env:production,db:myapp"; required by the database alerts, and the dashboard's database graphs. */
    databaseScope?: string;
    /** Tag scope of the hosts whose disks are watched; required by diskIoPct. */
    hostScope?: string;
    /** Service level objectives: targets, and the p95 a five-minute slice must stay within to count as good. */
    slo: { availabilityTarget: number; latencyTarget: number; latencySeconds: number; timeframe: string };
    /** Deployment window (UTC `YYYY-MM-DDTHH:MM:SSZ`) during which rollout noise is muted. */
    deploymentWindow?: { start: string; end: string; timezone: string };
    /**
     * Counts a per-version ratio or p95 must see in its window before it may alert (minPayments: required by
     * versionPaymentFailurePct), and resources that are not user traffic.
     */
    trafficGuard: { minRequests: number; minPayments?: number; excludeResources: string[] };
    /** The app's database role and its connection limit; without it, connections are watched server-wide. */
    appRole?: { name: string; connectionLimit: number };
    /** How service-wide monitors tell the reader to roll back, e.g. "run the command printed by `pulumi stack output rollback`". */
    rollbackHint: string;
}

/** A per-version ratio or p95 may alert only once its window holds at least `min` of what `count` counts. */
interface TrafficGuard {
    counter: "requests" | "payments";
    window: string;
    min: number;
    /** The count query, without aggregation window. */
    count: string;
}

interface MonitorSpec {
    alert: AlertKind;
    a: AlertSpec;
    query: (threshold: number) => string;
    tags: string[];
    /** How to roll back, already phrased; undefined when rolling back cannot help. */
    rollback?: string;
    suffix: string;
    /** Set on per-version monitors: their alert resolves on its own once the version stops reporting. */
    perVersion?: VersionInFlight;
    /** Set on per-version monitors: the alert goes through a composite that also needs enough traffic. */
    guard?: TrafficGuard;
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

/** "Error rate above 1%": the alert's label, side and threshold. */
function alertTitle(a: AlertSpec, threshold: number): string {
    return `${a.label} ${a.bad} ${num(threshold)}${a.unit === "%" ? "%" : ` ${a.unit}`}`;
}

/** A retired version's monitors resolve after this many hours without data instead of staying triggered. */
const RETIRED_VERSION_TIMEOUT_HOURS = 1;

/**
 * Datadog monitors for the alerts and rollback triggers it is given, a deployment dashboard, availability and latency
 * SLOs, and a downtime for the deployment window that mutes rollout noise only. Error-rate, latency, payment and
 * rollback monitors exist per version in flight, so a canary is judged on its own traffic, and only once that traffic
 * is large enough to judge: a p95 over a handful of requests says as little as a ratio over them.
 *
 * Notification routing follows Datadog's conditional variables: an @-handle inside `{{#is_alert}}` is notified only
 * when the monitor alerts, so the pager sits only in alert and alert-recovery blocks and warnings go to chat.
 */
export class ReleaseMonitoring extends LibraryComponent {
    /** Every monitor, by resource name suffix. */
    public readonly monitors: Record<string, datadog.Monitor> = {};

    constructor(name: string, args: ReleaseMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ReleaseMonitoring", name, opts);
        if (args.versions.length === 0) throw new pulumi.ResourceError("at least one version in flight is needed", this);
        if (args.notify.pager.length === 0 || args.notify.chat.length === 0) {
            throw new pulumi.ResourceError("notify needs at least one pager and one chat handle", this);
        }
        for (const [alert, a] of Object.entries(args.alerts)) {
            // Datadog refuses a warning on the bad side of the critical threshold.
            if (a.warning !== undefined && !warningBeforeCritical(a.bad, a.warning, a.critical)) {
                throw new pulumi.ResourceError(`alert ${alert}: warning ${a.warning} must be ${a.bad === "above" ? "below" : "above"} critical ${a.critical}`, this);
            }
        }
        /** What an alert's query cannot be written without; asking for the alert without it is an error naming both. */
        const needs = <T>(alert: AlertKind, value: T | undefined, what: string): T => {
            if (value === undefined) throw new pulumi.ResourceError(`alert ${alert} needs ${what}`, this);
            return value;
        };
        const metricsFor = (alert: AlertKind) => needs(alert, args.metrics, "metrics (the app's payment and email metric names)");
        const dbFor = (alert: AlertKind) => needs(alert, args.databaseScope, "databaseScope");
        const base = `service:${args.service},env:${args.env}`;
        const span = `trace.${args.span}`;
        const kube = `kube_namespace:${args.namespace},kube_app_name:${args.appName}`;
        const commonTags = [`service:${args.service}`, `env:${args.env}`, "managed-by:pulumi"];
        const guard = args.trafficGuard;
        // Probes are not user traffic. `!tag:value` with wildcards is Datadog's metric-query exclusion
        // (docs.datadoghq.com/metrics/advanced-filtering: `avg:system.disk.in_use{!device:/dev/loop*}`).
        const notProbes = guard.excludeResources.map((r) => `,!resource_name:${r}`).join("");

        // After a promotion stable and canary run the same version: one set of monitors, with stable's advice.
        const versions = args.versions.filter((v, i) => args.versions.findIndex((w) => w.version === v.version) === i);
        const specs: MonitorSpec[] = [];
        for (const v of versions) {
            const scope = `${base},version:${labelValue(v.version)}`;
            const requests = `${scope}${notProbes}`;
            const tags = [tag(MONITOR_TAG.version, labelValue(v.version)), tag(v.variantKey, v.variantValue)];
            const errorRate = (window: string) => (t: number) => `sum(${window}):sum:${span}.errors{${requests}}.as_count() / sum:${span}.hits{${requests}}.as_count() * 100 > ${num(t)}`;
            const p95 = (window: string) => (t: number) => `percentile(${window}):p95:${span}{${requests}} > ${num(t)}`;
            const requestsIn = (window: string): TrafficGuard => ({ counter: "requests", window, min: guard.minRequests, count: `sum:${span}.hits{${requests}}.as_count()` });
            // Exactly the contract's per-version alerts: the policy pack requires each one declared for every version in flight.
            const perVersion: Record<PerVersionAlert, () => { query: (t: number) => string; guard: TrafficGuard }> = {
                errorRatePct: () => ({ query: errorRate("last_5m"), guard: requestsIn("last_5m") }),
                p95LatencySeconds: () => ({ query: p95("last_10m"), guard: requestsIn("last_10m") }),
                rollbackNowErrorRatePct: () => ({ query: errorRate("last_5m"), guard: requestsIn("last_5m") }),
                rollbackNowP95Seconds: () => ({ query: p95("last_5m"), guard: requestsIn("last_5m") }),
                rollbackSustainedErrorRatePct: () => ({ query: errorRate("last_15m"), guard: requestsIn("last_15m") }),
                rollbackSustainedP95Seconds: () => ({ query: p95("last_15m"), guard: requestsIn("last_15m") }),
                versionPaymentFailurePct: () => {
                    const m = metricsFor("versionPaymentFailurePct");
                    const min = needs("versionPaymentFailurePct", guard.minPayments, "trafficGuard.minPayments");
                    return {
                        query: (t) => `sum(last_5m):sum:${m.paymentFailed}{${scope}}.as_count() / sum:${m.paymentTotal}{${scope}}.as_count() * 100 > ${num(t)}`,
                        guard: { counter: "payments", window: "last_5m", min, count: `sum:${m.paymentTotal}{${scope}}.as_count()` },
                    };
                },
            };
            for (const alert of PER_VERSION_ALERTS) {
                const a = args.alerts[alert];
                if (!a) continue;
                const { query, guard: g } = perVersion[alert]();
                specs.push({ alert, a, query, tags, rollback: v.rollbackCommand && `\`${v.rollbackCommand}\``, suffix: `${kebab(alert)}-${v.variantValue}`, perVersion: v, guard: g });
            }
        }
        const ratio = (window: string, numerator: string, denominator: string, op: string) => (t: number) =>
            `sum(${window}):sum:${numerator}{${base}}.as_count() / sum:${denominator}{${base}}.as_count() * 100 ${op} ${num(t)}`;
        // autoscalerAtMaxPct: kubernetes_state.hpa.current_replicas and .max_replicas, tagged kube_namespace and
        // horizontalpodautoscaler (DataDog/integrations-core kubernetes_state_core/metadata.csv). Pinned for the whole
        // window: min(). Named autoscalers only: a wildcard would take in another app's `<app>-…` and every pinned one,
        // which reads 100% forever. `AND … IN (…)` is the boolean filter form, which must not be mixed with `,`
        // (docs.datadoghq.com/metrics/advanced-filtering).
        const hpa = `kube_namespace:${args.namespace} AND ${HPA_TAG} IN (${[...args.autoscalers].sort().join(", ")})`;
        const serviceWide: Record<ServiceAlert, () => (t: number) => string> = {
            paymentFailurePct: () => {
                const m = metricsFor("paymentFailurePct");
                return ratio("last_5m", m.paymentFailed, m.paymentTotal, ">");
            },
            paymentSuccessPct: () => {
                const m = metricsFor("paymentSuccessPct");
                return ratio("last_15m", m.paymentSucceeded, m.paymentTotal, "<");
            },
            emailDeliveryPct: () => {
                const m = metricsFor("emailDeliveryPct");
                return ratio("last_30m", m.emailDelivered, m.emailSent, "<");
            },
            // postgresql.queries.time is nanoseconds of execution (Database Monitoring); per call, in milliseconds.
            dbQueryMs: () => {
                const db = dbFor("dbQueryMs");
                return (t) => `sum(last_10m):sum:postgresql.queries.time{${db}}.as_count() / sum:postgresql.queries.count{${db}}.as_count() / 1000000 > ${num(t)}`;
            },
            dbConnectionsPct: () => {
                const db = dbFor("dbConnectionsPct");
                return (t) => `avg(last_5m):${connections(db, args.appRole)} * 100 > ${num(t)}`;
            },
            cacheHitPct: () => {
                const db = dbFor("cacheHitPct");
                return (t) =>
                    `sum(last_15m):sum:postgresql.buffer_hit{${db}}.as_count() / ( sum:postgresql.buffer_hit{${db}}.as_count() + sum:postgresql.disk_read{${db}}.as_count() ) * 100 < ${num(t)}`;
            },
            // kubernetes.cpu.usage.total is nanocores and kubernetes.cpu.limits cores (DataDog/integrations-core kubelet/metadata.csv).
            cpuPct: () => (t) =>
                `avg(last_10m):sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{${kube}} by {kube_deployment} * 100 > ${num(t)}`,
            // The working set is what the OOM killer watches; kubernetes.memory.usage counts page cache too
            // (DataDog/integrations-core kubelet/metadata.csv). Per pod, since one pod is what gets killed.
            memoryPct: () => (t) =>
                `avg(last_10m):sum:kubernetes.memory.working_set{${kube}} by {kube_deployment,pod_name} / sum:kubernetes.memory.limits{${kube}} by {kube_deployment,pod_name} * 100 > ${num(t)}`,
            diskIoPct: () => {
                const hosts = needs("diskIoPct", args.hostScope, "hostScope");
                return (t) => `avg(last_10m):max:system.io.util{${hosts}} by {host,device} > ${num(t)}`;
            },
            autoscalerAtMaxPct: () => (t) =>
                `min(last_15m):sum:kubernetes_state.hpa.current_replicas{${hpa}} by {${HPA_TAG}} / sum:kubernetes_state.hpa.max_replicas{${hpa}} by {${HPA_TAG}} * 100 >= ${num(t)}`,
        };
        for (const alert of SERVICE_ALERTS) {
            const a = args.alerts[alert];
            // With no autoscaler that can grow, none can be pinned at a maximum it did not start at.
            if (!a || (alert === "autoscalerAtMaxPct" && args.autoscalers.length === 0)) continue;
            specs.push({ alert, a, query: serviceWide[alert](), tags: [tag(MONITOR_TAG.version, labelValue(args.releaseVersion))], rollback: args.rollbackHint, suffix: kebab(alert) });
        }

        const traffic: Record<string, datadog.Monitor> = {};
        const trafficMonitor = (spec: MonitorSpec, v: VersionInFlight, g: TrafficGuard): datadog.Monitor => {
            const key = `${g.counter}-${g.window.replace("last_", "")}-${v.variantValue}`;
            if (!traffic[key]) {
                traffic[key] = new datadog.Monitor(
                    `${name}-${key}`,
                    {
                        name: `[${args.env}] ${args.service}: ${g.counter} of ${v.variantKey}:${v.variantValue} in ${g.window.replace("last_", "")} at least ${g.min}`,
                        type: "query alert",
                        query: `sum(${g.window}):${g.count} >= ${g.min}`,
                        message: `Traffic guard of the ${v.variantKey}:${v.variantValue} monitors: "alert" means enough ${g.counter} to judge the version. Notifies nobody.`,
                        monitorThresholds: { critical: String(g.min) },
                        priority: "5",
                        tags: [...commonTags, ...spec.tags, "release-guard:traffic"],
                        notifyNoData: false,
                        requireFullWindow: false,
                        timeoutH: RETIRED_VERSION_TIMEOUT_HOURS,
                    },
                    { parent: this },
                );
            }
            return traffic[key];
        };

        for (const spec of specs) {
            const { a } = spec;
            const { critical, warning } = a;
            // Recover a margin away from the threshold, so that a value hovering on it does not flap.
            const recovery = a.bad === "above" ? critical * 0.8 : critical + (100 - critical) * 0.2;
            const who = `${args.service} in ${args.env}${spec.perVersion ? ` (${spec.tags[1]}, ${spec.tags[0]})` : ""}`;
            const title = `[${args.env}] ${args.service}: ${alertTitle(a, critical)}${spec.perVersion ? ` (${spec.tags[1]})` : ""}`;
            const tags = [...commonTags, ...spec.tags, tag(MONITOR_TAG.severity, a.severity), tag(MONITOR_TAG.planAlert, spec.alert), ...(a.rolloutNoise ? [MUTE_IN_DEPLOYMENT_WINDOW] : [])];
            const common = {
                priority: String(args.priorities[a.severity]),
                // Missing data is not a breach: a quiet canary must not page or trigger a rollback.
                notifyNoData: false,
                includeTags: true,
                renotifyInterval: a.severity === "warning" ? 0 : 30,
            };
            const message = alertMessage(args, spec, { value: !spec.guard, who, critical, warning });
            const thresholds = { critical: num(critical), warning: warning !== undefined ? num(warning) : undefined, criticalRecovery: num(recovery) };
            const perVersion = spec.perVersion ? { timeoutH: RETIRED_VERSION_TIMEOUT_HOURS } : {};
            // Only a per-version monitor has a traffic guard: its version's own requests or payments.
            const guarded = spec.guard && spec.perVersion ? { guard: spec.guard, version: spec.perVersion } : undefined;
            if (!guarded) {
                this.monitors[spec.suffix] = new datadog.Monitor(
                    `${name}-${spec.suffix}`,
                    { name: title, type: "query alert", query: spec.query(critical), message, monitorThresholds: thresholds, tags, requireFullWindow: false, ...perVersion, ...common },
                    { parent: this },
                );
                continue;
            }
            // The condition (a ratio or a p95) notifies nobody; the composite alerts (or warns) only while the
            // condition does and the window holds enough traffic (docs.datadoghq.com/monitors/types/composite: `a && b`).
            const condition = new datadog.Monitor(
                `${name}-${spec.suffix}-condition`,
                {
                    name: `${title}: condition`,
                    type: "query alert",
                    query: spec.query(critical),
                    message: `Condition of "${title}", which notifies. Notifies nobody itself.`,
                    monitorThresholds: thresholds,
                    priority: "5",
                    tags: [...commonTags, ...spec.tags, tag(MONITOR_TAG.severity, a.severity), tag(MONITOR_TAG.planAlertCondition, spec.alert)],
                    notifyNoData: false,
                    requireFullWindow: false,
                    ...perVersion,
                },
                { parent: this },
            );
            this.monitors[`${spec.suffix}-condition`] = condition;
            this.monitors[spec.suffix] = new datadog.Monitor(
                `${name}-${spec.suffix}`,
                { name: title, type: "composite", query: pulumi.interpolate`${condition.id} && ${trafficMonitor(spec, guarded.version, guarded.guard).id}`, message, tags, ...common },
                { parent: this },
            );
        }
        for (const [key, monitor] of Object.entries(traffic)) this.monitors[key] = monitor;

        this.declareSlos(name, args, base, span, commonTags);
        this.declareDashboard(name, args, base, span, kube);
        if (args.deploymentWindow) {
            const w = args.deploymentWindow;
            const muted = [...PER_VERSION_ALERTS, ...SERVICE_ALERTS].flatMap((n) => (args.alerts[n]?.rolloutNoise ? [args.alerts[n].label] : []));
            new datadog.DowntimeSchedule(
                `${name}-deployment-window`,
                {
                    // The v2 scope is a query in the common search syntax; "*" is the documented group scope for all
                    // groups of the selected monitors (DataDog/documentation content/en/monitors/downtimes/_index.md,
                    // "Downtime scope syntax"; the provider passes it through as is,
                    // DataDog/terraform-provider-datadog datadog/fwprovider/resource_datadog_downtime_schedule.go).
                    scope: "*",
                    // Only monitors carrying every one of these tags are muted: the rollout noise, never what the plan checks in the window.
                    monitorIdentifier: { monitorTags: [`service:${args.service}`, `env:${args.env}`, MUTE_IN_DEPLOYMENT_WINDOW] },
                    oneTimeSchedule: { start: w.start, end: w.end },
                    displayTimezone: w.timezone,
                    message: `Deployment window of ${args.service} ${args.releaseVersion}: muted as rollout noise: ${muted.join(", ")}. Every other monitor, each rollback trigger among them, stays live.`,
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
                name: `[${args.env}] ${args.service}: p95 within ${num(args.slo.latencySeconds)} s`,
                type: "time_slice",
                description: "Share of five-minute slices whose p95 response time is within the plan's threshold.",
                sliSpecification: {
                    timeSlice: {
                        comparator: "<=",
                        threshold: args.slo.latencySeconds,
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
            ...(db === undefined
                ? []
                : [
                      timeseries(
                          args.appRole ? `Database connections of ${args.appRole.name} (% of its limit)` : "Database connections (% of max)",
                          [connections(db, args.appRole)],
                          "q1 * 100",
                      ),
                      timeseries("Database cache hit rate (%)", [`sum:postgresql.buffer_hit{${db}}.as_count()`, `sum:postgresql.disk_read{${db}}.as_count()`], "q1 / (q1 + q2) * 100"),
                      timeseries("Mean database query time (ms)", [`sum:postgresql.queries.time{${db}}.as_count()`, `sum:postgresql.queries.count{${db}}.as_count()`], "q1 / q2 / 1000000"),
                  ]),
            timeseries(
                "CPU by deployment (% of limit)",
                [`sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment}`, `sum:kubernetes.cpu.limits{${kube}} by {kube_deployment}`],
                "q1 / 1000000000 / q2 * 100",
            ),
            timeseries(
                "Memory working set by deployment (% of limit)",
                [`sum:kubernetes.memory.working_set{${kube}} by {kube_deployment}`, `sum:kubernetes.memory.limits{${kube}} by {kube_deployment}`],
                "q1 / q2 * 100",
            ),
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

/**
 * The app role's connections over its own connection limit, as a fraction: the limit is what runs out first, well
 * before max_connections. With Database Monitoring, postgresql.connections is tagged state, app, db and user
 * (DataDog/integrations-core postgres/metadata.csv; the check's PG_ACTIVE_CONNECTIONS_QUERY in
 * postgres/datadog_checks/postgres/statement_samples.py groups pg_stat_activity by usename and datname), so the sum
 * over states is every connection the role holds.
 */
function connections(databaseScope: string, r: ReleaseMonitoringArgs["appRole"]): string {
    return r ? `sum:postgresql.connections{${databaseScope},user:${r.name}} / ${r.connectionLimit}` : `max:postgresql.percent_usage_connections{${databaseScope}}`;
}

/**
 * A monitor's message. Datadog notifies an @-handle only when the block around it applies, so the pager appears in
 * the alert and alert-recovery blocks only, and warnings reach chat alone.
 */
function alertMessage(args: ReleaseMonitoringArgs, spec: MonitorSpec, o: { value: boolean; who: string; critical: number; warning?: number }): string {
    const { a } = spec;
    const chat = args.notify.chat.join(" ");
    const alertHandles = a.severity === "warning" ? chat : [...args.notify.pager, ...args.notify.chat].join(" ");
    const value = o.value ? `: {{value}} ${a.unit}` : "";
    const action = !spec.rollback
        ? "This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook."
        : a.severity === "rollback"
          ? `Roll back now: ${spec.rollback}`
          : a.severity === "critical"
            ? `The on-call engineer is paged. If it started with the release, roll back: ${spec.rollback}`
            : `Watch the deployment dashboard; if it worsens, roll back: ${spec.rollback}`;
    const w = o.warning;
    return [
        `{{#is_alert}}${alertTitle(a, o.critical)} for ${o.who}${value}.`,
        action,
        `${alertHandles}{{/is_alert}}`,
        ...(w !== undefined ? [`{{#is_warning}}${alertTitle(a, w)} for ${o.who}${value}. Nearing the critical ${num(o.critical)}. ${chat}{{/is_warning}}`] : []),
        `{{#is_alert_recovery}}Recovered: ${a.label} for ${o.who} is back within ${num(o.critical)} ${a.unit}. ${alertHandles}{{/is_alert_recovery}}`,
        ...(w !== undefined ? [`{{#is_warning_recovery}}Recovered: ${a.label} for ${o.who} is back within ${num(w)} ${a.unit}. ${chat}{{/is_warning_recovery}}`] : []),
    ].join("\n");
}
