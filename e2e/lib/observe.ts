import { Kube } from "./kube";

/** A Job as the API server holds it: identity, timestamps and outcome. */
export interface JobState {
    uid: string;
    created: string;
    startTime?: string;
    completionTime?: string;
    /** "Complete", "Failed" or "running". */
    outcome: string;
    image: string;
}

export async function jobs(k: Kube, ns: string): Promise<Record<string, JobState>> {
    const out: Record<string, JobState> = {};
    for (const j of await k.list(`/apis/batch/v1/namespaces/${ns}/jobs`)) {
        const done = (j.status?.conditions ?? []).find((c: any) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
        out[j.metadata.name] = {
            uid: j.metadata.uid,
            created: j.metadata.creationTimestamp,
            startTime: j.status?.startTime,
            completionTime: j.status?.completionTime,
            outcome: done?.type ?? "running",
            image: j.spec.template.spec.containers[0].image,
        };
    }
    return out;
}

/** A Deployment's identity and what a rollout would change. */
export interface DeploymentState {
    uid: string;
    created: string;
    generation: number;
    image: string;
    templateHash: string;
}

export async function deployments(k: Kube, ns: string): Promise<Record<string, DeploymentState>> {
    const out: Record<string, DeploymentState> = {};
    for (const d of await k.list(`/apis/apps/v1/namespaces/${ns}/deployments`)) {
        out[d.metadata.name] = {
            uid: d.metadata.uid,
            created: d.metadata.creationTimestamp,
            generation: d.metadata.generation,
            image: d.spec.template.spec.containers[0].image,
            templateHash: JSON.stringify(d.spec.template),
        };
    }
    return out;
}

/** Pod name -> UID of the pods whose labels match `selector` (a label selector string), or all pods. */
export async function podUids(k: Kube, ns: string, selector?: string): Promise<Record<string, string>> {
    const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : "";
    return Object.fromEntries((await k.list(`/api/v1/namespaces/${ns}/pods${q}`)).map((p) => [p.metadata.name, p.metadata.uid]));
}

/**
 * What a watch saw while an update ran: for each Job the store revision at which it was created and at which it first
 * had Complete=True, and for each Deployment the revision at which it was created. The API server's resourceVersion
 * is etcd's revision, one counter for the whole store, so these order events across kinds with no clock involved.
 */
export interface Revisions {
    jobCreated: Record<string, number>;
    jobCompleted: Record<string, number>;
    deploymentCreated: Record<string, number>;
    stop(): void;
}

export function watchRevisions(k: Kube, ns: string): Revisions {
    const r = { jobCreated: {}, jobCompleted: {}, deploymentCreated: {} } as Omit<Revisions, "stop">;
    const rv = (o: any) => Number(o.metadata.resourceVersion);
    const stopJobs = k.watch(`/apis/batch/v1/namespaces/${ns}/jobs`, ({ type, object }) => {
        const name = object.metadata.name;
        if (type === "ADDED") r.jobCreated[name] ??= rv(object);
        const complete = (object.status?.conditions ?? []).some((c: any) => c.type === "Complete" && c.status === "True");
        if (complete) r.jobCompleted[name] ??= rv(object);
    });
    const stopDeployments = k.watch(`/apis/apps/v1/namespaces/${ns}/deployments`, ({ type, object }) => {
        if (type === "ADDED") r.deploymentCreated[object.metadata.name] ??= rv(object);
    });
    return {
        ...r,
        stop: () => {
            stopJobs();
            stopDeployments();
        },
    };
}
