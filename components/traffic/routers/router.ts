import * as pulumi from "@pulumi/pulumi";
import type { AppWorkload } from "../../kubernetes/workload";
import type { CanaryTracksArgs } from "../canaryDeployment";

/** The canary's two tracks. */
export type Track = "stable" | "canary";

/** Minimum pods of each track. */
export type TrackSplit = Record<Track, number>;

/** What a router declares its objects with: every object is a child of the CanaryDeployment. */
export interface RouterScope<S extends object> {
    /** The CanaryDeployment's name: the router's children are named `${name}-…`. */
    name: string;
    /** The CanaryDeployment, parent of what the router declares. */
    parent: pulumi.ComponentResource;
    /** The tracks' arguments with this router's settings. */
    args: CanaryTracksArgs & S;
}

/** What a router weighs: the tracks, their Services, and what the weight must wait for. */
export interface RouteScope<S extends object> extends RouterScope<S> {
    /** The stable track. */
    stable: AppWorkload;
    /** The canary track. */
    canary: AppWorkload;
    /** The app's Service (the stable track's, or both tracks' under pod ratio). */
    appService: string;
    /** The canary track's Service (declared unless the router follows the pod ratio). */
    canaryService: string;
    /** What carries the weight waits for these: both tracks at their size and their capacity for this weight. */
    weightAfter: pulumi.Resource[];
    /** Options of the host's main Ingress, which keeps the object a previous strategy made. */
    mainIngress: pulumi.CustomResourceOptions;
}

/**
 * A canary traffic router: what expresses the weight, with the settings `S` it needs beside the tracks' arguments. A
 * new router is a module implementing this and a line in the registry, `./index.ts` (README, Decisions: "One module
 * per router").
 */
export interface CanaryRouter<S extends object = object> {
    /**
     * The pods are the weight (the pod-ratio router): the app's Service selects both tracks and waits for the
     * weight's capacity, a track whose share shrinks is scaled down to it once the other's pods are ready, and no
     * canary Service is declared. Otherwise the app's Service selects the stable track and the router weighs it
     * against the canary's Service.
     */
    readonly podRatio: boolean;
    /** Minimum pods of each track at the weight, or undefined when this router cannot carry it. */
    split(args: CanaryTracksArgs): TrackSplit | undefined;
    /** Upper bound of a track's autoscaler when its minimum is `replicas`; undefined keeps the template's. */
    maxReplicas(track: Track, replicas: number, args: CanaryTracksArgs): number | undefined;
    /** Resources both tracks' rollouts wait for, declared before the tracks. */
    podsAwait?(scope: RouterScope<S>): pulumi.Resource[];
    /** Declares what carries the weight (an Ingress, an HTTPRoute; the host's Ingress under pod ratio). */
    route(scope: RouteScope<S>): void;
}

/** Track sizing of a router with its own routing object: each track keeps its configured minimum, the canary its own bound. */
export const separateTracks: Pick<CanaryRouter, "podRatio" | "split" | "maxReplicas"> = {
    podRatio: false,
    split: (args) => ({ stable: args.replicas, canary: args.canaryReplicas }),
    maxReplicas: (track, _replicas, args) => (track === "canary" ? args.canaryMaxReplicas : undefined),
};
