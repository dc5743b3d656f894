import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { appLabels, appService, awaitedJob, batchLabels, batchPodTemplate, hostIngress, versionedName } from "./kubernetes";
import { AppWorkload, WorkloadTemplate } from "./workload";
import { COMPONENT, LABEL } from "../policy/contract";
import { LibraryComponent } from "./componentType";

export type Color = "blue" | "green";
const COLORS: Color[] = ["blue", "green"];

export interface SmokeTest {
    /** Pinned image that runs the smoke tests. */
    image: string;
    /** Command and arguments; the target base URL arrives in SMOKE_URL. */
    command: string[];
    /** Deadline for the whole Job. */
    timeoutSeconds: number;
}

export interface BlueGreenDeploymentArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** Version each color runs. */
    versions: Record<Color, string>;
    /** Color the live Service and host send traffic to. */
    activeColor: Color;
    /** Minimum replicas of the active color. */
    replicas: number;
    /** Minimum replicas of the other color, kept warm for an instant rollback; 0 scales it down. */
    standbyReplicas: number;
    /** Public host of the live Service. */
    host: string;
    /** Public host of the preview Service (the color not serving). */
    previewHost: string;
    /** IngressClass that serves both hosts. */
    ingressClassName: string;
    /** TLS Secret covering both hosts. */
    tlsSecretName: pulumi.Input<string>;
    /** Smoke test run against each color whenever its version changes, before traffic can reach it. */
    smokeTest: SmokeTest;
    /** Resources that must succeed before either color rolls out, such as the release's migration Job. */
    after?: pulumi.Resource[];
}

/**
 * Two colors of the app side by side. The live Service selects `activeColor`; the preview Service selects the other.
 * Each color's version is smoke-tested through that color's own Service by a Job named after the version, and the
 * live Service waits for the active color's test, so a failed test leaves traffic where it was. Switching colors
 * changes only the two Services' selectors: no pod restarts, and a switch back is instant while the standby is warm.
 */
export class BlueGreenDeployment extends LibraryComponent {
    /** Each color's workload. */
    public readonly workloads: Record<Color, AppWorkload>;
    /** The Service that receives production traffic. */
    public readonly liveService: k8s.core.v1.Service;
    /** The Service in front of the color that is not live. */
    public readonly previewService: k8s.core.v1.Service;
    /** URL of the live host. */
    public readonly liveUrl: string;
    /** URL of the preview host. */
    public readonly previewUrl: string;

    constructor(name: string, args: BlueGreenDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("BlueGreenDeployment", name, opts);
        if (!COLORS.includes(args.activeColor)) {
            throw new pulumi.ResourceError(`activeColor must be "blue" or "green", got "${args.activeColor}"`, this);
        }
        if (args.replicas < 1) throw new pulumi.ResourceError(`the active color needs at least 1 replica, got ${args.replicas}`, this);
        const t = args.template;
        const app = t.appName;
        const previewColor: Color = args.activeColor === "blue" ? "green" : "blue";

        // The switch, in the engine's order: the incoming color is applied at full size and awaited until that many
        // pods are ready; its smoke test has passed; only then does the live Service move; only after that does the
        // outgoing color shrink (its Deployment and autoscaler depend on the live Service). So the live Service never
        // selects fewer ready pods than `replicas`.
        const workloads = {} as Record<Color, AppWorkload>;
        const smokeJobs: Partial<Record<Color, k8s.batch.v1.Job>> = {};
        const declareColor = (color: Color, replicas: number, after: pulumi.Resource[]) => {
            const workload = new AppWorkload(
                `${name}-${color}`,
                {
                    template: t,
                    deploymentName: `${app}-${color}`,
                    version: args.versions[color],
                    variantLabels: { [LABEL.color]: color },
                    replicas,
                    // Each color's size is part of the traffic decision, so Pulumi sets it on every change.
                    replicaOwner: "pulumi",
                    after,
                },
                { parent: this },
            );
            workloads[color] = workload;
            const colorService = appService(
                `${name}-${color}-svc`,
                { serviceName: `${app}-${color}`, namespace: t.namespace, selector: workload.selectorLabels, labels: { ...appLabels(app, COMPONENT.color), [LABEL.color]: color } },
                { parent: this },
            );
            if (replicas > 0) {
                smokeJobs[color] = this.smokeJob(`${name}-smoke-${color}`, args, color, `http://${app}-${color}.${t.namespace}.svc.cluster.local`, [workload, colorService]);
            }
        };

        declareColor(args.activeColor, args.replicas, args.after ?? []);
        this.liveService = appService(
            `${name}-live`,
            { serviceName: app, namespace: t.namespace, selector: workloads[args.activeColor].selectorLabels, labels: appLabels(app, COMPONENT.live), selectorMoves: true },
            { parent: this, dependsOn: smokeJobs[args.activeColor] },
        );
        declareColor(previewColor, args.standbyReplicas, [...(args.after ?? []), this.liveService]);
        this.workloads = workloads;
        this.previewService = appService(
            `${name}-preview`,
            { serviceName: `${app}-preview`, namespace: t.namespace, selector: workloads[previewColor].selectorLabels, labels: appLabels(app, COMPONENT.preview), selectorMoves: true },
            // Moves with the live Service: when the incoming color's smoke test fails, the preview host keeps
            // reaching that color for debugging instead of selecting the live one too.
            { parent: this, dependsOn: [this.liveService] },
        );
        const ingress = { namespace: t.namespace, ingressClassName: args.ingressClassName, tlsSecretName: args.tlsSecretName };
        hostIngress(
            `${name}-live-ingress`,
            { ...ingress, ingressName: app, host: args.host, backend: { serviceName: app, port: 80 }, labels: appLabels(app, COMPONENT.live) },
            { parent: this, dependsOn: [this.liveService] },
        );
        hostIngress(
            `${name}-preview-ingress`,
            { ...ingress, ingressName: `${app}-preview`, host: args.previewHost, backend: { serviceName: `${app}-preview`, port: 80 }, labels: appLabels(app, COMPONENT.preview) },
            { parent: this, dependsOn: [this.previewService] },
        );

        this.liveUrl = `https://${args.host}`;
        this.previewUrl = `https://${args.previewHost}`;
        this.registerOutputs({
            activeColor: args.activeColor,
            liveVersion: args.versions[args.activeColor],
            previewVersion: args.versions[previewColor],
            liveUrl: this.liveUrl,
            previewUrl: this.previewUrl,
        });
    }

    private smokeJob(name: string, args: BlueGreenDeploymentArgs, color: Color, url: string, after: pulumi.Resource[]): k8s.batch.v1.Job {
        const t = args.template;
        const version = args.versions[color];
        const labels = { ...batchLabels(t.appName, COMPONENT.smokeTest), [LABEL.color]: color };
        return awaitedJob(
            name,
            {
                jobName: versionedName(`${t.appName}-smoke-${color}`, version),
                namespace: t.namespace,
                labels,
                deadlineSeconds: args.smokeTest.timeoutSeconds,
                backoffLimit: 1,
                template: batchPodTemplate({
                    labels,
                    container: {
                        name: "smoke-test",
                        image: args.smokeTest.image,
                        command: args.smokeTest.command,
                        env: [
                            { name: "SMOKE_URL", value: url },
                            { name: "EXPECTED_VERSION", value: version },
                        ],
                    },
                }),
            },
            { parent: this, dependsOn: after },
        );
    }
}
