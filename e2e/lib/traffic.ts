import * as assert from "assert";
import { labelSelector } from "./engine";
import { Kube } from "./kube";

/**
 * What the HPA controller does when it scales: an Update of the scale subresource as kube-controller-manager
 * (kubernetes pkg/controller/podautoscaler/horizontal.go, scaleNamespacer.Update). The harness runs no metrics server,
 * so this is how a spec makes "the autoscaler" grow a track.
 */
export async function scaleAsAutoscaler(k: Kube, ns: string, deployment: string, replicas: number): Promise<void> {
    const path = `/apis/apps/v1/namespaces/${ns}/deployments/${deployment}/scale`;
    const scale = await k.get(path);
    scale.spec.replicas = replicas;
    const put = await k.request("PUT", `${path}?fieldManager=kube-controller-manager`, scale);
    assert.strictEqual(put.status, 200, JSON.stringify(put.body));
}

/** Ready, non-terminating pods matching the labels. */
export async function readyPods(k: Kube, ns: string, labels: Record<string, string>): Promise<number> {
    const list = await k.list(`/api/v1/namespaces/${ns}/pods?labelSelector=${labelSelector(labels)}`);
    return list.filter(
        (p) =>
            !p.metadata.deletionTimestamp &&
            (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
    ).length;
}

/** spec.replicas of each Deployment in the namespace. */
export async function replicaCounts(k: Kube, ns: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const d of await k.list(`/apis/apps/v1/namespaces/${ns}/deployments`)) out[d.metadata.name] = d.spec.replicas;
    return out;
}

/**
 * Runs `action` while reading `sample` every `everyMs` (each read awaited before the next), and returns the action's
 * result with every sample, the last taken after the action returned.
 */
export async function sampledDuring<T, R>(
    sample: () => Promise<T>,
    action: () => Promise<R>,
    everyMs = 200,
): Promise<{ result: R; samples: T[] }> {
    const samples: T[] = [];
    let running = true;
    const loop = (async () => {
        while (running) {
            samples.push(await sample());
            await new Promise((r) => setTimeout(r, everyMs));
        }
    })();
    try {
        const result = await action();
        return { result, samples };
    } finally {
        running = false;
        await loop;
        samples.push(await sample());
    }
}
