// What the release reads from Datadog, as the rest of the project sees it: the reader's interface, its windows and
// series, and its two kinds of failure. No client here, so a caller that never reads Datadog never loads it.
import type { v1 } from "@datadog/datadog-api-client";

/** Datadog could not answer: unreachable, too slow, rate limited past the time allowed, or failing (5xx). */
export class DatadogUnavailableError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DatadogUnavailableError";
    }
}

/** Datadog answered the request with an error of the request's own (4xx): bad credentials, permissions or query. */
export class DatadogRequestError extends Error {
    constructor(
        message: string,
        readonly status: number,
    ) {
        super(message);
        this.name = "DatadogRequestError";
    }
}

/** A time window in milliseconds since the epoch. */
export interface Window {
    from: number;
    to: number;
}

/** Metric series on a common time axis: per query name, one value per time, null where there is no point. */
export interface Timeseries {
    times: number[];
    /** A query with no data at all has no entry. */
    values: Record<string, (number | null)[]>;
}

export interface DatadogReader {
    /** Each named metrics query's series over the window at `intervalMs` resolution. */
    timeseries(queries: Record<string, string>, window: Window, intervalMs: number): Promise<Timeseries>;
    /** Each named metrics query reduced over the window by `aggregator`; null where there is no data. */
    scalars(
        queries: Record<string, string>,
        window: Window,
        aggregator: "sum" | "avg" | "min" | "max" | "last",
    ): Promise<Record<string, number | null>>;
    /** The monitors carrying every one of `monitorTags`, with the states of all their groups. */
    monitors(monitorTags: readonly string[]): Promise<v1.Monitor[]>;
}
