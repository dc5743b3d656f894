// The canary judge: the metrics it knows (the plan's per-version alerts), their settings, and the scorecard of a set
// of canary and baseline series.
import { AlertName, PLAN_ALERTS, PlanAlert } from "../../policy/planAlerts";
import { classifyMetric, Classification, KAYENTA_DEFAULTS, MetricResult, MetricSettings } from "./classifier";
import { classifyScore, GroupScore, scoreMetrics, ScoreThresholds, Verdict } from "./scorer";

/**
 * The metrics the judge knows, each from a per-version plan alert: its direction from the side the plan calls bad,
 * critical when the plan pages or rolls back on it, grouped by what it measures.
 */
export const JUDGE_METRICS = {
    /** Errors per request of the version, in percent. */
    errorRatePct: { alert: "errorRatePct", group: "errors" },
    /** The version's p95 response time, in seconds. */
    p95LatencySeconds: { alert: "p95LatencySeconds", group: "latency" },
    /** Failed payments per payment of the version, in percent (with the app's business metrics only). */
    paymentFailurePct: { alert: "versionPaymentFailurePct", group: "payments" },
} as const satisfies Record<string, { alert: AlertName; group: string }>;
export type JudgeMetricName = keyof typeof JUDGE_METRICS;
export const JUDGE_METRIC_NAMES = Object.keys(JUDGE_METRICS) as JudgeMetricName[];
export const JUDGE_GROUPS = ["errors", "latency", "payments"] as const;
export type JudgeGroup = (typeof JUDGE_GROUPS)[number];

export const isJudgeMetric = (name: string): name is JudgeMetricName => name in JUDGE_METRICS;

/** A metric's settings as config overrides them: any field left out keeps the plan's or Kayenta's default. */
export type MetricOverrides = Partial<Omit<MetricSettings, "outliers" | "effectSize">> & {
    outliers?: Partial<MetricSettings["outliers"]>;
    effectSize?: Partial<MetricSettings["effectSize"]>;
};

/** What config decides about the judgment. */
export interface JudgeSettings {
    /** Score thresholds of the verdict. */
    thresholds: ScoreThresholds;
    /** Weight (percent) per group; groups without one share what remains of 100. */
    groupWeights: Partial<Record<string, number>>;
    /** Per known metric, what differs from its defaults. */
    metrics: Partial<Record<JudgeMetricName, MetricOverrides>>;
}

/** Kayenta's sample thresholds (pass 95, marginal 75) and equal groups. */
export const DEFAULT_JUDGE_SETTINGS: JudgeSettings = {
    thresholds: { pass: 95, marginal: 75 },
    groupWeights: {},
    metrics: {},
};

/** A known metric's defaults: Kayenta's, with the direction and criticality of its plan alert. */
export function planMetricSettings(name: JudgeMetricName): MetricSettings {
    const a: PlanAlert = PLAN_ALERTS[JUDGE_METRICS[name].alert];
    return {
        ...KAYENTA_DEFAULTS,
        direction: a.bad === "above" ? "increase" : "decrease",
        critical: a.severity !== "warning",
    };
}

/** A metric's group and settings: a known one's from the plan and config, any other Kayenta's defaults in a group of its own name. */
export function metricDefinition(name: string, settings: JudgeSettings): { group: string; settings: MetricSettings } {
    if (!isJudgeMetric(name)) return { group: name, settings: KAYENTA_DEFAULTS };
    const base = planMetricSettings(name);
    const o = settings.metrics[name] ?? {};
    return {
        group: JUDGE_METRICS[name].group,
        settings: {
            ...base,
            ...o,
            outliers: { ...base.outliers, ...o.outliers },
            effectSize: { ...base.effectSize, ...o.effectSize },
        },
    };
}

/** One metric's canary and baseline series over the same window; NaN marks a missing point. */
export interface SeriesPair {
    canary: number[];
    baseline: number[];
}

/** The printed scorecard: per metric the Mann-Whitney shift of canary minus baseline, its interval and effect size. */
export interface Scorecard {
    metrics: Record<
        string,
        {
            classification: Classification;
            estimate: number | null;
            lower: number | null;
            upper: number | null;
            effectSize: number | null;
        }
    >;
    /** Each group's score; null when none of its metrics counted (the total takes it as 100). */
    groups: Record<string, number | null>;
    score: number;
    verdict: Verdict;
}

export interface Judgment {
    scorecard: Scorecard;
    /** Each metric's full result, with its criticality and reason. */
    results: Record<string, MetricResult>;
    /** Why the score is 0 whatever the groups, if it is. */
    reason?: string;
}

const groupValue = (g: GroupScore): number | null => (g.noData ? null : Math.round(g.score * 100) / 100);

/** Judges each metric's canary against its baseline and scores the lot, as NetflixACAJudge does. */
export function judgeSeries(series: Readonly<Record<string, SeriesPair>>, settings: JudgeSettings): Judgment {
    const results: Record<string, MetricResult> = {};
    const scored = Object.entries(series).map(([name, pair]) => {
        const d = metricDefinition(name, settings);
        results[name] = classifyMetric(pair.canary, pair.baseline, d.settings);
        return { ...results[name], groups: [d.group] };
    });
    const weights = Object.fromEntries(
        Object.entries(settings.groupWeights).flatMap(([g, w]) => (w === undefined ? [] : [[g, w]])),
    );
    const { groups, score, reason } = scoreMetrics(scored, weights);
    const scorecard: Scorecard = {
        metrics: Object.fromEntries(
            Object.entries(results).map(([name, r]) => [
                name,
                {
                    classification: r.classification,
                    estimate: r.estimate,
                    lower: r.lower,
                    upper: r.upper,
                    effectSize: r.effectSize,
                },
            ]),
        ),
        groups: Object.fromEntries(Object.entries(groups).map(([g, s]) => [g, groupValue(s)])),
        score,
        verdict: classifyScore(score, settings.thresholds),
    };
    return { scorecard, results, reason };
}

const fixed = (x: number | null) => (x === null ? "-" : Number(x.toPrecision(4)).toString());

/** The scorecard for a reader (npm run judge, the release gate's refusal): one line per metric, the groups, the score and the verdict. */
export function renderScorecard(j: Judgment): string {
    const rows = Object.entries(j.scorecard.metrics).map(([name, m]) => {
        const r = j.results[name];
        const interval = m.lower === null ? "-" : `[${fixed(m.lower)}, ${fixed(m.upper)}]`;
        return [
            name,
            `${m.classification}${r.critical ? " (critical)" : ""}`,
            fixed(m.estimate),
            interval,
            fixed(m.effectSize),
        ];
    });
    const table = [["metric", "classification", "estimate", "98% interval", "effect size"], ...rows];
    const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
    const lines = table.map((r) =>
        r
            .map((cell, c) => cell.padEnd(widths[c]))
            .join("  ")
            .trimEnd(),
    );
    const groups = Object.entries(j.scorecard.groups).map(([g, s]) => `${g} ${s === null ? "no data" : s}`);
    return [
        ...lines,
        "",
        `groups: ${groups.join(", ")}`,
        `score ${j.scorecard.score}${j.reason ? ` (${j.reason})` : ""}: ${j.scorecard.verdict}`,
        "",
    ].join("\n");
}
