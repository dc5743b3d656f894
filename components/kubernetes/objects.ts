import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { ANNOTATION, Component, DATADOG_LABEL, LABEL } from "../../policy/contract";

/** Pod-level half of the "restricted" Pod Security Standard. */
export const restrictedPodSecurity = {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    fsGroup: 10001,
    seccompProfile: { type: "RuntimeDefault" },
};

/** Container-level half of the "restricted" Pod Security Standard. */
export const restrictedContainerSecurity = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
};

/**
 * An object name built from a prefix and a version, within `max` characters of DNS label. Long versions (digests)
 * are cut and suffixed with a hash, so two versions never share a name.
 */
export function versionedName(prefix: string, version: string, max = 63): string {
    const slug = version
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
    const full = `${prefix}-${slug}`;
    if (full.length <= max) return full;
    const hash = createHash("sha256").update(version).digest("hex").slice(0, 8);
    return `${full.slice(0, max - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

export interface AppServiceArgs {
    /** metadata.name of the Service. */
    serviceName: string;
    /** Namespace of the Service. */
    namespace: string;
    /** Pod labels the Service selects. */
    selector: pulumi.Input<Record<string, string>>;
    /** Labels on the Service itself. */
    labels: Record<string, string>;
    /** The selector moves in place on a release (a blue/green switch): see ANNOTATION.skipAwait. */
    selectorMoves?: boolean;
}

/** Annotations of an object a traffic decision changes in place, so its state is what the apply returned. */
export const appliedStateAnnotations = { [ANNOTATION.skipAwait]: "true" };

/** A ClusterIP Service on port 80 that forwards to the pods' port named "http". */
export function appService(
    name: string,
    args: AppServiceArgs,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Service {
    return new k8s.core.v1.Service(
        name,
        {
            metadata: {
                name: args.serviceName,
                namespace: args.namespace,
                labels: args.labels,
                annotations: args.selectorMoves ? appliedStateAnnotations : undefined,
            },
            spec: {
                type: "ClusterIP",
                selector: args.selector,
                ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
            },
        },
        opts,
    );
}

export interface HostIngressArgs {
    /** metadata.name of the Ingress. */
    ingressName: string;
    /** Namespace of the Ingress. */
    namespace: string;
    /** Host the Ingress answers for. */
    host: string;
    /** IngressClass that serves it. */
    ingressClassName: string;
    /** TLS Secret for the host; omitted on an ingress-nginx canary Ingress, which inherits the main one's. */
    tlsSecretName?: pulumi.Input<string>;
    /** Backend Service, and its port: 80, or a port name such as "use-annotation" for the ALB controller. */
    backend: {
        /** The Service's name. */
        serviceName: string;
        /** Its port number or name. */
        port: number | string;
    };
    /** Labels on the Ingress. */
    labels: Record<string, string>;
    /** Annotations, such as the ingress-nginx canary weight. */
    annotations?: Record<string, string>;
}

/** An Ingress sending every path of one host to one backend. */
export function hostIngress(
    name: string,
    args: HostIngressArgs,
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.Ingress {
    const port = typeof args.backend.port === "number" ? { number: args.backend.port } : { name: args.backend.port };
    return new k8s.networking.v1.Ingress(
        name,
        {
            metadata: {
                name: args.ingressName,
                namespace: args.namespace,
                labels: args.labels,
                annotations: args.annotations,
            },
            spec: {
                ingressClassName: args.ingressClassName,
                tls: args.tlsSecretName ? [{ hosts: [args.host], secretName: args.tlsSecretName }] : undefined,
                rules: [
                    {
                        host: args.host,
                        http: {
                            paths: [
                                {
                                    path: "/",
                                    pathType: "Prefix",
                                    backend: { service: { name: args.backend.serviceName, port } },
                                },
                            ],
                        },
                    },
                ],
            },
        },
        opts,
    );
}

/** Labels shared by every object of the app. */
export function appLabels(appName: string, component: Component): Record<string, string> {
    return { [LABEL.name]: appName, [LABEL.component]: component, [LABEL.managedBy]: "pulumi" };
}

/**
 * Labels of a Job or CronJob and its pods: not the app's name, so no app Service, PDB or HPA selects them (README,
 * Decisions: "Batch pods are nobody's endpoints"); their own Datadog service keeps them out of the app's traffic.
 */
export function batchLabels(appName: string, component: Component): Record<string, string> {
    return {
        [LABEL.name]: `${appName}-${component}`,
        [LABEL.partOf]: appName,
        [LABEL.component]: component,
        [LABEL.managedBy]: "pulumi",
        [DATADOG_LABEL.service]: `${appName}-${component}`,
    };
}

export interface JobContainer {
    /** Container name. */
    name: string;
    /** Pinned image. */
    image: pulumi.Input<string>;
    /** Command and arguments. */
    command: pulumi.Input<string>[];
    /** Environment variables, plain or from Secrets. */
    env?: pulumi.Input<k8s.types.input.core.v1.EnvVar>[];
    /** Extra mounts besides /tmp and HOME. */
    volumeMounts?: k8s.types.input.core.v1.VolumeMount[];
    /** CPU and memory requests and limits; small defaults suit scripts. Ephemeral storage is set from the volumes. */
    resources?: {
        /** What the scheduler reserves. */
        requests: Record<"cpu" | "memory", string>;
        /** What the container may use at most. */
        limits: Record<"cpu" | "memory", string>;
    };
}

export interface BatchPodArgs {
    /** Labels on the pods. */
    labels: Record<string, string>;
    /** The one container. */
    container: JobContainer;
    /** ServiceAccount, when the pod needs an identity (IRSA). No Kubernetes API token is mounted either way. */
    serviceAccountName?: pulumi.Input<string>;
    /** Volumes the container mounts besides /tmp and HOME. */
    volumes?: k8s.types.input.core.v1.Volume[];
    /** Size limit of the writable /tmp, where dumps are written; 1Gi unless set. */
    tmpSize?: string;
}

/** HOME of every batch pod: a writable emptyDir, as the root filesystem is read-only. */
export const BATCH_HOME = "/home/runner";
const HOME_SIZE = "64Mi";

/** The sum of byte quantities such as "50Gi" and "64Mi", in Mi rounded up. */
export function sumQuantities(quantities: string[]): string {
    const bytes = quantities.reduce((n, q) => {
        const b = bytesOf(q);
        if (b === undefined) throw new Error(`not a byte quantity: "${q}"`);
        return n + b;
    }, 0);
    return `${Math.ceil(bytes / 2 ** 20)}Mi`;
}

/**
 * A run-to-completion pod under the restricted Pod Security Standard, with a writable /tmp and HOME (the AWS CLI
 * caches credentials there) whose sizes it requests as ephemeral storage (README, Decisions: "Batch pods' disk").
 */
export function batchPodTemplate(args: BatchPodArgs): k8s.types.input.core.v1.PodTemplateSpec {
    const c = args.container;
    const tmpSize = args.tmpSize ?? "1Gi";
    const storage = sumQuantities([tmpSize, HOME_SIZE]);
    const res = c.resources ?? { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } };
    return {
        metadata: { labels: args.labels },
        spec: {
            restartPolicy: "Never",
            serviceAccountName: args.serviceAccountName,
            // No batch pod talks to the Kubernetes API; IRSA projects a token of its own.
            automountServiceAccountToken: false,
            securityContext: restrictedPodSecurity,
            containers: [
                {
                    name: c.name,
                    image: c.image,
                    command: c.command,
                    env: [{ name: "HOME", value: BATCH_HOME }, ...(c.env ?? [])],
                    resources: {
                        requests: { ...res.requests, "ephemeral-storage": storage },
                        limits: { ...res.limits, "ephemeral-storage": storage },
                    },
                    securityContext: restrictedContainerSecurity,
                    volumeMounts: [
                        { name: "tmp", mountPath: "/tmp" },
                        { name: "home", mountPath: BATCH_HOME },
                        ...(c.volumeMounts ?? []),
                    ],
                },
            ],
            volumes: [
                { name: "tmp", emptyDir: { sizeLimit: tmpSize } },
                { name: "home", emptyDir: { sizeLimit: HOME_SIZE } },
                ...(args.volumes ?? []),
            ],
        },
    };
}

/**
 * A pod evicted by a node drain does not count against backoffLimit: the Job starts another (README, Decisions:
 * "Drained Job pods are retried").
 */
export const IGNORE_DISRUPTIONS = {
    rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
};

export interface AwaitedJobArgs {
    /** metadata.name: name it after what the Job is for (a release, a restore key), so that each runs once. */
    jobName: string;
    /** Namespace of the Job. */
    namespace: string;
    /** Deadline for the whole Job. */
    deadlineSeconds: number;
    /** Retries before the Job fails. */
    backoffLimit: number;
    /** Labels on the Job. */
    labels: Record<string, string>;
    /** The pod to run, e.g. from batchPodTemplate. */
    template: k8s.types.input.core.v1.PodTemplateSpec;
}

/**
 * A Job the Kubernetes provider waits on: whatever depends on it runs after it has succeeded (README, Decisions:
 * "No `ttlSecondsAfterFinished` on Jobs").
 */
export function awaitedJob(name: string, args: AwaitedJobArgs, opts: pulumi.CustomResourceOptions): k8s.batch.v1.Job {
    return new k8s.batch.v1.Job(
        name,
        {
            metadata: {
                name: args.jobName,
                namespace: args.namespace,
                labels: args.labels,
                // The provider's own wait defaults to ten minutes; give it the Job's deadline and a minute to schedule.
                annotations: { "pulumi.com/timeoutSeconds": String(args.deadlineSeconds + 60) },
            },
            spec: {
                backoffLimit: args.backoffLimit,
                activeDeadlineSeconds: args.deadlineSeconds,
                podFailurePolicy: IGNORE_DISRUPTIONS,
                template: args.template,
            },
        },
        opts,
    );
}

const BYTE_UNITS: Record<string, number> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
};

/** The bytes of a Kubernetes byte quantity such as "20Gi" or "512M", or undefined for anything else ("500m" is a CPU quantity). */
export function bytesOf(quantity: string): number | undefined {
    const m = /^([0-9]+(?:\.[0-9]+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity);
    return m ? Number(m[1]) * BYTE_UNITS[m[2] ?? ""] : undefined;
}
