// Canary weights: a whole percentage, and the pod split that carries it exactly.
/** A traffic weight: a whole percentage. */
export function isWeight(weight: number): boolean {
    return Number.isInteger(weight) && weight >= 0 && weight <= 100;
}

/**
 * Replicas of each track when the weight is the share of the pods (the pod-ratio router), or undefined when
 * `total` pods cannot carry that share exactly.
 */
export function replicaSplit(total: number, weight: number): { stable: number; canary: number } | undefined {
    const canary = (total * weight) / 100;
    return Number.isInteger(canary) ? { stable: total - canary, canary } : undefined;
}
