// What the release reads from Datadog, through the official client (@datadog/datadog-api-client): metric series and
// scalars (v2 query API) and monitors with their group states (v1). Each call is bounded in time, retries included.
import { client, logger, v1, v2 } from "@datadog/datadog-api-client";
import { DatadogCredentials } from "./credentials";
import { DatadogReader, DatadogRequestError, DatadogUnavailableError } from "./model";

export interface DatadogReaderOptions {
    credentials: DatadogCredentials;
    /** The API's base URL (no /api/ path); without it the client's server for DD_SITE (api.datadoghq.com by default). */
    baseUrl?: string;
    /** How long one call may take, retries and their waits included; default 30 s. */
    timeoutMs?: number;
    /** Retries of a 429 or 5xx answer; default 3. The client waits X-RateLimit-Reset seconds, else 2, 4, 8 s. */
    maxRetries?: number;
}

const RETRYABLE = (status: number) => status === 429 || status >= 500;

/** The wait the client takes before retry number `attempt` (IsomorphicFetchHttpLibrary.calculateRetryInterval), in seconds. */
function clientRetryWait(
    headers: Headers,
    attempt: number,
    backoffBase: number,
    backoffMultiplier: number,
): { seconds: number; reset: boolean } {
    const reset = headers.get("x-ratelimit-reset");
    return reset !== null
        ? { seconds: parseInt(reset, 10), reset: true }
        : { seconds: Math.pow(backoffMultiplier, attempt) * backoffBase, reset: false };
}

/**
 * A reader on the official client with its own retries (enableRetry: 429 and 5xx, honouring X-RateLimit-Reset).
 * Each call gets a deadline: a fetch still running then is aborted, and a retry whose wait would end past it is not
 * waited for, so a call never takes much longer than `timeoutMs`.
 */
export function createDatadogReader(options: DatadogReaderOptions): DatadogReader {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const maxRetries = options.maxRetries ?? 3;
    const backoff = { base: 2, multiplier: 2 };
    // The reader reports every failure itself; the client would also log each failed fetch to the console.
    if (!process.env.DEBUG) logger.setLevel("silent");

    async function call<T>(operation: string, run: (configuration: client.Configuration) => Promise<T>): Promise<T> {
        const started = Date.now();
        const deadline = started + timeoutMs;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), timeoutMs);
        let attempt = 0;
        const boundedFetch = async (url: string, init: RequestInit): Promise<Response> => {
            const retry = attempt++;
            const response = await fetch(url, { ...init, signal: controller.signal });
            if (RETRYABLE(response.status) && retry < maxRetries) {
                const wait = clientRetryWait(response.headers, retry, backoff.base, backoff.multiplier);
                if (Date.now() + wait.seconds * 1000 > deadline) {
                    const why = wait.reset
                        ? `rate limited (429) with X-RateLimit-Reset ${wait.seconds} s`
                        : `answered ${response.status}`;
                    throw new DatadogUnavailableError(
                        `${operation}: Datadog ${why}; retrying would take longer than the ${timeoutMs / 1000} s allowed`,
                    );
                }
            }
            return response;
        };
        const configuration = client.createConfiguration({
            authMethods: { apiKeyAuth: options.credentials.apiKey, appKeyAuth: options.credentials.appKey },
            baseServer: options.baseUrl
                ? new client.BaseServerConfiguration(options.baseUrl.replace(/\/+$/, ""), {})
                : undefined,
            enableRetry: true,
            maxRetries,
            backoffBase: backoff.base,
            backoffMultiplier: backoff.multiplier,
            fetch: boundedFetch,
            httpConfig: { signal: controller.signal },
        });
        try {
            return await run(configuration);
        } catch (err) {
            throw explain(operation, err, { timedOut: controller.signal.aborted, attempts: attempt, timeoutMs });
        } finally {
            clearTimeout(timer);
        }
    }

    return {
        async timeseries(queries, window, intervalMs) {
            const names = Object.keys(queries);
            const body: v2.TimeseriesFormulaQueryRequest = {
                data: {
                    type: "timeseries_request",
                    attributes: {
                        from: window.from,
                        to: window.to,
                        interval: intervalMs,
                        queries: names.map((name): v2.MetricsTimeseriesQuery => ({
                            dataSource: "metrics",
                            name,
                            query: queries[name],
                        })),
                        formulas: names.map((name) => ({ formula: name })),
                    },
                },
            };
            const response = await call("query timeseries", (c) => new v2.MetricsApi(c).queryTimeseriesData({ body }));
            if (response.errors) throw new DatadogRequestError(`query timeseries: ${response.errors}`, 200);
            const a = response.data?.attributes;
            const values: Record<string, (number | null)[]> = {};
            (a?.series ?? []).forEach((s, i) => {
                const name = names[s.queryIndex ?? -1];
                if (name === undefined || name in values)
                    throw new DatadogRequestError(
                        `query timeseries: series ${i} belongs to no single query (query index ${s.queryIndex})`,
                        200,
                    );
                values[name] = a?.values?.[i] ?? [];
            });
            return { times: a?.times ?? [], values };
        },

        async scalars(queries, window, aggregator) {
            const names = Object.keys(queries);
            const body: v2.ScalarFormulaQueryRequest = {
                data: {
                    type: "scalar_request",
                    attributes: {
                        from: window.from,
                        to: window.to,
                        queries: names.map((name): v2.MetricsScalarQuery => ({
                            dataSource: "metrics",
                            name,
                            query: queries[name],
                            aggregator,
                        })),
                        formulas: names.map((name) => ({ formula: name })),
                    },
                },
            };
            const response = await call("query scalars", (c) => new v2.MetricsApi(c).queryScalarData({ body }));
            if (response.errors) throw new DatadogRequestError(`query scalars: ${response.errors}`, 200);
            const columns = (response.data?.attributes?.columns ?? []).filter(
                (c): c is v2.DataScalarColumn => c instanceof v2.DataScalarColumn,
            );
            return Object.fromEntries(
                names.map((name) => [name, columns.find((c) => c.name === name)?.values?.[0] ?? null]),
            );
        },

        async monitors(monitorTags) {
            return call("list monitors", async (c) => {
                const found: v1.Monitor[] = [];
                for await (const m of new v1.MonitorsApi(c).listMonitorsWithPagination({
                    monitorTags: monitorTags.join(","),
                    groupStates: "all",
                }))
                    found.push(m);
                return found;
            });
        },
    };
}

/** The error a failed call reports: what was asked, and whether Datadog was slow, unreachable, failing or refused it. */
function explain(
    operation: string,
    err: unknown,
    c: { timedOut: boolean; attempts: number; timeoutMs: number },
): Error {
    if (err instanceof DatadogUnavailableError || err instanceof DatadogRequestError) return err;
    if (c.timedOut)
        return new DatadogUnavailableError(
            `${operation}: Datadog did not answer within ${c.timeoutMs / 1000} s (${c.attempts} attempt${c.attempts === 1 ? "" : "s"})`,
        );
    if (err instanceof client.ApiException) {
        const status = (err as client.ApiException<unknown>).code;
        const body = (err as client.ApiException<{ errors?: string[] }>).body;
        const detail = Array.isArray(body?.errors) ? `: ${body.errors.join("; ")}` : "";
        if (RETRYABLE(status))
            return new DatadogUnavailableError(
                `${operation}: Datadog answered ${status} after ${c.attempts} attempts${detail}`,
            );
        return new DatadogRequestError(`${operation}: Datadog refused the request (${status})${detail}`, status);
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return new DatadogUnavailableError(
        `${operation}: cannot reach Datadog: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
}
