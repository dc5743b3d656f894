import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { labelValue } from "../../policy/rules";
import {
    HPA_TAG,
    MONITOR_TAG,
    MUTE_IN_DEPLOYMENT_WINDOW,
    NO_USERS_TAG,
    NOTIFIES_NOBODY_TAG,
    PerVersionAlert,
    PER_VERSION_ALERTS,
    Severity,
    tag,
    TRAFFIC_GUARD_TAG,
    VariantKey,
} from "../../policy/contract";
import { LibraryComponent } from "../componentType";

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
    /**
     * Set for a version no user reaches (the color behind the preview host, a canary at weight 0): why, as
     * `pulumi stack output rollback` words that state. Its monitors then tell chat and never page, advise no rollback,
     * and their plumbing is tagged `users:none` for the runbook's go/no-go check to leave out.
     */
    noUsers?: string;
    /**
     * A handle that rolls back without a person, such as `@webhook-myapp-production-auto-rollback`
     * (AutoRollback.handle): this version's rollback triggers notify it when they alert, unless it has no users.
     */
    autoRollbackHandle?: string;
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
    /**
     * Per-version alerts of the same version this one defers to: it alerts only while none of them does, so one
     * incident pages once, from its highest tier. Those alerts may have no warning threshold.
     */
    defersTo?: AlertKind[];
}

export interface ReleaseMonitoringArgs {
    /** APM service name (the service tag), as the pods' `tags.datadoghq.com/service` label sets it. */
    service: string;
    /** Datadog env tag, as the pods' `tags.datadoghq.com/env` label sets it. */
    env: string;
    /**
     * The span the app's tracer opens for an inbound request (web.request for dd-trace-js): trace.<span>.hits/.errors
     * count requests, trace.<span> is the latency distribution in seconds.
     */
    span: string;
    /** The kube_cluster_name tag of the cluster's metrics, so that no other cluster's namespace of the same name counts. */
    kubeClusterName: string;
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
    /** Tag scope of the hosts whose disks are watched, such as the cluster's or its node group's; required by diskIoPct. */
    hostScope?: string;
    /** Service level objectives: targets, and the p95 a five-minute slice must stay within to count as good. */
    slo: { availabilityTarget: number; latencyTarget: number; latencySeconds: number; timeframe: string };
    /**
     * Deployment window (UTC `YYYY-MM-DDTHH:MM:SSZ`) during which rollout noise is muted. Without a start the downtime
     * runs from its creation: Datadog refuses a start in the past. Leave the window out once it has ended: Datadog
     * refuses an end in the past too.
     */
    deploymentWindow?: { start?: string; end: string; timezone: string };
    /**
     * Counts a ratio or p95 must see in its window before it may alert (minPayments: required by the payment alerts,
     * per version and service-wide), and resources that are not user traffic.
     */
    trafficGuard: { minRequests: number; minPayments?: number; excludeResources: string[] };
    /** The app's database role and its connection limit; without it, connections are watched server-wide. */
    appRole?: { name: string; connectionLimit: number };
    /** How service-wide monitors tell the reader to roll back, e.g. "run the command printed by `pulumi stack output rollback`". */
    rollbackHint: string;
    /** What declares the handles the monitors notify beyond people's (the automatic rollback's webhook): monitors come after it. */
    handlesFrom?: pulumi.Resource[];
}

/** A ratio or p95 may alert only once its window holds at least `min` of what `count` counts. */
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
    /** The alert goes through a composite that also needs enough traffic: per-version alerts, and service-wide payments. */
    guard?: TrafficGuard;
    /**
     * Per-version alerts: the version's requests over the last five minutes. Once they are none, every composite of
     * the version resolves together, instead of a longer window's alert firing after the shorter one it deferred to.
     */
    gone?: TrafficGuard;
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

/** "Error rate above 1%": the alert's label, the comparison its query makes and the threshold. */
function alertTitle(a: AlertSpec, threshold: number, op: Comparator): string {
    const side = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" }[op];
    return `${a.label} ${side} ${num(threshold)}${a.unit === "%" ? "%" : ` ${a.unit}`}`;
}

type Comparator = ">" | ">=" | "<" | "<=";

/** The comparison a query makes: Datadog query alerts end in `<op> <threshold>`. */
function comparatorOf(query: string): Comparator {
    const op = /\s(>=|<=|>|<)\s\S+$/.exec(query)?.[1];
    if (op === undefined) throw new Error(`a monitor query without a comparison: ${query}`);
    return op as Comparator;
}

/**
 * On missing data, Datadog treats a Count query as 0 ("default"; docs.datadoghq.com/monitors/configuration, "No
 * data": Evaluate as zero), so a traffic guard reads "too few" once a version's traffic is gone, instead of keeping
 * its last state. A condition resolves ("resolve": Show OK) once its version stops reporting.
 */
const GUARD_ON_MISSING_DATA = "default";
const CONDITION_ON_MISSING_DATA = "resolve";

/**
 * Datadog monitors for the alerts and rollback triggers it is given, a deployment dashboard, availability and latency
 * SLOs, and a downtime for the deployment window that mutes rollout noise only. Error-rate, latency, payment and
 * rollback monitors exist per version in flight, so a canary is judged on its own traffic, and only once that traffic
 * is large enough to judge: a p95 over a handful of requests says as little as a ratio over them. Each of those is a
 * composite `condition && !low_traffic`: a guard alerts on too little traffic, never on enough, so no monitor is in
 * alert while traffic is healthy.
 *
 * Notification routing follows Datadog's conditional variables: an @-handle inside `{{#is_alert}}` is notified only
 * when the monitor alerts. The pager sits in the alert block of what pages (never for a version without users) and in
 * the `{{#is_recovery}}` block of every monitor that can page, so each incident it opened is resolved on any path
 * back to OK; warnings go to chat.
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
            // `!` reads WARN like ALERT: a warning on a tier others defer to would silence them in its band.
            for (const higher of a.defersTo ?? []) {
                if (args.alerts[higher]?.warning !== undefined) throw new pulumi.ResourceError(`alert ${alert} defers to ${higher}, which may then have no warning threshold`, this);
            }
        }
        /** What an alert's query cannot be written without; asking for the alert without it is an error naming both. */
        const needs = <T>(alert: AlertKind, value: T | undefined, what: string): T => {
            if (value === undefined) throw new pulumi.ResourceError(`alert ${alert} needs ${what}`, this);
            return value;
        };
        const metricsFor = (alert: AlertKind) => needs(alert, args.metrics, "metrics (the app's payment and email metric names)");
        const dbFor = (alert: AlertKind) => needs(alert, args.databaseScope, "databaseScope");
        const minPaymentsFor = (alert: AlertKind) => needs(alert, args.trafficGuard.minPayments, "trafficGuard.minPayments");
        const base = `service:${args.service},env:${args.env}`;
        const span = `trace.${args.span}`;
        const kube = `kube_cluster_name:${args.kubeClusterName},kube_namespace:${args.namespace},kube_app_name:${args.appName}`;
        const commonTags = [`service:${args.service}`, `env:${args.env}`, "managed-by:pulumi"];
        const guard = args.trafficGuard;
        // Probes are not user traffic. `!tag:value` with wildcards is Datadog's metric-query exclusion
        // (docs.datadoghq.com/metrics/advanced-filtering: `avg:system.disk.in_use{!device:/dev/loop*}`).
        const notProbes = guard.excludeResources.map((r) => `,!resource_name:${r}`).join("");

        // After a promotion stable and canary run the same version: one set of monitors, with the advice of the
        // variant that serves users (stable's, or the live color's).
        const versions = args.versions.filter((v) => {
            const same = args.versions.filter((w) => w.version === v.version);
            return v === (same.find((w) => w.noUsers === undefined) ?? same[0]);
        });
        const specs: MonitorSpec[] = [];
        for (const v of versions) {
            const scope = `${base},version:${labelValue(v.version)}`;
            const requests = `${scope}${notProbes}`;
            const tags = [tag(MONITOR_TAG.version, labelValue(v.version)), tag(v.variantKey, v.variantValue)];
            const errorRate = (window: string) => (t: number) => `sum(${window}):sum:${span}.errors{${requests}}.as_count() / sum:${span}.hits{${requests}}.as_count() * 100 > ${num(t)}`;
            // "5 minutes sustained", as the plan's success criterion words it: every minute of the window above the
            // threshold. Only as_rate() takes a time aggregation other than sum, and divides each point before it
            // (docs.datadoghq.com/monitors/guide/as-count-in-monitor-evaluations). So it fires no sooner than
            // "roll back now" over the same five minutes, which it defers to.
            const sustainedErrorRate = (window: string) => (t: number) =>
                `min(${window}):sum:${span}.errors{${requests}}.as_rate() / sum:${span}.hits{${requests}}.as_rate() * 100 > ${num(t)}`;
            const p95 = (window: string) => (t: number) => `percentile(${window}):p95:${span}{${requests}} > ${num(t)}`;
            const requestsIn = (window: string): TrafficGuard => ({ counter: "requests", window, min: guard.minRequests, count: `sum:${span}.hits{${requests}}.as_count()` });
            // Exactly the contract's per-version alerts: the policy pack requires each one declared for every version in flight.
            const perVersion: Record<PerVersionAlert, () => { query: (t: number) => string; guard: TrafficGuard }> = {
                errorRatePct: () => ({ query: sustainedErrorRate("last_5m"), guard: requestsIn("last_5m") }),
                p95LatencySeconds: () => ({ query: p95("last_10m"), guard: requestsIn("last_10m") }),
                rollbackNowErrorRatePct: () => ({ query: errorRate("last_5m"), guard: requestsIn("last_5m") }),
                rollbackNowP95Seconds: () => ({ query: p95("last_5m"), guard: requestsIn("last_5m") }),
                rollbackSustainedErrorRatePct: () => ({ query: errorRate("last_15m"), guard: requestsIn("last_15m") }),
                rollbackSustainedP95Seconds: () => ({ query: p95("last_15m"), guard: requestsIn("last_15m") }),
                versionPaymentFailurePct: () => {
                    const m = metricsFor("versionPaymentFailurePct");
                    const min = minPaymentsFor("versionPaymentFailurePct");
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
                const gone = { ...requestsIn("last_5m"), counter: "requests" as const, min: 1 };
                specs.push({ alert, a, query, tags, rollback: v.rollbackCommand && `\`${v.rollbackCommand}\``, suffix: `${kebab(alert)}-${v.variantValue}`, perVersion: v, guard: g, gone });
            }
        }
        const ratio = (window: string, numerator: string, denominator: string, op: string) => (t: number) =>
            `sum(${window}):sum:${numerator}{${base}}.as_count() / sum:${denominator}{${base}}.as_count() * 100 ${op} ${num(t)}`;
        // autoscalerAtMaxPct: kubernetes_state.hpa.current_replicas and .max_replicas, tagged kube_namespace and
        // horizontalpodautoscaler (DataDog/integrations-core kubernetes_state_core/metadata.csv), and kube_cluster_name
        // (the KSM check tags every metric with it). Pinned for the whole window: min(). Named autoscalers only: a
        // wildcard would take in another app's `<app>-…` and every pinned one, which reads 100% forever. `AND … IN (…)`
        // is the boolean filter form, which must not be mixed with `,` (docs.datadoghq.com/metrics/advanced-filtering).
        const hpa = `kube_cluster_name:${args.kubeClusterName} AND kube_namespace:${args.namespace} AND ${HPA_TAG} IN (${[...args.autoscalers].sort().join(", ")})`;
        // A payment ratio over a handful of payments says nothing (one failure in 8 at 3 a.m. is 12.5%): service-wide too,
        // it needs trafficGuard.minPayments payments in its window.
        const paymentsIn = (alert: AlertKind, window: string): TrafficGuard => ({
            counter: "payments",
            window,
            min: minPaymentsFor(alert),
            count: `sum:${metricsFor(alert).paymentTotal}{${base}}.as_count()`,
        });
        const serviceWide: Record<ServiceAlert, () => { query: (t: number) => string; guard?: TrafficGuard }> = {
            paymentFailurePct: () => {
                const m = metricsFor("paymentFailurePct");
                return { query: ratio("last_5m", m.paymentFailed, m.paymentTotal, ">"), guard: paymentsIn("paymentFailurePct", "last_5m") };
            },
            paymentSuccessPct: () => {
                const m = metricsFor("paymentSuccessPct");
                return { query: ratio("last_15m", m.paymentSucceeded, m.paymentTotal, "<"), guard: paymentsIn("paymentSuccessPct", "last_15m") };
            },
            emailDeliveryPct: () => {
                const m = metricsFor("emailDeliveryPct");
                return { query: ratio("last_30m", m.emailDelivered, m.emailSent, "<") };
            },
            // postgresql.queries.time is nanoseconds of execution per query_signature, db and user (Database
            // Monitoring; DataDog/integrations-core postgres/metadata.csv); per call, in milliseconds. The app's own
            // role only: the six-hourly pg_dump's long COPYs are the backup role's.
            dbQueryMs: () => {
                const db = appQueries(dbFor("dbQueryMs"), args.appRole);
                return { query: (t) => `sum(last_10m):sum:postgresql.queries.time{${db}}.as_count() / sum:postgresql.queries.count{${db}}.as_count() / 1000000 > ${num(t)}` };
            },
            dbConnectionsPct: () => {
                const db = dbFor("dbConnectionsPct");
                return { query: (t) => `avg(last_5m):${connections(db, args.appRole)} * 100 > ${num(t)}` };
            },
            cacheHitPct: () => {
                const db = dbFor("cacheHitPct");
                return {
                    query: (t) =>
                        `sum(last_15m):sum:postgresql.buffer_hit{${db}}.as_count() / ( sum:postgresql.buffer_hit{${db}}.as_count() + sum:postgresql.disk_read{${db}}.as_count() ) * 100 < ${num(t)}`,
                };
            },
            // kubernetes.cpu.usage.total is nanocores and kubernetes.cpu.limits cores (DataDog/integrations-core kubelet/metadata.csv).
            cpuPct: () => ({
                query: (t) =>
                    `avg(last_10m):sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{${kube}} by {kube_deployment} * 100 > ${num(t)}`,
            }),
            // The working set is what the OOM killer watches; kubernetes.memory.usage counts page cache too
            // (DataDog/integrations-core kubelet/metadata.csv). Per pod, since one pod is what gets killed.
            memoryPct: () => ({
                query: (t) =>
                    `avg(last_10m):sum:kubernetes.memory.working_set{${kube}} by {kube_deployment,pod_name} / sum:kubernetes.memory.limits{${kube}} by {kube_deployment,pod_name} * 100 > ${num(t)}`,
            }),
            diskIoPct: () => {
                const hosts = needs("diskIoPct", args.hostScope, "hostScope");
                return { query: (t) => `avg(last_10m):max:system.io.util{${hosts}} by {host,device} > ${num(t)}` };
            },
            autoscalerAtMaxPct: () => ({
                query: (t) =>
                    `min(last_15m):sum:kubernetes_state.hpa.current_replicas{${hpa}} by {${HPA_TAG}} / sum:kubernetes_state.hpa.max_replicas{${hpa}} by {${HPA_TAG}} * 100 >= ${num(t)}`,
            }),
        };
        for (const alert of SERVICE_ALERTS) {
            const a = args.alerts[alert];
            // With no autoscaler that can grow, none can be pinned at a maximum it did not start at.
            if (!a || (alert === "autoscalerAtMaxPct" && args.autoscalers.length === 0)) continue;
            const { query, guard: g } = serviceWide[alert]();
            specs.push({ alert, a, query, tags: [tag(MONITOR_TAG.version, labelValue(args.releaseVersion))], rollback: args.rollbackHint, suffix: kebab(alert), guard: g });
        }

        // Last, so that a version gaining or losing its users changes one tag of its monitors, not the order of all.
        const usersTag = (spec: MonitorSpec) => (spec.perVersion?.noUsers !== undefined ? [NO_USERS_TAG] : []);
        // One guard per counter, window and version (or service-wide): "alert" means too little to judge.
        const traffic: Record<string, datadog.Monitor> = {};
        const trafficMonitor = (spec: MonitorSpec, g: TrafficGuard): datadog.Monitor => {
            const v = spec.perVersion;
            const key = `${g.min === 1 ? "no" : "low"}-${g.counter}-${g.window.replace("last_", "")}${v ? `-${v.variantValue}` : ""}`;
            if (!traffic[key]) {
                const of = v ? ` of ${v.variantKey}:${v.variantValue}` : "";
                traffic[key] = new datadog.Monitor(
                    `${name}-${key}`,
                    {
                        name: `[${args.env}] ${args.service}: ${g.min === 1 ? "no" : `fewer than ${g.min}`} ${g.counter}${of} in ${g.window.replace("last_", "")}`,
                        type: "query alert",
                        query: `sum(${g.window}):${g.count} < ${g.min}`,
                        message: `Traffic guard${v ? ` of the ${v.variantKey}:${v.variantValue} monitors` : ` of the service-wide ${g.counter} monitors`}: "alert" means fewer than ${g.min} ${g.counter} in ${g.window.replace("last_", "")}, too few to judge, so those monitors stay quiet. Notifies nobody.`,
                        monitorThresholds: { critical: String(g.min) },
                        priority: "5",
                        tags: [...commonTags, ...spec.tags, TRAFFIC_GUARD_TAG, NOTIFIES_NOBODY_TAG, ...usersTag(spec)],
                        onMissingData: GUARD_ON_MISSING_DATA,
                        requireFullWindow: false,
                    },
                    { parent: this },
                );
            }
            return traffic[key];
        };

        /** What each spec's monitors are called and carry. */
        const described = specs.map((spec) => {
            const { a } = spec;
            // Recover a margin away from the threshold, so that a value hovering on it does not flap.
            const recovery = a.bad === "above" ? a.critical * 0.8 : a.critical + (100 - a.critical) * 0.2;
            const op = comparatorOf(spec.query(a.critical));
            const title = `[${args.env}] ${args.service}: ${alertTitle(a, a.critical, op)}${spec.perVersion ? ` (${spec.tags[1]})` : ""}`;
            const thresholds = { critical: num(a.critical), warning: a.warning !== undefined ? num(a.warning) : undefined, criticalRecovery: num(recovery) };
            return { spec, op, title, thresholds };
        });
        // The condition (a ratio or a p95) of each guarded alert notifies nobody: its composite does.
        const conditions = new Map<MonitorSpec, datadog.Monitor>();
        for (const { spec, title, thresholds } of described.filter((d) => d.spec.guard)) {
            const condition = new datadog.Monitor(
                `${name}-${spec.suffix}-condition`,
                {
                    name: `${title}: condition`,
                    type: "query alert",
                    query: spec.query(spec.a.critical),
                    message: `Condition of "${title}", which notifies. Notifies nobody itself.`,
                    monitorThresholds: thresholds,
                    priority: "5",
                    tags: [...commonTags, ...spec.tags, tag(MONITOR_TAG.severity, spec.a.severity), tag(MONITOR_TAG.planAlertCondition, spec.alert), NOTIFIES_NOBODY_TAG, ...usersTag(spec)],
                    onMissingData: CONDITION_ON_MISSING_DATA,
                    requireFullWindow: false,
                },
                { parent: this },
            );
            conditions.set(spec, condition);
            this.monitors[`${spec.suffix}-condition`] = condition;
        }
        /** The conditions of the same version's alerts this one defers to. */
        const higherTiers = (spec: MonitorSpec): datadog.Monitor[] =>
            (spec.a.defersTo ?? []).flatMap((alert) => {
                const higher = specs.find((x) => x.alert === alert && x.perVersion === spec.perVersion);
                const condition = higher && conditions.get(higher);
                return condition ? [condition] : [];
            });

        for (const { spec, op, title, thresholds } of described) {
            const { a } = spec;
            const who = `${args.service} in ${args.env}${spec.perVersion ? ` (${spec.tags[1]}, ${spec.tags[0]})` : ""}`;
            const tags = [
                ...commonTags,
                ...spec.tags,
                tag(MONITOR_TAG.severity, a.severity),
                tag(MONITOR_TAG.planAlert, spec.alert),
                ...(a.rolloutNoise ? [MUTE_IN_DEPLOYMENT_WINDOW] : []),
                ...usersTag(spec),
            ];
            const common = {
                priority: String(args.priorities[a.severity]),
                // Missing data is not a breach: a quiet canary must not page or trigger a rollback.
                notifyNoData: false,
                includeTags: true,
                // Reminders only for what pages; a version without users pages nobody and needs none.
                renotifyInterval: a.severity === "warning" || spec.perVersion?.noUsers !== undefined ? 0 : 30,
            };
            const message = alertMessage(args, spec, { value: !spec.guard, who, critical: a.critical, warning: a.warning, op });
            const condition = conditions.get(spec);
            if (!spec.guard || !condition) {
                this.monitors[spec.suffix] = new datadog.Monitor(
                    `${name}-${spec.suffix}`,
                    { name: title, type: "query alert", query: spec.query(a.critical), message, monitorThresholds: thresholds, tags, requireFullWindow: false, ...common },
                    { parent: this, dependsOn: args.handlesFrom },
                );
                continue;
            }
            // The composite alerts (or warns) only while the condition does, its guard does not report too little
            // traffic and no higher tier of the same version alerts. Datadog's `!` turns OK into ALERT and ALERT or
            // WARN into OK, and `&&` takes the least severe (docs.datadoghq.com/monitors/types/composite,
            // "Computing trigger conditions").
            const guards = [spec.guard, ...(spec.gone && spec.gone.window !== spec.guard.window ? [spec.gone] : [])].map((g) => trafficMonitor(spec, g).id);
            const deferred = higherTiers(spec).map((c) => c.id);
            this.monitors[spec.suffix] = new datadog.Monitor(
                `${name}-${spec.suffix}`,
                {
                    name: title,
                    type: "composite",
                    query: pulumi.all([condition.id, ...guards, ...deferred]).apply(([c, ...rest]) => [c, ...rest.map((id) => `!${id}`)].join(" && ")),
                    message,
                    tags,
                    ...common,
                },
                { parent: this, dependsOn: args.handlesFrom },
            );
        }
        for (const [key, monitor] of Object.entries(traffic)) this.monitors[key] = monitor;

        // The SLOs and the dashboard count what the monitors count: user requests, not probes.
        this.declareSlos(name, args, `${base}${notProbes}`, span, commonTags);
        this.declareDashboard(name, args, `${base}${notProbes}`, span, kube);
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
                    oneTimeSchedule: w.start === undefined ? { end: w.end } : { start: w.start, end: w.end },
                    displayTimezone: w.timezone,
                    message: `Deployment window of ${args.service} ${args.releaseVersion}: muted as rollout noise: ${muted.join(", ")}. Every other monitor, each rollback trigger among them, stays live.`,
                    muteFirstRecoveryNotification: true,
                },
                { parent: this },
            );
        }
        this.registerOutputs({ monitorCount: Object.keys(this.monitors).length });
    }

    /** `requests`: the scope of the service's user requests. */
    private declareSlos(name: string, args: ReleaseMonitoringArgs, requests: string, span: string, tags: string[]): void {
        new datadog.ServiceLevelObjective(
            `${name}-availability-slo`,
            {
                name: `[${args.env}] ${args.service}: availability`,
                type: "metric",
                description: "Share of requests that do not fail.",
                query: {
                    numerator: `sum:${span}.hits{${requests}}.as_count() - sum:${span}.errors{${requests}}.as_count()`,
                    denominator: `sum:${span}.hits{${requests}}.as_count()`,
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
                            queries: [{ metricQuery: { name: "query1", dataSource: "metrics", query: `p95:${span}{${requests}}` } }],
                        },
                    },
                },
                thresholds: [{ timeframe: args.slo.timeframe, target: args.slo.latencyTarget }],
                tags,
            },
            { parent: this },
        );
    }

    /** `requests`: the scope of the service's user requests. */
    private declareDashboard(name: string, args: ReleaseMonitoringArgs, requests: string, span: string, kube: string): void {
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
        const byVersion = `{${requests}} by {version}`;
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
                      // The role's limit is a constant of the formula, not of the query.
                      args.appRole
                          ? timeseries(
                                `Database connections of ${args.appRole.name} (% of its limit)`,
                                [`sum:postgresql.connections{${db},user:${args.appRole.name}}`],
                                `q1 / ${args.appRole.connectionLimit} * 100`,
                            )
                          : timeseries("Database connections (% of max)", [`max:postgresql.percent_usage_connections{${db}}`], "q1 * 100"),
                      timeseries("Database cache hit rate (%)", [`sum:postgresql.buffer_hit{${db}}.as_count()`, `sum:postgresql.disk_read{${db}}.as_count()`], "q1 / (q1 + q2) * 100"),
                      timeseries(
                          "Mean database query time (ms)",
                          [`sum:postgresql.queries.time{${appQueries(db, args.appRole)}}.as_count()`, `sum:postgresql.queries.count{${appQueries(db, args.appRole)}}.as_count()`],
                          "q1 / q2 / 1000000",
                      ),
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

/** The scope of the app's own queries: its role's, when known (Database Monitoring tags query metrics by user). */
function appQueries(databaseScope: string, r: ReleaseMonitoringArgs["appRole"]): string {
    return r ? `${databaseScope},user:${r.name}` : databaseScope;
}

/**
 * A monitor's message. Datadog notifies an @-handle only when the block around it applies
 * (docs.datadoghq.com/monitors/notify/variables). The pager is in the alert block of what pages, so warnings reach
 * chat alone, and in the `{{#is_recovery}}` block of every monitor that can page, which renders on any return to OK
 * (from ALERT or WARN): `{{#is_alert_recovery}}` renders on ALERT → OK only (DataDog/documentation#39212), so an
 * incident that went ALERT → WARN → OK stayed open. A recovery sent to PagerDuty resolves its incident, or is ignored
 * when there is none; it never pages. A version without users alerts chat alone, with what `rollback` says of it.
 */
function alertMessage(args: ReleaseMonitoringArgs, spec: MonitorSpec, o: { value: boolean; who: string; critical: number; warning?: number; op: Comparator }): string {
    const { a } = spec;
    const chat = args.notify.chat.join(" ");
    const paging = [...args.notify.pager, ...args.notify.chat].join(" ");
    const pages = a.severity !== "warning";
    const noUsers = spec.perVersion?.noUsers;
    const automatic = a.severity === "rollback" && noUsers === undefined ? spec.perVersion?.autoRollbackHandle : undefined;
    const alertHandles = [pages && noUsers === undefined ? paging : chat, ...(automatic ? [automatic] : [])].join(" ");
    const recoveryHandles = pages ? paging : chat;
    const value = o.value ? `: {{value}} ${a.unit}` : "";
    const action =
        noUsers !== undefined
            ? `No rollback needed: ${noUsers}. It serves no users, so nobody is paged.`
            : !spec.rollback
              ? "This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook."
              : a.severity === "rollback"
                ? automatic
                    ? `Rolling back automatically (a Pulumi Deployments update of the stack); if it has not happened, roll back now: ${spec.rollback}`
                    : `Roll back now: ${spec.rollback}`
                : a.severity === "critical"
                  ? `The on-call engineer is paged. If it started with the release, roll back: ${spec.rollback}`
                  : `Watch the deployment dashboard; if it worsens, roll back: ${spec.rollback}`;
    const w = o.warning;
    return [
        `{{#is_alert}}${alertTitle(a, o.critical, o.op)} for ${o.who}${value}.`,
        action,
        `${alertHandles}{{/is_alert}}`,
        ...(w !== undefined ? [`{{#is_warning}}${alertTitle(a, w, o.op)} for ${o.who}${value}. Nearing the critical ${num(o.critical)}. ${chat}{{/is_warning}}`] : []),
        `{{#is_recovery}}Recovered: ${a.label} for ${o.who} is back within ${num(w ?? o.critical)} ${a.unit}. ${recoveryHandles}{{/is_recovery}}`,
    ].join("\n");
}

/** Whether a warning threshold sits on the quiet side of the critical one, as Datadog requires of a monitor. */
export function warningBeforeCritical(bad: "above" | "below", warning: number, critical: number): boolean {
    return bad === "above" ? warning < critical : warning > critical;
}
