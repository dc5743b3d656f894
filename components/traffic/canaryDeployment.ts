import * as pulumi from "@pulumi/pulumi";
import { appLabels, appService } from "../kubernetes/objects";
import { AppWorkload, WorkloadTemplate, ZERO_DOWNTIME_ROLLOUT } from "../kubernetes/workload";
import { LiveTrack, liveTrack, planCapacity, trafficStep } from "./capacity";
import { CANARY_SERVICE_SUFFIX, Component, COMPONENT, LABEL } from "../../policy/contract";
import { acrossStrategies, LibraryComponent } from "../componentType";
import { isWeight } from "./weights";
import { CanaryRouting, routerFor, Track } from "./routers";

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
    /** Minimum replicas of the stable track; with the pod-ratio router, the total across both tracks. */
    replicas: number;
    /** Minimum replicas of the canary track for the ingress routers. */
    canaryReplicas: number;
    /** Upper bound of the canary track's autoscaler for the ingress routers, so a canary cannot grow to the whole fleet unasked. */
    canaryMaxReplicas: number;
    /**
     * Requests carrying this header with the value "always" reach the canary whatever the weight (not with the
     * pod-ratio router).
     */
    headerName: string;
    /** Public host. */
    host: string;
    /** IngressClass for the nginx and pod-ratio routers. */
    ingressClassName: string;
    /**
     * TLS Secret for the host (nginx and pod-ratio routers; the ALB takes an ACM certificate, the Gateway its
     * listener's).
     */
    tlsSecretName: pulumi.Input<string>;
    /** Resources that must succeed before either track rolls out, such as the release's migration Job. */
    after?: pulumi.Resource[];
    /** A rollback: the canary track keeps the pods the cluster runs (see AppWorkloadArgs.frozen). */
    freezeCanary?: boolean;
}

/**
 * A stable and a canary track of the app, with the canary weight expressed by the chosen router. A weight change
 * touches only the routing object (or, with the pod-ratio router, the replica counts): no pod template changes.
 * Weight 0 sends the canary no user traffic; promotion is setting the stable version to the canary's.
 */
export class CanaryDeployment extends LibraryComponent {
    /** The stable track. */
    public readonly stable: AppWorkload;
    /** The canary track. */
    public readonly canary: AppWorkload;
    /** URL of the public host, which both tracks serve. */
    public readonly publicUrl: string;

    constructor(name: string, args: CanaryDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("CanaryDeployment", name, opts);
        if (!isWeight(args.weight))
            throw new pulumi.ResourceError(`weight must be a whole number from 0 to 100, got ${args.weight}`, this);
        const router = routerFor(args);
        const split = router.split(args);
        if (!split)
            throw new pulumi.ResourceError(
                `${args.replicas} replicas cannot carry a ${args.weight}% canary by pod ratio`,
                this,
            );
        const t = args.template;
        const app = t.appName;
        // The policy pack finds the canary's share among a router's backends by this name.
        const canaryService = `${app}${CANARY_SERVICE_SUFFIX}`;

        const podsAwait = router.podsAwait?.({ name, parent: this, args }) ?? [];
        const track = (trackName: Track, version: string, replicas: number, frozen: boolean) =>
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
                    maxReplicas: router.maxReplicas(trackName, replicas, args),
                    after: [...(args.after ?? []), ...podsAwait],
                },
                { parent: this },
            );
        this.stable = track("stable", args.stableVersion, split.stable, false);
        this.canary = track("canary", args.canaryVersion, split.canary, args.freezeCanary ?? false);

        // Capacity follows traffic (components/traffic/capacity.ts): before a weight moves, the track that receives a share
        // has its autoscaler's minimum raised to that share of what the fleet runs now, and its ready pods are
        // awaited; the decision, named after the weight, is applied once.
        const demand = (key: Track, live: pulumi.Output<LiveTrack>) =>
            live.apply((l) => ({
                configured: split[key],
                share: key === "stable" ? 100 - args.weight : args.weight,
                max: key === "stable" ? this.stable.maxReplicas : this.canary.maxReplicas,
                live: l,
            }));
        const plan = pulumi
            .all([demand("stable", liveTrack(this.stable.live)), demand("canary", liveTrack(this.canary.live))])
            .apply(([stable, canary]) => planCapacity({ stable, canary }, { shrinkGiving: router.podRatio }));
        const decision = `w${args.weight}`;
        const tracks = [
            { key: "stable", workload: this.stable, configured: split.stable, share: 100 - args.weight },
            { key: "canary", workload: this.canary, configured: split.canary, share: args.weight },
        ] as const;
        // Under pod ratio the pods are the weight: a track whose share shrinks is scaled down once the other
        // has its pods ready. A track at 0 is scaled down by its decision too.
        const settles = (configured: number) => router.podRatio || configured === 0;
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
        const gates = tracks
            .filter((tr) => tr.configured > 0)
            .map((tr) => step(tr, "capacity", [tr.workload.autoscale(plan.apply((p) => p[tr.key].floor))]));
        for (const tr of tracks.filter((x) => settles(x.configured))) step(tr, "settle", gates);

        const svc = (
            suffix: string,
            serviceName: string,
            selector: Record<string, string>,
            component: Component,
            opts: pulumi.CustomResourceOptions = {},
        ) =>
            appService(
                `${name}-${suffix}`,
                { serviceName, namespace: t.namespace, selector, labels: appLabels(app, component) },
                { parent: this, ...opts },
            );
        // A weight moves once both tracks are awaited at their size and their capacity for the new weight is ready:
        // a new canary version or a promotion's stable rollout is Ready before it gets (or gives back) its share.
        const weightAfter = [this.stable, this.canary, ...gates];
        // The app's Service and the main Ingress keep the object a previous strategy made (acrossStrategies); the
        // Service moves to this strategy's pods once they are ready.
        const appServiceOpts = {
            parent: this,
            dependsOn: router.podRatio ? weightAfter : [this.stable, ...gates.slice(0, 1)],
            aliases: acrossStrategies(name, "CanaryDeployment"),
        };
        const mainIngress = {
            parent: this,
            aliases: acrossStrategies(name, "CanaryDeployment", `${name}-live-ingress`),
        };

        if (router.podRatio) {
            svc("live", app, { [LABEL.name]: app }, COMPONENT.live, appServiceOpts);
        } else {
            svc("live", app, this.stable.selectorLabels, COMPONENT.live, appServiceOpts);
            svc("canary-svc", canaryService, this.canary.selectorLabels, COMPONENT.canary);
        }
        router.route({
            name,
            parent: this,
            args,
            stable: this.stable,
            canary: this.canary,
            appService: app,
            canaryService,
            weightAfter,
            mainIngress,
        });

        this.publicUrl = `https://${args.host}`;
        this.registerOutputs({
            stableVersion: args.stableVersion,
            canaryVersion: args.canaryVersion,
            weight: args.weight,
            publicUrl: this.publicUrl,
        });
    }
}
