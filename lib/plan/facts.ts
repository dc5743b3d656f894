// Reads what the plan needs from the declared resources: each number the document prints comes from here or from
// config, never from a second copy of the rule that produced it.
import { AlertName, Severity } from "../../policy/planAlerts";
import { PlanResource } from "./types";
import {
    ANNOTATION,
    COMPONENT,
    DATADOG_LABEL,
    LABEL,
    MONITOR_TAG,
    MUTE_IN_DEPLOYMENT_WINDOW,
    tagValue,
    VARIANT_KEYS,
} from "../../policy/contract";

export const MONITOR = "datadog:index/monitor:Monitor";
const SLO = "datadog:index/serviceLevelObjective:ServiceLevelObjective";
const DASHBOARD = "datadog:index/dashboardJson:DashboardJson";
const DOWNTIME = "datadog:index/downtimeSchedule:DowntimeSchedule";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
export const JOB = "kubernetes:batch/v1:Job";
const CRONJOB = "kubernetes:batch/v1:CronJob";
const SERVICE = "kubernetes:core/v1:Service";
const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";
export const CONFIGMAP = "kubernetes:core/v1:ConfigMap";

/** The resource types the plan reads; the program records only these. */
export const PLAN_TYPES = [
    MONITOR,
    SLO,
    DASHBOARD,
    DOWNTIME,
    DEPLOYMENT,
    HPA,
    JOB,
    CRONJOB,
    SERVICE,
    INGRESS,
    HTTPROUTE,
    CONFIGMAP,
] as const;

/** A resource's captured inputs, typed as @pulumi/policy types PolicyResource.props: the plan reads what the policies read. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped like the provider inputs it captures; each reader checks the shape
type Inputs = Record<string, any>;
const of = (resources: PlanResource[], type: string) =>
    resources.filter((r) => r.type === type).map((r) => r.inputs as Inputs);
const labels = (i: Inputs): Record<string, string> => i.metadata?.labels ?? {};
const component = (i: Inputs) => labels(i)[LABEL.component];
const tag = (i: Inputs, key: string): string | undefined => tagValue(i.tags, key);

export interface MonitorFact {
    name: string;
    alert: AlertName;
    severity: Severity;
    priority: string;
    critical: number;
    warning?: number;
    /** Evaluation window, e.g. "5 min". */
    window: string;
    /** "track:canary" or "color:green" for a version's own monitor. */
    variant?: string;
    version?: string;
    /** Tagged to be muted in the deployment window. */
    muted: boolean;
}

function windowOf(query: unknown): string {
    const m = typeof query === "string" ? /^\w+\(last_(\d+)([mhd])\)/.exec(query) : null;
    return m ? `${m[1]} ${{ m: "min", h: "h", d: "d" }[m[2]]}` : "not set";
}

/**
 * The monitors that notify, one per plan alert and version, with the threshold and window of the query that decides
 * them: their own, or, for a composite guarded by traffic, its condition monitor's.
 */
export function monitorFacts(resources: PlanResource[]): MonitorFact[] {
    const monitors = of(resources, MONITOR);
    return monitors
        .filter((m) => tag(m, MONITOR_TAG.planAlert) !== undefined)
        .map((m) => {
            const alert = tag(m, MONITOR_TAG.planAlert) as AlertName;
            const variant = VARIANT_KEYS.map((k) => tag(m, k) && `${k}:${tag(m, k)}`).find(Boolean);
            const decides =
                m.monitorThresholds !== undefined
                    ? m
                    : monitors.find(
                          (c) =>
                              tag(c, MONITOR_TAG.planAlertCondition) === alert &&
                              tag(c, MONITOR_TAG.version) === tag(m, MONITOR_TAG.version) &&
                              (!variant || (c.tags ?? []).includes(variant)),
                      );
            const t = decides?.monitorThresholds ?? {};
            return {
                name: m.name,
                alert,
                severity: tag(m, MONITOR_TAG.severity) as Severity,
                priority: m.priority,
                critical: Number(t.critical),
                warning: t.warning === undefined ? undefined : Number(t.warning),
                window: windowOf(decides?.query),
                variant,
                version: tag(m, MONITOR_TAG.version),
                muted: (m.tags ?? []).includes(MUTE_IN_DEPLOYMENT_WINDOW),
            };
        });
}

export function sloFacts(resources: PlanResource[]): { name: string; target: number; timeframe: string }[] {
    return of(resources, SLO).map((s) => ({
        name: s.name,
        target: s.thresholds?.[0]?.target,
        timeframe: s.thresholds?.[0]?.timeframe,
    }));
}

export function dashboardTitles(resources: PlanResource[]): string[] {
    return of(resources, DASHBOARD)
        .map((d) => (typeof d.dashboard === "string" ? JSON.parse(d.dashboard).title : undefined))
        .filter((t): t is string => t !== undefined);
}

/** The deployment window's downtime; without a start it runs from its creation. */
export function downtimeFact(resources: PlanResource[]): { start?: string; end: string; timezone: string } | undefined {
    const d = of(resources, DOWNTIME)[0];
    return (
        d?.oneTimeSchedule && {
            start: d.oneTimeSchedule.start,
            end: d.oneTimeSchedule.end,
            timezone: d.displayTimezone,
        }
    );
}

export interface WorkloadFact {
    /** Kubernetes name of the Deployment. */
    name: string;
    /** stable, canary, blue or green; undefined for a rolling Deployment. */
    variant?: string;
    version: string;
    replicas: number;
    autoscaler?: { min: number; max: number };
}

export function workloadFacts(resources: PlanResource[]): WorkloadFact[] {
    const hpas = of(resources, HPA);
    return of(resources, DEPLOYMENT).map((d) => {
        const hpa = hpas.find((h) => h.spec?.scaleTargetRef?.name === d.metadata?.name);
        const l = labels(d);
        return {
            name: d.metadata?.name,
            variant: l[LABEL.track] ?? l[LABEL.color],
            version: l[DATADOG_LABEL.version] ?? l[LABEL.version],
            replicas: d.spec?.replicas,
            // The minimum follows traffic (components/traffic/capacity.ts), known only once the live tracks are read: it
            // starts at the Deployment's declared count.
            autoscaler: hpa && { min: hpa.spec?.minReplicas ?? d.spec?.replicas, max: hpa.spec?.maxReplicas },
        };
    });
}

export interface JobFact {
    name: string;
    /** predeploy-backup, restore, migration or smoke-test. */
    component: string;
    color?: string;
    deadlineSeconds: number;
    /** Plain environment values of its container, e.g. BACKUP_LABEL. */
    env: Record<string, string>;
}

/** The release's Jobs, in the order the program declares them (which is the order they run). */
export function jobFacts(resources: PlanResource[]): JobFact[] {
    return of(resources, JOB).map((j) => ({
        name: j.metadata?.name,
        component: component(j),
        color: labels(j)[LABEL.color],
        deadlineSeconds: j.spec?.activeDeadlineSeconds,
        env: Object.fromEntries(
            (j.spec?.template?.spec?.containers?.[0]?.env ?? [])
                .filter((e: Inputs) => typeof e.value === "string")
                .map((e: Inputs) => [e.name, e.value]),
        ),
    }));
}

export function cronJobNames(resources: PlanResource[]): Record<string, string> {
    return Object.fromEntries(of(resources, CRONJOB).map((c) => [component(c), c.metadata?.name]));
}

export interface CronJobFact {
    /** backup or restore-drill. */
    component: string;
    name: string;
    namespace: string;
    schedule: string;
    /** The Datadog service of its pods. */
    service: string;
}

/** The CronJobs as declared: name, namespace, schedule and their pods' Datadog service. */
export function cronJobFacts(resources: readonly PlanResource[]): CronJobFact[] {
    return of([...resources], CRONJOB).map((c) => ({
        component: component(c),
        name: c.metadata?.name,
        namespace: c.metadata?.namespace,
        schedule: c.spec?.schedule,
        service: c.spec?.jobTemplate?.spec?.template?.metadata?.labels?.[DATADOG_LABEL.service],
    }));
}

/** The Service that takes user traffic (blue/green's active Service) and what it selects. */
export function activeService(
    resources: PlanResource[],
): { name: string; selector: Record<string, string> } | undefined {
    const s = of(resources, SERVICE).find((x) => component(x) === COMPONENT.live);
    return s && { name: s.metadata?.name, selector: s.spec?.selector ?? {} };
}

/** The object a canary weight edit changes, as "Kind name". */
export function canaryRoutingObject(resources: PlanResource[]): string | undefined {
    const route = of(resources, HTTPROUTE)[0];
    if (route) return `HTTPRoute ${route.metadata?.name}`;
    const ingress = of(resources, INGRESS).find(
        (i) => component(i) === COMPONENT.canary || ANNOTATION.albWeightedAction in (i.metadata?.annotations ?? {}),
    );
    return ingress && `Ingress ${ingress.metadata?.name}`;
}
