// What the invariants compute from what the harness observed: pure functions over samples, Job lists and diffs.
import { TrafficSample } from "../observe";
import { colorReplicas, Color, databaseJobsDeclared, Model, routes, Traffic } from "./model";

/** One invariant's verdict on one step. */
export interface Violation {
    invariant: Invariant;
    message: string;
}

export const INVARIANTS = [
    "capacity",
    "autoscalerFloor",
    "rollback",
    "jobsRunOnce",
    "offlineAgreement",
    "apiAcceptsConfig",
    "model",
] as const;
export type Invariant = (typeof INVARIANTS)[number];

/** The ready pods a share of the traffic needs: that share of the fleet's count, rounded up (as Argo Rollouts' setCanaryScale rounds a track). */
export const required = (percent: number, fleet: number) => Math.ceil((percent * fleet) / 100);

export interface CapacityLow {
    at: number;
    service: string;
    percent: number;
    ready: number;
    required: number;
}

/** Every sample's routed shares against the fleet's count before the step: the tightest share, and each one short of pods. */
export function capacity(fleet: number, samples: TrafficSample[]): { tightest?: CapacityLow; short: CapacityLow[] } {
    let tightest: CapacityLow | undefined;
    const short: CapacityLow[] = [];
    for (const s of samples) {
        for (const share of s.shares) {
            if (share.percent === 0) continue;
            const low = {
                at: s.at,
                service: share.service,
                percent: share.percent,
                ready: share.ready,
                required: required(share.percent, fleet),
            };
            if (low.required === 0) continue;
            if (!tightest || low.ready - low.required < tightest.ready - tightest.required) tightest = low;
            if (low.ready < low.required) short.push(low);
        }
    }
    return { tightest, short };
}

/** Whether every routed share is served, and only by `versions`: a rollback's traffic is back. */
export function servedOnlyBy(sample: TrafficSample, versions: string[]): boolean {
    const routed = sample.shares.filter((s) => s.percent > 0);
    return (
        routed.length > 0 &&
        routed.every((s) => s.ready > 0 && Object.keys(s.versions).every((v) => versions.includes(v)))
    );
}

/** Where the routing objects and the pods behind them differ from the model's applied traffic. */
export function routingMismatch(m: Pick<Model, "app">, t: Traffic, sample: TrafficSample): string | undefined {
    for (const r of routes(m, t)) {
        const share = sample.shares.find((s) => s.service === r.service);
        if (r.percent === 0) {
            if (share && share.percent !== 0) return `${r.service} takes ${share.percent}%, the model says 0%`;
            continue;
        }
        if (!share)
            return `no Ingress sends the host's traffic to ${r.service} (the model says ${r.percent}%); routed: ${JSON.stringify(sample.shares)}`;
        if (share.percent !== r.percent) return `${r.service} takes ${share.percent}%, the model says ${r.percent}%`;
        const versions = Object.keys(share.versions);
        if (share.ready === 0 || versions.some((v) => v !== r.version))
            return `${r.service} (${r.percent}%) is served by ${JSON.stringify(share.versions)}, the model says ${r.version}`;
    }
    return undefined;
}

/** A Job as the harness tracks it across a sequence. */
export interface TrackedJob {
    name: string;
    uid: string;
    completionTime?: string;
    component?: string;
    color?: string;
    outcome: string;
    /** Every pod of the Job is Pending. */
    pending: boolean;
    createdAt: number;
}

/** What a config declares each release Job for: purposes change, Jobs named after them are new. */
function databasePurpose(m: Model): string | undefined {
    return databaseJobsDeclared(m) ? `${m.version}/${m.phase}/${m.attempt}` : undefined;
}

/**
 * A rollback's config (release.version is release.previousVersion) holds the color that runs another version: the
 * program declares no smoke test for it (program/release.ts `hold`), so the printed rollback deletes that Job and
 * going forward again runs it anew, as it does the release's backup and migration.
 */
function heldColor(m: Model): Color | undefined {
    const bg = m.blueGreen;
    if (m.strategy !== "blue-green" || !bg || m.previousVersion === undefined || m.version !== m.previousVersion)
        return undefined;
    return (["blue", "green"] as const).find((c) => bg[c] !== m.version);
}

function smokePurpose(m: Model, c: Color): string | undefined {
    return colorReplicas(m, c) > 0 && m.blueGreen && heldColor(m) !== c
        ? `${m.blueGreen[c]}/${m.blueGreen.smokeImage}`
        : undefined;
}

/**
 * Which Jobs a step from config `before` to `after` may start: new Jobs only when some purpose changed; a Job of a
 * name seen before only when its own purpose came back (the release declared again after a rollback to the previous
 * version, a color back from 0 pods) or changed in place (a new smoke image).
 */
export function jobAllowance(before: Model, after: Model): { anyNew: boolean; rerun: (j: TrackedJob) => boolean } {
    const db = [databasePurpose(before), databasePurpose(after)];
    const colors: Color[] = ["blue", "green"];
    const smokeChanged = (c: Color) =>
        smokePurpose(after, c) !== undefined && smokePurpose(before, c) !== smokePurpose(after, c);
    return {
        anyNew: (db[1] !== undefined && db[0] !== db[1]) || colors.some(smokeChanged),
        rerun: (j) => {
            if (j.component === "predeploy-backup" || j.component === "migration")
                return db[1] !== undefined && db[0] === undefined;
            if (j.component === "smoke-test") return colors.some((c) => c === j.color && smokeChanged(c));
            return false;
        },
    };
}

/** A config edit as the engine's steps or the offline `--diff` name it: URNs by the step's op. */
export interface StepKinds {
    create: string[];
    delete: string[];
    update: string[];
    replace: string[];
    /**
     * Updates and replacements of autoscalers, kept apart: each traffic decision sets an autoscaler's minimum from the count its
     * Deployment runs now, read live (components/traffic/capacity.ts). The engine reads the cluster, where the autoscaler
     * may have grown the fleet; the offline run reads each Deployment at its configured minimum (tools/offline/diff.ts
     * liveStateOf). So the two may disagree on such a change, and on nothing else.
     */
    autoscalers: string[];
}

export const noSteps = (): StepKinds => ({ create: [], delete: [], update: [], replace: [], autoscalers: [] });

/** Files one step of the engine's or of the offline diff under its op. */
export function addStep(
    steps: StepKinds,
    op: "create" | "delete" | "update" | "replace",
    type: string,
    urn: string,
): void {
    if ((op === "update" || op === "replace") && type.endsWith(":HorizontalPodAutoscaler")) steps.autoscalers.push(urn);
    else steps[op].push(urn);
}

/** Whether both take the same step on each URN; autoscalers' changes are not compared (StepKinds.autoscalers). */
export function sameSteps(a: StepKinds, b: StepKinds): boolean {
    const key = (s: StepKinds) =>
        JSON.stringify([s.create, s.delete, s.update, s.replace].map((urns) => [...urns].sort()));
    return key(a) === key(b);
}

/**
 * Whether a failed up failed only because the program lost its gRPC connection to the engine (grpc-js status 14,
 * UNAVAILABLE) with no resource failing: the language host and the engine drop that connection on a loaded machine
 * (pulumi/pulumi#5093). An up with any other error (a resource that failed or timed out, a cancellation) is not.
 */
export function engineConnectionLost(output: string): boolean {
    const errors = output
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => /^error: /.test(l) && l !== "error: update failed");
    const resourceFailed = /failed to fully initialize|was not successfully|timed out|cancel/i.test(output);
    return errors.length > 0 && !resourceFailed && errors.every((l) => /\b14 UNAVAILABLE\b/.test(l));
}
