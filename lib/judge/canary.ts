// A canary judged against its stable track on their Datadog metrics over a window: what `npm run judge -- --stack S`
// prints and what `npm run release` decides each step on.
import type { ProgramConfig } from "../config";
import type { DatadogReader, Window } from "../datadog/model";
import { DatadogScope, judgeQueries, judgeSeriesFrom } from "./datadogSeries";
import { Judgment, judgeSeries } from "./judge";
import { judgeIntervals } from "./scorer";

/** A judgment over a window, decided interval by interval when asked. */
export interface CanaryJudgment {
    judgment: Judgment;
    versions: { canary: string; baseline: string };
    /** Each cumulative interval's score, and the one that decided (Kayenta's multi-interval rule). */
    intervalScores: number[];
    decidedBy: number;
}

/** What a canary config needs to be judged: the canary strategy and monitoring; otherwise why not. */
export function judgeableProblem(stack: string, cfg: ProgramConfig): string | undefined {
    if (cfg.strategy !== "canary")
        return `stack ${stack} runs strategy ${cfg.strategy}: the judge compares a canary with its stable track, which only strategy canary has`;
    if (!cfg.monitoring) return `stack ${stack} sets no monitoring: the judge reads the metrics its monitors query`;
    return undefined;
}

/**
 * Reads both tracks' metrics over `window` and judges them; with `intervalMs`, in cumulative intervals from the
 * window's start, where an interim score at or below marginal fails at once. Datadog's errors propagate.
 */
export async function judgeCanary(
    cfg: ProgramConfig & { strategy: "canary" },
    reader: DatadogReader,
    window: Window,
    intervalMs?: number,
): Promise<CanaryJudgment> {
    const m = cfg.monitoring;
    if (!m) throw new Error("judgeCanary needs monitoring: check judgeableProblem first");
    const scope: DatadogScope = {
        service: cfg.datadog.service,
        env: cfg.datadog.env,
        span: m.span,
        excludeResources: m.trafficGuard.excludeResources,
        payments: m.metrics && { total: m.metrics.paymentTotal, failed: m.metrics.paymentFailed },
    };
    const versions = { canary: cfg.canary.canaryVersion, baseline: cfg.canary.stableVersion };
    const data = await reader.timeseries(judgeQueries(scope, versions), window, cfg.judge.stepSeconds * 1000);
    // Each interval runs from the window's start to its own end (Kayenta's cumulative intervals); the last to the end.
    const ends: number[] = [];
    if (intervalMs !== undefined)
        for (let end = window.from + intervalMs; end < window.to; end += intervalMs) ends.push(end);
    ends.push(Infinity);
    const judgments = ends.map((end) => judgeSeries(judgeSeriesFrom(data, scope, versions, end), cfg.judge));
    const intervalScores = judgments.map((j) => j.scorecard.score);
    const { verdict, decidedBy } = judgeIntervals(intervalScores, cfg.judge.thresholds);
    const decided = judgments[decidedBy];
    return {
        judgment: { ...decided, scorecard: { ...decided.scorecard, verdict } },
        versions,
        intervalScores,
        decidedBy,
    };
}
