// Datadog's monitor evaluation and notification, as its documentation states the rules, for tests that play a
// release through time: each minute, every declared query alert is evaluated over its window from synthetic metric
// points, every composite from its children's states, and every transition's message is rendered through its
// conditional blocks to find who is told. Nothing here calls Datadog; it is a model of the documented behaviour:
// - evaluation: docs.datadoghq.com/monitors/configuration (evaluation every minute over the window, thresholds and
//   recovery thresholds, "No data": a Count query with on_missing_data "default" evaluates as zero, "resolve" shows
//   OK, otherwise the last known status is kept); monitors/guide/as-count-in-monitor-evaluations (`sum` with
//   as_count() sums each term over the window before the arithmetic; other aggregations apply after it, per point);
// - composites: monitors/types/composite ("Computing trigger conditions": `&&` takes the least severe of
//   alert-worthy states, `!` turns ALERT or WARN into OK and OK into ALERT, No Data stays No Data, and a composite
//   without notify_no_data keeps its last known state rather than showing No Data);
// - notifications: monitors/notify/variables (conditional blocks, is_renotify), renotify_interval.
// Multi-alert groups (`by {…}`) are evaluated as one group: the synthetic data has one series per group key.
import { DeclaredResource } from "../../tools/offline/types";

export type State = "ok" | "warn" | "alert" | "nodata";

/** One minute's value of one series: a metric with its tags; a distribution carries its p95 and its count. */
export interface Point {
    metric: string;
    tags: Record<string, string>;
    value: number;
    /** For a distribution (latency): the number of samples behind `value`, its p95. */
    weight?: number;
}

/** Every point at a minute; minutes are whole minutes on the model's clock. */
export type Metrics = (minute: number) => Point[];

/** A service check's status at a minute, by check name and tags. */
export type ServiceChecks = (
    minute: number,
) => { check: string; tags: Record<string, string>; status: "ok" | "critical" }[];

/**
 * What Datadog sends for a monitor's transition: its message with each conditional block kept or dropped
 * (docs.datadoghq.com/monitors/notify/variables: is_alert, is_warning, is_recovery, is_alert_recovery,
 * is_warning_recovery, is_renotify, and their `^` negations), as non-empty lines. An @-handle is notified only when
 * it survives.
 */
export function notification(
    message: string,
    from: "ok" | "warn" | "alert",
    to: "ok" | "warn" | "alert",
    renotify = false,
): string[] {
    const on: Record<string, boolean> = {
        is_alert: to === "alert",
        is_warning: to === "warn",
        is_recovery: to === "ok" && from !== "ok",
        is_alert_recovery: to === "ok" && from === "alert",
        is_warning_recovery: to === "ok" && from === "warn",
        is_renotify: renotify,
    };
    let kept = message;
    // Innermost blocks first, so that blocks nest.
    const block = /\{\{([#^])(\w+)\}\}((?:(?!\{\{[#^]\w+\}\})[\s\S])*?)\{\{\/\2\}\}/;
    for (let m = block.exec(kept); m; m = block.exec(kept)) {
        const shown = m[1] === "#" ? on[m[2]] : !on[m[2]];
        kept = kept.slice(0, m.index) + (shown ? m[3] : "") + kept.slice(m.index + m[0].length);
    }
    return kept
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

// ---- queries -------------------------------------------------------------------------------------------------

type Filter = { key: string; pattern: RegExp; negate: boolean };

/** A tag scope as monitors write it: `a:b,!c:d*` or `a:b AND c IN (x, y)`. */
function parseScope(scope: string): Filter[] {
    const glob = (v: string) => new RegExp(`^${v.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
    const parts = scope.includes(" AND ") ? scope.split(" AND ") : scope.split(",");
    return parts.map((p) => {
        const inList = /^(\S+) IN \(([^)]*)\)$/.exec(p.trim());
        if (inList)
            return {
                key: inList[1],
                pattern: new RegExp(
                    `^(${inList[2]
                        .split(",")
                        .map((v) => glob(v.trim()).source.slice(1, -1))
                        .join("|")})$`,
                ),
                negate: false,
            };
        const negate = p.startsWith("!");
        const [key, ...value] = (negate ? p.slice(1) : p).split(":");
        return { key, pattern: glob(value.join(":")), negate };
    });
}

function matches(tags: Record<string, string>, filters: Filter[]): boolean {
    return filters.every((f) => {
        const v = tags[f.key];
        const hit = v !== undefined && f.pattern.test(v);
        return f.negate ? !hit : hit;
    });
}

type Term = { space: string; metric: string; filters: Filter[]; count: boolean };
type Expr = { term: Term } | { num: number } | { op: "+" | "-" | "*" | "/"; left: Expr; right: Expr };

/** A monitor query's expression: metric terms, numbers, + - * / and parentheses. */
function parseExpression(text: string): Expr {
    const tokens =
        text.match(/\w+:[\w.]+\{[^}]*\}(?: by \{[^}]*\})?(?:\.as_count\(\)|\.as_rate\(\))?|\d+(?:\.\d+)?|[-+*/()]/g) ??
        [];
    let i = 0;
    const primary = (): Expr => {
        const t = tokens[i++];
        if (t === "(") {
            const e = sum();
            i++;
            return e;
        }
        const term = /^(\w+):([\w.]+)\{([^}]*)\}/.exec(t);
        if (term)
            return {
                term: {
                    space: term[1],
                    metric: term[2],
                    filters: parseScope(term[3]),
                    count: t.endsWith(".as_count()"),
                },
            };
        return { num: Number(t) };
    };
    const product = (): Expr => {
        let e = primary();
        while (tokens[i] === "*" || tokens[i] === "/") e = { op: tokens[i++] as "*" | "/", left: e, right: primary() };
        return e;
    };
    const sum = (): Expr => {
        let e = product();
        while (tokens[i] === "+" || tokens[i] === "-") e = { op: tokens[i++] as "+" | "-", left: e, right: product() };
        return e;
    };
    return sum();
}

function terms(e: Expr): Term[] {
    return "term" in e ? [e.term] : "op" in e ? [...terms(e.left), ...terms(e.right)] : [];
}

function evaluate(e: Expr, value: (t: Term) => number | undefined): number | undefined {
    if ("num" in e) return e.num;
    if ("term" in e) return value(e.term);
    const l = evaluate(e.left, value);
    const r = evaluate(e.right, value);
    if (l === undefined || r === undefined) return undefined;
    if (e.op === "/") return r === 0 ? undefined : l / r;
    return e.op === "+" ? l + r : e.op === "-" ? l - r : l * r;
}

/** A term's space aggregate at a minute: {value, weight} of a distribution, undefined when no series has a point. */
function spaceValue(points: Point[], t: Term): { value: number; weight: number } | undefined {
    const hit = points.filter((p) => p.metric === t.metric && matches(p.tags, t.filters));
    if (hit.length === 0) return undefined;
    if (/^p\d+$/.test(t.space)) {
        const weight = hit.reduce((n, p) => n + (p.weight ?? 1), 0);
        return weight === 0
            ? undefined
            : { value: hit.reduce((n, p) => n + p.value * (p.weight ?? 1), 0) / weight, weight };
    }
    const values = hit.map((p) => p.value);
    const value =
        t.space === "max"
            ? Math.max(...values)
            : t.space === "min"
              ? Math.min(...values)
              : t.space === "avg"
                ? values.reduce((a, b) => a + b) / values.length
                : values.reduce((a, b) => a + b);
    return { value, weight: 1 };
}

interface QueryAlert {
    aggregator: string;
    window: number;
    expr: Expr;
    op: ">" | ">=" | "<" | "<=";
    count: boolean;
}

function parseQueryAlert(query: string): QueryAlert {
    const m = /^(\w+)\(last_(\d+)([mh])\):(.*) (>=|<=|>|<) (\S+)$/.exec(query);
    if (!m) throw new Error(`not a query alert the model reads: ${query}`);
    const expr = parseExpression(m[4]);
    return {
        aggregator: m[1],
        window: Number(m[2]) * (m[3] === "h" ? 60 : 1),
        expr,
        op: m[5] as QueryAlert["op"],
        count: terms(expr).some((t) => t.count),
    };
}

/** The value a query alert evaluates to at `minute`, or undefined without data. */
function queryValue(q: QueryAlert, metrics: Metrics, minute: number): number | undefined {
    const minutes = Array.from({ length: q.window }, (_, k) => minute - q.window + 1 + k);
    const points = minutes.map(metrics);
    if (q.aggregator === "sum" && q.count) {
        // as_count(): each term is summed over the window, then the arithmetic.
        return evaluate(q.expr, (t) => {
            const v = points.map((p) => spaceValue(p, t)).filter((x) => x !== undefined);
            return v.length === 0 ? undefined : v.reduce((n, x) => n + x.value, 0);
        });
    }
    if (q.aggregator === "percentile") {
        // A distribution over the window: the model's p95 is the sample-weighted p95 of the minutes.
        const v = points.map((p) => spaceValue(p, terms(q.expr)[0])).filter((x) => x !== undefined);
        const weight = v.reduce((n, x) => n + x.weight, 0);
        return weight === 0
            ? undefined
            : evaluate(q.expr, () => v.reduce((n, x) => n + x.value * x.weight, 0) / weight);
    }
    // Other aggregations: the arithmetic per point, then the aggregation over the window.
    const perMinute = points
        .map((p) => evaluate(q.expr, (t) => spaceValue(p, t)?.value))
        .filter((x): x is number => x !== undefined);
    if (perMinute.length === 0) return undefined;
    if (q.aggregator === "min") return Math.min(...perMinute);
    if (q.aggregator === "max") return Math.max(...perMinute);
    if (q.aggregator === "avg") return perMinute.reduce((a, b) => a + b) / perMinute.length;
    return perMinute.reduce((a, b) => a + b);
}

function breaches(op: QueryAlert["op"], value: number, limit: number): boolean {
    return op === ">" ? value > limit : op === ">=" ? value >= limit : op === "<" ? value < limit : value <= limit;
}

// ---- monitors through time -----------------------------------------------------------------------------------

/** A notification Datadog sent: who got it and what it said. */
export interface Sent {
    minute: number;
    monitor: string;
    from: State;
    to: State;
    renotify: boolean;
    lines: string[];
    handles: string[];
}

interface Tracked {
    state: State;
    /** Minute of the last notification, for renotify_interval. */
    notifiedAt?: number;
    /** Minute the monitor last had data, for timeout_h. */
    lastData?: number;
}

const ALERT_WORTHY: State[] = ["alert", "warn", "nodata"];
const SEVERITY: Record<State, number> = { alert: 4, warn: 3, nodata: 2, ok: 1 };

/**
 * The monitors of a stack through time. `declare` replaces what is declared, as a `pulumi up` does: a monitor keeps
 * its identity, and so its state, while its resource name is unchanged; a new name is a new monitor (OK), a name gone
 * is a deleted monitor. Each `tick` evaluates one minute.
 */
export class MonitorModel {
    private declared: DeclaredResource[] = [];
    private readonly tracked = new Map<string, Tracked>();
    readonly sent: Sent[] = [];

    constructor(
        private readonly metrics: Metrics,
        private readonly checks: ServiceChecks,
    ) {}

    declare(resources: DeclaredResource[]): void {
        this.declared = resources;
        const names = new Set(this.monitors().map((m) => m.name));
        for (const name of [...this.tracked.keys()]) if (!names.has(name)) this.tracked.delete(name);
        for (const name of names) if (!this.tracked.has(name)) this.tracked.set(name, { state: "ok" });
    }

    monitors(): DeclaredResource[] {
        return this.declared.filter((r) => r.type.endsWith(":Monitor"));
    }

    state(name: string): State {
        return this.tracked.get(name)!.state;
    }

    /** What GET /api/v1/monitor returns for these monitors: name, tags and overall_state, as the runbook's jq reads them. */
    apiListing(): { name: string; tags: string[]; overall_state: string }[] {
        const label: Record<State, string> = { ok: "OK", warn: "Warn", alert: "Alert", nodata: "No Data" };
        return this.monitors().map((m) => ({
            name: m.inputs.name as string,
            tags: m.inputs.tags as string[],
            overall_state: label[this.state(m.name)],
        }));
    }

    tick(minute: number): void {
        const monitors = this.monitors();
        const next = new Map<string, State>();
        for (const m of monitors.filter((x) => x.inputs.type !== "composite"))
            next.set(m.name, this.evaluateOne(m, minute));
        for (const m of monitors.filter((x) => x.inputs.type === "composite"))
            next.set(m.name, this.evaluateComposite(m, next));
        const muted = this.mutedAt(minute);
        for (const m of monitors) {
            const t = this.tracked.get(m.name)!;
            const to = next.get(m.name)!;
            const from = t.state;
            t.state = to;
            if (to === "nodata" || from === "nodata") continue;
            const message = m.inputs.message as string;
            const renotifyEvery = (m.inputs.renotifyInterval as number | undefined) ?? 0;
            let renotify = false;
            if (from === to) {
                if (
                    to === "ok" ||
                    renotifyEvery === 0 ||
                    t.notifiedAt === undefined ||
                    minute - t.notifiedAt < renotifyEvery
                )
                    continue;
                renotify = true;
            }
            if (muted.has(m.name)) continue;
            const lines = notification(message, from, to, renotify);
            const handles = lines.flatMap((l) => l.match(/@\S+/g) ?? []);
            if (handles.length === 0) continue;
            t.notifiedAt = minute;
            this.sent.push({ minute, monitor: m.name, from, to, renotify, lines, handles });
        }
    }

    /** Monitors the declared downtime mutes at `minute`: every monitor carrying all its monitor tags, within its schedule. */
    private mutedAt(minute: number): Set<string> {
        const muted = new Set<string>();
        for (const d of this.declared.filter((r) => r.type.endsWith(":DowntimeSchedule"))) {
            const s = d.inputs.oneTimeSchedule as { start?: string; end: string };
            const at = (iso: string) => (Date.parse(iso) - this.origin) / 60_000;
            if ((s.start !== undefined && minute < at(s.start)) || minute >= at(s.end)) continue;
            const wanted = (d.inputs.monitorIdentifier as { monitorTags: string[] }).monitorTags;
            for (const m of this.monitors())
                if (wanted.every((w) => (m.inputs.tags as string[]).includes(w))) muted.add(m.name);
        }
        return muted;
    }

    /** The wall-clock time of minute 0, for the downtime's schedule. */
    origin = 0;

    private evaluateOne(m: DeclaredResource, minute: number): State {
        const t = this.tracked.get(m.name)!;
        if (m.inputs.type === "service check") return this.evaluateCheck(m, minute);
        const q = parseQueryAlert(m.inputs.query as string);
        let value = queryValue(q, this.metrics, minute);
        if (value === undefined) {
            const missing = m.inputs.onMissingData as string | undefined;
            if (missing === "default" && q.count) value = 0;
            else if (missing === "resolve") return "ok";
            else {
                const timeout = m.inputs.timeoutH as number | undefined;
                if (timeout !== undefined && t.lastData !== undefined && minute - t.lastData >= timeout * 60)
                    return "ok";
                return t.state;
            }
        } else {
            t.lastData = minute;
        }
        const th = m.inputs.monitorThresholds as { critical: string; warning?: string; criticalRecovery?: string };
        const critical = breaches(q.op, value, Number(th.critical));
        // Once in ALERT, a monitor recovers only past its recovery threshold (monitors/guide/recovery-thresholds).
        const stillAlert =
            t.state === "alert" &&
            th.criticalRecovery !== undefined &&
            breaches(q.op, value, Number(th.criticalRecovery));
        if (critical || stillAlert) return "alert";
        return th.warning !== undefined && breaches(q.op, value, Number(th.warning)) ? "warn" : "ok";
    }

    private evaluateCheck(m: DeclaredResource, minute: number): State {
        const q = /^"([^"]+)"\.over\(([^)]*)\)/.exec(m.inputs.query as string)!;
        const filters = parseScope(q[2].replace(/"/g, ""));
        const found = this.checks(minute).filter((c) => c.check === q[1] && matches(c.tags, filters));
        if (found.length === 0) return this.tracked.get(m.name)!.state;
        return found.some((c) => c.status === "critical") ? "alert" : "ok";
    }

    private evaluateComposite(m: DeclaredResource, states: Map<string, State>): State {
        const t = this.tracked.get(m.name)!;
        const ids = (m.inputs.query as string).split(" && ");
        const operand = (id: string): State => {
            const negate = id.startsWith("!");
            const name = (negate ? id.slice(1) : id).replace(/-id$/, "");
            const s = states.get(name);
            if (s === undefined) throw new Error(`composite ${m.name} refers to ${name}, which is not declared`);
            if (!negate) return s;
            return s === "nodata" ? "nodata" : ALERT_WORTHY.includes(s) ? "ok" : "alert";
        };
        const operands = ids.map(operand);
        const result = operands.every((s) => ALERT_WORTHY.includes(s))
            ? operands.reduce((a, b) => (SEVERITY[a] <= SEVERITY[b] ? a : b))
            : "ok";
        // Without notify_no_data, a composite that would show No Data keeps its last known state.
        return result === "nodata" ? t.state : result;
    }
}
