import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { imageRef, labelValue } from "./rules";
import { ANNOTATION, DATADOG_LABEL, LABEL, REPLICAS_FIELD, VariantKey } from "../policy/contract";
import { restrictedContainerSecurity, restrictedPodSecurity } from "./kubernetes";
import { LibraryComponent } from "./componentType";

/** How a Deployment rolls when not told otherwise: a quarter more pods, none unavailable, 10 minutes to progress. */
export const ZERO_DOWNTIME_ROLLOUT = Object.freeze({ maxSurge: "25%", maxUnavailable: 0, progressDeadlineSeconds: 600 });

/** What every Deployment of the app shares, whatever the strategy. */
export interface WorkloadTemplate {
    /** Application name: the app.kubernetes.io/name label and the prefix of every object name. */
    appName: string;
    /** Namespace the objects live in. */
    namespace: string;
    /** Image repository without tag, e.g. an ECR repository's `repositoryUrl`; the version is appended per Deployment. */
    image: pulumi.Input<string>;
    /** Port the container listens on; Services expose it as port 80 named "http". */
    containerPort: number;
    /** Path the readiness probe calls. */
    readinessPath: string;
    /** Path the liveness probe calls. */
    livenessPath: string;
    /** CPU and memory requests and limits of the app container. */
    resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
    /** Plain environment variables. */
    env: Record<string, string>;
    /** Secrets whose keys become environment variables. */
    secretEnvFrom: pulumi.Input<string>[];
    /** Pod-template annotations, such as a checksum of a Secret the pods read at start, so that a change rolls them. */
    podAnnotations?: Record<string, pulumi.Input<string>>;
    /** Extra volumes and where the container mounts them, such as the database CA bundle. */
    volumes?: { volume: k8s.types.input.core.v1.Volume; mount: k8s.types.input.core.v1.VolumeMount }[];
    /** Upper bound for the HorizontalPodAutoscaler. */
    maxReplicas: number;
    /** Average CPU utilisation, in percent of requests, that the autoscaler aims for. */
    targetCpuUtilization: number;
    /**
     * Seconds a stopping pod keeps serving before its container is signalled, so that Services and ingress
     * controllers stop routing to it first; must exceed the cluster's endpoint propagation delay.
     */
    drainSeconds: number;
    /** Datadog unified service tagging: the env and service tags the app's monitors query. */
    datadog?: { env: string; service: string };
}

/**
 * Who sets `spec.replicas` after the Deployment exists.
 * - "pulumi": every `pulumi up` that changes the Deployment applies the declared count with
 *   `pulumi.com/patchForce`, taking the field back from the autoscaler (which owns it through the scale subresource
 *   once it has scaled; without force, server-side apply fails with a conflict: pulumi/pulumi-kubernetes#2491).
 *   For counts that are a traffic decision: a blue/green color's size, the replicas router's split, and 0.
 * - "autoscaler": the declared count is the size at creation only; `ignoreChanges: ["spec.replicas"]` makes the
 *   provider drop the field from later applies while another manager owns it, or resend the live value while it
 *   still owns it, so no apply conflicts and none resets the count (handleSSAIgnoreFields in
 *   pulumi/pulumi-kubernetes provider/pkg/await/await.go). The autoscaler's minReplicas carries later changes.
 */
export type ReplicaOwner = "pulumi" | "autoscaler";

/** The unified service tagging labels of an app pod (DATADOG_LABEL); the version is the label value the monitors query. */
export function datadogLabels(dd: { env: string; service: string }, version: string): Record<string, string> {
    return { [DATADOG_LABEL.env]: dd.env, [DATADOG_LABEL.service]: dd.service, [DATADOG_LABEL.version]: labelValue(version) };
}

/**
 * DD_ENV, DD_SERVICE and DD_VERSION from the pod's own labels (downward API), so tracer and agent always agree
 * (tracers read these variables; DataDog/datadog-agent pkg/tagger/collectors/const.go maps the labels to the standard tags).
 */
const datadogEnv = (["env", "service", "version"] as const).map((k) => ({
    name: `DD_${k.toUpperCase()}`,
    valueFrom: { fieldRef: { fieldPath: `metadata.labels['${DATADOG_LABEL[k]}']` } },
}));

export interface AppWorkloadArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** metadata.name of the Deployment, e.g. myapp-blue. */
    deploymentName: string;
    /** Image version this Deployment runs. */
    version: string;
    /** Label that tells this Deployment's pods apart from its siblings', e.g. { color: "blue" } or { track: "canary" }. */
    variantLabels: Partial<Record<VariantKey, string>>;
    /** Minimum replicas; 0 scales the Deployment down and drops its autoscaler and disruption budget. */
    replicas: number;
    /** Who sets spec.replicas after creation; a count of 0 is always applied by Pulumi. */
    replicaOwner: ReplicaOwner;
    /** Upper bound for the autoscaler when it differs from the template's. */
    maxReplicas?: number;
    /** Resources that must succeed before this Deployment and its autoscaler change, such as the release's migration Job. */
    after?: pulumi.Resource[];
    /** Rolling-update settings of the Deployment; ZERO_DOWNTIME_ROLLOUT when left out. */
    rollingUpdate?: { maxSurge: number | string; maxUnavailable: number | string; progressDeadlineSeconds: number };
}

/**
 * One Deployment of the app with its PodDisruptionBudget and HorizontalPodAutoscaler. The pod template depends only
 * on the template, the version and the variant labels, so scaling or routing changes never restart pods.
 */
export class AppWorkload extends LibraryComponent {
    /** The Deployment. */
    public readonly deployment: k8s.apps.v1.Deployment;
    /** Labels that select exactly this Deployment's pods. */
    public readonly selectorLabels: Record<string, string>;
    /** Name of the autoscaler when it can add pods (minReplicas below maxReplicas); undefined when absent or pinned. */
    public readonly growableAutoscaler?: string;

    constructor(name: string, args: AppWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super("AppWorkload", name, opts);
        const t = args.template;
        if (args.replicas < 0) throw new pulumi.ResourceError(`replicas must be 0 or more, got ${args.replicas}`, this);
        const maxReplicas = Math.max(args.maxReplicas ?? t.maxReplicas, args.replicas);

        this.selectorLabels = { [LABEL.name]: t.appName, ...args.variantLabels };
        const podLabels = {
            ...this.selectorLabels,
            [LABEL.version]: labelValue(args.version),
            [LABEL.partOf]: t.appName,
            ...(t.datadog ? datadogLabels(t.datadog, args.version) : {}),
        };
        const metadata = { name: args.deploymentName, namespace: t.namespace, labels: podLabels };
        const autoscaled = args.replicas > 0;
        if (autoscaled && args.replicas < maxReplicas) this.growableAutoscaler = args.deploymentName;
        const pulumiOwnsReplicas = args.replicaOwner === "pulumi" || !autoscaled;
        const rolling = args.rollingUpdate ?? ZERO_DOWNTIME_ROLLOUT;

        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: pulumiOwnsReplicas ? { ...metadata, annotations: { [ANNOTATION.patchForce]: "true" } } : metadata,
                spec: {
                    // Declared in both modes: the provider awaits a Deployment until spec.replicas pods are ready, so
                    // a new or resized Deployment is at full size before anything that depends on it proceeds.
                    replicas: args.replicas,
                    selector: { matchLabels: this.selectorLabels },
                    progressDeadlineSeconds: rolling.progressDeadlineSeconds,
                    revisionHistoryLimit: 5,
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: rolling.maxSurge, maxUnavailable: rolling.maxUnavailable } },
                    template: {
                        metadata: { labels: podLabels, annotations: t.podAnnotations && Object.keys(t.podAnnotations).length > 0 ? t.podAnnotations : undefined },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity,
                            // The drain pause comes out of the grace period; the app keeps 30 s to shut down after it.
                            terminationGracePeriodSeconds: t.drainSeconds + 30,
                            topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
                                maxSkew: 1,
                                topologyKey,
                                whenUnsatisfiable: "ScheduleAnyway",
                                labelSelector: { matchLabels: this.selectorLabels },
                            })),
                            containers: [
                                {
                                    name: t.appName,
                                    // A plain repository stays a plain string, so the plan document (lib/plan) can read it.
                                    image: typeof t.image === "string" ? imageRef(t.image, args.version) : pulumi.output(t.image).apply((repository) => imageRef(repository, args.version)),
                                    ports: [{ name: "http", containerPort: t.containerPort, protocol: "TCP" }],
                                    env: [
                                        ...Object.entries(t.env)
                                            .sort(([a], [b]) => a.localeCompare(b))
                                            .map(([envName, value]) => ({ name: envName, value })),
                                        ...(t.datadog ? datadogEnv : []),
                                    ],
                                    envFrom: t.secretEnvFrom.length > 0 ? t.secretEnvFrom.map((name) => ({ secretRef: { name } })) : undefined,
                                    readinessProbe: {
                                        httpGet: { path: t.readinessPath, port: "http" },
                                        periodSeconds: 5,
                                        timeoutSeconds: 2,
                                        failureThreshold: 3,
                                    },
                                    livenessProbe: {
                                        httpGet: { path: t.livenessPath, port: "http" },
                                        initialDelaySeconds: 10,
                                        periodSeconds: 10,
                                        timeoutSeconds: 2,
                                        failureThreshold: 3,
                                    },
                                    resources: t.resources,
                                    // The sleep action needs no shell in the image (PodLifecycleSleepAction, Kubernetes 1.30+).
                                    lifecycle: { preStop: { sleep: { seconds: t.drainSeconds } } },
                                    securityContext: restrictedContainerSecurity,
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...(t.volumes ?? []).map((v) => v.mount)],
                                },
                            ],
                            volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }, ...(t.volumes ?? []).map((v) => v.volume)],
                        },
                    },
                },
            },
            { parent: this, dependsOn: args.after, ignoreChanges: pulumiOwnsReplicas ? undefined : [REPLICAS_FIELD] },
        );

        if (autoscaled) {
            new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                {
                    metadata,
                    spec: {
                        maxUnavailable: 1,
                        selector: { matchLabels: this.selectorLabels },
                        // A pod that is not Ready serves nothing; the default (IfHealthyBudget) lets a crash-looping
                        // pod block every node drain.
                        unhealthyPodEvictionPolicy: "AlwaysAllow",
                    },
                },
                { parent: this, dependsOn: args.after },
            );
            new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                `${name}-hpa`,
                {
                    metadata,
                    spec: {
                        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: args.deploymentName },
                        minReplicas: args.replicas,
                        maxReplicas,
                        metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: t.targetCpuUtilization } } }],
                    },
                },
                { parent: this, dependsOn: args.after },
            );
        }

        this.registerOutputs({ deploymentName: args.deploymentName, version: args.version, replicas: args.replicas });
    }
}
