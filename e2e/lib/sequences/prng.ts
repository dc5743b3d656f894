/**
 * A seeded pseudo-random generator (mulberry32: 32 bits of state, full period), so that a seed names one sequence
 * of operations on every machine and every run.
 */
export class Prng {
    private state: number;

    constructor(readonly seed: number) {
        // splitmix32 of the seed, so that neighbouring seeds (1, 2, 3) start far apart.
        let z = (seed + 0x9e3779b9) >>> 0;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.state = (z ^ (z >>> 16)) >>> 0;
    }

    /** A float in [0, 1). */
    next(): number {
        this.state = (this.state + 0x6d2b79f5) >>> 0;
        let t = this.state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }

    /** An integer in [min, max]. */
    int(min: number, max: number): number {
        return min + Math.floor(this.next() * (max - min + 1));
    }

    /** One of `items`, each as likely as its weight. */
    weighted<T>(items: { item: T; weight: number }[]): T {
        const total = items.reduce((n, i) => n + i.weight, 0);
        let r = this.next() * total;
        for (const i of items) {
            r -= i.weight;
            if (r < 0) return i.item;
        }
        return items[items.length - 1].item;
    }

    pick<T>(items: readonly T[]): T {
        return items[Math.floor(this.next() * items.length)];
    }
}
