import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { appLabels, appliedStateAnnotations, appService, hostIngress } from "../kubernetes/objects";
import { AppWorkload, WorkloadTemplate, ZERO_DOWNTIME_ROLLOUT } from "../kubernetes/workload";
import { LiveTrack, liveTrack, planCapacity, trafficStep } from "./capacity";
import { ANNOTATION, CANARY_SERVICE_SUFFIX, Component, COMPONENT, LABEL } from "../../policy/contract";
import { acrossStrategies, LibraryComponent } from "../componentType";
import { isWeight, replicaSplit } from "./weights";

/**
 * What expresses the weight, with what that router needs: an ingress-nginx canary Ingress, a Gateway API HTTPRoute
 * attached to `gateway`, an ALB weighted action with `alb`'s settings, or the pod ratio (replicas).
 */
export type CanaryRouting =
    | { router: "nginx" | "replicas" }
    | { router: "gateway-api"; gateway: { name: string; namespace: string; sectionName?: string } }
    | { router: "alb"; alb: { scheme: string; certificateArn: pulumi.Input<string>; deregistrationDelaySeconds: number } };

export type CanaryDeploymentArgs = CanaryTracksArgs & CanaryRouting;

/** The namespace label by which the AWS Load Balancer Controller injects its target-health readiness gate into pods. */
export const ALB_READINESS_GATE = "elbv2.k8s.aws/pod-readiness-gate-inject";

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
    /** A rollback: the canary track keeps the pods the cluster runs (see AppWorkloadArgs.frozen). */
    freezeCanary?: boolean;
}

/**
 * The `pulumi.com/waitFor` expression for a condition of the route's status for this Gateway (not whichever parent
 * is listed first), observed at the route's current generation: a Gateway API condition carries the generation it
 * was computed for (Condition.observedGeneration), and an HTTPRoute's status has no top-level observedGeneration for
 * the provider to compare. RFC 9535 JSONPath as the provider parses it (github.com/theory/jsonpath 0.9, which reads
 * `a && b` but not `a && b && c`: hence two filters).
 */
export function routeCondition(gateway: { name: string; namespace: string }, type: string): string {
    const parent = `@.parentRef.name=="${gateway.name}" && @.parentRef.namespace=="${gateway.namespace}"`;
    return `jsonpath={.status.parents[?${parent}].conditions[?@.type=="${type}" && @.observedGeneration==$.metadata.generation].status}=True`;
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
        // With the ALB router a pod is ready only once its target is healthy in the ALB's target group, so a rollout
        // or a weight never moves onto targets still in their initial health checks. The AWS Load Balancer
        // Controller's webhook injects that readiness gate into pods created in a namespace with this label
        // (aws-load-balancer-controller docs/deploy/pod_readiness_gate.md), so the Deployments wait for it.
        const readinessGate =
            args.router === "alb"
                ? [new k8s.core.v1.NamespacePatch(`${name}-alb-readiness-gate`, { metadata: { name: t.namespace, labels: { [ALB_READINESS_GATE]: "enabled" } } }, { parent: this })]
                : [];
        const track = (trackName: "stable" | "canary", version: string, replicas: number, frozen: boolean) =>
            new AppWorkload(
                `${name}-${trackName}`,
                {
                    template: t,
                    deploymentName: `${app}-${trackName}`,
                    version,
                    variantLabels: { [LABEL.track]: trackName },
                    replicas,
                    readLive: true,
                    frozen,
                    maxReplicas: maxFor(trackName, replicas),
                    after: [...(args.after ?? []), ...readinessGate],
                },
                { parent: this },
            );
        this.stable = track("stable", args.stableVersion, split.stable, false);
        this.canary = track("canary", args.canaryVersion, split.canary, args.freezeCanary ?? false);

        // Capacity follows traffic (components/traffic/capacity.ts): before a weight moves, the track that receives a share
        // has its autoscaler's minimum raised to that share of what the fleet runs now, and its ready pods are
        // awaited; the decision, named after the weight, is applied once.
        const demand = (key: "stable" | "canary", live: pulumi.Output<LiveTrack>) =>
            live.apply((l) => ({
                configured: key === "stable" ? split.stable : split.canary,
                share: key === "stable" ? 100 - args.weight : args.weight,
                max: key === "stable" ? this.stable.maxReplicas : this.canary.maxReplicas,
                live: l,
            }));
        const plan = pulumi
            .all([demand("stable", liveTrack(this.stable.live)), demand("canary", liveTrack(this.canary.live))])
            .apply(([stable, canary]) => planCapacity({ stable, canary }, { shrinkGiving: args.router === "replicas" }));
        const decision = `w${args.weight}`;
        const tracks = [
            { key: "stable", workload: this.stable, configured: split.stable, share: 100 - args.weight },
            { key: "canary", workload: this.canary, configured: split.canary, share: args.weight },
        ] as const;
        // Under the replicas router the pods are the weight: a track whose share shrinks is scaled down once the other
        // has its pods ready. A track at 0 is scaled down by its decision too.
        const settles = (configured: number) => args.router === "replicas" || configured === 0;
        const step = (tr: (typeof tracks)[number], kind: "capacity" | "settle", after: pulumi.Resource[]) =>
            trafficStep(
                `${name}-${tr.key}-${kind}-${decision}`,
                {
                    deploymentName: `${app}-${tr.key}`,
                    namespace: t.namespace,
                    capacity: plan.apply((p) => p[tr.key]),
                    share: tr.share,
                    timeoutSeconds: ZERO_DOWNTIME_ROLLOUT.progressDeadlineSeconds,
                    settle: kind === "settle",
                    record: kind === "settle" || !settles(tr.configured),
                },
                { parent: tr.workload, dependsOn: after },
            );
        const gates = tracks.filter((tr) => tr.configured > 0).map((tr) => step(tr, "capacity", [tr.workload.autoscale(plan.apply((p) => p[tr.key].floor))]));
        for (const tr of tracks.filter((x) => settles(x.configured))) step(tr, "settle", gates);

        const svc = (suffix: string, serviceName: string, selector: Record<string, string>, component: Component, opts: pulumi.CustomResourceOptions = {}) =>
            appService(`${name}-${suffix}`, { serviceName, namespace: t.namespace, selector, labels: appLabels(app, component) }, { parent: this, ...opts });
        const ingress = { namespace: t.namespace, host: args.host, labels: appLabels(app, COMPONENT.live) };
        // A weight moves once both tracks are awaited at their size and their capacity for the new weight is ready:
        // a new canary version or a promotion's stable rollout is Ready before it gets (or gives back) its share.
        const weightAfter = [this.stable, this.canary, ...gates];
        // The live Service and the main Ingress keep the object a previous strategy made (acrossStrategies); the
        // Service moves to this strategy's pods once they are ready.
        const live = {
            parent: this,
            dependsOn: args.router === "replicas" ? weightAfter : [this.stable, ...gates.slice(0, 1)],
            aliases: acrossStrategies(name, "CanaryDeployment"),
        };
        const mainIngress = { parent: this, aliases: acrossStrategies(name, "CanaryDeployment", `${name}-live-ingress`) };

        if (args.router === "replicas") {
            svc("live", app, { [LABEL.name]: app }, COMPONENT.live, live);
            hostIngress(
                `${name}-ingress`,
                { ...ingress, ingressName: app, ingressClassName: args.ingressClassName, tlsSecretName: args.tlsSecretName, backend: { serviceName: app, port: 80 } },
                mainIngress,
            );
        } else {
            svc("live", app, this.stable.selectorLabels, COMPONENT.live, live);
            svc("canary-svc", canaryService, this.canary.selectorLabels, COMPONENT.canary);
        }

        if (args.router === "nginx") {
            const main = { ...ingress, ingressClassName: args.ingressClassName, tlsSecretName: args.tlsSecretName };
            hostIngress(`${name}-ingress`, { ...main, ingressName: app, backend: { serviceName: app, port: 80 } }, mainIngress);
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
                            // Each condition is this Gateway's, for this generation of the route: on an update the old
                            // generation's True conditions stay until the Gateway has looked at the new one.
                            "pulumi.com/waitFor": JSON.stringify(["Accepted", "ResolvedRefs"].map((type) => routeCondition(gw, type))),
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
                            // 300 s unless set; the pods' preStop pause (drainSeconds) outlasts it (config checks), so a
                            // pod keeps serving until the ALB has stopped sending it requests.
                            "alb.ingress.kubernetes.io/target-group-attributes": `deregistration_delay.timeout_seconds=${alb.deregistrationDelaySeconds}`,
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
                { parent: this, dependsOn: weightAfter, aliases: mainIngress.aliases },
            );
        }

        this.liveUrl = `https://${args.host}`;
        this.registerOutputs({ stableVersion: args.stableVersion, canaryVersion: args.canaryVersion, weight: args.weight, liveUrl: this.liveUrl });
    }
}
