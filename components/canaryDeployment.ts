import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { appLabels, appliedStateAnnotations, appService, hostIngress } from "./kubernetes";
import { AppWorkload, WorkloadTemplate } from "./workload";
import { ANNOTATION, CANARY_SERVICE_SUFFIX, Component, COMPONENT, LABEL } from "../policy/contract";
import { LibraryComponent } from "./componentType";
import { isWeight, replicaSplit } from "./rules";

/**
 * What expresses the weight, with what that router needs: an ingress-nginx canary Ingress, a Gateway API HTTPRoute
 * attached to `gateway`, an ALB weighted action with `alb`'s settings, or the pod ratio (replicas).
 */
export type CanaryRouting =
    | { router: "nginx" | "replicas" }
    | { router: "gateway-api"; gateway: { name: string; namespace: string; sectionName?: string } }
    | { router: "alb"; alb: { scheme: string; certificateArn: pulumi.Input<string> } };

export type CanaryDeploymentArgs = CanaryTracksArgs & CanaryRouting;

export interface CanaryTracksArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** Version that serves the rest of the traffic. */
    stableVersion: string;
    /** Version under test. */
    canaryVersion: string;
    /** Percent of requests sent to the canary, 0 to 100. */
    weight: number;
    /** Minimum replicas of the stable track; with the replicas router, the total across both tracks. */
    replicas: number;
    /** Minimum replicas of the canary track for the ingress routers. */
    canaryReplicas: number;
    /** Upper bound of the canary track's autoscaler for the ingress routers, so a canary cannot grow to the whole fleet unasked. */
    canaryMaxReplicas: number;
    /** Requests carrying this header with the value "always" reach the canary whatever the weight (not with the replicas router). */
    headerName: string;
    /** Public host. */
    host: string;
    /** IngressClass for the nginx and replicas routers. */
    ingressClassName: string;
    /** TLS Secret for the host (nginx and replicas routers; the ALB takes an ACM certificate, the Gateway its listener's). */
    tlsSecretName: pulumi.Input<string>;
    /** Resources that must succeed before either track rolls out, such as the release's migration Job. */
    after?: pulumi.Resource[];
}

/**
 * A stable and a canary track of the app, with the canary weight expressed by the chosen router. A weight change
 * touches only the routing object (or, with the replicas router, the replica counts): no pod template changes.
 * Weight 0 sends the canary no user traffic; promotion is setting the stable version to the canary's.
 */
export class CanaryDeployment extends LibraryComponent {
    /** The stable track. */
    public readonly stable: AppWorkload;
    /** The canary track. */
    public readonly canary: AppWorkload;
    /** URL of the host. */
    public readonly liveUrl: string;

    constructor(name: string, args: CanaryDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("CanaryDeployment", name, opts);
        if (!isWeight(args.weight)) throw new pulumi.ResourceError(`weight must be a whole number from 0 to 100, got ${args.weight}`, this);
        const split = args.router === "replicas" ? replicaSplit(args.replicas, args.weight) : { stable: args.replicas, canary: args.canaryReplicas };
        if (!split) throw new pulumi.ResourceError(`${args.replicas} replicas cannot carry a ${args.weight}% canary by pod ratio`, this);
        const t = args.template;
        const app = t.appName;
        // The policy pack finds the canary's share among a router's backends by this name.
        const canaryService = `${app}${CANARY_SERVICE_SUFFIX}`;

        // Under the replicas router both tracks scale on CPU with bounds in proportion, so the ratio holds under load.
        const maxFor = (trackName: "stable" | "canary", n: number) =>
            args.router === "replicas" ? Math.ceil((t.maxReplicas * n) / args.replicas) : trackName === "canary" ? args.canaryMaxReplicas : undefined;
        const track = (trackName: "stable" | "canary", version: string, replicas: number) =>
            new AppWorkload(
                `${name}-${trackName}`,
                {
                    template: t,
                    deploymentName: `${app}-${trackName}`,
                    version,
                    variantLabels: { [LABEL.track]: trackName },
                    replicas,
                    // With the replicas router the split is the weight, so Pulumi sets it. The canary is always
                    // Pulumi's: it may come back from 0 (replicas router at weight 0), where an autoscaler never acts
                    // (ScalingDisabled in kubernetes pkg/controller/podautoscaler/horizontal.go) and ignoreChanges
                    // would keep the 0. Behind an ingress router the autoscaler owns stable's count after creation.
                    replicaOwner: args.router === "replicas" || trackName === "canary" ? "pulumi" : "autoscaler",
                    maxReplicas: maxFor(trackName, replicas),
                    after: args.after,
                },
                { parent: this },
            );
        this.stable = track("stable", args.stableVersion, split.stable);
        this.canary = track("canary", args.canaryVersion, split.canary);

        const svc = (suffix: string, serviceName: string, selector: Record<string, string>, component: Component) =>
            appService(`${name}-${suffix}`, { serviceName, namespace: t.namespace, selector, labels: appLabels(app, component) }, { parent: this });
        const ingress = { namespace: t.namespace, host: args.host, labels: appLabels(app, COMPONENT.live) };
        // A weight moves once both tracks are awaited at their size: a new canary version or a promotion's stable
        // rollout is Ready before it gets (or gives back) its share.
        const weightAfter = [this.stable, this.canary];

        if (args.router === "replicas") {
            svc("live", app, { [LABEL.name]: app }, COMPONENT.live);
            hostIngress(
                `${name}-ingress`,
                { ...ingress, ingressName: app, ingressClassName: args.ingressClassName, tlsSecretName: args.tlsSecretName, backend: { serviceName: app, port: 80 } },
                { parent: this },
            );
        } else {
            svc("live", app, this.stable.selectorLabels, COMPONENT.live);
            svc("canary-svc", canaryService, this.canary.selectorLabels, COMPONENT.canary);
        }

        if (args.router === "nginx") {
            const main = { ...ingress, ingressClassName: args.ingressClassName, tlsSecretName: args.tlsSecretName };
            hostIngress(`${name}-ingress`, { ...main, ingressName: app, backend: { serviceName: app, port: 80 } }, { parent: this });
            hostIngress(
                `${name}-canary-ingress`,
                {
                    ...main,
                    tlsSecretName: undefined,
                    ingressName: `${app}-canary`,
                    backend: { serviceName: canaryService, port: 80 },
                    labels: appLabels(app, COMPONENT.canary),
                    annotations: {
                        ...appliedStateAnnotations,
                        [ANNOTATION.nginxCanary]: "true",
                        [ANNOTATION.nginxCanaryWeight]: String(args.weight),
                        "nginx.ingress.kubernetes.io/canary-by-header": args.headerName,
                    },
                },
                { parent: this, dependsOn: weightAfter },
            );
        }

        if (args.router === "gateway-api") {
            const gw = args.gateway;
            const backend = (serviceName: string, weight?: number) => ({ name: serviceName, port: 80, weight });
            new k8s.apiextensions.CustomResource(
                `${name}-route`,
                {
                    apiVersion: "gateway.networking.k8s.io/v1",
                    kind: "HTTPRoute",
                    metadata: {
                        name: app,
                        namespace: t.namespace,
                        labels: appLabels(app, COMPONENT.live),
                        annotations: {
                            // The provider does not await custom resources unless told what to wait for
                            // (provider/pkg/await/internal ReadyCondition in pulumi/pulumi-kubernetes). A Gateway that
                            // refuses the route (allowedRoutes, a missing listener, an unresolvable backend) sets
                            // Accepted or ResolvedRefs to False on its parent status, so `pulumi up` fails at the timeout.
                            "pulumi.com/waitFor": JSON.stringify([
                                'jsonpath={.status.parents[0].conditions[?(@.type=="Accepted")].status}=True',
                                'jsonpath={.status.parents[0].conditions[?(@.type=="ResolvedRefs")].status}=True',
                            ]),
                            "pulumi.com/timeoutSeconds": "180",
                        },
                    },
                    spec: {
                        parentRefs: [{ name: gw.name, namespace: gw.namespace, sectionName: gw.sectionName }],
                        hostnames: [args.host],
                        rules: [
                            {
                                matches: [{ headers: [{ name: args.headerName, value: "always" }] }],
                                backendRefs: [backend(canaryService)],
                            },
                            {
                                matches: [{ path: { type: "PathPrefix", value: "/" } }],
                                backendRefs: [backend(app, 100 - args.weight), backend(canaryService, args.weight)],
                            },
                        ],
                    },
                },
                { parent: this, dependsOn: weightAfter },
            );
        }

        if (args.router === "alb") {
            const alb = args.alb;
            const forward = (groups: { serviceName: string; weight: number }[]) =>
                JSON.stringify({ type: "forward", forwardConfig: { targetGroups: groups.map((g) => ({ ...g, servicePort: "80" })) } });
            new k8s.networking.v1.Ingress(
                `${name}-ingress`,
                {
                    metadata: {
                        name: app,
                        namespace: t.namespace,
                        labels: appLabels(app, COMPONENT.live),
                        // Awaited on the load balancer's address, where a refused certificate or a failed ALB shows
                        // on creation. Not the built-in Ingress await: it also waits for Endpoints named after each
                        // backend (provider/pkg/await/ingress.go checkIfEndpointsReady), and these backends are ALB
                        // actions, not Services. The price of any await is the informer's possibly older copy
                        // (ANNOTATION.skipAwait): a weight shift can show again in the next preview, and that up
                        // re-applies the same weight.
                        annotations: {
                            "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress[0].hostname}",
                            "alb.ingress.kubernetes.io/scheme": alb.scheme,
                            "alb.ingress.kubernetes.io/target-type": "ip",
                            // The controller probes "/" unless told otherwise; a pod is in service when it is ready.
                            "alb.ingress.kubernetes.io/healthcheck-path": t.readinessPath,
                            "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS":443}]',
                            "alb.ingress.kubernetes.io/certificate-arn": alb.certificateArn,
                            "alb.ingress.kubernetes.io/actions.canary-by-header": forward([{ serviceName: canaryService, weight: 100 }]),
                            "alb.ingress.kubernetes.io/conditions.canary-by-header": JSON.stringify([
                                { field: "http-header", httpHeaderConfig: { httpHeaderName: args.headerName, values: ["always"] } },
                            ]),
                            [ANNOTATION.albWeightedAction]: forward([
                                { serviceName: app, weight: 100 - args.weight },
                                { serviceName: canaryService, weight: args.weight },
                            ]),
                        },
                    },
                    spec: {
                        ingressClassName: "alb",
                        rules: [
                            {
                                host: args.host,
                                http: {
                                    paths: ["canary-by-header", "weighted"].map((action) => ({
                                        path: "/",
                                        pathType: "Prefix",
                                        backend: { service: { name: action, port: { name: "use-annotation" } } },
                                    })),
                                },
                            },
                        ],
                    },
                },
                { parent: this, dependsOn: weightAfter },
            );
        }

        this.liveUrl = `https://${args.host}`;
        this.registerOutputs({ stableVersion: args.stableVersion, canaryVersion: args.canaryVersion, weight: args.weight, liveUrl: this.liveUrl });
    }
}
