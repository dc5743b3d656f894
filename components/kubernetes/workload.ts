import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { imageRef, labelValue } from "../../policy/rules";
import { DATADOG_LABEL, LABEL, REPLICAS_FIELD, VariantKey } from "../../policy/contract";
import { restrictedContainerSecurity, restrictedPodSecurity } from "./objects";
import { LibraryComponent } from "../componentType";

/** How a Deployment rolls when not told otherwise: a quarter more pods, none unavailable, 10 minutes to progress. */
export const ZERO_DOWNTIME_ROLLOUT = Object.freeze({
    maxSurge: "25%",
    maxUnavailable: 0,
    progressDeadlineSeconds: 600,
});

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
    resources: {
        /** What the scheduler reserves per pod, and what the autoscaler's CPU target is a percentage of. */
        requests: {
            /** CPU, e.g. "250m". */
            cpu: string;
            /** Memory, e.g. "384Mi". */
            memory: string;
        };
        /** What a pod may use at most: over the memory limit it is killed, over the CPU limit throttled. */
        limits: {
            /** CPU, e.g. "1". */
            cpu: string;
            /** Memory, e.g. "768Mi". */
            memory: string;
        };
    };
    /** Plain environment variables. */
    env: Record<string, string>;
    /** Secrets whose keys become environment variables. */
    secretEnvFrom: pulumi.Input<string>[];
    /** Pod-template annotations, such as a checksum of a Secret the pods read at start, so that a change rolls them. */
    podAnnotations?: Record<string, pulumi.Input<string>>;
    /** Extra volumes and where the container mounts them, such as the database CA bundle. */
    volumes?: {
        /** The pod's volume. */
        volume: k8s.types.input.core.v1.Volume;
        /** Where the app container mounts it. */
        mount: k8s.types.input.core.v1.VolumeMount;
    }[];
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
    datadog?: {
        /** The env tag, usually the stack's name. */
        env: string;
        /** The service tag, usually the app's name. */
        service: string;
    };
}

/** The unified service tagging labels of an app pod (DATADOG_LABEL); the version is the label value the monitors query. */
export function datadogLabels(dd: { env: string; service: string }, version: string): Record<string, string> {
    return {
        [DATADOG_LABEL.env]: dd.env,
        [DATADOG_LABEL.service]: dd.service,
        [DATADOG_LABEL.version]: labelValue(version),
    };
}

/**
 * DD_ENV, DD_SERVICE and DD_VERSION from the pod's own labels (downward API), so tracer and agent always agree
 * (README, Decisions: "Unified service tags from labels").
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
    /**
     * The count the Deployment is created with, and its autoscaler's minimum unless `autoscale` is given another; 0
     * declares no autoscaler and disruption budget. After creation only the autoscaler, and the traffic steps of
     * components/traffic/capacity.ts, change spec.replicas: Pulumi never applies it again (ignoreChanges), so no refresh,
     * unrelated edit or rotation takes the autoscaler's count back (provider/pkg/await/await.go handleSSAIgnoreFields
     * drops the field while the autoscaler owns it and resends the live value otherwise).
     */
    replicas: number;
    /** Read the live Deployment after each `up` touches it (`live`), for a traffic decision to size the tracks by. */
    readLive?: boolean;
    /**
     * Keep the pod template the cluster runs: a rollback declares the version it leaves, and must not roll pods onto
     * it without the release's Jobs, which a rollback does not run.
     */
    frozen?: boolean;
    /** Upper bound for the autoscaler when it differs from the template's. */
    maxReplicas?: number;
    /** Resources that must succeed before this Deployment and its autoscaler change, such as the release's migration Job. */
    after?: pulumi.Resource[];
    /** Rolling-update settings of the Deployment; ZERO_DOWNTIME_ROLLOUT when left out. */
    rollingUpdate?: {
        /** Pods above the desired count during a rollout: a number or a percentage. */
        maxSurge: number | string;
        /** Pods below the desired count during a rollout: a number or a percentage. */
        maxUnavailable: number | string;
        /** Seconds without progress after which the rollout is reported failed. */
        progressDeadlineSeconds: number;
    };
}

/**
 * One Deployment of the app with its PodDisruptionBudget and HorizontalPodAutoscaler. The pod template depends only
 * on the template, the version and the variant labels, so scaling or routing changes never restart pods. The
 * autoscaler is declared by `autoscale`, once the traffic decision has computed its minimum from the live reads of
 * every track (`live`).
 */
export class AppWorkload extends LibraryComponent {
    /** The Deployment. */
    public readonly deployment: k8s.apps.v1.Deployment;
    /** The live Deployment, read after each `up` has applied this one; undefined unless `readLive`. */
    public readonly live?: k8s.apps.v1.Deployment;
    /** Labels that select exactly this Deployment's pods. */
    public readonly selectorLabels: Record<string, string>;
    /** Name of the autoscaler when it can add pods (minReplicas below maxReplicas); undefined when absent or pinned. */
    public readonly growableAutoscaler?: string;
    /** Upper bound of the autoscaler, at least `replicas`. */
    public readonly maxReplicas: number;
    /** The autoscaler, once `autoscale` has declared it. */
    public hpa?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
    private readonly resourceName: string;
    private readonly metadata: { name: string; namespace: string; labels: Record<string, string> };
    private readonly targetCpuUtilization: number;

    constructor(name: string, args: AppWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super("AppWorkload", name, opts);
        const t = args.template;
        if (args.replicas < 0) throw new pulumi.ResourceError(`replicas must be 0 or more, got ${args.replicas}`, this);
        const maxReplicas = Math.max(args.maxReplicas ?? t.maxReplicas, args.replicas);
        this.maxReplicas = maxReplicas;
        this.resourceName = name;
        this.targetCpuUtilization = t.targetCpuUtilization;

        this.selectorLabels = { [LABEL.name]: t.appName, ...args.variantLabels };
        const podLabels = {
            ...this.selectorLabels,
            [LABEL.version]: labelValue(args.version),
            [LABEL.partOf]: t.appName,
            ...(t.datadog ? datadogLabels(t.datadog, args.version) : {}),
        };
        const metadata = { name: args.deploymentName, namespace: t.namespace, labels: podLabels };
        this.metadata = metadata;
        const autoscaled = args.replicas > 0;
        if (autoscaled && args.replicas < maxReplicas) this.growableAutoscaler = args.deploymentName;
        const rolling = args.rollingUpdate ?? ZERO_DOWNTIME_ROLLOUT;

        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata,
                spec: {
                    // Applied when the Deployment is created, when the provider waits for that many ready pods.
                    replicas: args.replicas,
                    selector: { matchLabels: this.selectorLabels },
                    progressDeadlineSeconds: rolling.progressDeadlineSeconds,
                    revisionHistoryLimit: 5,
                    strategy: {
                        type: "RollingUpdate",
                        rollingUpdate: { maxSurge: rolling.maxSurge, maxUnavailable: rolling.maxUnavailable },
                    },
                    template: {
                        metadata: {
                            labels: podLabels,
                            annotations:
                                t.podAnnotations && Object.keys(t.podAnnotations).length > 0
                                    ? t.podAnnotations
                                    : undefined,
                        },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity,
                            // The drain pause comes out of the grace period; the app keeps 30 s to shut down after it.
                            terminationGracePeriodSeconds: t.drainSeconds + 30,
                            topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map(
                                (topologyKey) => ({
                                    maxSkew: 1,
                                    topologyKey,
                                    whenUnsatisfiable: "ScheduleAnyway",
                                    labelSelector: { matchLabels: this.selectorLabels },
                                }),
                            ),
                            containers: [
                                {
                                    name: t.appName,
                                    // A plain repository stays a plain string, so the plan document (lib/plan) can read it.
                                    image:
                                        typeof t.image === "string"
                                            ? imageRef(t.image, args.version)
                                            : pulumi
                                                  .output(t.image)
                                                  .apply((repository) => imageRef(repository, args.version)),
                                    ports: [{ name: "http", containerPort: t.containerPort, protocol: "TCP" }],
                                    env: [
                                        ...Object.entries(t.env)
                                            .sort(([a], [b]) => a.localeCompare(b))
                                            .map(([envName, value]) => ({ name: envName, value })),
                                        ...(t.datadog ? datadogEnv : []),
                                    ],
                                    envFrom:
                                        t.secretEnvFrom.length > 0
                                            ? t.secretEnvFrom.map((name) => ({ secretRef: { name } }))
                                            : undefined,
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
                                    // Needs no shell in the image, but Kubernetes 1.30 or later
                                    // (README, Decisions: "`preStop` sleep needs Kubernetes 1.30").
                                    lifecycle: { preStop: { sleep: { seconds: t.drainSeconds } } },
                                    securityContext: restrictedContainerSecurity,
                                    volumeMounts: [
                                        { name: "tmp", mountPath: "/tmp" },
                                        ...(t.volumes ?? []).map((v) => v.mount),
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
                                ...(t.volumes ?? []).map((v) => v.volume),
                            ],
                        },
                    },
                },
            },
            {
                parent: this,
                dependsOn: args.after,
                ignoreChanges: args.frozen ? [REPLICAS_FIELD, "spec.template"] : [REPLICAS_FIELD],
            },
        );
        if (args.readLive) {
            // The id is unknown while a preview creates the Deployment, and the engine then skips the read.
            this.live = k8s.apps.v1.Deployment.get(`${name}-live`, this.deployment.id, { parent: this });
        }

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
                { parent: this, dependsOn: [this.deployment] },
            );
            if (!args.readLive) this.autoscale(args.replicas);
        }

        this.registerOutputs({ deploymentName: args.deploymentName, version: args.version, replicas: args.replicas });
    }

    /**
     * Declares the autoscaler with this minimum, after the Deployment (and after `after`: an outgoing color's minimum
     * drops once the active Service has moved).
     */
    public autoscale(
        minReplicas: pulumi.Input<number>,
        after: pulumi.Resource[] = [],
    ): k8s.autoscaling.v2.HorizontalPodAutoscaler {
        this.hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
            `${this.resourceName}-hpa`,
            {
                metadata: this.metadata,
                spec: {
                    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: this.metadata.name },
                    minReplicas,
                    maxReplicas: this.maxReplicas,
                    metrics: [
                        {
                            type: "Resource",
                            resource: {
                                name: "cpu",
                                target: { type: "Utilization", averageUtilization: this.targetCpuUtilization },
                            },
                        },
                    ],
                },
            },
            { parent: this, dependsOn: [this.deployment, ...after] },
        );
        return this.hpa;
    }
}

/**
 * Whether a rolling update can progress: maxSurge and maxUnavailable may not both be zero, as a count or a
 * percentage, which the API server refuses (README, Decisions: "What the Kubernetes API refuses").
 */
export function rolloutCanProgress(maxSurge: number | string, maxUnavailable: number | string): boolean {
    const zero = (v: number | string) => Number.parseInt(String(v), 10) === 0;
    return !(zero(maxSurge) && zero(maxUnavailable));
}
