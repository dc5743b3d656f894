// The contract between the program's components and this policy pack: every label, annotation, environment variable
// and monitor tag by which the pack finds what it checks. Components write them from here and the pack reads them from
// here, so neither side can rename one alone. It lives in the pack's folder because the pack is published on its own
// (`pulumi policy publish`) and imports nothing outside it; the program imports it, as it imports planAlerts.ts.
import { AlertName } from "./planAlerts";

/** Labels on the app's objects and pods (Kubernetes' recommended app.kubernetes.io labels, plus the variant labels). */
export const LABEL = {
    name: "app.kubernetes.io/name",
    component: "app.kubernetes.io/component",
    version: "app.kubernetes.io/version",
    partOf: "app.kubernetes.io/part-of",
    managedBy: "app.kubernetes.io/managed-by",
    /** blue or green: the blue/green color of a Deployment, its pods, its Service and its smoke test. */
    color: "color",
    /** stable or canary: the track of a canary or rolling Deployment and its pods. */
    track: "track",
} as const;

/** The labels that tell a Deployment's pods from its siblings': a blue/green color or a canary track. */
export type VariantKey = typeof LABEL.color | typeof LABEL.track;
export const VARIANT_KEYS: readonly VariantKey[] = [LABEL.color, LABEL.track];

/** Values of the component label: what an object is for. The pack finds the objects it checks by these. */
export const COMPONENT = {
    /**
     * The Service, Ingress or HTTPRoute that takes user traffic: blue/green's active Service, a canary's or rolling
     * release's app Service. The value predates argo-rollouts' words and stays, as the objects in clusters carry it.
     */
    live: "live",
    canary: "canary",
    color: "color",
    preview: "preview",
    config: "config",
    database: "database",
    /** The scheduled backup CronJob. */
    backup: "backup",
    /** The scheduled restore drill CronJob. */
    restoreDrill: "restore-drill",
    /** A release's restore Job (database.restore). */
    restore: "restore",
    /** The release's backup Job, which every migration Job waits for. */
    predeployBackup: "predeploy-backup",
    /** A release's migration Job, which every Deployment waits for. */
    migration: "migration",
    /** A blue/green color's smoke test Job, which the active Service waits for. */
    smokeTest: "smoke-test",
    /** The ConfigMap naming the release's people (PLAN_PEOPLE_KEYS). */
    deploymentPlan: "deployment-plan",
} as const;
export type Component = (typeof COMPONENT)[keyof typeof COMPONENT];

/**
 * Datadog unified service tagging: the agent tags a pod's metrics and traces with `env`, `service` and `version` from
 * these pod labels (DataDog/datadog-agent pkg/util/kubernetes/const.go: EnvTagLabelKey, ServiceTagLabelKey,
 * VersionTagLabelKey). `app.kubernetes.io/version` becomes `kube_app_version`, which no monitor queries: the version
 * a monitor judges is this label's.
 */
export const DATADOG_LABEL = {
    env: "tags.datadoghq.com/env",
    service: "tags.datadoghq.com/service",
    version: "tags.datadoghq.com/version",
} as const;

export const ANNOTATION = {
    /**
     * On a Deployment whose spec.replicas Pulumi owns: server-side apply takes the field back from the autoscaler
     * (pulumi/pulumi-kubernetes#2491). The alternative is ignoreChanges on REPLICAS_FIELD.
     */
    patchForce: "pulumi.com/patchForce",
    /** ingress-nginx canary Ingress: "true" marks it, canary-weight is its share in percent. */
    nginxCanary: "nginx.ingress.kubernetes.io/canary",
    nginxCanaryWeight: "nginx.ingress.kubernetes.io/canary-weight",
    /** AWS Load Balancer Controller: the forward action whose target groups split stable and canary. */
    albWeightedAction: "alb.ingress.kubernetes.io/actions.weighted",
    /**
     * On an object a traffic decision changes in place (a blue/green Service's selector, the nginx canary weight). The
     * provider's Service and Ingress awaiters return the last object their informer delivered, with no check that it
     * is newer than the apply's (pulumi/pulumi-kubernetes provider/pkg/await/service.go processServiceEvent,
     * ingress.go processIngressEvent), and the provider stores that object as the resource's state: a list served from
     * the API server's watch cache can still hold the previous weight or selector, and the next preview then shows a
     * change that has already happened. With this annotation the provider stores the apply's response instead
     * (pkg/metadata/overrides.go ReadyCondition → condition.Immediate). What those awaiters checked (ready endpoints
     * behind the Service) holds by ordering: these objects depend on the awaited Deployments they send traffic to.
     */
    skipAwait: "pulumi.com/skipAwait",
    /**
     * On an app Deployment, written by the traffic decision that last moved traffic onto or off it: its share of user
     * traffic in percent, and the fleet (pods serving users) its floor was sized for. The next decision reads them
     * from the live object to tell a shift from an `up` that moves no traffic (components/traffic/capacity.ts).
     */
    trafficShare: "traffic.release/share",
    trafficFleet: "traffic.release/fleet",
} as const;

/** The field the autoscaler owns once it has scaled. */
export const REPLICAS_FIELD = "spec.replicas";

/** The canary's Service is the app's name with this suffix; routers weigh it against the app's own Service. */
export const CANARY_SERVICE_SUFFIX = "-canary";

/** Container environment variables of the database Jobs and CronJobs. */
export const ENV = {
    /** Key of each database role's Secret, read by every Job that connects. */
    databaseUrl: "DATABASE_URL",
    /** The bucket the backup CronJob writes to. */
    backupBucket: "BACKUP_BUCKET",
} as const;

/** Keys of the deployment-plan ConfigMap that the pack requires. */
export const PLAN_PEOPLE_KEYS = { deploymentLead: "deployment-lead", rollbackOwner: "rollback-owner" } as const;

/** Keys of the deployment-plan ConfigMap recording an override of the release gate (release.gate.override). */
export const GATE_OVERRIDE_KEYS = { reason: "gate-override-reason", approver: "gate-override-approver" } as const;

/**
 * Key of the deployment-plan ConfigMap holding a canary's declared steps (`canary.steps`, comma-separated): the pack
 * reads them there, so stack config stays their one owner.
 */
export const CANARY_STEPS_KEY = "canary-steps";

/** Keys of the `key:value` tags on the release's Datadog monitors. */
export const MONITOR_TAG = {
    /** The plan alert a notifying monitor implements. */
    planAlert: "plan-alert",
    /** The plan alert whose condition a guarded composite's condition monitor holds (it notifies nobody). */
    planAlertCondition: "plan-alert-condition",
    /** The plan's severity of the alert: rollback, critical or warning. */
    severity: "severity",
    /** The version a monitor judges, as a label value (labelValue). */
    version: "version",
    /** The CronJob a monitor watches (its name). */
    scheduledJob: "scheduled-job",
} as const;

/** Values of the severity tag: rollback (page and say roll back), critical (page) or warning (chat only). */
export type Severity = "rollback" | "critical" | "warning";

/** The tag that puts a monitor in the deployment window's downtime: rollout noise only. */
export const MUTE_IN_DEPLOYMENT_WINDOW = "deployment-window:mute";

/** On every monitor of a version no user reaches (the preview color, a canary at weight 0): it pages nobody. */
export const NO_USERS_TAG = "users:none";

/** On the monitors a composite is built from (conditions and traffic guards): they notify nobody themselves. */
export const NOTIFIES_NOBODY_TAG = "notifies:nobody";

/** On a traffic guard: it alerts while its window holds too little traffic to judge. */
export const TRAFFIC_GUARD_TAG = "release-guard:traffic";

/** The Datadog tag key of an autoscaler in kubernetes_state.hpa.* metrics, as monitor queries filter it. */
export const HPA_TAG = "horizontalpodautoscaler";

/** The plan alerts judged per version in flight, each on that version's own traffic. */
export const PER_VERSION_ALERTS = [
    "errorRatePct",
    "p95LatencySeconds",
    "rollbackNowErrorRatePct",
    "rollbackNowP95Seconds",
    "rollbackSustainedErrorRatePct",
    "rollbackSustainedP95Seconds",
    "versionPaymentFailurePct",
] as const satisfies readonly AlertName[];
export type PerVersionAlert = (typeof PER_VERSION_ALERTS)[number];

export const isPerVersionAlert = (alert: string): alert is PerVersionAlert =>
    (PER_VERSION_ALERTS as readonly string[]).includes(alert);

/** `key:value`. */
export const tag = (key: string, value: string): string => `${key}:${value}`;

/** The value of the first `key:` tag, or undefined. */
export function tagValue(tags: unknown, key: string): string | undefined {
    if (!Array.isArray(tags)) return undefined;
    return tags.find((t: unknown) => typeof t === "string" && t.startsWith(`${key}:`))?.slice(key.length + 1);
}
