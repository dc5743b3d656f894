import { seededRandom } from "../../lib/judge/random";

/** A seeded random source with integers, for generated samples that are the same on every run. */
export function seeded(seed: number): {
    uniform: () => number;
    normal: () => number;
    int: (lo: number, hi: number) => number;
} {
    const r = seededRandom(seed);
    return { ...r, int: (lo, hi) => lo + Math.floor(r.uniform() * (hi - lo + 1)) };
}

/** The shapes of series the judge meets: continuous, on a coarse grid (ties), half zeros (error ratios), skewed (latency). */
export const SAMPLE_SHAPES = ["normal", "grid", "zeros", "lognormal"] as const;

/** A sample of `n` values of a shape, shifted by `shift` before the shape's transform. */
export function sample(
    r: ReturnType<typeof seeded>,
    shape: (typeof SAMPLE_SHAPES)[number],
    n: number,
    shift: number,
): number[] {
    return Array.from({ length: n }, () => {
        const z = r.normal() + shift;
        switch (shape) {
            case "normal":
                return z;
            case "grid":
                return Math.round(z * 2) / 2;
            case "zeros":
                return r.uniform() < 0.5 ? 0 : Math.round(Math.exp(z) * 100) / 100;
            case "lognormal":
                return Math.exp(z);
        }
    });
}
