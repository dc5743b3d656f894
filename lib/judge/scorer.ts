// The judgment's score and verdict as Kayenta makes them (kayenta-judge: scorers/ScoringHelper.scala,
// scorers/WeightedSumScorer.scala, classifiers/score/ThresholdScoreClassifier.scala; across intervals,
// kayenta-standalone-canary-analysis MonitorCanaryTask and GenerateCanaryAnalysisResultTask).
import { Classification } from "./classifier";

/** What the scorer reads of a metric's result. */
export interface ScoredMetric {
    classification: Classification;
    critical: boolean;
    muted: boolean;
    /** The groups the metric counts in. */
    groups: readonly string[];
}

export interface GroupScore {
    /** 100 × Pass / (Pass + High + Low + NodataFailMetric); 0 when nothing counted (noData). */
    score: number;
    /** No metric of the group counted: the summary takes the group as 100. */
    noData: boolean;
}

export interface ScoreResult {
    groups: Record<string, GroupScore>;
    /** 0 to 100, two decimals. */
    score: number;
    /** Why the score is 0 regardless of the groups: a critical failure, or too many metrics without data. */
    reason?: string;
}

export interface ScoreThresholds {
    pass: number;
    marginal: number;
}

export type Verdict = "Pass" | "Marginal" | "Fail";

/** Share of Nodata metrics (in percent) at which the judgment scores 0. */
const NODATA_THRESHOLD = 50;

/** Rounds half up at two decimals of the shortest decimal form, as commons-math's Precision.round(x, 2). */
function round2(x: number): number {
    const text = String(x);
    return text.includes("e") ? Math.round(x * 100) / 100 : Math.round(Number(`${text}e2`)) / 100;
}

function groupScore(labels: Classification[]): GroupScore {
    const count = (c: Classification) => labels.filter((l) => l === c).length;
    const pass = count("Pass");
    const total = pass + count("High") + count("Low") + count("NodataFailMetric");
    return total === 0 ? { score: 0, noData: true } : { score: (pass / total) * 100, noData: false };
}

/**
 * Scores metric results: muted metrics are left out; any critical non-Pass, or Nodata for half the metrics or more,
 * scores 0; otherwise the weighted sum of the group scores, groups without a weight sharing what remains of 100.
 */
export function scoreMetrics(
    metrics: readonly ScoredMetric[],
    groupWeights: Readonly<Record<string, number>>,
): ScoreResult {
    const counted = metrics.filter((m) => !m.muted);
    const labels = new Map<string, Classification[]>();
    for (const m of counted) for (const g of m.groups) labels.set(g, [...(labels.get(g) ?? []), m.classification]);
    const groups = Object.fromEntries([...labels].map(([g, l]) => [g, groupScore(l)]));

    const critical = counted.find((m) => m.critical && m.classification !== "Pass");
    if (critical) return { groups, score: 0, reason: `a critical metric is ${critical.classification}` };
    const nodata = counted.filter((m) => m.classification === "Nodata").length;
    if ((nodata / counted.length) * 100 >= NODATA_THRESHOLD)
        return { groups, score: 0, reason: `${NODATA_THRESHOLD}% or more of the metrics have no data` };

    const weightSum = Object.values(groupWeights).reduce((s, w) => s + w, 0);
    const unweighted = Object.keys(groups).filter((g) => !(g in groupWeights));
    const shared = unweighted.length > 0 ? (100 - weightSum) / unweighted.length : 0;
    let score = 0;
    for (const [g, s] of Object.entries(groups))
        score += (s.noData ? 100 : s.score) * ((groupWeights[g] ?? shared) / 100);
    return { groups, score: round2(score) };
}

/** ThresholdScoreClassifier: at or above pass is Pass, at or above marginal Marginal, below it Fail. */
export function classifyScore(score: number, t: ScoreThresholds): Verdict {
    if (score >= t.pass) return "Pass";
    if (score >= t.marginal) return "Marginal";
    return "Fail";
}

/**
 * Kayenta's rule across the intervals of one analysis: an interim score at or below marginal fails at once; the
 * final one fails at or below marginal too, and otherwise takes its own classification. `decidedBy` is the index
 * of the interval that decided.
 */
export function judgeIntervals(scores: readonly number[], t: ScoreThresholds): { verdict: Verdict; decidedBy: number } {
    if (scores.length === 0) throw new Error("no interval was judged");
    const failed = scores.findIndex((s) => s <= t.marginal);
    if (failed >= 0) return { verdict: "Fail", decidedBy: failed };
    const last = scores.length - 1;
    return { verdict: classifyScore(scores[last], t), decidedBy: last };
}
