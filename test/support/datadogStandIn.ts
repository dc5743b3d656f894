// A stand-in for the Datadog API on loopback, for the tests and the e2e suite: it serves what the release reads
// (monitors with their group states, metric timeseries and scalars) with bodies built from the official client's
// models and written by the client's own ObjectSerializer, so the wire format is the client's. Requests are checked
// against the client's types. It can be told to rate-limit (429 with X-RateLimit-Reset), fail (5xx) or be slow.
import { createServer, IncomingMessage, ServerResponse } from "http";
import { AddressInfo } from "net";
import { v1, v2 } from "@datadog/datadog-api-client";

/** Something the stand-in does to the next requests instead of answering them normally. */
export type Fault =
    /** 429 with X-RateLimit-Limit, -Period, -Remaining and -Reset (seconds), as Datadog's rate limiter answers. */
    | { kind: "rateLimit"; resetSeconds: number }
    /** This status (a 5xx, or any other) with an APIErrorResponse body. */
    | { kind: "status"; status: number }
    /** The normal answer, after `ms`; the client may give up first. */
    | { kind: "delay"; ms: number };

/** A request as the stand-in received it. */
export interface ReceivedRequest {
    method: string;
    path: string;
    query: Record<string, string>;
    body: unknown;
    /** Milliseconds since the stand-in started. */
    at: number;
    /** What the stand-in answered. */
    status: number;
}

export interface DatadogStandIn {
    /** Base URL for the client's server configuration, e.g. http://127.0.0.1:41234. */
    url: string;
    /** The keys it accepts (DD-API-KEY, DD-APPLICATION-KEY); anything else is answered 403. */
    credentials: { apiKey: string; appKey: string };
    /** Every request, in order. */
    requests: ReceivedRequest[];
    /** Requests that did not match the client's types, with why: a test expects none. */
    invalid: string[];
    /** The monitors GET /api/v1/monitor lists: v1.Monitor objects, with state.groups and overallState. */
    monitors: v1.Monitor[];
    /** Serves a metrics query: its value at each time (ms since the epoch), null for no point. A query never set has no data. */
    setMetric(query: string, value: (timeMs: number) => number | null): void;
    /** The next `times` requests (only those to `path`, if given) meet `fault`. */
    inject(fault: Fault, times?: number, path?: string): void;
    /** The webhooks Datadog knows (datadog.Webhook as declared), which monitor messages notify as `@webhook-<name>`. */
    webhooks: DeclaredWebhook[];
    /**
     * Moves a monitor to Alert as Datadog's evaluation would, and sends what its message's alert block notifies:
     * each `@webhook-<name>` handle there is called with Datadog's variables. Resolves with each delivery.
     */
    alert(monitor: v1.Monitor): Promise<WebhookDelivery[]>;
    close(): Promise<void>;
}

/** A webhook integration, as `datadog.Webhook` declares it. */
export interface DeclaredWebhook {
    name: string;
    url: string;
    /** The payload template, with Datadog's `$VARIABLES`. */
    payload?: string;
    /** A JSON object of headers. */
    customHeaders?: string;
    encodeAs?: "json" | "form";
}

/** One call of a webhook: what was sent and the answer. */
export interface WebhookDelivery {
    webhook: string;
    /** Milliseconds since the epoch when it was sent. */
    sentAt: number;
    body: string;
    status: number;
}

/** Datadog answers a webhook that takes longer than this as failed (docs.datadoghq.com/integrations/webhooks). */
const WEBHOOK_TIMEOUT_MS = 15_000;

/**
 * The text of the `{{#is_alert}}` blocks of a message: what Datadog renders, and notifies the handles of, when a
 * monitor alerts (docs.datadoghq.com/monitors/notify/variables).
 */
export function alertBlocks(message: string): string {
    return [...message.matchAll(/\{\{#is_alert\}\}([\s\S]*?)\{\{\/is_alert\}\}/g)].map((m) => m[1]).join("\n");
}

/** Replaces Datadog's webhook variables (`$ALERT_ID`, ...) in a payload template, longest names first. */
export function renderPayload(template: string, variables: Record<string, string>): string {
    const names = Object.keys(variables).sort((a, b) => b.length - a.length);
    return names.reduce((text, name) => text.split(`$${name}`).join(variables[name]), template);
}

/** Sends one webhook as Datadog does: its payload with the variables, its custom headers, JSON-encoded. */
export async function sendWebhook(hook: DeclaredWebhook, variables: Record<string, string>): Promise<WebhookDelivery> {
    const body = renderPayload(hook.payload ?? "", variables);
    const headers = {
        "Content-Type": hook.encodeAs === "form" ? "application/x-www-form-urlencoded" : "application/json",
        ...(hook.customHeaders ? (JSON.parse(hook.customHeaders) as Record<string, string>) : {}),
    };
    const sentAt = Date.now();
    const res = await fetch(hook.url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await res.text();
    return { webhook: hook.name, sentAt, body, status: res.status };
}

interface PendingFault {
    fault: Fault;
    left: number;
    path?: string;
}

class BadRequest extends Error {}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
};

const apiError = (messages: string[]) =>
    v1.ObjectSerializer.serialize(
        Object.assign(new v1.APIErrorResponse(), { errors: messages }),
        "APIErrorResponse",
        "",
    );

/** True when the client's deserializer met a value its types do not allow (an unknown enum value, an unmatched oneOf). */
function hasUnparsed(value: unknown): boolean {
    if (value === null || typeof value !== "object") return false;
    if ((value as { _unparsed?: boolean })._unparsed === true || value.constructor?.name === "UnparsedObject")
        return true;
    return Object.values(value).some(hasUnparsed);
}

/** Reads a request body as one of the client's v2 models, refusing what the client's own types refuse. */
function typedBody<T>(raw: string, type: string): T {
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch {
        throw new BadRequest("body is not JSON");
    }
    let model: unknown;
    try {
        model = v2.ObjectSerializer.deserialize(parsed, type, "");
    } catch (err) {
        throw new BadRequest(`body is not a ${type}: ${(err as Error).message}`);
    }
    if (hasUnparsed(model)) throw new BadRequest(`body is not a ${type}: a value outside its types`);
    return model as T;
}

const MONITOR_LIST_PARAMS = [
    "group_states",
    "name",
    "tags",
    "monitor_tags",
    "with_downtimes",
    "id_offset",
    "page",
    "page_size",
];
const GROUP_STATES: Record<string, v1.MonitorOverallStates> = {
    alert: "Alert",
    warn: "Warn",
    "no data": "No Data",
    ok: "OK",
};

function integerParam(query: Record<string, string>, name: string): number | undefined {
    if (query[name] === undefined) return undefined;
    if (!/^\d+$/.test(query[name])) throw new BadRequest(`${name} must be a whole number, got "${query[name]}"`);
    return Number(query[name]);
}

/** Starts the stand-in on a free loopback port. */
export async function startDatadogStandIn(): Promise<DatadogStandIn> {
    const started = Date.now();
    const metrics = new Map<string, (t: number) => number | null>();
    const faults: PendingFault[] = [];
    const requests: ReceivedRequest[] = [];
    const invalid: string[] = [];
    const credentials = { apiKey: "stand-in-api-key", appKey: "stand-in-app-key" };
    const state = { monitors: [] as v1.Monitor[] };
    const webhooks: DeclaredWebhook[] = [];

    const listMonitors = (query: Record<string, string>): unknown => {
        const unknown = Object.keys(query).filter((k) => !MONITOR_LIST_PARAMS.includes(k));
        if (unknown.length > 0) throw new BadRequest(`unknown query parameters: ${unknown.join(", ")}`);
        const wanted = (query.group_states ?? "").split(",").filter((s) => s !== "");
        const bad = wanted.filter((s) => s !== "all" && !(s in GROUP_STATES));
        if (bad.length > 0) throw new BadRequest(`group_states: unknown ${bad.join(", ")} (all, alert, warn, no data)`);
        const tags = (query.monitor_tags ?? "").split(",").filter((t) => t !== "");
        let found = state.monitors.filter(
            (m) =>
                tags.every((t) => (m.tags ?? []).includes(t)) &&
                (query.name === undefined || m.name?.includes(query.name)),
        );
        const page = integerParam(query, "page");
        const pageSize = integerParam(query, "page_size") ?? (page !== undefined ? 100 : undefined);
        if (page !== undefined && pageSize !== undefined) found = found.slice(page * pageSize, (page + 1) * pageSize);
        // group_states adds the states of the groups in those states; without it a monitor comes without groups.
        const shown = found.map((m) => {
            const groups = Object.entries(m.state?.groups ?? {}).filter(
                ([, g]) => wanted.includes("all") || wanted.some((w) => GROUP_STATES[w] === g.status),
            );
            return Object.assign(new v1.Monitor(), m, {
                state: Object.assign(new v1.MonitorState(), {
                    groups: Object.fromEntries(wanted.length > 0 ? groups : []),
                }),
            });
        });
        return v1.ObjectSerializer.serialize(shown, "Array<Monitor>", "");
    };

    /** The query named by each formula: the stand-in evaluates no arithmetic, only formulas that name one query. */
    const formulaQueries = (
        queries: { name?: string; query?: string; dataSource?: unknown }[],
        formulas: v2.QueryFormula[] | undefined,
    ): string[] => {
        for (const q of queries)
            if (q.dataSource !== "metrics")
                throw new BadRequest(`query ${q.name}: the stand-in serves the metrics data source only`);
        return (formulas ?? queries.map((q) => ({ formula: q.name ?? "" }))).map((f) => {
            const q = queries.find((x) => x.name === f.formula);
            if (!q?.query)
                throw new BadRequest(
                    `formula "${f.formula}" names no query (the stand-in evaluates formulas that name one query)`,
                );
            return q.query;
        });
    };

    const window = (from: number, to: number, interval: number): number[] => {
        if (!(from < to)) throw new BadRequest(`from (${from}) must be before to (${to})`);
        if (!(interval > 0)) throw new BadRequest(`interval must be positive, got ${interval}`);
        const times: number[] = [];
        for (let t = Math.ceil(from / interval) * interval; t < to; t += interval) times.push(t);
        return times;
    };

    const timeseries = (raw: string): unknown => {
        const req = typedBody<v2.TimeseriesFormulaQueryRequest>(raw, "TimeseriesFormulaQueryRequest");
        const a = req.data.attributes;
        const queries = formulaQueries(a.queries as v2.MetricsTimeseriesQuery[], a.formulas);
        const times = window(a.from, a.to, a.interval ?? 60_000);
        const series: v2.TimeseriesResponseSeries[] = [];
        const values: (number | null)[][] = [];
        queries.forEach((q, i) => {
            const value = metrics.get(q);
            if (!value) return;
            series.push(Object.assign(new v2.TimeseriesResponseSeries(), { queryIndex: i, groupTags: [] }));
            values.push(times.map(value));
        });
        const attributes = Object.assign(new v2.TimeseriesResponseAttributes(), {
            times: series.length > 0 ? times : [],
            series,
            values,
        });
        const body = Object.assign(new v2.TimeseriesFormulaQueryResponse(), {
            data: Object.assign(new v2.TimeseriesResponse(), { type: "timeseries_response", attributes }),
        });
        return v2.ObjectSerializer.serialize(body, "TimeseriesFormulaQueryResponse", "");
    };

    const aggregate = (aggregator: unknown, points: number[]): number | null => {
        if (points.length === 0) return null;
        switch (aggregator) {
            case "sum":
                return points.reduce((s, x) => s + x, 0);
            case "avg":
            case "mean":
                return points.reduce((s, x) => s + x, 0) / points.length;
            case "min":
                return Math.min(...points);
            case "max":
                return Math.max(...points);
            case "last":
                return points[points.length - 1];
            default:
                throw new BadRequest(
                    `aggregator ${String(aggregator)}: the stand-in serves sum, avg, mean, min, max and last`,
                );
        }
    };

    const scalar = (raw: string): unknown => {
        const req = typedBody<v2.ScalarFormulaQueryRequest>(raw, "ScalarFormulaQueryRequest");
        const a = req.data.attributes;
        const scalarQueries = a.queries as v2.MetricsScalarQuery[];
        const queries = formulaQueries(scalarQueries, a.formulas);
        const times = window(a.from, a.to, 60_000);
        const columns = queries.map((q, i) => {
            const value = metrics.get(q);
            const points = value ? times.map(value).filter((v): v is number => v !== null) : [];
            const result = aggregate(scalarQueries.find((x) => x.query === q)?.aggregator, points);
            return Object.assign(new v2.DataScalarColumn(), {
                name: a.formulas?.[i]?.formula ?? scalarQueries[i].name,
                type: "number",
                values: result === null ? [] : [result],
            });
        });
        const attributes = Object.assign(new v2.ScalarFormulaResponseAtrributes(), { columns });
        const body = Object.assign(new v2.ScalarFormulaQueryResponse(), {
            data: Object.assign(new v2.ScalarResponse(), { type: "scalar_response", attributes }),
        });
        return v2.ObjectSerializer.serialize(body, "ScalarFormulaQueryResponse", "");
    };

    const routes: Record<string, (query: Record<string, string>, body: string) => unknown> = {
        "GET /api/v1/monitor": (query) => listMonitors(query),
        "POST /api/v2/query/timeseries": (_, body) => timeseries(body),
        "POST /api/v2/query/scalar": (_, body) => scalar(body),
    };

    const answer = (
        req: IncomingMessage,
        res: ServerResponse,
        path: string,
        query: Record<string, string>,
        body: string,
    ): number => {
        const route = routes[`${req.method} ${path}`];
        if (!route) {
            json(res, 404, apiError([`the stand-in does not serve ${req.method} ${path}`]));
            return 404;
        }
        if (
            req.headers["dd-api-key"] !== credentials.apiKey ||
            req.headers["dd-application-key"] !== credentials.appKey
        ) {
            json(res, 403, apiError(["Forbidden"]));
            return 403;
        }
        if (req.method === "POST" && !String(req.headers["content-type"]).startsWith("application/json")) {
            invalid.push(`${req.method} ${path}: content type ${req.headers["content-type"]}`);
            json(res, 415, apiError(["Unsupported Media Type"]));
            return 415;
        }
        try {
            json(res, 200, route(query, body));
            return 200;
        } catch (err) {
            if (!(err instanceof BadRequest)) throw err;
            invalid.push(`${req.method} ${path}: ${err.message}`);
            json(res, 400, apiError([err.message]));
            return 400;
        }
    };

    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const url = new URL(req.url ?? "/", "http://stand-in");
            const query = Object.fromEntries(url.searchParams);
            const body = Buffer.concat(chunks).toString("utf8");
            const record: ReceivedRequest = {
                method: req.method ?? "",
                path: url.pathname,
                query,
                body: body ? (JSON.parse(body) as unknown) : undefined,
                at: Date.now() - started,
                status: 0,
            };
            requests.push(record);
            const pending = faults.find((f) => f.left > 0 && (f.path === undefined || f.path === url.pathname));
            if (pending) pending.left--;
            const fault = pending?.fault;
            if (fault?.kind === "rateLimit") {
                record.status = 429;
                const period = String(Math.max(fault.resetSeconds, 1));
                json(res, 429, apiError(["Rate limit of traffic exceeded"]), {
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Period": period,
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": String(fault.resetSeconds),
                });
                return;
            }
            if (fault?.kind === "status") {
                record.status = fault.status;
                json(res, fault.status, apiError([`stand-in fault: ${fault.status}`]));
                return;
            }
            const reply = () => {
                if (!res.destroyed) record.status = answer(req, res, url.pathname, query, body);
            };
            if (fault?.kind === "delay") setTimeout(reply, fault.ms).unref();
            else reply();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;

    return {
        url: `http://127.0.0.1:${port}`,
        credentials,
        requests,
        invalid,
        get monitors() {
            return state.monitors;
        },
        set monitors(m: v1.Monitor[]) {
            state.monitors = m;
        },
        setMetric: (query, value) => void metrics.set(query, value),
        webhooks,
        alert: async (monitor) => {
            monitor.overallState = "Alert";
            const handles = [...alertBlocks(monitor.message ?? "").matchAll(/@webhook-([A-Za-z0-9_-]+)/g)].map(
                (m) => m[1],
            );
            const variables = {
                ALERT_ID: String(monitor.id ?? ""),
                ALERT_TRANSITION: "Triggered",
                ALERT_STATUS: `${monitor.name ?? ""} is in Alert`,
                ALERT_SCOPE: "",
                ALERT_CYCLE_KEY: `${monitor.id ?? ""}-${Date.now()}`,
                TAGS: (monitor.tags ?? []).join(","),
            };
            const deliveries: WebhookDelivery[] = [];
            for (const name of handles) {
                const hook = webhooks.find((w) => w.name === name);
                if (!hook)
                    throw new Error(`monitor ${monitor.name} notifies @webhook-${name}, which Datadog does not know`);
                deliveries.push(await sendWebhook(hook, variables));
            }
            return deliveries;
        },
        inject: (fault, times = 1, path) => void faults.push({ fault, left: times, path }),
        close: () =>
            new Promise<void>((resolve, reject) => {
                server.closeAllConnections();
                server.close((err) => (err ? reject(err) : resolve()));
            }),
    };
}
