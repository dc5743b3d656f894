import * as pulumi from "@pulumi/pulumi";
import { appLabels, appService, hostIngress } from "../kubernetes/objects";
import { AppWorkload, WorkloadTemplate, rolloutCanProgress } from "../kubernetes/workload";
import { COMPONENT, LABEL } from "../../policy/contract";
import { acrossStrategies, LibraryComponent } from "../componentType";

export interface RollingDeploymentArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** Version to run. */
    version: string;
    /** Minimum replicas. */
    replicas: number;
    /** Extra pods allowed during a rollout: a count or a percentage. */
    maxSurge: number | string;
    /** Pods allowed to be unavailable during a rollout: a count or a percentage. */
    maxUnavailable: number | string;
    /** Seconds without progress before the rollout is reported failed (and `pulumi up` fails). */
    progressDeadlineSeconds: number;
    /** Public host. */
    host: string;
    /** IngressClass that serves the host. */
    ingressClassName: string;
    /** TLS Secret for the host. */
    tlsSecretName: pulumi.Input<string>;
    /** Resources that must succeed before the rollout, such as the release's migration Job. */
    after?: pulumi.Resource[];
}

/** One Deployment replaced pod by pod within the surge settings, behind one Service and Ingress. */
export class RollingDeployment extends LibraryComponent {
    /** The workload. */
    public readonly workload: AppWorkload;
    /** URL of the public host. */
    public readonly publicUrl: string;

    constructor(name: string, args: RollingDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("RollingDeployment", name, opts);
        if (!rolloutCanProgress(args.maxSurge, args.maxUnavailable)) {
            throw new pulumi.ResourceError(
                "maxSurge and maxUnavailable cannot both be 0: the rollout could never progress",
                this,
            );
        }
        const t = args.template;
        const app = t.appName;
        this.workload = new AppWorkload(
            `${name}-app`,
            {
                template: t,
                deploymentName: app,
                version: args.version,
                variantLabels: { [LABEL.track]: "stable" },
                replicas: args.replicas,
                after: args.after,
                rollingUpdate: {
                    maxSurge: args.maxSurge,
                    maxUnavailable: args.maxUnavailable,
                    progressDeadlineSeconds: args.progressDeadlineSeconds,
                },
            },
            { parent: this },
        );
        // The app's Service and Ingress keep the objects a previous strategy made (acrossStrategies); the Service
        // moves to this strategy's pods once they are ready.
        appService(
            `${name}-live`,
            {
                serviceName: app,
                namespace: t.namespace,
                selector: this.workload.selectorLabels,
                labels: appLabels(app, COMPONENT.live),
            },
            { parent: this, dependsOn: [this.workload], aliases: acrossStrategies(name, "RollingDeployment") },
        );
        hostIngress(
            `${name}-ingress`,
            {
                ingressName: app,
                namespace: t.namespace,
                host: args.host,
                ingressClassName: args.ingressClassName,
                tlsSecretName: args.tlsSecretName,
                backend: { serviceName: app, port: 80 },
                labels: appLabels(app, COMPONENT.live),
            },
            { parent: this, aliases: acrossStrategies(name, "RollingDeployment", `${name}-live-ingress`) },
        );
        this.publicUrl = `https://${args.host}`;
        this.registerOutputs({ version: args.version, publicUrl: this.publicUrl });
    }
}
