// One metric's classification as Kayenta's NetflixACAJudge makes it (kayenta-judge: NetflixACAJudge.classifyMetric,
// classifiers/metric/MannWhitneyClassifier.scala, preprocessing/Transforms.scala, detectors/IQRDetector.scala,
// stats/EffectSizes.scala): clean both series, then compare the canary with the baseline by a Mann-Whitney test and
// the size of the effect.
import { AllTiedError, mannWhitneyUTest } from "./mannWhitney";
import { seededRandom } from "./random";

export type Direction = "increase" | "decrease" | "either";
export type Classification = "Pass" | "High" | "Low" | "Nodata" | "NodataFailMetric" | "Error";

/** A metric's analysis settings, Kayenta's `analysisConfigurations.canary`. */
export interface MetricSettings {
    /** Which change fails the metric: a rise, a fall, or either. */
    direction: Direction;
    /** NaNs (missing points) removed, or replaced by 0. */
    nanStrategy: "remove" | "replace";
    /** Outliers kept, or removed outside the IQR fences widened to the 1st and 99th percentiles. */
    outliers: { strategy: "keep" | "remove"; factor: number };
    /** A failure of this metric fails the whole judgment. */
    critical: boolean;
    /** Missing data fails the metric (NodataFailMetric) instead of leaving it out of the score. */
    mustHaveData: boolean;
    /** Judged and reported, but left out of the score. */
    muted: boolean;
    /**
     * How big a significant change must be to count: `meanRatio` is mean(canary) / mean(baseline), `cles` the
     * share of (canary, baseline) pairs in which the canary is larger; allowed* for High/Low, critical* for a
     * critical metric to fail the judgment.
     */
    effectSize: {
        measure: "meanRatio" | "cles";
        allowedIncrease: number;
        allowedDecrease: number;
        criticalIncrease: number;
        criticalDecrease: number;
    };
}

/** Kayenta's defaults for a metric with no settings: either direction, NaNs removed, outliers kept, not critical. */
export const KAYENTA_DEFAULTS: MetricSettings = {
    direction: "either",
    nanStrategy: "remove",
    outliers: { strategy: "keep", factor: 3 },
    critical: false,
    mustHaveData: false,
    muted: false,
    effectSize: {
        measure: "meanRatio",
        allowedIncrease: 1,
        allowedDecrease: 1,
        criticalIncrease: 1,
        criticalDecrease: 1,
    },
};

/** The effect-size default of a measure: a ratio of 1 is no change; a CLES of 0.5 is none either. */
export const neutralEffect = (measure: MetricSettings["effectSize"]["measure"]): number =>
    measure === "cles" ? 0.5 : 1;

/** The judge's fixed parameters (NetflixACAJudge): the bounds are ±tolerance·|estimate|, the interval at confidenceLevel. */
export interface TestParameters {
    tolerance: number;
    confidenceLevel: number;
}

export const NETFLIX_ACA_PARAMETERS: TestParameters = { tolerance: 0.25, confidenceLevel: 0.98 };

/** One metric's verdict; estimate, lower and upper are null where the test did not run, effectSize where it cannot be computed. */
export interface MetricResult {
    classification: Classification;
    /** Counts as a critical failure of the judgment. */
    critical: boolean;
    muted: boolean;
    reason?: string;
    /** Hodges-Lehmann location shift of canary minus baseline. */
    estimate: number | null;
    lower: number | null;
    upper: number | null;
    effectSize: number | null;
}

/** The pth percentile (0 < p ≤ 100) by R's type 7 (linear interpolation), as commons-math's Percentile R_7. */
export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    const h = ((sorted.length - 1) * p) / 100;
    const lo = Math.floor(h);
    if (lo + 1 >= sorted.length) return sorted[sorted.length - 1];
    return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
}

/**
 * Which values lie outside Q1 − factor·IQR and Q3 + factor·IQR. With reduced sensitivity, as the judge uses it,
 * the fences are never inside the 1st and 99th percentiles.
 */
export function iqrOutliers(values: readonly number[], factor: number, reduceSensitivity: boolean): boolean[] {
    const p25 = percentile(values, 25);
    const p75 = percentile(values, 75);
    const iqr = p75 - p25;
    let lowerFence = p25 - factor * iqr;
    let upperFence = p75 + factor * iqr;
    if (reduceSensitivity) {
        lowerFence = Math.min(percentile(values, 1), lowerFence);
        upperFence = Math.max(percentile(values, 99), upperFence);
    }
    return values.map((v) => v > upperFence || v < lowerFence);
}

const mean = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

/** mean(canary) / mean(baseline); NaN when either mean is 0. */
export function meanRatio(baseline: readonly number[], canary: readonly number[]): number {
    const b = mean(baseline);
    const c = mean(canary);
    return b === 0 || c === 0 ? NaN : c / b;
}

/** Common-language effect size (Vargha and Delaney 2000): the share of pairs in which the canary is larger, ties half. */
export function cles(baseline: readonly number[], canary: readonly number[]): number {
    const m = canary.length;
    const n = baseline.length;
    const sorted = [...canary, ...baseline].map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
    let r1 = 0;
    for (let start = 0; start < sorted.length;) {
        let end = start + 1;
        while (end < sorted.length && sorted[end].v === sorted[start].v) end++;
        const rank = (start + 1 + end) / 2;
        for (let k = start; k < end; k++) if (sorted[k].i < m) r1 += rank;
        start = end;
    }
    return (2 * r1 - m * (m + 1)) / (2 * n * m);
}

/** Each side one constant: noise of σ = value·1e-5 breaks the ties, as Kayenta does, with a fixed seed. */
function withNoise(values: readonly number[], normal: () => number): number[] {
    const sd = values[0] * 1e-5;
    return values.map((v) => v + normal() * sd);
}

/** NaN removal or replacement, then outlier removal if asked: Kayenta's transformMetric. */
export function transform(values: readonly number[], s: Pick<MetricSettings, "nanStrategy" | "outliers">): number[] {
    const clean =
        s.nanStrategy === "remove"
            ? values.filter((v) => !Number.isNaN(v))
            : values.map((v) => (Number.isNaN(v) ? 0 : v));
    if (s.outliers.strategy === "keep") return clean;
    const outlier = iqrOutliers(clean, s.outliers.factor, true);
    return clean.filter((_, i) => !outlier[i]);
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function sameMultiset(a: readonly number[], b: readonly number[]): boolean {
    if (a.length !== b.length) return false;
    const sa = [...a].sort((x, y) => x - y);
    const sb = [...b].sort((x, y) => x - y);
    return sa.every((v, i) => v === sb[i]);
}

/**
 * Classifies a metric from its canary and baseline series (NaN marks a missing point). High or Low needs the
 * interval clear of ±tolerance·|estimate| in a failing direction and the effect at least its allowed size (an
 * effect that cannot be computed does not hold it back); a critical metric that is High or Low beyond its critical
 * size, or without data, fails the judgment. A test that cannot run is an Error, which the score leaves out.
 */
export function classifyMetric(
    canaryRaw: readonly number[],
    baselineRaw: readonly number[],
    s: MetricSettings,
    p: TestParameters = NETFLIX_ACA_PARAMETERS,
): MetricResult {
    const canary = transform(canaryRaw, s);
    const baseline = transform(baselineRaw, s);
    const none = { estimate: null, lower: null, upper: null, muted: s.muted };
    if (canary.length === 0 || baseline.length === 0) {
        if (s.nanStrategy === "replace") return { ...none, classification: "Pass", critical: false, effectSize: null };
        const reason = `missing data for the ${canary.length === 0 ? "canary" : "baseline"}`;
        if (s.mustHaveData && !s.critical)
            return { ...none, classification: "NodataFailMetric", critical: false, reason, effectSize: null };
        return { ...none, classification: "Nodata", critical: s.critical, reason, effectSize: null };
    }
    const effectOf = (c: readonly number[], b: readonly number[]) =>
        s.effectSize.measure === "cles" ? cles(b, c) : meanRatio(b, c);
    if (sameMultiset(canary, baseline))
        return {
            ...none,
            classification: "Pass",
            critical: false,
            reason: "the canary and baseline data are identical",
            effectSize: finiteOrNull(effectOf(canary, baseline)),
        };
    if (new Set([...canary, ...baseline]).size === 1)
        return {
            ...none,
            classification: "Pass",
            critical: false,
            effectSize: finiteOrNull(effectOf(canary, baseline)),
        };

    const constant = new Set(canary).size === 1 && new Set(baseline).size === 1;
    // A fixed seed: the same series always judge alike.
    const { normal } = seededRandom(0x4b617965);
    const x = constant ? withNoise(canary, normal) : canary;
    const y = constant ? withNoise(baseline, normal) : baseline;
    let test: ReturnType<typeof mannWhitneyUTest>;
    try {
        test = mannWhitneyUTest(x, y, p.confidenceLevel);
    } catch (err) {
        if (!(err instanceof AllTiedError)) throw err;
        return {
            ...none,
            classification: "Error",
            critical: false,
            reason: `metric classification failed: ${err.message}`,
            effectSize: null,
        };
    }
    const effect = effectOf(x, y);
    const bound = p.tolerance * Math.abs(test.estimate);
    const e = s.effectSize;
    const high =
        s.direction !== "decrease" && test.lower > bound && (Number.isNaN(effect) || effect >= e.allowedIncrease);
    const low =
        !high &&
        s.direction !== "increase" &&
        test.upper < -bound &&
        (Number.isNaN(effect) || effect <= e.allowedDecrease);
    const classification: Classification = high ? "High" : low ? "Low" : "Pass";
    const critical =
        s.critical &&
        ((high && (Number.isNaN(effect) || effect >= e.criticalIncrease)) ||
            (classification === "Low" && (Number.isNaN(effect) || effect <= e.criticalDecrease)));
    return {
        classification,
        critical,
        muted: s.muted,
        reason:
            classification === "Pass"
                ? undefined
                : `the canary is ${classification === "High" ? "higher" : "lower"}${critical ? " (critical)" : ""}`,
        estimate: test.estimate,
        lower: test.lower,
        upper: test.upper,
        effectSize: finiteOrNull(effect),
    };
}
