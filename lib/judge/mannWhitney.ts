// The two-sample Mann-Whitney U test of Kayenta's kayenta-mannwhitney (MannWhitney.scala, BrentSolver.java), which is
// R's wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE): normal approximation with tie-corrected
// variance; the confidence interval's ends are the roots of the continuity-corrected statistic at ±z, and the
// Hodges-Lehmann estimate the root of the uncorrected one, as R computes it (Kayenta corrects that one too; see the
// README's Decisions), each found by Brent's method.

/** The location shift of x against y (x − y) and its two-sided confidence interval. */
export interface MannWhitneyResult {
    lower: number;
    upper: number;
    estimate: number;
}

/** The test cannot run: with every observation tied the statistic has no variance. */
export class AllTiedError extends Error {
    constructor() {
        super("cannot compute confidence interval when all observations are tied");
        this.name = "AllTiedError";
    }
}

/** Ranks 1..n, tied values sharing the mean of their ranks; `ties` is Σ(t³ − t) over the groups of t tied values. */
export function averageRanks(values: readonly number[]): { ranks: number[]; ties: number } {
    const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
    const ranks = new Array<number>(values.length);
    let ties = 0;
    for (let start = 0; start < order.length;) {
        let end = start + 1;
        while (end < order.length && values[order[end]] === values[order[start]]) end++;
        const rank = (start + 1 + end) / 2;
        for (let k = start; k < end; k++) ranks[order[k]] = rank;
        const t = end - start;
        ties += t * t * t - t;
        start = end;
    }
    return { ranks, ties };
}

/**
 * The standardised rank-sum statistic of x − mu against y, continuity-corrected towards 0 unless `correct` is false,
 * less `quantile`: its root in mu at quantile z is where the test at that z stops rejecting.
 */
export function wilcoxonDiff(
    mu: number,
    quantile: number,
    x: readonly number[],
    y: readonly number[],
    correct = true,
): number {
    const nx = x.length;
    const ny = y.length;
    const { ranks, ties } = averageRanks([...x.map((v) => v - mu), ...y]);
    let rankSum = 0;
    for (let i = 0; i < nx; i++) rankSum += ranks[i];
    const dz = rankSum - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
    const correction = correct ? Math.sign(dz) * 0.5 : 0;
    const sigma = Math.sqrt(((nx * ny) / 12) * (nx + ny + 1 - ties / ((nx + ny) * (nx + ny - 1))));
    if (sigma === 0) throw new AllTiedError();
    return (dz - correction) / sigma - quantile;
}

const BRENT_TOLERANCE = 1e-4;
const BRENT_MAX_ITERATIONS = 1000;
const EPSILON = 2.220446049250313e-16;

/** commons-math's Precision.equals(x, 0): within one ulp of zero. */
const isZero = (x: number): boolean => Math.abs(x) <= Number.MIN_VALUE;

/**
 * Brent's root finder (the zeroin of Brent 1973 that R's uniroot and Kayenta's BrentSolver implement), given the
 * function's values at the ends of [ax, bx], with an absolute tolerance of 1e-4.
 */
export function brentSolve(ax: number, bx: number, fa0: number, fb0: number, f: (x: number) => number): number {
    let a = ax;
    let b = bx;
    let fa = fa0;
    let fb = fb0;
    let c = a;
    let fc = fa;
    if (isZero(fa)) return a;
    if (isZero(fb)) return b;
    for (let iteration = BRENT_MAX_ITERATIONS + 1; iteration > 0; iteration--) {
        const prevStep = b - a;
        if (Math.abs(fc) < Math.abs(fb)) {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        const tolAct = 2 * EPSILON * Math.abs(b) + BRENT_TOLERANCE / 2;
        let newStep = (c - b) / 2;
        if (Math.abs(newStep) <= tolAct || isZero(fb)) return b;
        // Interpolate (secant, or inverse quadratic with three distinct points) when the last step was large enough
        // and moved towards the root; keep the interpolated step only if it falls well inside the bracket.
        if (Math.abs(prevStep) >= tolAct && Math.abs(fa) > Math.abs(fb)) {
            const cb = c - b;
            let p: number;
            let q: number;
            if (a === c) {
                const t1 = fb / fa;
                p = cb * t1;
                q = 1 - t1;
            } else {
                const qa = fa / fc;
                const t1 = fb / fc;
                const t2 = fb / fa;
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1));
                q = (qa - 1) * (t1 - 1) * (t2 - 1);
            }
            if (p > 0) q = -q;
            else p = -p;
            if (p < 0.75 * cb * q - Math.abs(tolAct * q) / 2 && p < Math.abs((prevStep * q) / 2)) newStep = p / q;
        }
        if (Math.abs(newStep) < tolAct) newStep = newStep > 0 ? tolAct : -tolAct;
        a = b;
        fa = fb;
        b += newStep;
        fb = f(b);
        if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
            c = a;
            fc = fa;
        }
    }
    return b;
}

// AS 241's rational approximations, coefficients from the highest power down: the central region |p − ½| ≤ 0.425, and
// the tails with r = √−log(min(p, 1 − p)) up to 5 and beyond.
const CENTRAL = {
    num: [
        2509.0809287301227, 33430.57558358813, 67265.7709270087, 45921.95393154987, 13731.69376550946,
        1971.5909503065513, 133.14166789178438, 3.3871328727963665,
    ],
    den: [
        5226.495278852546, 28729.085735721943, 39307.89580009271, 21213.794301586597, 5394.196021424751,
        687.1870074920579, 42.31333070160091, 1,
    ],
};
const NEAR_TAIL = {
    num: [
        0.0007745450142783414, 0.022723844989269184, 0.2417807251774506, 1.2704582524523684, 3.6478483247632045,
        5.769497221460691, 4.630337846156546, 1.4234371107496835,
    ],
    den: [
        1.0507500716444169e-9, 0.0005475938084995345, 0.015198666563616457, 0.14810397642748008, 0.6897673349851,
        1.6763848301838038, 2.053191626637759, 1,
    ],
};
const FAR_TAIL = {
    num: [
        2.0103343992922881e-7, 0.000027115555687434876, 0.0012426609473880784, 0.026532189526576124,
        0.29656057182850487, 1.7848265399172913, 5.463784911164114, 6.657904643501103,
    ],
    den: [
        2.0442631033899397e-15, 1.421511758316446e-7, 0.000018463183175100548, 0.0007868691311456133,
        0.014875361290850615, 0.1369298809227358, 0.599832206555888, 1,
    ],
};
const horner = (coefficients: readonly number[], x: number): number => coefficients.reduce((acc, c) => acc * x + c, 0);
const rational = (c: { num: readonly number[]; den: readonly number[] }, x: number): number =>
    horner(c.num, x) / horner(c.den, x);

/** The standard normal quantile function (Wichura 1988, algorithm AS 241, as R's qnorm computes it). */
export function normalQuantile(p: number): number {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    if (!(p > 0 && p < 1)) return NaN;
    const q = p - 0.5;
    if (Math.abs(q) <= 0.425) return q * rational(CENTRAL, 0.180625 - q * q);
    const r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
    const value = r <= 5 ? rational(NEAR_TAIL, r - 1.6) : rational(FAR_TAIL, r - 5);
    return q < 0 ? -value : value;
}

const min = (v: readonly number[]): number => v.reduce((m, x) => (x < m ? x : m), Infinity);
const max = (v: readonly number[]): number => v.reduce((m, x) => (x > m ? x : m), -Infinity);

/**
 * Mann-Whitney U test of x against y at `confidenceLevel`: the interval's ends are the shifts at which the corrected
 * statistic equals ±z (the search range's end where it never does), the estimate the shift at which the uncorrected
 * one is 0: a median of the pairwise differences x − y (Hodges-Lehmann). Throws AllTiedError when every
 * observation is tied at a shift the search visits.
 */
export function mannWhitneyUTest(
    x: readonly number[],
    y: readonly number[],
    confidenceLevel: number,
): MannWhitneyResult {
    if (x.length === 0 || y.length === 0) throw new Error("the Mann-Whitney test needs observations on both sides");
    const alpha = 1 - confidenceLevel;
    const muMin = min(x) - max(y);
    const muMax = max(x) - min(y);
    const f = (zq: number) => (mu: number) => wilcoxonDiff(mu, zq, x, y);
    const findRoot = (zq: number): number => {
        const fLower = f(zq)(muMin);
        const fUpper = f(zq)(muMax);
        if (fLower <= 0) return muMin;
        if (fUpper >= 0) return muMax;
        return brentSolve(muMin, muMax, fLower, fUpper, f(zq));
    };
    const zQuant = normalQuantile(alpha / 2);
    const lower = findRoot(-zQuant);
    const upper = findRoot(zQuant);
    // Without the correction the statistic is 0 only at the median of the differences; with it, Kayenta's estimate
    // lands anywhere between the differences on either side of the median.
    const g = (mu: number) => wilcoxonDiff(mu, 0, x, y, false);
    const estimate = brentSolve(muMin, muMax, g(muMin), g(muMax), g);
    return { lower, upper, estimate };
}
