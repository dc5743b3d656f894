// What the release gate asks Datadog of each version that gains traffic: its notifying monitors' states, and for a
// version already at a step, its requests over the observe window and the judge's scorecard against the baseline.
import { isPerVersionAlert, MONITOR_TAG, NOTIFIES_NOBODY_TAG, tagValue } from "../../policy/contract";
import { labelValue } from "../../policy/rules";
import { DatadogReader, DatadogRequestError, DatadogUnavailableError } from "../datadog/model";
import { DatadogScope, judgeQueries, judgeSeriesFrom, versionReadings } from "../judge/datadogSeries";
import { judgeSeries, JudgeSettings } from "../judge/judge";
import { DatadogAnswer, MonitorFinding, Raise, Shares, VersionEvidence } from "./gate";

export interface EvidenceOptions {
    /** The end of the observe window. */
    now: Date;
    observeMinutes: number;
    /** judge.stepSeconds: one point per step. */
    stepSeconds: number;
    judge: JudgeSettings;
    /** The web page of a monitor, by id. */
    link: (id: number) => string;
}

/**
 * Datadog's web app beside an API URL (api.datadoghq.eu → app.datadoghq.eu), or for a site (DD_SITE): app.<site>,
 * and the site itself where it names its region (us3.datadoghq.com).
 */
export function monitorLinks(apiUrl: string | undefined, site: string | undefined): (id: number) => string {
    const base = apiUrl
        ? apiUrl.replace(/\/+$/, "").replace(/^(https?:\/\/)api\./, "$1app.")
        : `https://${site && site.split(".").length > 2 ? site : `app.${site ?? "datadoghq.com"}`}`;
    return (id) => `${base}/monitors/${id}`;
}

/** The baseline of a raise: the other version with the largest share before it (the one giving traffic up). */
function baselineOf(r: Raise, before: Shares): string | undefined {
    return Object.entries(before)
        .filter(([v, share]) => v !== r.version && share > 0)
        .sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** The version's monitors that notify (not a condition or guard) and implement a per-version plan alert, in Alert. */
function alerting(
    monitors: Awaited<ReturnType<DatadogReader["monitors"]>>,
    link: (id: number) => string,
): MonitorFinding[] {
    return monitors
        .filter(
            (m) =>
                isPerVersionAlert(tagValue(m.tags, MONITOR_TAG.planAlert) ?? "") &&
                !(m.tags ?? []).includes(NOTIFIES_NOBODY_TAG),
        )
        .filter((m) => m.overallState === "Alert")
        .map((m) => ({ id: m.id ?? 0, name: m.name ?? "", state: "Alert", link: link(m.id ?? 0) }))
        .sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads what the gate needs for each raise; any failure to read is Datadog unavailable, which refuses raising. */
export async function readEvidence(
    reader: DatadogReader,
    scope: DatadogScope,
    raises: readonly Raise[],
    before: Shares,
    o: EvidenceOptions,
): Promise<DatadogAnswer> {
    const window = { from: o.now.getTime() - o.observeMinutes * 60_000, to: o.now.getTime() };
    const versions: Record<string, VersionEvidence> = {};
    try {
        for (const r of raises) {
            const monitors = await reader.monitors([
                `service:${scope.service}`,
                `env:${scope.env}`,
                `${MONITOR_TAG.version}:${labelValue(r.version)}`,
            ]);
            const evidence: VersionEvidence = { alerting: alerting(monitors, o.link) };
            if (r.from > 0) {
                const hits = versionReadings(scope, r.version).errorRatePct?.queries.hits as string;
                const { requests } = await reader.scalars({ requests: hits }, window, "sum");
                const baseline = baselineOf(r, before);
                let judged: NonNullable<VersionEvidence["step"]>["judged"];
                if (baseline !== undefined) {
                    const pair = { canary: r.version, baseline };
                    const data = await reader.timeseries(judgeQueries(scope, pair), window, o.stepSeconds * 1000);
                    judged = { baseline, judgment: judgeSeries(judgeSeriesFrom(data, scope, pair), o.judge) };
                }
                evidence.step = { requests, judged };
            }
            versions[r.version] = evidence;
        }
    } catch (err) {
        if (err instanceof DatadogUnavailableError || err instanceof DatadogRequestError)
            return { kind: "unavailable", message: err.message };
        throw err;
    }
    return { kind: "read", versions };
}
