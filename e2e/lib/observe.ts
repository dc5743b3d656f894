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
        const done = (j.status?.conditions ?? []).find(
            (c: any) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
        );
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
    return Object.fromEntries(
        (await k.list(`/api/v1/namespaces/${ns}/pods${q}`)).map((p) => [p.metadata.name, p.metadata.uid]),
    );
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
        const complete = (object.status?.conditions ?? []).some(
            (c: any) => c.type === "Complete" && c.status === "True",
        );
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

/** One share of a host's traffic as the API server routes it at one moment, and the pods that serve it. */
export interface RoutedShare {
    /** The Service the Ingress sends this share to. */
    service: string;
    /** Percent of the host's requests. */
    percent: number;
    /** Ready, non-terminating pods the Service selects (0 when the Service does not exist). */
    ready: number;
    /** Those pods by the version their app container runs (its image tag). */
    versions: Record<string, number>;
}

/** What a sample of the namespace saw: the host's routed shares and each Deployment's spec.replicas. */
export interface TrafficSample {
    /** Milliseconds since the sampling started. */
    at: number;
    shares: RoutedShare[];
    replicas: Record<string, number>;
}

const podReady = (p: any) =>
    !p.metadata.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> = {}) =>
    selector !== undefined &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels[k] === v);
const backendService = (ing: any): string | undefined => ing.spec?.rules?.[0]?.http?.paths?.[0]?.backend?.service?.name;

/**
 * The host's traffic as ingress-nginx would route it now: the main Ingress of the host sends 100 - w percent to its
 * Service, a canary Ingress (nginx.ingress.kubernetes.io/canary) w percent to its own. A share whose Ingress or
 * Service is missing has no ready pod. Tester-only routes (the canary header) carry no share.
 */
export async function sampleTraffic(k: Kube, ns: string, host: string): Promise<Omit<TrafficSample, "at">> {
    const [ingresses, services, podList, deploymentList] = await Promise.all([
        k.list(`/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`),
        k.list(`/api/v1/namespaces/${ns}/services`),
        k.list(`/api/v1/namespaces/${ns}/pods`),
        k.list(`/apis/apps/v1/namespaces/${ns}/deployments`),
    ]);
    const forHost = ingresses.filter((i) => (i.spec?.rules ?? []).some((r: any) => r.host === host));
    const isCanary = (i: any) => i.metadata.annotations?.["nginx.ingress.kubernetes.io/canary"] === "true";
    const main = forHost.find((i) => !isCanary(i));
    const canary = forHost.find(isCanary);
    const weight = canary ? Number(canary.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"] ?? 0) : 0;
    const routes: [string, number][] = [
        [main ? (backendService(main) ?? "(no backend)") : "(no ingress)", 100 - weight],
    ];
    if (canary) routes.push([backendService(canary) ?? "(no backend)", weight]);
    const selectorOf = new Map(
        services.map((s) => [s.metadata.name as string, s.spec?.selector as Record<string, string> | undefined]),
    );
    const shares = routes.map(([service, percent]) => {
        const serving = podList.filter((p) => podReady(p) && selects(selectorOf.get(service), p.metadata.labels));
        const versions: Record<string, number> = {};
        for (const p of serving) {
            const image: string = p.spec.containers[0].image;
            const tag = image.slice(image.lastIndexOf(":") + 1);
            versions[tag] = (versions[tag] ?? 0) + 1;
        }
        return { service, percent, ready: serving.length, versions };
    });
    return { shares, replicas: Object.fromEntries(deploymentList.map((d) => [d.metadata.name, d.spec.replicas ?? 0])) };
}

/**
 * Runs `work` while sampling the host's traffic every `intervalMs` (and once before and once after), so that what
 * happens during a `pulumi up` is seen, not only where it ends. A failing sample is retried at the next tick.
 */
export async function sampledDuring<T>(
    k: Kube,
    ns: string,
    host: string,
    work: () => Promise<T>,
    intervalMs = 250,
): Promise<{ samples: TrafficSample[]; result?: T; error?: unknown }> {
    const t0 = Date.now();
    const samples: TrafficSample[] = [];
    const take = async () => {
        try {
            samples.push({ at: Date.now() - t0, ...(await sampleTraffic(k, ns, host)) });
        } catch {
            /* the API server was busy: the next tick samples again */
        }
    };
    await take();
    let running = true;
    const loop = (async () => {
        while (running) {
            await new Promise((r) => setTimeout(r, intervalMs));
            if (running) await take();
        }
    })();
    let result: T | undefined;
    let error: unknown;
    try {
        result = await work();
    } catch (e) {
        error = e;
    } finally {
        running = false;
        await loop;
        await take();
    }
    return { samples, result, error };
}
