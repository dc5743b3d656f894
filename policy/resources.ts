// What the pack's policies share: how they find a pod spec, labels and names in a resource's inputs, and how they
// tell a missing label (a violation) from a value unknown during preview (never one).
//
// Policies select resources by the providers' classes (validateResourceOfType, isType, asType), which carry the type
// token (`__pulumiType`) the engine matches, as pulumi/pulumi-policy-aws (awsguard) does.
import * as k8s from "@pulumi/kubernetes";
import {
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    validateResourceOfType,
} from "@pulumi/policy";
import { CustomResourceOptions, Resource, Unwrap } from "@pulumi/pulumi";
import { LABEL } from "./contract";

/** A resource's declared inputs, typed as @pulumi/policy types them. */
export type Props = PolicyResource["props"];

/** A provider resource class, as PolicyResource.isType takes one. */
export type ResourceClass = Parameters<PolicyResource["isType"]>[0];

/**
 * The program declares its HTTPRoute through apiextensions.CustomResource: the provider SDK has no class for a custom
 * resource's kind, so its type token is the only handle.
 */
export const HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";

/** A pod spec as the policies see it: the declared inputs, as validateResourceOfType types them. */
export type PodSpec = Unwrap<k8s.types.input.core.v1.PodSpec>;

/** A resource's inputs typed by its provider class's Args, as validateResourceOfType types them; undefined for another class. */
export function inputsOf<TArgs>(
    r: PolicyResource,
    cls: { new (name: string, args: TArgs, opts?: CustomResourceOptions): Resource },
): Unwrap<NonNullable<TArgs>> | undefined {
    return r.isType(cls) ? (r.props as Unwrap<NonNullable<TArgs>>) : undefined;
}
/** The kinds of resource that run pods. */
export type PodOwner = "Deployment" | "Job" | "CronJob";

/** One validator per kind of resource that runs pods, each typed by its provider class; `check` sees the pod spec. */
export function validatePods(
    check: (spec: PodSpec | undefined, owner: PodOwner, args: ResourceValidationArgs, report: ReportViolation) => void,
): ResourceValidation[] {
    return [
        validateResourceOfType(k8s.apps.v1.Deployment, (d, args, report) =>
            check(d.spec?.template?.spec, "Deployment", args, report),
        ),
        validateResourceOfType(k8s.batch.v1.Job, (j, args, report) =>
            check(j.spec?.template?.spec, "Job", args, report),
        ),
        validateResourceOfType(k8s.batch.v1.CronJob, (c, args, report) =>
            check(c.spec?.jobTemplate?.spec?.template?.spec, "CronJob", args, report),
        ),
    ];
}

/** The pod spec inside a Deployment, Job or CronJob, or undefined. */
export function podSpec(r: PolicyResource): PodSpec | undefined {
    return (
        inputsOf(r, k8s.apps.v1.Deployment)?.spec?.template?.spec ??
        inputsOf(r, k8s.batch.v1.Job)?.spec?.template?.spec ??
        inputsOf(r, k8s.batch.v1.CronJob)?.spec?.jobTemplate?.spec?.template?.spec
    );
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
export const unlabelled = (r: PolicyResource, kind: string) =>
    `${kind} ${k8sName(r) ?? r.name} has no ${LABEL.component} label`;

/** True when every key of `selector` is on `labels` with the same value. */
export function selects(
    selector: Record<string, string> | undefined,
    labels: Record<string, string> | undefined,
): boolean {
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
    const hpa = resources.find(
        (r) =>
            r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler) &&
            r.props.spec?.scaleTargetRef?.name === k8sName(deployment),
    );
    if (hpa) return hpa.props.spec?.minReplicas;
    const replicas = deployment.props.spec?.replicas;
    return replicas === undefined ? 1 : replicas;
}
