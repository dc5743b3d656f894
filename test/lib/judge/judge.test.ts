import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import {
    classifyMetric,
    cles,
    Direction,
    iqrOutliers,
    KAYENTA_DEFAULTS,
    meanRatio,
    MetricSettings,
    percentile,
    transform,
} from "../../../lib/judge/classifier";
import { brentSolve, mannWhitneyUTest, normalQuantile, wilcoxonDiff } from "../../../lib/judge/mannWhitney";
import { classifyScore, judgeIntervals, scoreMetrics, ScoredMetric } from "../../../lib/judge/scorer";
import { DEFAULT_JUDGE_SETTINGS, judgeSeries, metricDefinition } from "../../../lib/judge/judge";
import { sample, SAMPLE_SHAPES, seeded } from "../../support/random";

// Kayenta's test inputs, by suite and test name (the file names their source).
const VECTORS = JSON.parse(
    readFileSync(path.join(__dirname, "..", "..", "fixtures", "kayenta-vectors.json"), "utf8"),
) as Record<string, Record<string, Record<string, (number | null)[]>>>;
const vectors = (suite: string, test: string): Record<string, number[]> => {
    const v = VECTORS[suite][test];
    assert.ok(v, `${suite} has no test "${test}"`);
    return Object.fromEntries(Object.entries(v).map(([k, a]) => [k, a.map((x) => x ?? NaN)]));
};

/** Kayenta's assertEquals(expected, actual, delta). */
const near = (actual: number, expected: number, delta: number, what: string) =>
    assert.ok(Math.abs(actual - expected) <= delta, `${what}: ${actual}, expected ${expected} ± ${delta}`);
const E = 1e-6;

describe("the judge's Mann-Whitney test against Kayenta's MannWhitneySuite", () => {
    const suite = (test: string) => vectors("MannWhitneySuite", test);

    it("computes the standardised rank-sum difference at shifts 0 and 5", () => {
        const { x, y } = suite("Wilcoxon Diff Function");
        near(wilcoxonDiff(0, 0, x, y), -1.229416, E, "at 0");
        near(wilcoxonDiff(5, 0, x, y), -35.80606, E, "at 5");
    });

    it("takes z = -2.326348 for a 98% interval", () => near(normalQuantile(0.02 / 2), -2.326348, E, "z"));

    it("gives [10,20,30,40] against [1,2,3,4] the interval [6, 39] and the estimate 22.5 at 95%", () => {
        const r = mannWhitneyUTest([10, 20, 30, 40], [1, 2, 3, 4], 0.95);
        near(r.lower, 6, E, "lower");
        near(r.upper, 39, E, "upper");
        near(r.estimate, 22.5, E, "estimate");
    });

    it("solves the problem case of 850 near-equal values at 98%", () => {
        const { experiment, control } = suite("Mann-Whitney Confidence Interval & Estimate: Problem Case");
        const r = mannWhitneyUTest(experiment, control, 0.98);
        near(r.lower, -1.4808028936386108e-5, E, "lower");
        near(r.upper, 1.808255910873413e-5, E, "upper");
        near(r.estimate, 1.808255910873413e-5, E, "estimate");
    });

    // Kayenta checks its estimate against R's with a tolerance of 1e-4; R's value is met to 1e-6 here.
    it("ties out with R on 90 tied values a side at 95%", () => {
        const { experiment, control } = suite("Mann-Whitney Confidence Interval & Estimate: Tie out with R Version");
        const r = mannWhitneyUTest(experiment, control, 0.95);
        near(r.lower, -0.500002521696696, E, "lower");
        near(r.upper, -3.486287505871302e-5, E, "upper");
        near(r.estimate, -0.4999393907180323, E, "estimate");
    });

    it("ties out with R on 180 tied values a side at 98%", () => {
        const { experiment, control } = suite(
            "Mann-Whitney Confidence Interval & Estimate: Tie out with R Version (Large)",
        );
        const r = mannWhitneyUTest(experiment, control, 0.98);
        near(r.lower, -0.4999173250549087, E, "lower");
        near(r.upper, -6.912685789769486e-6, E, "upper");
        near(r.estimate, -3.45044082729315e-5, E, "estimate");
    });

    it("matches R's intermediate values: search range, quantiles, end values and roots", () => {
        const { x, y } = suite("Mann-Whitney Intermediate Values / Variables");
        const muMin = Math.min(...x) - Math.max(...y);
        const muMax = Math.max(...x) - Math.min(...y);
        near(muMin, -3.124999999999986, E, "muMin");
        near(muMax, 5.555555555555557, E, "muMax");
        const zqLower = -normalQuantile(0.025);
        const zqUpper = normalQuantile(0.025);
        near(zqLower, 1.9599639845400536, E, "zqLower");
        const at = (mu: number, zq: number) => wilcoxonDiff(mu, zq, x, y);
        near(at(muMin, zqLower), 17.090968923762254, E, "fLower1");
        near(at(muMax, zqLower), -20.997687930433106, E, "fUpper1");
        near(at(muMin, zqUpper), 21.01089689284236, E, "fLower2");
        near(at(muMax, zqUpper), -17.077759961353, E, "fUpper2");
        const root = (zq: number) => brentSolve(muMin, muMax, at(muMin, zq), at(muMax, zq), (mu) => at(mu, zq));
        near(root(zqLower), 3.521755377702165e-5, E, "ciLower");
        near(root(zqUpper), 2.02456461662334e-5, E, "ciUpper");
        near(root(0), 2.6279243045155653e-5, E, "estimate");
    });
});

describe("the judge's metric classification against Kayenta's ClassifierSuite", () => {
    interface Case {
        test: string;
        direction: Direction;
        expected: "Pass" | "High" | "Low" | "Nodata";
        tolerance?: number;
        confidenceLevel?: number;
        effect?: [number, number];
        criticalEffect?: [number, number];
        cles?: boolean;
        critical?: boolean;
        replaceNaN?: boolean;
        expectCritical?: boolean;
        nanEffect?: boolean;
    }
    const cases: Case[] = [
        { test: "Mann-Whitney Classifier Test: Pass Metric", direction: "either", expected: "Pass" },
        { test: "Mann-Whitney Classifier Test: High Metric", direction: "either", expected: "High" },
        { test: "Mann-Whitney Classifier Test: Low Metric", direction: "either", expected: "Low" },
        { test: "Mann-Whitney Classifier Directional Test: Increase", direction: "increase", expected: "Pass" },
        { test: "Mann-Whitney Classifier Directional Test: Decrease", direction: "decrease", expected: "Pass" },
        {
            test: "Mann-Whitney Classifier Directional Test: High Metric",
            direction: "increase",
            expected: "High",
            expectCritical: false,
        },
        { test: "Mann-Whitney Classifier Directional Test: Low Metric", direction: "decrease", expected: "Low" },
        {
            test: "Mann-Whitney Classifier Test: High Metric (Large Input)",
            direction: "either",
            expected: "High",
            expectCritical: false,
        },
        {
            test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: High",
            direction: "either",
            expected: "High",
            effect: [0.8, 1.2],
        },
        {
            test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Low",
            direction: "decrease",
            expected: "Low",
            effect: [0.8, 1.2],
        },
        {
            test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass",
            direction: "either",
            expected: "Pass",
            effect: [0.5, 1.0],
        },
        {
            test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass (Large Input)",
            direction: "either",
            expected: "Pass",
            effect: [1.0, 5.0],
        },
        {
            test: "Mann-Whitney Classifier Test - CLES Effect Size: Pass",
            direction: "either",
            expected: "Pass",
            tolerance: 0.2,
            confidenceLevel: 0.98,
            effect: [0.5, 0.8],
            cles: true,
        },
        {
            test: "Mann-Whitney Classifier Test - CLES Effect Size: High",
            direction: "either",
            expected: "High",
            tolerance: 0.2,
            confidenceLevel: 0.98,
            effect: [0.2, 0.8],
            cles: true,
        },
        {
            test: "Mann-Whitney Classifier Test - CLES Effect Size: Low",
            direction: "either",
            expected: "Low",
            tolerance: 0.2,
            confidenceLevel: 0.98,
            effect: [0.2, 0.8],
            cles: true,
        },
        {
            test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical High",
            direction: "either",
            expected: "High",
            criticalEffect: [1.0, 1.2],
            critical: true,
            expectCritical: true,
        },
        {
            test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical Low",
            direction: "either",
            expected: "Low",
            criticalEffect: [1.2, 1.0],
            critical: true,
            expectCritical: true,
        },
        {
            test: "Mann-Whitney Classifier Test - Critical Effect Size: High",
            direction: "either",
            expected: "High",
            effect: [1.0, 5.0],
            criticalEffect: [1.0, 13.0],
            critical: true,
            expectCritical: false,
        },
        {
            test: "Mann-Whitney Classifier Test - Critical Effect Size: Pass",
            direction: "either",
            expected: "Pass",
            effect: [1.0, 13.0],
            criticalEffect: [1.0, 15.0],
            critical: true,
            expectCritical: false,
        },
        {
            test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical High (Default Thresholds)",
            direction: "either",
            expected: "High",
            critical: true,
            expectCritical: true,
        },
        { test: "Mann-Whitney Tied Observations", direction: "decrease", expected: "Pass" },
        { test: "Mann-Whitney Identical Populations", direction: "decrease", expected: "Pass" },
        { test: "Mann-Whitney Leading Zero Identical Population", direction: "decrease", expected: "Pass" },
        { test: "Mann-Whitney Missing Experiment Data", direction: "decrease", expected: "Nodata" },
        {
            test: "Mann-Whitney Missing Experiment Data: Critical Metric",
            direction: "decrease",
            expected: "Nodata",
            critical: true,
            expectCritical: true,
        },
        {
            test: "Mann-Whitney Missing Experiment Data with NaN Replacement",
            direction: "decrease",
            expected: "Pass",
            replaceNaN: true,
        },
        { test: "Mann-Whitney Majority Tied Observations", direction: "either", expected: "Pass" },
        { test: "Mann-Whitney Tied Ranks", direction: "either", expected: "High" },
        { test: "Mann-Whitney Tied Ranks With Zeros", direction: "either", expected: "High" },
        {
            test: "Mann-Whitney Zero Mean: High Metric with Effect Size",
            direction: "either",
            expected: "High",
            effect: [0.8, 1.2],
            nanEffect: true,
        },
        {
            test: "Mann-Whitney Zero Mean: Low Metric with Effect Size",
            direction: "either",
            expected: "Low",
            effect: [0.8, 1.2],
            nanEffect: true,
        },
        {
            test: "Mann-Whitney Zero Mean: Critical Metric",
            direction: "either",
            expected: "High",
            criticalEffect: [0.8, 1.2],
            replaceNaN: true,
            critical: true,
            expectCritical: true,
        },
        { test: "Mann-Whitney Zero Mean: Pass Metric", direction: "either", expected: "Pass", effect: [0.8, 1.2] },
    ];
    for (const c of cases) {
        it(`${c.test}: ${c.expected}${c.expectCritical ? " (critical)" : ""}`, () => {
            const { experimentData, controlData } = vectors("ClassifierSuite", c.test);
            const [allowedDecrease, allowedIncrease] = c.effect ?? [1, 1];
            const [criticalDecrease, criticalIncrease] = c.criticalEffect ?? [1, 1];
            const settings: MetricSettings = {
                ...KAYENTA_DEFAULTS,
                direction: c.direction,
                nanStrategy: c.replaceNaN ? "replace" : "remove",
                critical: c.critical ?? false,
                effectSize: {
                    measure: c.cles ? "cles" : "meanRatio",
                    allowedIncrease,
                    allowedDecrease,
                    criticalIncrease,
                    criticalDecrease,
                },
            };
            const r = classifyMetric(experimentData, controlData, settings, {
                tolerance: c.tolerance ?? 0.1,
                confidenceLevel: c.confidenceLevel ?? 0.95,
            });
            assert.strictEqual(r.classification, c.expected);
            if (c.expectCritical !== undefined) assert.strictEqual(r.critical, c.expectCritical);
            if (c.nanEffect) assert.strictEqual(r.effectSize, null, "a zero mean has no mean ratio");
        });
    }

    it("gives a reason for a critical metric without data on either side", () => {
        const r = classifyMetric(
            [],
            [],
            { ...KAYENTA_DEFAULTS, critical: true },
            { tolerance: 0.1, confidenceLevel: 0.95 },
        );
        assert.strictEqual(r.classification, "Nodata");
        assert.strictEqual(r.reason, "missing data for the canary");
    });

    it("fails a non-critical metric that must have data as NodataFailMetric", () => {
        const r = classifyMetric([NaN, NaN], [1, 2, 3], { ...KAYENTA_DEFAULTS, mustHaveData: true });
        assert.deepStrictEqual([r.classification, r.critical], ["NodataFailMetric", false]);
    });

    it("classifies a test that cannot run (one point a side) as Error, which is not critical", () => {
        const r = classifyMetric([5], [3], { ...KAYENTA_DEFAULTS, critical: true });
        assert.deepStrictEqual([r.classification, r.critical, r.estimate], ["Error", false, null]);
    });
});

describe("the judge's statistics against Kayenta's StatisticSuite, DetectorSuite and TransformSuite", () => {
    it("takes percentiles by R's type 7", () => {
        near(percentile([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 5), 0.175, 1e-4, "p5");
        assert.strictEqual(percentile([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 50), 1.75);
        assert.strictEqual(percentile([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 100), 3.5);
        assert.strictEqual(percentile([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 50), 4.5);
        near(
            percentile(vectors("StatisticSuite", "Summary Statistics: Percentile (NIST Data)").testData, 90),
            95.19568,
            1e-9,
            "NIST p90",
        );
        assert.strictEqual(percentile([1.0], 100), 1.0);
        const data = vectors(
            "StatisticSuite",
            "Summary Statistics: Percentile Estimate (Linear Interpolation)",
        ).testData;
        assert.strictEqual(percentile(data, 25), 0);
        near(percentile(data, 75), 0.0416, 1e-4, "p75");
    });

    it("takes the mean ratio canary over baseline, NaN for a zero mean", () => {
        const r = (test: string) => {
            const { experimentData, controlData } = vectors("StatisticSuite", test);
            return meanRatio(controlData, experimentData);
        };
        assert.strictEqual(r("Effect Size: Mean Ratio (No Effect)"), 1);
        assert.strictEqual(r("Effect Size: Mean Ratio (Summary Stats)"), 1);
        assert.strictEqual(r("Effect Size: Mean Ratio (High)"), 10);
        assert.strictEqual(r("Effect Size: Mean Ratio (Low)"), 0.1);
        assert.ok(Number.isNaN(r("Effect Size: Mean Ratio (Zero Mean)")));
    });

    it("takes the common-language effect size", () => {
        const r = (test: string) => {
            const { experimentData, controlData } = vectors("StatisticSuite", test);
            return cles(controlData, experimentData);
        };
        assert.strictEqual(r("CLES Effect Size: Identical"), 0.5);
        assert.strictEqual(r("CLES Effect Size: Different (No Overlap)"), 0);
        near(r("CLES Effect Size: High Metric"), 0.771, 0.001, "high");
        assert.strictEqual(r("CLES Effect Size: Low Metric"), 0.12);
    });

    it("finds outliers outside the IQR fences on both sides, and none in no data", () => {
        const flags = (data: number[]) => iqrOutliers(data, 1.5, false);
        assert.deepStrictEqual(flags([21, 23, 24, 25, 50, 29, 23, 21]), [
            false,
            false,
            false,
            false,
            true,
            false,
            false,
            false,
        ]);
        assert.deepStrictEqual(flags([1, 1, 1, 5, -1, -1, -1, -5]), [
            false,
            false,
            false,
            true,
            false,
            false,
            false,
            true,
        ]);
        assert.deepStrictEqual(flags([]), []);
        const nist = [
            30, 171, 184, 201, 212, 250, 265, 270, 272, 289, 305, 306, 322, 322, 336, 346, 351, 370, 390, 404, 409, 411,
            436, 437, 439, 441, 444, 448, 451, 453, 470, 480, 482, 487, 494, 495, 499, 503, 514, 521, 522, 527, 548,
            550, 559, 560, 570, 572, 574, 578, 585, 592, 592, 607, 616, 618, 621, 629, 637, 638, 640, 656, 668, 707,
            709, 719, 737, 739, 752, 758, 766, 792, 792, 794, 802, 818, 830, 832, 843, 858, 860, 869, 918, 925, 953,
            991, 1000, 1005, 1068, 1441,
        ];
        assert.deepStrictEqual(flags(nist), [...new Array<boolean>(nist.length - 1).fill(false), true]);
    });

    it("removes NaNs, or replaces them with 0", () => {
        const keep = { outliers: { strategy: "keep", factor: 3 } } as const;
        assert.deepStrictEqual(transform([0, 1, NaN, 1, 0], { ...keep, nanStrategy: "remove" }), [0, 1, 1, 0]);
        assert.deepStrictEqual(transform([NaN, NaN, NaN], { ...keep, nanStrategy: "remove" }), []);
        assert.deepStrictEqual(
            transform([NaN, 10.1, 20.2, 30.3, NaN, 40.4], { ...keep, nanStrategy: "replace" }),
            [0, 10.1, 20.2, 30.3, 0, 40.4],
        );
    });

    it("removes outliers beyond the judge's widened fences (factor 3, never inside the 1st and 99th percentiles)", () => {
        const data = [10, 11, 10, 12, 11, 10, 11, 12, 10, 11, 500];
        assert.deepStrictEqual(
            transform(data, { nanStrategy: "remove", outliers: { strategy: "remove", factor: 3 } }),
            data.slice(0, -1),
        );
        assert.deepStrictEqual(
            transform([1, 2, 3, 4, 5], { nanStrategy: "remove", outliers: { strategy: "remove", factor: 3 } }),
            [1, 2, 3, 4, 5],
        );
    });
});

describe("the judge's score against Kayenta's ScorerSuite", () => {
    const m = (classification: ScoredMetric["classification"], group: string, critical = false): ScoredMetric => ({
        classification,
        critical,
        muted: false,
        groups: [group],
    });
    const cases: [string, ScoredMetric[], Record<string, number>, number][] = [
        ["one metric passing", [m("Pass", "g")], {}, 100],
        ["one metric failing", [m("High", "g")], {}, 0],
        ["one group without data", [m("Nodata", "nodata")], {}, 0],
        [
            "a passing group beside a group without data",
            [m("Pass", "pass"), m("Pass", "pass"), m("Nodata", "nodata")],
            {},
            100,
        ],
        ["one group, pass and high", [m("Pass", "g"), m("High", "g")], {}, 50],
        ["one group, pass, high and low", [m("Pass", "g"), m("High", "g"), m("Low", "g")], {}, 33.33],
        [
            "groups weighted 75 and 25",
            [m("Pass", "group-1"), m("Pass", "group-1"), m("High", "group-2")],
            { "group-1": 75, "group-2": 25 },
            75,
        ],
        [
            "groups weighted equally",
            [m("Pass", "group-1"), m("High", "group-1"), m("High", "group-2")],
            { "group-1": 50, "group-2": 50 },
            25,
        ],
        [
            "groups weighted equally, one Nodata",
            [m("Pass", "group-1"), m("Nodata", "group-1"), m("High", "group-2")],
            { "group-1": 50, "group-2": 50 },
            50,
        ],
        ["a critical metric high", [m("Pass", "g"), m("High", "g", true)], {}, 0],
        ["a low metric beside a critical one passing", [m("Low", "g"), m("Pass", "g", true)], {}, 50],
        ["a critical metric without data", [m("Pass", "g"), m("Nodata", "g", true)], {}, 0],
        [
            "groups weighted 15 and 85",
            [m("High", "group1"), m("Low", "group1"), m("Pass", "group1"), m("High", "group2")],
            { group1: 15, group2: 85 },
            5,
        ],
    ];
    for (const [name, metrics, weights, expected] of cases) {
        it(`${name}: ${expected}`, () => assert.strictEqual(scoreMetrics(metrics, weights).score, expected));
    }

    it("reports a group without counted metrics as score 0 with noData, which the total takes as 100", () => {
        const r = scoreMetrics([m("Pass", "pass"), m("Pass", "pass"), m("Nodata", "nodata")], {});
        assert.deepStrictEqual(r.groups, { pass: { score: 100, noData: false }, nodata: { score: 0, noData: true } });
    });

    it("leaves muted metrics out of the score", () => {
        assert.strictEqual(scoreMetrics([m("Pass", "g"), { ...m("High", "g", true), muted: true }], {}).score, 100);
    });

    it("classifies scores at or above pass as Pass, at or above marginal as Marginal, below as Fail", () => {
        const t = { pass: 95, marginal: 75 };
        assert.deepStrictEqual(
            [100, 95, 94.99, 75, 74.99, 0].map((s) => classifyScore(s, t)),
            ["Pass", "Pass", "Marginal", "Marginal", "Fail", "Fail"],
        );
    });

    it("fails an analysis at the first interim score at or below marginal, and judges the last one otherwise", () => {
        const t = { pass: 95, marginal: 75 };
        assert.deepStrictEqual(judgeIntervals([100, 75, 100], t), { verdict: "Fail", decidedBy: 1 });
        assert.deepStrictEqual(judgeIntervals([80, 76, 96], t), { verdict: "Pass", decidedBy: 2 });
        assert.deepStrictEqual(judgeIntervals([100, 100, 90], t), { verdict: "Marginal", decidedBy: 2 });
        assert.deepStrictEqual(
            judgeIntervals([100, 75], t),
            { verdict: "Fail", decidedBy: 1 },
            "a final score at marginal fails",
        );
    });
});

describe("the judge's properties on seeded random series", () => {
    const r = seeded(20260);
    const draws = Array.from({ length: 200 }, (_, i) => {
        const shape = SAMPLE_SHAPES[i % SAMPLE_SHAPES.length];
        const tiny = i % 5 === 0;
        return {
            x: sample(r, shape, tiny ? r.int(2, 5) : r.int(6, 60), (r.uniform() - 0.5) * 3),
            y: sample(r, shape, tiny ? r.int(2, 5) : r.int(6, 60), 0),
        };
    });
    const testable = draws.filter(({ x, y }) => new Set([...x, ...y]).size > 1);

    /** The lower and upper median of the pairwise differences x − y: a Hodges-Lehmann estimate lies between them. */
    const medianDifferences = (x: number[], y: number[]): [number, number] => {
        const d = x.flatMap((a) => y.map((b) => a - b)).sort((a, b) => a - b);
        return [d[Math.floor((d.length - 1) / 2)], d[Math.ceil((d.length - 1) / 2)]];
    };

    it("mirrors the interval when the sides swap, and keeps both estimates at the median of the differences", () => {
        let checked = 0;
        for (const { x, y } of testable) {
            const a = mannWhitneyUTest(x, y, 0.98);
            const b = mannWhitneyUTest(y, x, 0.98);
            const tolerance = 1e-4 + 1e-12 * Math.max(Math.abs(a.lower), Math.abs(a.upper));
            assert.ok(
                Math.abs(a.lower + b.upper) <= tolerance && Math.abs(a.upper + b.lower) <= tolerance,
                JSON.stringify({ x, y, a, b }),
            );
            const [lo, hi] = medianDifferences(x, y);
            for (const estimate of [a.estimate, -b.estimate])
                assert.ok(estimate >= lo - 1e-4 && estimate <= hi + 1e-4, JSON.stringify({ x, y, lo, hi, a, b }));
            checked++;
        }
        assert.ok(checked >= 150, `only ${checked} samples`);
    });

    it("turns High into Low and Low into High when the sides swap", () => {
        let flips = 0;
        // A mean ratio mirrors (r becomes 1/r) only for metrics that cannot be negative, as rates and latencies cannot.
        const shapes = ["zeros", "lognormal"] as const;
        const nonNegative = Array.from({ length: 200 }, (_, i) => ({
            x: sample(r, shapes[i % 2], r.int(2, 40), (r.uniform() - 0.5) * 4),
            y: sample(r, shapes[i % 2], r.int(2, 40), 0),
        }));
        for (const { x, y } of nonNegative.filter(({ x, y }) => new Set([...x, ...y]).size > 1)) {
            const there = classifyMetric(x, y, KAYENTA_DEFAULTS).classification;
            const back = classifyMetric(y, x, KAYENTA_DEFAULTS).classification;
            const mirror = { High: "Low", Low: "High" }[there as "High" | "Low"] ?? there;
            assert.strictEqual(back, mirror, JSON.stringify({ x, y }));
            if (there !== "Pass") flips++;
        }
        assert.ok(flips >= 40, `only ${flips} samples were High or Low`);
    });

    it("passes identical series, in any order", () => {
        for (const { x } of draws) {
            const shuffled = [...x].reverse();
            for (const direction of ["increase", "decrease", "either"] as const) {
                assert.strictEqual(
                    classifyMetric(x, shuffled, { ...KAYENTA_DEFAULTS, direction, critical: true }).classification,
                    "Pass",
                );
            }
        }
    });

    it("scores 0 when half the metrics or more have no data, whatever the others", () => {
        for (let i = 0; i < 200; i++) {
            const n = r.int(2, 12);
            const nodata = r.int(Math.ceil(n / 2), n);
            const metrics: ScoredMetric[] = Array.from({ length: n }, (_, k) => ({
                classification: k < nodata ? "Nodata" : "Pass",
                critical: false,
                muted: false,
                groups: [`g${r.int(1, 3)}`],
            }));
            assert.strictEqual(scoreMetrics(metrics, {}).score, 0, JSON.stringify(metrics));
            if (nodata < n) {
                const fewer = metrics.map((m, k) => (k === 0 ? { ...m, classification: "Pass" as const } : m));
                if ((nodata - 1) * 2 < n)
                    assert.ok(scoreMetrics(fewer, {}).score > 0, "under half without data scores the groups");
            }
        }
    });
});

describe("the judge's scorecard", () => {
    it("gives a known metric its plan direction and group, any other Kayenta's defaults in a group of its own", () => {
        assert.deepStrictEqual(
            [
                metricDefinition("errorRatePct", DEFAULT_JUDGE_SETTINGS).group,
                metricDefinition("errorRatePct", DEFAULT_JUDGE_SETTINGS).settings.direction,
            ],
            ["errors", "increase"],
        );
        assert.strictEqual(metricDefinition("errorRatePct", DEFAULT_JUDGE_SETTINGS).settings.critical, true);
        assert.deepStrictEqual(
            [metricDefinition("p95LatencySeconds", DEFAULT_JUDGE_SETTINGS).settings.critical],
            [false],
        );
        assert.deepStrictEqual(metricDefinition("cpu", DEFAULT_JUDGE_SETTINGS), {
            group: "cpu",
            settings: KAYENTA_DEFAULTS,
        });
    });

    it("applies config overrides field by field", () => {
        const d = metricDefinition("p95LatencySeconds", {
            ...DEFAULT_JUDGE_SETTINGS,
            metrics: { p95LatencySeconds: { critical: true, effectSize: { allowedIncrease: 1.2 } } },
        });
        assert.deepStrictEqual(
            [
                d.settings.critical,
                d.settings.direction,
                d.settings.effectSize.allowedIncrease,
                d.settings.effectSize.criticalIncrease,
            ],
            [true, "increase", 1.2, 1],
        );
    });

    it("scores a critical High 0 and prints every metric, group, score and verdict", () => {
        const j = judgeSeries(
            {
                errorRatePct: { canary: [5, 6, 7, 5, 6, 7, 5, 6], baseline: [1, 1.2, 0.9, 1.1, 1, 0.8, 1.3, 1] },
                p95LatencySeconds: { canary: [0.2, 0.21, 0.19, 0.2], baseline: [0.2, 0.21, 0.19, 0.2] },
            },
            DEFAULT_JUDGE_SETTINGS,
        );
        assert.deepStrictEqual(Object.keys(j.scorecard), ["metrics", "groups", "score", "verdict"]);
        assert.strictEqual(j.scorecard.metrics.errorRatePct.classification, "High");
        assert.deepStrictEqual(j.scorecard.metrics.p95LatencySeconds, {
            classification: "Pass",
            estimate: null,
            lower: null,
            upper: null,
            effectSize: 1,
        });
        assert.deepStrictEqual(j.scorecard.groups, { errors: 0, latency: 100 });
        assert.deepStrictEqual(
            [j.scorecard.score, j.scorecard.verdict, j.reason],
            [0, "Fail", "a critical metric is High"],
        );
    });
});
