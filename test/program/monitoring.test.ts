import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { ALERT_NAMES, PLAN_ALERTS } from "../../policy/planAlerts";
import { PACK_ENFORCEMENT, policies } from "../../policy/policies";
import { validateConfig } from "../../lib/config";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { DeclaredResource, ProgramRun } from "../../tools/offline/types";
import {
    all,
    at,
    configErrorFor,
    rejectsConfig,
    find,
    preview,
    programConfig,
    PROJECT,
    ROOT,
    runConfig,
    runStack,
    stackConfig,
} from "../helpers";
import { MonitorModel, notification, Point } from "../support/datadog";

const monitorsOf = (run: ProgramRun) => all(run, ":Monitor");
const tagValue = (m: DeclaredResource, key: string) =>
    (at(m, "tags") as string[]).find((t) => t.startsWith(`${key}:`))?.slice(key.length + 1);

const DIGEST = `sha256:${"ab".repeat(32)}`;

/**
 * The notifications of one version's monitors when its traffic holds steady from a quiet start: `perMinute` user
 * requests, errors and p95 (payments: 12% of requests, 1% failing), evaluated for 20 minutes by Datadog's documented
 * rules (test/support/datadog.ts). The first notification of each monitor, by name, as its lines.
 */
/** The trace metric the monitors of a run count: `trace.<monitoring.span>`. */
function spanOf(run: ProgramRun): string {
    return /(trace\.[a-z0-9_.-]+?)\.hits/.exec(
        monitorsOf(run)
            .map((m) => at(m, "query") as string)
            .join(" "),
    )![1];
}

function notificationsFor(
    run: ProgramRun,
    variant: string,
    perMinute: { requests: number; errors: number; p95: number },
): Record<string, string[]> {
    const version = tagValue(
        monitorsOf(run).find((m) => (at(m, "tags") as string[]).includes(variant))!,
        "version",
    )!;
    const tags = { service: "myapp", env: "production", version, resource_name: "get_/api/orders" };
    const span = spanOf(run);
    const metrics = (): Point[] =>
        perMinute.requests === 0
            ? []
            : [
                  { metric: `${span}.hits`, tags, value: perMinute.requests },
                  { metric: `${span}.errors`, tags, value: perMinute.errors },
                  { metric: span, tags, value: perMinute.p95, weight: perMinute.requests },
                  { metric: "payment.total", tags, value: perMinute.requests * 0.12 },
                  { metric: "payment.failed", tags, value: perMinute.requests * 0.12 * 0.01 },
              ];
    const model = new MonitorModel(metrics, () => []);
    model.declare(
        run.resources.filter(
            (r) =>
                !r.type.endsWith(":Monitor") ||
                ((r.inputs.tags as string[]).includes(variant) && r.inputs.type !== "service check"),
        ),
    );
    for (let minute = 0; minute < 20; minute++) model.tick(minute);
    const out: Record<string, string[]> = {};
    for (const sent of model.sent) out[sent.monitor.replace("myapp-monitoring-", "")] ??= sent.lines;
    return out;
}

/** Every `{…}` scope of a query that names a version, as its tags. */
function versionScopes(query: string): Record<string, string>[] {
    return [...query.matchAll(/\{([^}]*)\}/g)]
        .map((x) =>
            Object.fromEntries(
                x[1]
                    .split(",")
                    .filter((t) => !t.startsWith("!"))
                    .map((t) => [t.slice(0, t.indexOf(":")), t.slice(t.indexOf(":") + 1)]),
            ),
        )
        .filter((tags) => tags.version !== undefined);
}

describe("Datadog monitoring from the plan's thresholds", () => {
    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    describe("unified service tagging: service, env and version on every monitor", () => {
        const states: [string, string, string[]][] = [
            ["production", "committed", []],
            ["staging", "committed", []],
            ["production", "promoted", ["canary.stableVersion=v1.2.3", "canary.weight=0"]],
            ["production", "digest canary", [`canary.canaryVersion=${DIGEST}`, `release.version=${DIGEST}`]],
        ];
        for (const [stack, label, sets] of states) {
            it(`${stack} ${label}: each version a monitor queries is a version some pod template carries, with the same env and service`, () => {
                const run = runStack(stack, sets);
                const templates = all(run, ":Deployment").map((d) => ({
                    deployment: at(d, "metadata.labels"),
                    pod: at(d, "spec.template.metadata.labels"),
                    env: Object.fromEntries(
                        (at(d, "spec.template.spec.containers")[0].env as any[])
                            .filter((e) => e.valueFrom)
                            .map((e) => [e.name, e.valueFrom.fieldRef.fieldPath]),
                    ),
                }));
                const queried = monitorsOf(run).flatMap((m) =>
                    at(m, "type") === "composite" ? [] : versionScopes(at(m, "query")),
                );
                assert.ok(queried.length > 0);
                for (const q of queried) {
                    const carrier = templates.find(
                        (t) =>
                            t.pod["tags.datadoghq.com/version"] === q.version &&
                            t.pod["tags.datadoghq.com/env"] === q.env &&
                            t.pod["tags.datadoghq.com/service"] === q.service,
                    );
                    assert.ok(carrier, `no pod template carries ${JSON.stringify(q)}`);
                    for (const k of ["env", "service", "version"])
                        assert.strictEqual(
                            carrier.deployment[`tags.datadoghq.com/${k}`],
                            carrier.pod[`tags.datadoghq.com/${k}`],
                        );
                    assert.deepStrictEqual(carrier.env, {
                        DD_ENV: "metadata.labels['tags.datadoghq.com/env']",
                        DD_SERVICE: "metadata.labels['tags.datadoghq.com/service']",
                        DD_VERSION: "metadata.labels['tags.datadoghq.com/version']",
                    });
                }
                if (label === "digest canary")
                    assert.ok(queried.some((q) => q.version === `sha256-${"ab".repeat(32)}`.slice(0, 63)));
            });
        }

        it("labels the canary's pods with exactly the strings its monitors query; batch pods carry their own service", () => {
            const d = find(production, ":Deployment", "myapp-canary-deployment");
            const dd = (labels: Record<string, string>) =>
                Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith("tags.datadoghq.com/")));
            const expected = {
                "tags.datadoghq.com/env": "production",
                "tags.datadoghq.com/service": "myapp",
                "tags.datadoghq.com/version": "v1.2.3",
            };
            assert.deepStrictEqual(dd(at(d, "metadata.labels")), expected);
            assert.deepStrictEqual(dd(at(d, "spec.template.metadata.labels")), expected);
            const batch = [...all(production, ":Job"), ...all(staging, ":Job")].map(
                (j) => at(j, "spec.template.metadata.labels")["tags.datadoghq.com/service"],
            );
            assert.ok(
                batch.length > 0 && batch.every((s) => typeof s === "string" && s !== "myapp"),
                JSON.stringify(batch),
            );
        });
    });

    describe("paging", () => {
        it("a 1.5% error rate on the canary pages once, the 1% alert, after five sustained minutes", () => {
            assert.deepStrictEqual(
                notificationsFor(production, "track:canary", { requests: 200, errors: 3, p95: 0.3 }),
                {
                    "error-rate-pct-canary": [
                        "Error rate above 1% for myapp in production (track:canary, version:v1.2.3).",
                        "The on-call engineer is paged. If it started with the release, roll back: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                        "@pagerduty-myapp @slack-engineering",
                    ],
                },
            );
        });

        it("from a quiet start, 3% errors page the 15-minute rollback trigger alone, and 6% 'roll back now' alone: a tier defers to the tiers above it", () => {
            const pages = (perMinute: { requests: number; errors: number; p95: number }) =>
                Object.entries(notificationsFor(production, "track:canary", perMinute))
                    .filter(([, lines]) => lines.some((l) => l.includes("@pagerduty")))
                    .map(([name]) => name);
            assert.deepStrictEqual(pages({ requests: 200, errors: 6, p95: 0.3 }), [
                "rollback-sustained-error-rate-pct-canary",
            ]);
            assert.deepStrictEqual(pages({ requests: 200, errors: 12, p95: 0.3 }), [
                "rollback-now-error-rate-pct-canary",
            ]);
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-rollback-sustained-error-rate-pct-canary"), "query"),
                "myapp-monitoring-rollback-sustained-error-rate-pct-canary-condition-id && !myapp-monitoring-low-requests-15m-canary-id && !myapp-monitoring-no-requests-5m-canary-id && !myapp-monitoring-rollback-now-error-rate-pct-canary-condition-id",
            );
        });

        it("every incident the pager opens is resolved by a recovery it receives, on any way back to OK, ALERT -> WARN -> OK too", () => {
            // A warning tier, where config sets one: 1% pages, 0.5% warns.
            const run = runStack("production", ["monitoring.warnings.errorRatePct=0.5"]);
            assert.strictEqual(run.resources.length > 0, true);
            const message = at(find(run, ":Monitor", "myapp-monitoring-error-rate-pct-canary"), "message") as string;
            assert.deepStrictEqual(notification(message, "ok", "alert").at(-1), "@pagerduty-myapp @slack-engineering");
            assert.deepStrictEqual(notification(message, "alert", "warn"), [
                "Error rate above 0.5% for myapp in production (track:canary, version:v1.2.3). Nearing the critical 1. @slack-engineering",
            ]);
            assert.deepStrictEqual(notification(message, "warn", "ok"), [
                "Recovered: Error rate for myapp in production (track:canary, version:v1.2.3) is back within 0.5 %. @pagerduty-myapp @slack-engineering",
            ]);
            assert.ok(!message.includes("is_alert_recovery"), "{{#is_alert_recovery}} renders on ALERT -> OK only");
        });

        it("names the pager only in alert and recovery blocks, in either stack; a warning never pages", () => {
            for (const m of [...monitorsOf(production), ...monitorsOf(staging)]) {
                const message = at(m, "message") as string;
                const outside = message.replace(/\{\{#(is_alert|is_recovery)\}\}[\s\S]*?\{\{\/\1\}\}/g, "");
                assert.ok(!outside.includes("@pagerduty"), m.name);
                if (message.includes("{{#is_warning}}"))
                    assert.ok(!notification(message, "ok", "warn").join("\n").includes("@pagerduty"), m.name);
            }
        });
    });

    describe("a version no user reaches", () => {
        it("staging's preview color tells chat only, and says what `rollback` says of that state", () => {
            const green = at(
                find(staging, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-green"),
                "message",
            ) as string;
            assert.strictEqual(
                staging.outputs.rollback,
                "none needed: the active color runs v1.2.2; v1.2.3 is only in preview",
            );
            assert.deepStrictEqual(notification(green, "ok", "alert"), [
                "Rollback trigger (now): error rate above 5% for myapp in staging (color:green, version:v1.2.3).",
                "No rollback needed: the active color runs v1.2.2; v1.2.3 is only in preview. It serves no users, so nobody is paged.",
                "@slack-engineering-staging",
            ]);
            // It may have paged while it served users: the recovery still resolves that incident.
            assert.ok(notification(green, "alert", "ok").join(" ").includes("@pagerduty-myapp-staging"));
            for (const m of monitorsOf(staging).filter((x) => (at(x, "tags") as string[]).includes("color:green"))) {
                assert.ok((at(m, "tags") as string[]).includes("users:none"), m.name);
                assert.ok(!notification(at(m, "message"), "ok", "alert").join(" ").includes("@pagerduty"), m.name);
            }
        });

        it("a canary set to weight 0 pages nobody and stops reminding; once switched to active, green pages", () => {
            const rolledBack = runStack("production", ["canary.weight=0"]);
            const m = find(rolledBack, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-canary");
            assert.deepStrictEqual(notification(at(m, "message"), "ok", "alert").slice(1), [
                "No rollback needed: the canary carries no traffic (canary.weight 0). It serves no users, so nobody is paged.",
                "@slack-engineering",
            ]);
            assert.strictEqual(at(m, "renotifyInterval"), 0);
            const switched = runStack("staging", ["blueGreen.activeColor=green"]);
            const green = find(switched, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-green");
            assert.deepStrictEqual(notification(at(green, "message"), "ok", "alert").slice(1), [
                "Roll back now: `pulumi config set --stack staging --path blueGreen.activeColor blue && pulumi up --stack staging`",
                "@pagerduty-myapp-staging @slack-engineering-staging",
            ]);
            assert.ok(
                (
                    at(
                        find(switched, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-blue"),
                        "tags",
                    ) as string[]
                ).includes("users:none"),
            );
        });

        it("after its traffic stops, a canary that paged resolves the incident within five minutes and says nothing more for two hours", () => {
            // 200 requests a minute at 6% errors for 20 minutes, then none: the rollback. The five-minute count never
            // falls below 100 before its window empties: only a missing count read as zero lets the guard see it.
            const run = runStack("production", ["canary.weight=0"]);
            const tags = { service: "myapp", env: "production", version: "v1.2.3", resource_name: "get_/api/orders" };
            const span = spanOf(run);
            const model = new MonitorModel(
                (minute) =>
                    minute >= 0 && minute < 20
                        ? [
                              { metric: `${span}.hits`, tags, value: 200 },
                              { metric: `${span}.errors`, tags, value: 12 },
                              { metric: span, tags, value: 0.3, weight: 200 },
                          ]
                        : [],
                () => [],
            );
            model.declare(
                runStack("production").resources.filter(
                    (r) => !r.type.endsWith(":Monitor") || (r.inputs.tags as string[]).includes("track:canary"),
                ),
            );
            for (let minute = 0; minute < 20; minute++) model.tick(minute);
            model.declare(
                run.resources.filter(
                    (r) => !r.type.endsWith(":Monitor") || (r.inputs.tags as string[]).includes("track:canary"),
                ),
            );
            for (let minute = 20; minute < 140; minute++) model.tick(minute);
            assert.deepStrictEqual(
                model.sent.map((x) => [
                    x.minute,
                    x.monitor.replace("myapp-monitoring-", ""),
                    x.to,
                    x.handles.join(" "),
                ]),
                [
                    [0, "rollback-now-error-rate-pct-canary", "alert", "@pagerduty-myapp @slack-engineering"],
                    [24, "rollback-now-error-rate-pct-canary", "ok", "@pagerduty-myapp @slack-engineering"],
                ],
            );
        });
    });

    describe("database connection pressure", () => {
        it("measures the app role's connections against its own limit, which app load reaches", () => {
            const q = (run: ProgramRun) => at(find(run, ":Monitor", "myapp-monitoring-db-connections-pct"), "query");
            assert.strictEqual(
                q(production),
                "avg(last_5m):sum:postgresql.connections{env:production,db:myapp,user:myapp_app} / 150 * 100 > 90",
            );
            assert.strictEqual(
                q(staging),
                "avg(last_5m):sum:postgresql.connections{env:staging,db:myapp,user:myapp_app} / 60 * 100 > 90",
            );
            // Fires at 136 of the role's 150 connections; server-wide, 150 of max_connections 200 read 75% and never reached 90%.
            const [, limit, threshold] = q(production)
                .match(/ \/ (\d+) \* 100 > (\d+)$/)!
                .map(Number);
            assert.strictEqual(Math.floor((limit * threshold) / 100) + 1, 136);
            assert.ok((100 * 150) / 200 < 90);
        });
    });

    describe("minimum traffic", () => {
        it("1 error in 10 requests a minute on the canary says nothing; 10 in 100 pages roll back now, once", () => {
            assert.deepStrictEqual(
                notificationsFor(production, "track:canary", { requests: 10, errors: 1, p95: 0.3 }),
                {},
            );
            const notified = notificationsFor(production, "track:canary", { requests: 100, errors: 10, p95: 0.3 });
            assert.deepStrictEqual(Object.keys(notified), ["rollback-now-error-rate-pct-canary"]);
            assert.deepStrictEqual(notified["rollback-now-error-rate-pct-canary"], [
                "Rollback trigger (now): error rate above 5% for myapp in production (track:canary, version:v1.2.3).",
                "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                "@pagerduty-myapp @slack-engineering",
            ]);
        });

        it("guards alert on too little traffic, counted without probes, and a missing count is zero; the composite needs the guard not alerting", () => {
            const guard = find(
                runStack("production", ["monitoring.trafficGuard.minRequests=500"]),
                ":Monitor",
                "myapp-monitoring-low-requests-15m-canary",
            );
            assert.strictEqual(
                at(guard, "query"),
                "sum(last_15m):sum:trace.web.request.hits{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_count() < 500",
            );
            assert.deepStrictEqual(at(guard, "monitorThresholds"), { critical: "500" });
            assert.strictEqual(at(guard, "onMissingData"), "default");
            assert.strictEqual(at(guard, "name"), "[production] myapp: fewer than 500 requests of track:canary in 15m");
            assert.ok(!(at(guard, "message") as string).includes("@"));
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary"), "query"),
                "myapp-monitoring-error-rate-pct-canary-condition-id && !myapp-monitoring-low-requests-5m-canary-id && !myapp-monitoring-rollback-now-error-rate-pct-canary-condition-id && !myapp-monitoring-rollback-sustained-error-rate-pct-canary-condition-id",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary-condition"), "query"),
                "min(last_5m):sum:trace.web.request.errors{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_rate() / sum:trace.web.request.hits{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_rate() * 100 > 1",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary-condition"), "onMissingData"),
                "resolve",
            );
        });

        it("a healthy release, with enough traffic on each version, has no monitor in ALERT or WARN", () => {
            const healthy = { requests: 200, errors: 0.4, p95: 0.3 };
            const model = new MonitorModel(
                () =>
                    ["v1.2.2", "v1.2.3"].flatMap((version): Point[] => {
                        const tags = { service: "myapp", env: "production", version, resource_name: "get_/api/orders" };
                        return [
                            { metric: "trace.web.request.hits", tags, value: healthy.requests },
                            { metric: "trace.web.request.errors", tags, value: healthy.errors },
                            { metric: "trace.web.request", tags, value: healthy.p95, weight: healthy.requests },
                            { metric: "payment.total", tags: { ...tags, resource_name: "" }, value: 24 },
                            { metric: "payment.failed", tags: { ...tags, resource_name: "" }, value: 0.2 },
                        ];
                    }),
                () => [],
            );
            model.declare(
                production.resources.filter(
                    (r) =>
                        !r.type.endsWith(":Monitor") ||
                        ["track:stable", "track:canary"].some((t) => (r.inputs.tags as string[]).includes(t)),
                ),
            );
            for (let minute = 0; minute < 20; minute++) model.tick(minute);
            assert.deepStrictEqual(
                model.apiListing().filter((m) => m.overall_state !== "OK"),
                [],
            );
            assert.deepStrictEqual(model.sent, []);
        });

        it("a slow p95 on the canary pages roll back now alone; a few slow requests say nothing", () => {
            assert.deepStrictEqual(
                notificationsFor(production, "track:canary", { requests: 10, errors: 0, p95: 6 }),
                {},
            );
            const slow = notificationsFor(production, "track:canary", { requests: 100, errors: 0, p95: 6 });
            assert.deepStrictEqual(Object.keys(slow), ["rollback-now-p95-seconds-canary"]);
            assert.deepStrictEqual(slow["rollback-now-p95-seconds-canary"], [
                "Rollback trigger (now): p95 response time above 5 s for myapp in production (track:canary, version:v1.2.3).",
                "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                "@pagerduty-myapp @slack-engineering",
            ]);
            // The p95 conditions themselves notify nobody.
            for (const n of [
                "rollback-now-p95-seconds-canary",
                "rollback-sustained-p95-seconds-canary",
                "p95-latency-seconds-canary",
            ]) {
                const condition = find(production, ":Monitor", `myapp-monitoring-${n}-condition`);
                assert.ok(!(at(condition, "message") as string).includes("@"), n);
                assert.strictEqual(tagValue(condition, "plan-alert"), undefined, n);
            }
        });
    });

    describe("payment failures per version", () => {
        it("judges each version's payment failures as a rollback trigger, guarded by a payment count, and keeps the service-wide ones", () => {
            const m = find(production, ":Monitor", "myapp-monitoring-version-payment-failure-pct-canary");
            assert.strictEqual(at(m, "priority"), "1");
            assert.strictEqual(tagValue(m, "severity"), "rollback");
            assert.strictEqual(
                at(m, "query"),
                "myapp-monitoring-version-payment-failure-pct-canary-condition-id && !myapp-monitoring-low-payments-5m-canary-id",
            );
            assert.strictEqual(
                at(
                    find(production, ":Monitor", "myapp-monitoring-version-payment-failure-pct-canary-condition"),
                    "query",
                ),
                "sum(last_5m):sum:payment.failed{service:myapp,env:production,version:v1.2.3}.as_count() / sum:payment.total{service:myapp,env:production,version:v1.2.3}.as_count() * 100 > 5",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-low-payments-5m-canary"), "query"),
                "sum(last_5m):sum:payment.total{service:myapp,env:production,version:v1.2.3}.as_count() < 20",
            );
            assert.ok(
                (at(m, "message") as string).includes(
                    "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                ),
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-payment-failure-pct-condition"), "query"),
                "sum(last_5m):sum:payment.failed{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 > 5",
            );
            // Service-wide too, one failure in 8 payments at 3 a.m. says nothing: the ratio needs trafficGuard.minPayments.
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-payment-failure-pct"), "query"),
                "myapp-monitoring-payment-failure-pct-condition-id && !myapp-monitoring-low-payments-5m-id",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-low-payments-15m"), "query"),
                "sum(last_15m):sum:payment.total{service:myapp,env:production}.as_count() < 20",
            );
        });
    });

    describe("the deployment window: downtime and muting", () => {
        it("mutes only rollout noise, in every group of those monitors, and keeps what the plan checks at T+30 live", () => {
            const downtime = find(production, ":DowntimeSchedule", "myapp-monitoring-deployment-window");
            assert.strictEqual(at(downtime, "scope"), "*");
            assert.deepStrictEqual(at(downtime, "oneTimeSchedule"), {
                start: "2026-11-27T14:00:00Z",
                end: "2026-11-27T16:00:00Z",
            });
            const muteTags = at(downtime, "monitorIdentifier.monitorTags") as string[];
            const muted = monitorsOf(production).filter((m) =>
                muteTags.every((t) => (at(m, "tags") as string[]).includes(t)),
            );
            assert.deepStrictEqual(
                muted.map((m) => m.name.replace("myapp-monitoring-", "")),
                ["cache-hit-pct", "cpu-pct", "memory-pct", "disk-io-pct", "autoscaler-at-max-pct"],
            );
            assert.ok(!muted.some((m) => m.name.includes("p95")));
            assert.strictEqual(
                at(downtime, "message"),
                "Deployment window of myapp v1.2.3: muted as rollout noise: Database cache hit rate, CPU (% of limit), Memory working set (% of limit), Disk I/O utilisation, Autoscaler replicas (% of its maximum). Every other monitor, each rollback trigger among them, stays live.",
            );
            assert.deepStrictEqual(all(staging, ":DowntimeSchedule"), [], "no window configured in staging");
        });

        it("a window about to start is declared whole; once open, from its creation (Datadog refuses a start in the past); once ended, not at all", () => {
            const downtime = (now: string) =>
                all(runStack("production", [], now), ":DowntimeSchedule").map((d) => at(d, "oneTimeSchedule"));
            assert.deepStrictEqual(downtime("2026-11-27T13:59:59Z"), [
                { start: "2026-11-27T14:00:00Z", end: "2026-11-27T16:00:00Z" },
            ]);
            assert.deepStrictEqual(downtime("2026-11-27T14:00:05Z"), [{ end: "2026-11-27T16:00:00Z" }]);
            assert.deepStrictEqual(downtime("2026-11-27T16:00:00Z"), []);
            assert.deepStrictEqual(downtime("2026-12-04T15:00:00Z"), []);
        });

        it("the offline preview and the plan say that an ended window declares no downtime", () => {
            const r = preview(["--stack", "production", "--now", "2026-12-04T15:00:00Z"]);
            assert.strictEqual(r.code, 0, r.stderr);
            assert.ok(!r.stdout.includes("DowntimeSchedule"), "no downtime in the tree");
            assert.ok(
                r.stderr.includes(
                    "monitoring.deploymentWindow ended at 2026-11-27T16:00:00Z: no deployment-window downtime is declared (Datadog refuses one in the past). Set the next release's window to mute its rollout noise.",
                ),
                r.stderr,
            );
            const readme = String(runStack("production", [], "2026-12-04T15:00:00Z").outputs.readme).split("\n");
            assert.ok(
                readme.includes(
                    "**Deployment Window**: 2 hours (14:00 to 16:00 UTC, monitoring.deploymentWindow; it ended at 2026-11-27T16:00:00Z, before this run: no deployment-window downtime is declared)",
                ),
            );
            assert.ok(
                readme.includes(
                    "**Deployment-window downtime**: none: the window ended at 2026-11-27T16:00:00Z, before this run, and Datadog refuses a downtime in the past. Set monitoring.deploymentWindow to the next release's window",
                ),
            );
        });

        it("normalises an offset to the provider's UTC form", () => {
            const run = runStack("production", [
                "monitoring.deploymentWindow.start=2026-11-27T15:00:00+01:00",
                "monitoring.deploymentWindow.end=2026-11-27T11:30:00-04:30",
            ]);
            assert.deepStrictEqual(
                at(find(run, ":DowntimeSchedule", "myapp-monitoring-deployment-window"), "oneTimeSchedule"),
                {
                    start: "2026-11-27T14:00:00Z",
                    end: "2026-11-27T16:00:00Z",
                },
            );
        });
    });

    describe("rollback advice in the alert messages", () => {
        it("a blue/green color that runs the previous version does not advise switching away from it", () => {
            const blue = at(
                find(staging, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-blue"),
                "message",
            ) as string;
            const green = at(
                find(staging, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-green"),
                "message",
            ) as string;
            assert.ok(
                blue.includes(
                    "This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook.",
                ),
                blue,
            );
            assert.ok(!blue.includes("blueGreen.activeColor"), blue);
            // Green serves no user until the switch: it advises no rollback (see "a version no user reaches").
            assert.ok(!green.includes("Roll back now"), green);
        });
    });

    describe("memory, autoscaler and other resource alerts", () => {
        it("watches the working set against the limit, per pod, and the autoscaler pinned at its maximum", () => {
            const q = (s: string) => at(find(production, ":Monitor", `myapp-monitoring-${s}`), "query");
            assert.strictEqual(
                q("memory-pct"),
                "avg(last_10m):sum:kubernetes.memory.working_set{kube_cluster_name:prod-us-east-1,kube_namespace:production,kube_app_name:myapp} by {kube_deployment,pod_name} / sum:kubernetes.memory.limits{kube_cluster_name:prod-us-east-1,kube_namespace:production,kube_app_name:myapp} by {kube_deployment,pod_name} * 100 > 90",
            );
            assert.strictEqual(
                q("autoscaler-at-max-pct"),
                "min(last_15m):sum:kubernetes_state.hpa.current_replicas{kube_cluster_name:prod-us-east-1 AND kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary, myapp-stable)} by {horizontalpodautoscaler} / sum:kubernetes_state.hpa.max_replicas{kube_cluster_name:prod-us-east-1 AND kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary, myapp-stable)} by {horizontalpodautoscaler} * 100 >= 100",
            );
        });

        it("watches only the autoscalers that can grow: one pinned at min = max is left out, and with none there is no such monitor", async () => {
            const hpaScope = (run: ProgramRun) =>
                (at(find(run, ":Monitor", "myapp-monitoring-autoscaler-at-max-pct"), "query") as string).match(
                    /\{([^}]*)\}/,
                )![1];
            const bounds = (run: ProgramRun) =>
                Object.fromEntries(
                    all(run, ":HorizontalPodAutoscaler").map((h) => [
                        at(h, "metadata.name"),
                        [at(h, "spec.minReplicas"), at(h, "spec.maxReplicas")],
                    ]),
                );
            const pack = async (run: ProgramRun) =>
                runPolicies(
                    run,
                    policies,
                    readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")),
                    PACK_ENFORCEMENT,
                );

            // release.maxReplicas = release.replicas pins stable at 6; the canary still grows from 2 to 6.
            const stablePinned = runStack("production", ["release.maxReplicas=6"]);
            assert.deepStrictEqual(bounds(stablePinned), { "myapp-stable": [6, 6], "myapp-canary": [2, 6] });
            assert.strictEqual(
                hpaScope(stablePinned),
                "kube_cluster_name:prod-us-east-1 AND kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary)",
            );
            assert.deepStrictEqual(await pack(stablePinned), []);

            // Both pinned (canaryMaxReplicas = canaryReplicas too): nothing can reach a maximum it did not start at. The
            // steps stop at 25%, which 2 canary pods can carry of a fleet of 6 (capacity-follows-traffic).
            const bothPinned = runStack("production", [
                "release.maxReplicas=6",
                "canary.canaryMaxReplicas=2",
                "canary.steps[0]=1",
                "canary.steps[1]=5",
                "canary.steps[2]=25",
            ]);
            assert.deepStrictEqual(bounds(bothPinned), { "myapp-stable": [6, 6], "myapp-canary": [2, 2] });
            assert.deepStrictEqual(
                monitorsOf(bothPinned).filter((m) => tagValue(m, "plan-alert") === "autoscalerAtMaxPct"),
                [],
            );
            assert.deepStrictEqual(await pack(bothPinned), []);

            // The pod-ratio router's proportional bounds pin both tracks when the fleet cannot grow.
            const proportional = runStack("production", [
                "canary.router=pod-ratio",
                "canary.weight=25",
                "canary.steps[0]=25",
                "canary.steps[1]=50",
                "release.replicas=4",
                "release.maxReplicas=4",
            ]);
            assert.deepStrictEqual(bounds(proportional), { "myapp-stable": [3, 3], "myapp-canary": [1, 1] });
            assert.deepStrictEqual(
                monitorsOf(proportional).filter((m) => tagValue(m, "plan-alert") === "autoscalerAtMaxPct"),
                [],
            );
        });

        it("the policy pack refuses an autoscaler-at-maximum monitor that watches a pinned autoscaler, and a growable one left unwatched", async () => {
            const run: ProgramRun = structuredClone(runStack("production", ["release.maxReplicas=6"]));
            const monitor = run.resources.find((r) => r.name === "myapp-monitoring-autoscaler-at-max-pct")!;
            monitor.inputs.query = (monitor.inputs.query as string).replace(
                /kube_cluster_name:prod-us-east-1 AND kube_namespace:production AND horizontalpodautoscaler IN \(myapp-canary\)/g,
                "kube_namespace:production,horizontalpodautoscaler:myapp-stable",
            );
            const violations = await runPolicies(
                run,
                policies,
                readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")),
                PACK_ENFORCEMENT,
            );
            assert.deepStrictEqual(
                violations.map((v) => v.message),
                [
                    "monitor [production] myapp: Autoscaler replicas (% of its maximum) at or above 100% watches autoscaler myapp-stable, pinned at 6 (minReplicas = maxReplicas): it alerts for good",
                    "no autoscalerAtMaxPct monitor watches autoscaler myapp-canary, which can grow from 2 to 6",
                ],
            );
        });

        it("lets a retired version's monitors resolve as its data stops: guards count missing as zero, conditions resolve", () => {
            for (const m of monitorsOf(production).filter(
                (x) => at(x, "type") === "query alert" && (at(x, "tags") as string[]).includes("notifies:nobody"),
            )) {
                const guard = (at(m, "tags") as string[]).includes("release-guard:traffic");
                assert.strictEqual(at(m, "onMissingData"), guard ? "default" : "resolve", m.name);
                assert.strictEqual(at(m, "notifyNoData"), undefined, m.name);
            }
        });

        it("titles say the comparison the query makes: the autoscaler is at or above 100%", () => {
            const m = find(production, ":Monitor", "myapp-monitoring-autoscaler-at-max-pct");
            assert.strictEqual(
                at(m, "name"),
                "[production] myapp: Autoscaler replicas (% of its maximum) at or above 100%",
            );
            assert.ok((at(m, "query") as string).endsWith(" >= 100"));
        });

        it("after a promotion, one set of monitors judges the shared version, with no duplicate query", () => {
            const run = runStack("production", ["canary.stableVersion=v1.2.3", "canary.weight=0"]);
            const queries = monitorsOf(run).map((m) => at(m, "query") as string);
            assert.strictEqual(new Set(queries).size, queries.length);
            assert.deepStrictEqual(
                [
                    ...new Set(
                        monitorsOf(run)
                            .map((m) => tagValue(m, "track"))
                            .filter((t) => t !== undefined),
                    ),
                ],
                ["stable"],
            );
            assert.ok(
                (
                    at(
                        find(run, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-stable"),
                        "message",
                    ) as string
                ).includes(
                    "`pulumi config set --stack production --path canary.stableVersion v1.2.2 && pulumi up --stack production`",
                ),
            );
        });
    });

    it("declares every plan alert once service-wide or once per version in flight", () => {
        const perVersion = [
            "errorRatePct",
            "p95LatencySeconds",
            "rollbackNowErrorRatePct",
            "rollbackNowP95Seconds",
            "rollbackSustainedErrorRatePct",
            "rollbackSustainedP95Seconds",
            "versionPaymentFailurePct",
        ];
        const counts = Object.fromEntries(
            ALERT_NAMES.map((n) => [n, monitorsOf(production).filter((m) => tagValue(m, "plan-alert") === n).length]),
        );
        assert.deepStrictEqual(counts, Object.fromEntries(ALERT_NAMES.map((n) => [n, perVersion.includes(n) ? 2 : 1])));
        assert.deepStrictEqual(
            monitorsOf(staging)
                .filter((m) => tagValue(m, "plan-alert") === "rollbackNowErrorRatePct")
                .map((m) => [tagValue(m, "color"), tagValue(m, "version")]),
            [
                ["blue", "v1.2.2"],
                ["green", "v1.2.3"],
            ],
        );
    });

    it("pages the rollback triggers at priority 1, with no warning tier: the tier below warns and pages for them", () => {
        const expected: Record<string, [string, object]> = {
            "rollback-now-error-rate-pct-canary-condition": ["sum(last_5m)", { critical: "5", criticalRecovery: "4" }],
            "rollback-now-p95-seconds-canary-condition": [
                "percentile(last_5m)",
                { critical: "5", criticalRecovery: "4" },
            ],
            "rollback-sustained-error-rate-pct-canary-condition": [
                "sum(last_15m)",
                { critical: "2", criticalRecovery: "1.6" },
            ],
            "rollback-sustained-p95-seconds-canary-condition": [
                "percentile(last_15m)",
                { critical: "3", criticalRecovery: "2.4" },
            ],
        };
        for (const [suffix, [window, thresholds]] of Object.entries(expected)) {
            const m = find(production, ":Monitor", `myapp-monitoring-${suffix}`);
            assert.ok((at(m, "query") as string).startsWith(window), suffix);
            assert.deepStrictEqual(at(m, "monitorThresholds"), thresholds, suffix);
            const notifier = find(production, ":Monitor", `myapp-monitoring-${suffix.replace(/-condition$/, "")}`);
            assert.strictEqual(at(notifier, "priority"), "1", suffix);
            assert.strictEqual(tagValue(notifier, "severity"), "rollback", suffix);
        }
    });

    it("writes each query's threshold equal to its monitorThresholds.critical", () => {
        for (const m of [...monitorsOf(production), ...monitorsOf(staging)].filter(
            (x) => at(x, "type") === "query alert",
        )) {
            const [, op, n] = (at(m, "query") as string).match(/ (>=|<=|>|<) (\S+)$/)!;
            assert.strictEqual(n, at(m, "monitorThresholds").critical, m.name);
            const alert = tagValue(m, "plan-alert") ?? tagValue(m, "plan-alert-condition");
            if (alert)
                assert.strictEqual(
                    op.startsWith(PLAN_ALERTS[alert as keyof typeof PLAN_ALERTS].bad === "above" ? ">" : "<"),
                    true,
                    m.name,
                );
        }
    });

    it("uses the integrations' metric names and the app's own business metrics", () => {
        const q = (s: string) => at(find(production, ":Monitor", `myapp-monitoring-${s}`), "query");
        assert.strictEqual(
            q("payment-success-pct-condition"),
            "sum(last_15m):sum:payment.succeeded{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 < 95",
        );
        assert.strictEqual(
            q("email-delivery-pct"),
            "sum(last_30m):sum:email.delivered{service:myapp,env:production}.as_count() / sum:email.sent{service:myapp,env:production}.as_count() * 100 < 98",
        );
        assert.strictEqual(
            q("db-query-ms"),
            "sum(last_10m):sum:postgresql.queries.time{env:production,db:myapp,user:myapp_app}.as_count() / sum:postgresql.queries.count{env:production,db:myapp,user:myapp_app}.as_count() / 1000000 > 500",
        );
        assert.strictEqual(
            q("cpu-pct"),
            "avg(last_10m):sum:kubernetes.cpu.usage.total{kube_cluster_name:prod-us-east-1,kube_namespace:production,kube_app_name:myapp} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{kube_cluster_name:prod-us-east-1,kube_namespace:production,kube_app_name:myapp} by {kube_deployment} * 100 > 80",
        );
        // The cluster's nodes, not every host tagged env:production (the agent tags its hosts kube_cluster_name).
        assert.strictEqual(
            q("disk-io-pct"),
            "avg(last_10m):max:system.io.util{kube_cluster_name:prod-us-east-1} by {host,device} > 80",
        );
    });

    it("the SLOs and the dashboard count user requests as the monitors do, without probes, and divide by a constant in a formula", () => {
        const availability = find(production, ":ServiceLevelObjective", "myapp-monitoring-availability-slo");
        assert.deepStrictEqual(at(availability, "query"), {
            numerator:
                "sum:trace.web.request.hits{service:myapp,env:production,!resource_name:get_/health/*}.as_count() - sum:trace.web.request.errors{service:myapp,env:production,!resource_name:get_/health/*}.as_count()",
            denominator:
                "sum:trace.web.request.hits{service:myapp,env:production,!resource_name:get_/health/*}.as_count()",
        });
        const latency = find(production, ":ServiceLevelObjective", "myapp-monitoring-latency-slo");
        assert.strictEqual(
            at(latency, "sliSpecification.timeSlice.query.queries")[0].metricQuery.query,
            "p95:trace.web.request{service:myapp,env:production,!resource_name:get_/health/*}",
        );
        const widgets = JSON.parse(
            at(find(production, ":DashboardJson", "myapp-monitoring-dashboard"), "dashboard"),
        ).widgets.map((w: any) => w.definition.requests[0]);
        assert.deepStrictEqual(
            widgets[0].queries[1].query,
            "sum:trace.web.request.hits{service:myapp,env:production,!resource_name:get_/health/*} by {version}.as_count()",
        );
        assert.deepStrictEqual(
            [widgets[5].queries.map((x: any) => x.query), widgets[5].formulas],
            [["sum:postgresql.connections{env:production,db:myapp,user:myapp_app}"], [{ formula: "q1 / 150 * 100" }]],
        );
    });

    it("declares availability and latency SLOs with the configured targets, and a per-version dashboard", () => {
        const availability = find(production, ":ServiceLevelObjective", "myapp-monitoring-availability-slo");
        assert.deepStrictEqual(at(availability, "thresholds"), [{ timeframe: "30d", target: 99.9 }]);
        const latency = find(production, ":ServiceLevelObjective", "myapp-monitoring-latency-slo");
        assert.strictEqual(at(latency, "sliSpecification.timeSlice.threshold"), 2);
        const dashboard = JSON.parse(at(find(production, ":DashboardJson", "myapp-monitoring-dashboard"), "dashboard"));
        assert.deepStrictEqual(
            dashboard.widgets.map((w: any) => w.definition.title),
            [
                "Error rate by version (%)",
                "p50 response time by version (s)",
                "p95 response time by version (s)",
                "p99 response time by version (s)",
                "Throughput by version (requests/s)",
                "Database connections of myapp_app (% of its limit)",
                "Database cache hit rate (%)",
                "Mean database query time (ms)",
                "CPU by deployment (% of limit)",
                "Memory working set by deployment (% of limit)",
            ],
        );
    });

    it("lets staging loosen a threshold without a reason", () => {
        const m = find(staging, ":Monitor", "myapp-monitoring-p95-latency-seconds-green");
        assert.strictEqual(
            at(find(staging, ":Monitor", "myapp-monitoring-p95-latency-seconds-green-condition"), "query"),
            "percentile(last_10m):p95:trace.web.request{service:myapp,env:staging,version:v1.2.3,!resource_name:get_/health/*} > 3",
        );
        assert.strictEqual(at(m, "name"), "[staging] myapp: p95 response time above 3 s (color:green)");
    });
});

describe("a service without business metrics", () => {
    const productionPack = () => readPolicyConfig(path.join(ROOT, "policy", "config", "production.json"));
    let production: ProgramRun;
    let withoutMetrics: ProgramRun;
    before(() => {
        production = runStack("production");
        const config = stackConfig("production");
        const { metrics: _metrics, ...monitoring } = config[`${PROJECT}:monitoring`] as Record<string, unknown>;
        withoutMetrics = runConfig("production", { ...config, [`${PROJECT}:monitoring`]: monitoring });
    });

    it("production without monitoring.metrics declares no payment or email monitor, and every other monitor as it was", () => {
        const names = (run: ProgramRun) => monitorsOf(run).map((m) => m.name.replace("myapp-monitoring-", ""));
        assert.deepStrictEqual(
            names(production).filter((n) => !names(withoutMetrics).includes(n)),
            [
                "version-payment-failure-pct-stable-condition",
                "version-payment-failure-pct-canary-condition",
                "payment-failure-pct-condition",
                "payment-success-pct-condition",
                "low-payments-5m-stable",
                "version-payment-failure-pct-stable",
                "low-payments-5m-canary",
                "version-payment-failure-pct-canary",
                "low-payments-5m",
                "payment-failure-pct",
                "low-payments-15m",
                "payment-success-pct",
                "email-delivery-pct",
            ],
        );
        for (const m of monitorsOf(withoutMetrics)) {
            assert.deepStrictEqual(m, find(production, ":Monitor", m.name), m.name);
            assert.ok(!/payment|email/.test(at(m, "query") as string), m.name);
        }
    });

    it("the production policy pack demands its payment and email monitors, unless the pack's config says it has no business metrics", async () => {
        assert.deepStrictEqual(await runPolicies(withoutMetrics, policies, productionPack(), PACK_ENFORCEMENT), [
            {
                policy: "monitors-for-plan-alerts",
                level: "mandatory",
                message: "no monitor for the plan's alert paymentFailurePct (Payment failure rate)",
                resource: null,
            },
            {
                policy: "monitors-for-plan-alerts",
                level: "mandatory",
                message: "no monitor for the plan's alert paymentSuccessPct (Payment success rate)",
                resource: null,
            },
            {
                policy: "monitors-for-plan-alerts",
                level: "mandatory",
                message: "no monitor for the plan's alert emailDeliveryPct (Email delivery rate)",
                resource: null,
            },
            {
                policy: "monitors-for-plan-alerts",
                level: "mandatory",
                message:
                    "no monitor for the plan's alert versionPaymentFailurePct (Rollback trigger: payment failure rate)",
                resource: null,
            },
        ]);
        const pack = productionPack();
        const noBusinessMetrics = {
            ...pack,
            "monitors-for-plan-alerts": { ...(pack["monitors-for-plan-alerts"] as object), businessMetrics: false },
        };
        assert.deepStrictEqual(await runPolicies(withoutMetrics, policies, noBusinessMetrics, PACK_ENFORCEMENT), []);
        // Declared ones are still held to the plan: a looser payment monitor is refused with businessMetrics false too.
        const looser = structuredClone(production);
        looser.resources.find((r) => r.name === "myapp-monitoring-payment-failure-pct")!.inputs.monitorThresholds = {
            critical: "9",
        };
        assert.deepStrictEqual(
            (await runPolicies(looser, policies, noBusinessMetrics, PACK_ENFORCEMENT)).map((v) => v.message),
            ["monitor [production] myapp: Payment failure rate above 5% alerts at 9, looser than the plan's 5"],
        );
    });
});

describe("monitoring config validation", () => {
    const validate = (stack: string, sets: string[]) => validateConfig(PROJECT, stack, programConfig(stack, sets));

    it("rejects a negative threshold", () =>
        rejectsConfig(
            "production",
            ["monitoring.thresholds.cpuPct=-5"],
            "myapp:monitoring.thresholds.cpuPct = -5: must be a positive number",
        ));
    it("rejects a percentage above 100", () =>
        rejectsConfig(
            "staging",
            ["monitoring.thresholds.cpuPct=150"],
            "myapp:monitoring.thresholds.cpuPct = 150: is a percentage and cannot exceed 100",
        ));
    it("rejects a warning beyond critical", () =>
        rejectsConfig(
            "production",
            ["monitoring.warnings.errorRatePct=3"],
            "myapp:monitoring.warnings.errorRatePct = 3: must be below the critical threshold 1",
        ));
    it("rejects a warning beyond critical on a falling metric", () =>
        rejectsConfig(
            "production",
            ["monitoring.warnings.cacheHitPct=70"],
            "myapp:monitoring.warnings.cacheHitPct = 70: must be above the critical threshold 80",
        ));
    it("rejects a notify handle in the wrong form", () =>
        rejectsConfig(
            "production",
            ["monitoring.notify.pager[0]=pagerduty-myapp"],
            'myapp:monitoring.notify.pager[0] = "pagerduty-myapp": must be a Datadog notification handle',
        ));
    it("rejects a window that ends before it starts", () =>
        rejectsConfig(
            "production",
            ["monitoring.deploymentWindow.end=2026-11-27T13:00:00Z"],
            'myapp:monitoring.deploymentWindow.end = "2026-11-27T13:00:00Z": must be after start (2026-11-27T14:00:00Z)',
        ));
    it("rejects a window that is not a date", () =>
        rejectsConfig(
            "production",
            ["monitoring.deploymentWindow.start=tomorrow"],
            'myapp:monitoring.deploymentWindow.start = "tomorrow": must be an ISO 8601 date-time in whole seconds',
        ));
    it("rejects a window time with fractions of a second, which the provider cannot take", () =>
        rejectsConfig(
            "production",
            ["monitoring.deploymentWindow.start=2026-11-27T14:00:00.500Z"],
            'myapp:monitoring.deploymentWindow.start = "2026-11-27T14:00:00.500Z": must be an ISO 8601 date-time in whole seconds',
        ));
    it("rejects a traffic guard of 0 requests", () =>
        rejectsConfig(
            "production",
            ["monitoring.trafficGuard.minRequests=0"],
            "myapp:monitoring.trafficGuard.minRequests = 0: must be at least 1",
        ));
    it("rejects a production threshold looser than the plan's without a reason", () =>
        rejectsConfig(
            "production",
            ["monitoring.thresholds.errorRatePct=2"],
            "myapp:monitoring.thresholds.errorRatePct = 2: is looser than the plan's 1 (alerts above it); in production set monitoring.looserThresholdReasons.errorRatePct to say why",
        ));
    it("rejects a looser falling threshold in production too", () =>
        rejectsConfig(
            "production",
            ["monitoring.thresholds.paymentSuccessPct=90"],
            "myapp:monitoring.thresholds.paymentSuccessPct = 90: is looser than the plan's 95 (alerts below it)",
        ));
    it("accepts a looser production threshold with a reason, and a tighter one without", () => {
        const cfg = validate("production", [
            "monitoring.thresholds.errorRatePct=2",
            "monitoring.looserThresholdReasons.errorRatePct=Known retry storm from partner API until INC-1234 closes",
            "monitoring.thresholds.cpuPct=70",
        ]);
        assert.strictEqual(cfg.monitoring?.thresholds.errorRatePct, 2);
        assert.strictEqual(cfg.monitoring?.thresholds.cpuPct, 70);
    });
    it("resolves every alert's thresholds: the plan's numbers unless set; warnings only where set, a float as `config set --path` stores it", () => {
        const m = validate("production", [
            "monitoring.thresholds.rollbackNowErrorRatePct=4",
            "monitoring.warnings.cpuPct=70",
            "monitoring.warnings.errorRatePct=0.5",
        ]).monitoring!;
        assert.deepStrictEqual(m.thresholds, {
            ...Object.fromEntries(ALERT_NAMES.map((n) => [n, PLAN_ALERTS[n].plan])),
            rollbackNowErrorRatePct: 4,
        });
        assert.deepStrictEqual(m.warnings, { cpuPct: 70, errorRatePct: 0.5 });
        assert.deepStrictEqual(validate("staging", []).monitoring!.warnings, {});
    });
    it("refuses a warning on a rollback trigger the tiers below defer to", () =>
        rejectsConfig(
            "production",
            ["monitoring.warnings.rollbackNowErrorRatePct=2"],
            "myapp:monitoring.warnings.rollbackNowErrorRatePct = 2: must be left out: the tiers below this rollback trigger warn and page for it, and a warning here would silence them in its band",
        ));
    it("requires the span of the app's inbound requests, with no default", () =>
        assert.ok(
            configErrorFor("production", ["monitoring.span="]).includes("myapp:monitoring.span") &&
                (() => {
                    const config = stackConfig("production");
                    delete (config["myapp:monitoring"] as Record<string, unknown>).span;
                    try {
                        validateConfig(
                            PROJECT,
                            "production",
                            Object.fromEntries(
                                Object.entries(config).map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
                            ),
                        );
                    } catch (err) {
                        return (err as Error).message.includes(
                            "myapp:monitoring.span = (not set): is required: the span name the app's tracer gives inbound HTTP requests, such as web.request for dd-trace-js (README: span names per tracer)",
                        );
                    }
                    return false;
                })(),
        ));
    it("rejects a priority outside 1 to 5", () =>
        rejectsConfig(
            "production",
            ["monitoring.priorities.warning=7"],
            "myapp:monitoring.priorities.warning = 7: must be a priority from 1 to 5",
        ));
});

describe("the span the monitors count", () => {
    it("the committed stacks name myapp's inbound span, web.request (dd-trace-js), and every trace query counts it", () => {
        for (const stack of ["production", "staging"]) {
            assert.strictEqual((stackConfig(stack)["myapp:monitoring"] as Record<string, unknown>).span, "web.request");
            const traces = monitorsOf(runStack(stack)).flatMap(
                (m) => (at(m, "query") as string).match(/trace\.[a-z0-9_.]+?(?=\.hits|\.errors|\{)/g) ?? [],
            );
            assert.ok(traces.length > 0);
            assert.deepStrictEqual([...new Set(traces)], ["trace.web.request"], stack);
        }
    });

    it("the README lists the inbound span of each tracer", () => {
        const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
        for (const [tracer, span] of [
            ["dd-trace-js", "web.request"],
            ["dd-trace-py", "flask.request"],
            ["dd-trace-java", "servlet.request"],
            ["dd-trace-go", "http.request"],
            ["dd-trace-rb", "rack.request"],
            ["dd-trace-dotnet", "aspnet_core.request"],
        ]) {
            assert.ok(
                readme.split("\n").some((l) => l.startsWith(`| ${tracer} |`) && l.includes(`\`${span}\``)),
                tracer,
            );
        }
    });
});

describe("backups and restore drills, watched", () => {
    let production: ProgramRun;
    before(() => {
        production = runStack("production");
    });
    const monitor = (run: ProgramRun, name: string) => find(run, ":Monitor", `myapp-scheduled-jobs-${name}`);

    it("watches the backup and drill CronJobs BackupSchedule declares, by the kubernetes_state check's service check and metric", () => {
        const crons = all(production, ":CronJob").map((c) => at(c, "metadata.name"));
        assert.deepStrictEqual(crons, ["myapp-db-backup", "myapp-db-restore-drill"]);
        assert.strictEqual(
            at(monitor(production, "myapp-db-backup-failed"), "query"),
            '"kubernetes_state.cronjob.complete".over("kube_cluster_name:prod-us-east-1","kube_namespace:production","kube_cronjob:myapp-db-backup").by("kube_cronjob").last(1).count_by_status()',
        );
        assert.strictEqual(
            at(monitor(production, "myapp-db-backup-not-scheduled"), "query"),
            "max(last_5m):max:kubernetes_state.cronjob.duration_since_last_schedule{kube_cluster_name:prod-us-east-1,kube_namespace:production,kube_cronjob:myapp-db-backup} > 43200",
        );
        assert.strictEqual(at(monitor(production, "myapp-db-restore-drill-failed"), "type"), "service check");
        assert.deepStrictEqual(
            all(production, ":Monitor")
                .filter((m) => m.name.startsWith("myapp-scheduled-jobs-"))
                .map((m) => m.name),
            [
                "myapp-scheduled-jobs-myapp-db-backup-failed",
                "myapp-scheduled-jobs-myapp-db-backup-not-scheduled",
                "myapp-scheduled-jobs-myapp-db-restore-drill-failed",
            ],
        );
    });

    it("a failed backup tells chat; still failing one schedule interval later, no backup has succeeded for twice the interval: it pages, and the next success resolves it", () => {
        const failed = monitor(production, "myapp-db-backup-failed");
        // "0 */6 * * *": six hours between runs; staging's "0 3 * * *", a day.
        assert.strictEqual(at(failed, "renotifyInterval"), 360);
        assert.strictEqual(at(monitor(runStack("staging"), "myapp-db-backup-failed"), "renotifyInterval"), 1440);
        assert.strictEqual(
            at(monitor(runStack("staging"), "myapp-db-backup-not-scheduled"), "monitorThresholds.critical"),
            "172800",
        );
        let status: "ok" | "critical" = "ok";
        const model = new MonitorModel(
            () => [],
            () => [
                {
                    check: "kubernetes_state.cronjob.complete",
                    tags: {
                        kube_cluster_name: "prod-us-east-1",
                        kube_namespace: "production",
                        kube_cronjob: "myapp-db-backup",
                    },
                    status,
                },
            ],
        );
        model.declare(production.resources.filter((r) => !r.type.endsWith(":Monitor") || r.name === failed.name));
        // 00:00 succeeded; 06:00 fails; 12:00 fails; 18:00 succeeds.
        for (let minute = 0; minute < 24 * 60; minute++) {
            status = minute >= 6 * 60 + 20 && minute < 18 * 60 + 20 ? "critical" : "ok";
            model.tick(minute);
        }
        assert.deepStrictEqual(
            model.sent.map((s) => [s.minute, s.to, s.renotify, s.handles.join(" ")]),
            [
                [380, "alert", false, "@slack-engineering"],
                [740, "alert", true, "@pagerduty-myapp @slack-engineering"],
                [1100, "ok", false, "@pagerduty-myapp @slack-engineering"],
            ],
        );
        assert.deepStrictEqual(model.sent[1].lines, [
            "No successful database backup for twice the schedule interval (12 h): the last runs of CronJob production/myapp-db-backup (production) failed. @pagerduty-myapp @slack-engineering",
        ]);
    });

    it("the policy pack refuses a backup or drill CronJob no monitor watches", async () => {
        const run: ProgramRun = structuredClone(production);
        run.resources = run.resources.filter((r) => !r.name.startsWith("myapp-scheduled-jobs-myapp-db-restore-drill"));
        const violations = await runPolicies(
            run,
            policies,
            readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")),
            PACK_ENFORCEMENT,
        );
        assert.deepStrictEqual(
            violations.map((v) => v.message),
            ["no monitor watches CronJob myapp-db-restore-drill: a failed run would go unnoticed"],
        );
    });
});
