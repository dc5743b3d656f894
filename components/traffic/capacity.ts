import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ANNOTATION } from "../../policy/contract";

/**
 * What a read of a live Deployment tells the capacity plan: the count its autoscaler runs now, and the traffic
 * decision last recorded on it. Every field is undefined when nothing was read: in a preview that creates the
 * Deployment (README, Decisions: "The live count is read, after the Deployment's step"), and under mocks.
 */
export interface LiveTrack {
    /** spec.replicas: the autoscaler's current count (or the count Pulumi created it with). */
    replicas?: number;
    /** The track's share of traffic, in percent, when the last traffic decision was applied. */
    share?: number;
    /** The fleet (pods serving users) that decision sized this track for; 0 when it raised nothing. */
    fleet?: number;
}

/** Reads the live count and the recorded decision from a `Deployment.get` of the track's Deployment (none: nothing read). */
export function liveTrack(read: k8s.apps.v1.Deployment | undefined): pulumi.Output<LiveTrack> {
    if (!read) return pulumi.output({});
    const num = (v: unknown) =>
        v === undefined || v === null || v === "" || Number.isNaN(Number(v)) ? undefined : Number(v);
    return pulumi.all([read.spec, read.metadata]).apply(([spec, metadata]) => ({
        replicas: num(spec?.replicas),
        share: num(metadata?.annotations?.[ANNOTATION.trafficShare]),
        fleet: num(metadata?.annotations?.[ANNOTATION.trafficFleet]),
    }));
}

/** One Deployment's part in a traffic decision. */
export interface TrackDemand {
    /** The minimum the track keeps whatever the traffic: its floor when no traffic moves onto it (0: scaled down). */
    configured: number;
    /** Its share of user traffic after this decision, in percent (with the pod-ratio router, its share of the pods). */
    share: number;
    /** Upper bound of its autoscaler: no floor exceeds it. */
    max: number;
    /** What was read from the cluster. */
    live: LiveTrack;
}

/** What a track needs for a decision. */
export interface TrackCapacity {
    /** Its autoscaler's minimum, and the ready pods the decision waits for before traffic moves. */
    floor: number;
    /** The fleet this floor was sized for, recorded on the Deployment; 0 when the decision raised nothing. */
    fleet: number;
    /** The Deployment is at 0 and must be woken: an autoscaler never scales up from 0. */
    wake: boolean;
    /** The count a traffic decision takes it down to (the pod-ratio router's giving track, a track going to 0). */
    shrinkTo?: number;
}

/**
 * The capacity each track needs before traffic moves, from what the cluster runs now: `ceil(fleet × share)` when its
 * share changes, its last decision's floor when not, the configured minimum without a recorded decision; never below
 * that minimum nor above the autoscaler's maximum (README, "How capacity follows traffic").
 */
export function planCapacity<K extends string>(
    tracks: Record<K, TrackDemand>,
    options: { shrinkGiving: boolean },
): Record<K, TrackCapacity> {
    const all = Object.values<TrackDemand>(tracks);
    const recorded = all.every((t) => t.live.share !== undefined && t.live.replicas !== undefined);
    const fleet = all.filter((t) => (t.live.share ?? 0) > 0).reduce((n, t) => n + (t.live.replicas ?? 0), 0);
    const out = {} as Record<K, TrackCapacity>;
    for (const key of Object.keys(tracks) as K[]) {
        const t = tracks[key];
        const share = (f: number) => Math.ceil((f * t.share) / 100);
        let floor = t.configured;
        let sizedFor = 0;
        if (t.configured === 0 && t.share === 0) {
            floor = 0;
        } else if (recorded && t.live.share !== t.share) {
            floor = Math.max(t.configured, share(fleet));
            sizedFor = fleet;
        } else if (recorded && t.live.fleet) {
            floor = Math.max(t.configured, share(t.live.fleet));
            sizedFor = t.live.fleet;
        }
        floor = Math.min(floor, t.max);
        const live = t.live.replicas;
        const shrinks =
            live !== undefined &&
            live > floor &&
            (floor === 0 || (options.shrinkGiving && t.live.share !== undefined && t.share < t.live.share));
        out[key] = { floor, fleet: sizedFor, wake: floor > 0 && live === 0, shrinkTo: shrinks ? floor : undefined };
    }
    return out;
}

/**
 * `pulumi.com/waitFor` conditions for a Deployment that must serve with at least `ready` pods: its rollout of the
 * current template complete, all its pods available (Available=True, as maxUnavailable is 0) and `ready` of them
 * ready; at 0, spec.replicas 0 (README, Decisions: "Capacity steps are server-side-apply patches").
 */
export function readyConditions(ready: number): string {
    if (ready === 0) return JSON.stringify(["jsonpath={.spec.replicas}=0"]);
    return JSON.stringify([
        'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}=NewReplicaSetAvailable',
        'jsonpath={.status.conditions[?(@.type=="Available")].status}=True',
        "jsonpath={$[?@.updatedReplicas && @.updatedReplicas==@.replicas]}",
        `jsonpath={$[?@.readyReplicas>${ready - 1}]}`,
    ]);
}

export interface TrafficStepArgs {
    /** metadata.name of the Deployment. */
    deploymentName: string;
    /** Its namespace. */
    namespace: string;
    /** The track's capacity for this decision. */
    capacity: pulumi.Input<TrackCapacity>;
    /** Its share of traffic after the decision, recorded on the Deployment for the next decision. */
    share: number;
    /** Seconds to wait for the pods. */
    timeoutSeconds: number;
    /** True for the step that applies the decision's count when traffic has moved (shrinkTo); false for the gate before. */
    settle: boolean;
    /** True when this step records the decision on the Deployment (one step per track does). */
    record: boolean;
}

/**
 * One step of a traffic decision on one Deployment: a server-side-apply patch named after the decision, applied once
 * and kept. Before traffic moves (the gate) it waits for the floor's ready pods, waking a Deployment at 0; after (the
 * settle step) it sets the count the decision takes a track down to. Its `waitFor` stays on the Deployment, so later
 * rollouts wait for the same floor (README, Decisions: "Capacity steps are server-side-apply patches", "Who owns
 * `spec.replicas`").
 */
export function trafficStep(
    name: string,
    args: TrafficStepArgs,
    opts: pulumi.CustomResourceOptions,
): k8s.apps.v1.DeploymentPatch {
    const capacity = pulumi.output(args.capacity);
    const applies = capacity.apply((c) => (args.settle ? c.shrinkTo : c.wake ? c.floor : undefined));
    const ready = capacity.apply((c) => (args.settle && c.shrinkTo !== undefined ? c.shrinkTo : c.floor));
    return new k8s.apps.v1.DeploymentPatch(
        name,
        {
            metadata: {
                name: args.deploymentName,
                namespace: args.namespace,
                annotations: {
                    [ANNOTATION.patchForce]: "true",
                    "pulumi.com/waitFor": ready.apply(readyConditions),
                    "pulumi.com/timeoutSeconds": String(args.timeoutSeconds),
                    ...(args.record
                        ? {
                              [ANNOTATION.trafficShare]: String(args.share),
                              [ANNOTATION.trafficFleet]: capacity.apply((c) => String(c.fleet)),
                          }
                        : {}),
                },
            },
            spec: applies.apply((replicas) => (replicas === undefined ? undefined : { replicas })),
        },
        { ...opts, ignoreChanges: ["spec"], retainOnDelete: true },
    );
}
