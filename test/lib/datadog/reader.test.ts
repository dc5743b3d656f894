import * as assert from "assert";
import { createServer } from "net";
import { v1 } from "@datadog/datadog-api-client";
import { credentialsFromEnv } from "../../../lib/datadog/credentials";
import { DatadogRequestError, DatadogUnavailableError } from "../../../lib/datadog/model";
import { createDatadogReader, DatadogReaderOptions } from "../../../lib/datadog/reader";
import { DatadogStandIn, startDatadogStandIn } from "../../support/datadogStandIn";

const MINUTE = 60_000;
const WINDOW = { from: 1_800_000_000_000, to: 1_800_000_000_000 + 5 * MINUTE };

/** What the reader's promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<Error> {
    try {
        await p;
    } catch (err) {
        return err as Error;
    }
    throw new Error("the call succeeded");
}

describe("the Datadog reader against the API stand-in", function () {
    this.timeout(30_000);
    let dd: DatadogStandIn;
    const reader = (o: Partial<DatadogReaderOptions> = {}) =>
        createDatadogReader({ credentials: dd.credentials, baseUrl: dd.url, ...o });

    beforeEach(async () => {
        dd = await startDatadogStandIn();
    });
    afterEach(async () => {
        await dd.close();
        assert.deepStrictEqual(dd.invalid, [], "every request matched the client's types");
    });

    it("reads each query's series on one time axis, null where a point is missing", async () => {
        dd.setMetric("sum:hits{version:v2}.as_count()", (t) => (t - WINDOW.from) / MINUTE);
        dd.setMetric("p95:latency{version:v2}", (t) => (((t - WINDOW.from) / MINUTE) % 2 === 0 ? 0.25 : null));
        const series = await reader().timeseries(
            { hits: "sum:hits{version:v2}.as_count()", p95: "p95:latency{version:v2}", absent: "sum:none{*}" },
            WINDOW,
            MINUTE,
        );
        assert.deepStrictEqual(series, {
            times: [0, 1, 2, 3, 4].map((k) => WINDOW.from + k * MINUTE),
            values: { hits: [0, 1, 2, 3, 4], p95: [0.25, null, 0.25, null, 0.25] },
        });
        const sent = dd.requests[0];
        assert.deepStrictEqual([sent.method, sent.path], ["POST", "/api/v2/query/timeseries"]);
        assert.deepStrictEqual((sent.body as any).data.attributes.queries[0], {
            data_source: "metrics",
            name: "hits",
            query: "sum:hits{version:v2}.as_count()",
        });
    });

    it("reads no data as no series and no times, and a scalar without data as null", async () => {
        assert.deepStrictEqual(await reader().timeseries({ hits: "sum:hits{version:v3}.as_count()" }, WINDOW, MINUTE), {
            times: [],
            values: {},
        });
        dd.setMetric("sum:hits{version:v2}.as_count()", () => 10);
        assert.deepStrictEqual(
            await reader().scalars(
                { hits: "sum:hits{version:v2}.as_count()", none: "sum:hits{version:v3}.as_count()" },
                WINDOW,
                "sum",
            ),
            { hits: 50, none: null },
        );
    });

    it("lists the monitors carrying every tag asked for, with all their groups' states", async () => {
        const monitor = (id: number, tags: string[], status: v1.MonitorOverallStates): v1.Monitor =>
            Object.assign(new v1.Monitor(), {
                id,
                name: `monitor ${id}`,
                type: "query alert",
                query: "sum(last_5m):sum:trace.http.request.errors{*}.as_count() > 1",
                tags,
                overallState: status,
                state: {
                    groups: {
                        "*": Object.assign(new v1.MonitorStateGroup(), {
                            name: "*",
                            status,
                            lastTriggeredTs: 1_800_000_000,
                        }),
                    },
                },
            });
        dd.monitors = [
            monitor(1, ["plan-alert:errorRatePct", "version:v2"], "Alert"),
            monitor(2, ["plan-alert:errorRatePct", "version:v1"], "OK"),
            monitor(3, ["version:v2"], "OK"),
        ];
        const found = await reader().monitors(["plan-alert:errorRatePct", "version:v2"]);
        assert.deepStrictEqual(
            found.map((m) => [m.id, m.overallState, m.state?.groups?.["*"]?.status]),
            [[1, "Alert", "Alert"]],
        );
        assert.deepStrictEqual(dd.requests[0].query, {
            monitor_tags: "plan-alert:errorRatePct,version:v2",
            group_states: "all",
            page: "0",
            page_size: "100",
        });
    });

    it("waits out a 429's X-RateLimit-Reset before it retries", async () => {
        dd.setMetric("sum:hits{*}.as_count()", () => 1);
        dd.inject({ kind: "rateLimit", resetSeconds: 3 });
        await reader().scalars({ hits: "sum:hits{*}.as_count()" }, WINDOW, "sum");
        assert.deepStrictEqual(
            dd.requests.map((r) => r.status),
            [429, 200],
        );
        const waited = dd.requests[1].at - dd.requests[0].at;
        assert.ok(
            waited >= 3000,
            `retried after ${waited} ms; the reset asked for 3 s and the client's own backoff would have been 2 s`,
        );
    });

    it("retries a 5xx after the client's backoff of 2 s", async () => {
        dd.setMetric("sum:hits{*}.as_count()", () => 1);
        dd.inject({ kind: "status", status: 503 });
        assert.deepStrictEqual(await reader().scalars({ hits: "sum:hits{*}.as_count()" }, WINDOW, "sum"), { hits: 5 });
        assert.deepStrictEqual(
            dd.requests.map((r) => r.status),
            [503, 200],
        );
        assert.ok(dd.requests[1].at - dd.requests[0].at >= 2000, "waited the backoff");
    });

    it("reports Datadog unavailable when 5xx outlast the retries", async () => {
        dd.inject({ kind: "status", status: 500 }, 5);
        const err = await rejection(reader({ maxRetries: 1 }).monitors(["version:v2"]));
        assert.ok(err instanceof DatadogUnavailableError);
        assert.strictEqual(err.message, "list monitors: Datadog answered 500 after 2 attempts");
        assert.strictEqual(dd.requests.length, 2);
    });

    it("does not wait for a rate-limit reset that ends past its deadline", async () => {
        dd.inject({ kind: "rateLimit", resetSeconds: 60 });
        const started = Date.now();
        const err = await rejection(reader({ timeoutMs: 5000 }).monitors(["version:v2"]));
        assert.ok(err instanceof DatadogUnavailableError);
        assert.strictEqual(
            err.message,
            "list monitors: Datadog rate limited (429) with X-RateLimit-Reset 60 s; retrying would take longer than the 5 s allowed",
        );
        assert.ok(Date.now() - started < 5000, "gave up at once");
        assert.strictEqual(dd.requests.length, 1);
    });

    it("gives up on a Datadog slower than its timeout", async () => {
        dd.inject({ kind: "delay", ms: 10_000 });
        const err = await rejection(
            reader({ timeoutMs: 500 }).timeseries({ hits: "sum:hits{*}.as_count()" }, WINDOW, MINUTE),
        );
        assert.ok(err instanceof DatadogUnavailableError);
        assert.strictEqual(err.message, "query timeseries: Datadog did not answer within 0.5 s (1 attempt)");
    });

    it("reports Datadog unreachable when nothing listens", async () => {
        const closed = await new Promise<number>((resolve) => {
            const s = createServer().listen(0, "127.0.0.1", () => {
                const { port } = s.address() as { port: number };
                s.close(() => resolve(port));
            });
        });
        const err = await rejection(reader({ baseUrl: `http://127.0.0.1:${closed}` }).monitors(["version:v2"]));
        assert.ok(err instanceof DatadogUnavailableError);
        assert.strictEqual(err.message, "list monitors: cannot reach Datadog: ECONNREFUSED");
    });

    it("reports credentials Datadog refuses as a request error, without retrying", async () => {
        const err = await rejection(
            reader({ credentials: { apiKey: "wrong", appKey: "wrong" } }).monitors(["version:v2"]),
        );
        assert.ok(err instanceof DatadogRequestError);
        assert.strictEqual(err.message, "list monitors: Datadog refused the request (403): Forbidden");
        assert.strictEqual(dd.requests.length, 1);
    });
});

describe("Datadog credentials from the environment", () => {
    it("takes the client's DD_* keys, else the provider's DATADOG_* keys, and needs both", () => {
        assert.deepStrictEqual(credentialsFromEnv({ DD_API_KEY: "a", DD_APP_KEY: "b", DATADOG_API_KEY: "x" }), {
            apiKey: "a",
            appKey: "b",
        });
        assert.deepStrictEqual(credentialsFromEnv({ DATADOG_API_KEY: "x", DATADOG_APP_KEY: "y" }), {
            apiKey: "x",
            appKey: "y",
        });
        assert.strictEqual(credentialsFromEnv({ DD_API_KEY: "a" }), undefined);
    });
});

describe("the Datadog API stand-in", () => {
    let dd: DatadogStandIn;
    beforeEach(async () => {
        dd = await startDatadogStandIn();
    });
    afterEach(async () => {
        await dd.close();
    });
    const send = (method: string, path: string, body?: unknown) =>
        fetch(`${dd.url}${path}`, {
            method,
            headers: {
                "DD-API-KEY": dd.credentials.apiKey,
                "DD-APPLICATION-KEY": dd.credentials.appKey,
                "Content-Type": "application/json",
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });

    it("refuses a request body outside the client's types with 400 and records why", async () => {
        const wrongType = {
            data: {
                type: "scalar_request",
                attributes: {
                    from: 0,
                    to: 60_000,
                    queries: [{ data_source: "metrics", name: "a", query: "sum:x{*}" }],
                },
            },
        };
        const missing = { data: { type: "timeseries_request", attributes: { from: 0, queries: [] } } };
        assert.strictEqual((await send("POST", "/api/v2/query/timeseries", wrongType)).status, 400);
        assert.strictEqual((await send("POST", "/api/v2/query/timeseries", missing)).status, 400);
        assert.deepStrictEqual(dd.invalid, [
            "POST /api/v2/query/timeseries: body is not a TimeseriesFormulaQueryRequest: a value outside its types",
            "POST /api/v2/query/timeseries: body is not a TimeseriesFormulaQueryRequest: missing required property 'to'",
        ]);
    });

    it("refuses monitor list parameters the API does not take", async () => {
        assert.strictEqual((await send("GET", "/api/v1/monitor?group_states=broken")).status, 400);
        assert.strictEqual((await send("GET", "/api/v1/monitor?state=alert")).status, 400);
        assert.deepStrictEqual(dd.invalid, [
            "GET /api/v1/monitor: group_states: unknown broken (all, alert, warn, no data)",
            "GET /api/v1/monitor: unknown query parameters: state",
        ]);
    });
});
