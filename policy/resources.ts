// What the pack's policies share: how they find a pod spec, labels and names in a resource's inputs, and how they
// tell a missing label (a violation) from a value unknown during preview (never one).
import { PolicyResource } from "@pulumi/policy";
import { LABEL } from "./contract";

export type Props = Record<string, any>;

export const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
export const JOB = "kubernetes:batch/v1:Job";
export const CRONJOB = "kubernetes:batch/v1:CronJob";
export const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
export const PDB = "kubernetes:policy/v1:PodDisruptionBudget";
export const SERVICE = "kubernetes:core/v1:Service";
export const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
export const HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";
export const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
export const MONITOR = "datadog:index/monitor:Monitor";
export const DOWNTIME = "datadog:index/downtimeSchedule:DowntimeSchedule";
export const BUCKET = "aws:s3/bucket:Bucket";
export const PG_ROLE = "postgresql:index/role:Role";

/** The pod spec inside a Deployment, Job or CronJob, or undefined. */
export function podSpec(type: string, props: Props): Props | undefined {
    if (type === DEPLOYMENT || type === JOB) return props.spec?.template?.spec;
    if (type === CRONJOB) return props.spec?.jobTemplate?.spec?.template?.spec;
    return undefined;
}

export const labelsOf = (r: { props: Props }): Record<string, string> => r.props.metadata?.labels ?? {};

export const component = (r: { props: Props }) => labelsOf(r)[LABEL.component];

export const k8sName = (r: { props: Props }): string | undefined => r.props.metadata?.name;

/**
 * True when the key at `path` is absent: missing, which is a violation wherever the pack looks for it. A key present
 * with an undefined value is unknown during preview, never a violation.
 */
export function absent(obj: unknown, ...path: string[]): boolean {
    let o: unknown = obj;
    for (const key of path) {
        if (o === undefined || o === null) return false;
        if (typeof o !== "object" || !(key in o)) return true;
        o = (o as Props)[key];
    }
    return false;
}

export const missingLabel = (r: { props: Props }, key: string) => absent(r.props, "metadata", "labels", key);

/** A Job or CronJob without a component label: the pack cannot tell what it is for. */
export const unlabelled = (r: PolicyResource, kind: string) => `${kind} ${k8sName(r) ?? r.name} has no ${LABEL.component} label`;

/** True when every key of `selector` is on `labels` with the same value. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
    if (!selector || !labels) return false;
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Every resource `r` depends on, directly or through others. */
export function dependsOnTransitively(r: PolicyResource, target: PolicyResource): boolean {
    const seen = new Set<string>();
    const stack = [...r.dependencies];
    while (stack.length > 0) {
        const d = stack.pop()!;
        if (d.urn === target.urn) return true;
        if (seen.has(d.urn)) continue;
        seen.add(d.urn);
        stack.push(...d.dependencies);
    }
    return false;
}

/** Minimum replicas a Deployment runs: its autoscaler's floor, else spec.replicas (Kubernetes defaults it to 1). */
export function minReplicas(deployment: PolicyResource, resources: PolicyResource[]): number | undefined {
    const hpa = resources.find((r) => r.type === HPA && r.props.spec?.scaleTargetRef?.name === k8sName(deployment));
    if (hpa) return hpa.props.spec?.minReplicas;
    const replicas = deployment.props.spec?.replicas;
    return replicas === undefined ? 1 : replicas;
}
