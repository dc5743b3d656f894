import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { imageRef } from "../lib/config";
import { labelValue, restrictedContainerSecurity, restrictedPodSecurity } from "./kubernetes";

/** What every Deployment of the app shares, whatever the strategy. */
export interface WorkloadTemplate {
    /** Application name: the app.kubernetes.io/name label and the prefix of every object name. */
    appName: string;
    /** Namespace the objects live in. */
    namespace: string;
    /** Image repository without tag; the version is appended per Deployment. */
    image: string;
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
}

export interface AppWorkloadArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** metadata.name of the Deployment, e.g. myapp-blue. */
    deploymentName: string;
    /** Image version this Deployment runs. */
    version: string;
    /** Label that tells this Deployment's pods apart from its siblings', e.g. { color: "blue" } or { track: "canary" }. */
    variantLabels: Record<string, string>;
    /** Minimum replicas; 0 scales the Deployment down and drops its autoscaler and disruption budget. */
    replicas: number;
    /** Upper bound for the autoscaler when it differs from the template's. */
    maxReplicas?: number;
    /** Resources that must succeed before this Deployment rolls out, such as the release's migration Job. */
    after?: pulumi.Resource[];
    /** Rolling-update settings of the Deployment. */
    rollingUpdate?: { maxSurge: number | string; maxUnavailable: number | string; progressDeadlineSeconds: number };
}

/**
 * One Deployment of the app with its PodDisruptionBudget and HorizontalPodAutoscaler. The pod template depends only
 * on the template, the version and the variant labels, so scaling or routing changes never restart pods.
 */
export class AppWorkload extends pulumi.ComponentResource {
    /** The Deployment. */
    public readonly deployment: k8s.apps.v1.Deployment;
    /** Labels that select exactly this Deployment's pods. */
    public readonly selectorLabels: Record<string, string>;

    constructor(name: string, args: AppWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super("myapp:deploy:AppWorkload", name, {}, opts);
        const t = args.template;
        if (args.replicas < 0) throw new pulumi.ResourceError(`replicas must be 0 or more, got ${args.replicas}`, this);
        const maxReplicas = Math.max(args.maxReplicas ?? t.maxReplicas, args.replicas);

        this.selectorLabels = { "app.kubernetes.io/name": t.appName, ...args.variantLabels };
        const podLabels = {
            ...this.selectorLabels,
            "app.kubernetes.io/version": labelValue(args.version),
            "app.kubernetes.io/part-of": t.appName,
        };
        const metadata = { name: args.deploymentName, namespace: t.namespace, labels: podLabels };
        const autoscaled = args.replicas > 0;
        const rolling = args.rollingUpdate ?? { maxSurge: "25%", maxUnavailable: 0, progressDeadlineSeconds: 600 };

        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata,
                spec: {
                    // The autoscaler owns the replica count while it exists; declaring it here too would make
                    // every `pulumi up` fight the autoscaler.
                    replicas: autoscaled ? undefined : 0,
                    selector: { matchLabels: this.selectorLabels },
                    progressDeadlineSeconds: rolling.progressDeadlineSeconds,
                    revisionHistoryLimit: 5,
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: rolling.maxSurge, maxUnavailable: rolling.maxUnavailable } },
                    template: {
                        metadata: { labels: podLabels, annotations: t.podAnnotations && Object.keys(t.podAnnotations).length > 0 ? t.podAnnotations : undefined },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity,
                            terminationGracePeriodSeconds: 30,
                            topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
                                maxSkew: 1,
                                topologyKey,
                                whenUnsatisfiable: "ScheduleAnyway",
                                labelSelector: { matchLabels: this.selectorLabels },
                            })),
                            containers: [
                                {
                                    name: t.appName,
                                    image: imageRef(t.image, args.version),
                                    ports: [{ name: "http", containerPort: t.containerPort, protocol: "TCP" }],
                                    env: Object.entries(t.env)
                                        .sort(([a], [b]) => a.localeCompare(b))
                                        .map(([envName, value]) => ({ name: envName, value })),
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
                                    securityContext: restrictedContainerSecurity,
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...(t.volumes ?? []).map((v) => v.mount)],
                                },
                            ],
                            volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }, ...(t.volumes ?? []).map((v) => v.volume)],
                        },
                    },
                },
            },
            { parent: this, dependsOn: args.after },
        );

        if (autoscaled) {
            new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                { metadata, spec: { maxUnavailable: 1, selector: { matchLabels: this.selectorLabels } } },
                { parent: this },
            );
            new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                `${name}-hpa`,
                {
                    metadata,
                    spec: {
                        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: args.deploymentName },
                        minReplicas: args.replicas,
                        maxReplicas,
                        metrics: [
                            { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: t.targetCpuUtilization } } },
                        ],
                    },
                },
                { parent: this },
            );
        }

        this.registerOutputs({ deploymentName: args.deploymentName, version: args.version, replicas: args.replicas });
    }
}
