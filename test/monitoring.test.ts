import * as assert from "assert";
import { ALERT_NAMES, PLAN_ALERTS } from "../policy/planAlerts";
import { validateConfig } from "../lib/config";
import { DeclaredResource, ProgramRun } from "../lib/offline/types";
import { all, at, configErrorFor, find, programConfig, PROJECT, runStack } from "./helpers";

const monitorsOf = (run: ProgramRun) => all(run, ":Monitor");
const tagValue = (m: DeclaredResource, key: string) =>
    (at(m, "tags") as string[]).find((t) => t.startsWith(`${key}:`))?.slice(key.length + 1);

describe("Datadog monitoring from the plan's thresholds", () => {
    let production: ProgramRun;
    let staging: ProgramRun;
    before(() => {
        production = runStack("production");
        staging = runStack("staging");
    });

    it("declares every plan alert once service-wide or once per version in flight", () => {
        const perVersion = ["errorRatePct", "p95LatencySeconds", "rollbackNowErrorRatePct", "rollbackNowP95Seconds", "rollbackSustainedErrorRatePct", "rollbackSustainedP95Seconds"];
        const counts = Object.fromEntries(ALERT_NAMES.map((n) => [n, monitorsOf(production).filter((m) => tagValue(m, "plan-alert") === n).length]));
        assert.deepStrictEqual(counts, Object.fromEntries(ALERT_NAMES.map((n) => [n, perVersion.includes(n) ? 2 : 1])));
        assert.deepStrictEqual(
            monitorsOf(production)
                .filter((m) => tagValue(m, "plan-alert") === "errorRatePct")
                .map((m) => [tagValue(m, "track"), tagValue(m, "version")]),
            [
                ["stable", "v1.2.2"],
                ["canary", "v1.2.3"],
            ],
        );
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

    it("judges the canary on its own traffic with the plan's error-rate query", () => {
        const m = find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary");
        assert.strictEqual(at(m, "name"), "[production] myapp: Error rate above 1% (track:canary)");
        assert.strictEqual(at(m, "type"), "query alert");
        assert.strictEqual(
            at(m, "query"),
            "sum(last_5m):sum:trace.http.request.errors{service:myapp,env:production,version:v1.2.3}.as_count() / sum:trace.http.request.hits{service:myapp,env:production,version:v1.2.3}.as_count() * 100 > 1",
        );
        assert.deepStrictEqual(at(m, "monitorThresholds"), { critical: "1", criticalRecovery: "0.8" });
        assert.strictEqual(at(m, "priority"), "2");
        assert.deepStrictEqual(at(m, "tags"), [
            "service:myapp",
            "env:production",
            "managed-by:pulumi",
            "version:v1.2.3",
            "track:canary",
            "severity:critical",
            "plan-alert:errorRatePct",
        ]);
        assert.strictEqual(at(m, "notifyNoData"), false);
        assert.strictEqual(
            at(m, "message"),
            [
                "{{#is_alert}}Error rate above 1% for myapp in production (track:canary, version:v1.2.3): {{value}} %.",
                "The on-call engineer is paged. If it started with the release, roll back: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                "{{/is_alert}}",
                "{{#is_recovery}}Recovered: Error rate for myapp in production (track:canary, version:v1.2.3) is back within 1 %.{{/is_recovery}}",
                "@pagerduty-myapp @slack-engineering",
            ].join("\n"),
        );
    });

    it("makes p95 latency a warning to chat, over 10 minutes, in seconds", () => {
        const m = find(production, ":Monitor", "myapp-monitoring-p95-latency-seconds-stable");
        assert.strictEqual(at(m, "query"), "percentile(last_10m):p95:trace.http.request{service:myapp,env:production,version:v1.2.2} > 2");
        assert.strictEqual(at(m, "priority"), "3");
        assert.ok((at(m, "message") as string).endsWith("\n@slack-engineering"));
        assert.ok(!(at(m, "message") as string).includes("@pagerduty"));
    });

    it("pages the rollback triggers at priority 1 with the plan's tiers as warnings", () => {
        const expected: Record<string, [string, object]> = {
            "rollback-now-error-rate-pct-canary": ["sum(last_5m)", { critical: "5", warning: "2", criticalRecovery: "4" }],
            "rollback-now-p95-seconds-canary": ["percentile(last_5m)", { critical: "5", warning: "3", criticalRecovery: "4" }],
            "rollback-sustained-error-rate-pct-canary": ["sum(last_15m)", { critical: "2", warning: "1", criticalRecovery: "1.6" }],
            "rollback-sustained-p95-seconds-canary": ["percentile(last_15m)", { critical: "3", warning: "2", criticalRecovery: "2.4" }],
        };
        for (const [suffix, [window, thresholds]] of Object.entries(expected)) {
            const m = find(production, ":Monitor", `myapp-monitoring-${suffix}`);
            assert.ok((at(m, "query") as string).startsWith(window), suffix);
            assert.deepStrictEqual(at(m, "monitorThresholds"), thresholds, suffix);
            assert.strictEqual(at(m, "priority"), "1", suffix);
            assert.strictEqual(tagValue(m, "severity"), "rollback", suffix);
            assert.ok(
                (at(m, "message") as string).includes("Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`"),
                suffix,
            );
            assert.ok((at(m, "message") as string).endsWith("\n@pagerduty-myapp @slack-engineering"), suffix);
        }
    });

    it("writes each query's threshold equal to its monitorThresholds.critical", () => {
        for (const m of [...monitorsOf(production), ...monitorsOf(staging)]) {
            const q = at(m, "query") as string;
            const n = q.match(/[<>] (\S+)$/)![1];
            assert.strictEqual(n, at(m, "monitorThresholds").critical, m.name);
            const alert = PLAN_ALERTS[tagValue(m, "plan-alert") as keyof typeof PLAN_ALERTS];
            assert.strictEqual(q.includes(alert.bad === "above" ? " > " : " < "), true, m.name);
        }
    });

    it("uses the integrations' metric names and the app's own business metrics", () => {
        const q = (s: string) => at(find(production, ":Monitor", `myapp-monitoring-${s}`), "query");
        assert.strictEqual(q("payment-failure-pct"), "sum(last_5m):sum:payment.failed{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 > 5");
        assert.strictEqual(q("payment-success-pct"), "sum(last_15m):sum:payment.succeeded{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 < 95");
        assert.strictEqual(q("email-delivery-pct"), "sum(last_30m):sum:email.delivered{service:myapp,env:production}.as_count() / sum:email.sent{service:myapp,env:production}.as_count() * 100 < 98");
        assert.strictEqual(q("db-connections-pct"), "avg(last_5m):max:postgresql.percent_usage_connections{env:production,db:myapp} * 100 > 90");
        assert.strictEqual(
            q("db-query-ms"),
            "sum(last_10m):sum:postgresql.queries.time{env:production,db:myapp}.as_count() / sum:postgresql.queries.count{env:production,db:myapp}.as_count() / 1000000 > 500",
        );
        assert.strictEqual(
            q("cache-hit-pct"),
            "sum(last_15m):sum:postgresql.buffer_hit{env:production,db:myapp}.as_count() / ( sum:postgresql.buffer_hit{env:production,db:myapp}.as_count() + sum:postgresql.disk_read{env:production,db:myapp}.as_count() ) * 100 < 80",
        );
        assert.strictEqual(
            q("cpu-pct"),
            "avg(last_10m):sum:kubernetes.cpu.usage.total{kube_namespace:production,kube_app_name:myapp} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{kube_namespace:production,kube_app_name:myapp} by {kube_deployment} * 100 > 80",
        );
        assert.strictEqual(q("memory-pct"), "avg(last_10m):max:kubernetes.memory.usage_pct{kube_namespace:production,kube_app_name:myapp} by {kube_deployment} * 100 > 90");
        assert.strictEqual(q("disk-io-pct"), "avg(last_10m):max:system.io.util{env:production} by {host,device} > 80");
    });

    it("mutes only warning-level monitors in the deployment window, never a rollback trigger or a page", () => {
        const downtime = find(production, ":DowntimeSchedule", "myapp-monitoring-deployment-window");
        assert.deepStrictEqual(at(downtime, "oneTimeSchedule"), { start: "2026-11-27T14:00:00Z", end: "2026-11-27T16:00:00Z" });
        assert.strictEqual(at(downtime, "scope"), "env:production");
        const muteTags = at(downtime, "monitorIdentifier.monitorTags") as string[];
        const muted = monitorsOf(production).filter((m) => muteTags.every((t) => (at(m, "tags") as string[]).includes(t)));
        assert.deepStrictEqual(
            muted.map((m) => m.name.replace("myapp-monitoring-", "")),
            ["p95-latency-seconds-stable", "p95-latency-seconds-canary", "email-delivery-pct", "db-query-ms", "cache-hit-pct", "cpu-pct", "memory-pct", "disk-io-pct"],
        );
        for (const m of monitorsOf(production).filter((x) => !muted.includes(x))) assert.notStrictEqual(tagValue(m, "severity"), "warning", m.name);
        assert.deepStrictEqual(all(staging, ":DowntimeSchedule"), [], "no window configured in staging");
    });

    it("declares availability and latency SLOs with the configured targets, and a per-version dashboard", () => {
        const availability = find(production, ":ServiceLevelObjective", "myapp-monitoring-availability-slo");
        assert.deepStrictEqual(at(availability, "thresholds"), [{ timeframe: "30d", target: 99.9 }]);
        assert.strictEqual(at(availability, "query.denominator"), "sum:trace.http.request.hits{service:myapp,env:production}.as_count()");
        const latency = find(production, ":ServiceLevelObjective", "myapp-monitoring-latency-slo");
        assert.strictEqual(at(latency, "type"), "time_slice");
        assert.strictEqual(at(latency, "sliSpecification.timeSlice.threshold"), 2);
        assert.strictEqual(at(latency, "sliSpecification.timeSlice.query.queries")[0].metricQuery.query, "p95:trace.http.request{service:myapp,env:production}");
        const dashboard = JSON.parse(at(find(production, ":DashboardJson", "myapp-monitoring-dashboard"), "dashboard"));
        assert.deepStrictEqual(
            dashboard.widgets.map((w: any) => w.definition.title),
            [
                "Error rate by version (%)",
                "p50 response time by version (s)",
                "p95 response time by version (s)",
                "p99 response time by version (s)",
                "Throughput by version (requests/s)",
                "Database connections (% of max)",
                "Database cache hit rate (%)",
                "Mean database query time (ms)",
                "CPU by deployment (% of limit)",
                "Memory by deployment (% of limit)",
            ],
        );
        assert.strictEqual(dashboard.widgets[2].definition.requests[0].queries[0].query, "p95:trace.http.request{service:myapp,env:production} by {version}");
    });

    it("lets staging loosen a threshold without a reason", () => {
        const m = find(staging, ":Monitor", "myapp-monitoring-p95-latency-seconds-green");
        assert.strictEqual(at(m, "query"), "percentile(last_10m):p95:trace.http.request{service:myapp,env:staging,version:v1.2.3} > 3");
        assert.strictEqual(at(m, "name"), "[staging] myapp: p95 response time above 3 s (color:green)");
    });
});

describe("monitoring config validation", () => {
    const validate = (stack: string, sets: string[]) => validateConfig(PROJECT, stack, programConfig(stack, sets));
    const rejects = (stack: string, sets: string[], expected: string) => assert.ok(configErrorFor(stack, sets).includes(`  ${expected}`), `expected "${expected}"`);

    it("rejects a negative threshold", () => rejects("production", ["monitoring.thresholds.cpuPct=-5"], "myapp:monitoring.thresholds.cpuPct = -5: must be a positive number"));
    it("rejects a percentage above 100", () => rejects("staging", ["monitoring.thresholds.cpuPct=150"], "myapp:monitoring.thresholds.cpuPct = 150: is a percentage and cannot exceed 100"));
    it("rejects a warning beyond critical", () =>
        rejects("production", ["monitoring.warnings.errorRatePct=3"], "myapp:monitoring.warnings.errorRatePct = 3: must be below the critical threshold 1"));
    it("rejects a warning beyond critical on a falling metric", () =>
        rejects("production", ["monitoring.warnings.cacheHitPct=70"], "myapp:monitoring.warnings.cacheHitPct = 70: must be above the critical threshold 80"));
    it("rejects a notify handle in the wrong form", () =>
        rejects("production", ["monitoring.notify.pager[0]=pagerduty-myapp"], 'myapp:monitoring.notify.pager[0] = "pagerduty-myapp": must be a Datadog notification handle'));
    it("rejects a window that ends before it starts", () =>
        rejects("production", ["monitoring.deploymentWindow.end=2026-11-27T13:00:00Z"], 'myapp:monitoring.deploymentWindow.end = "2026-11-27T13:00:00Z": must be after start (2026-11-27T14:00:00Z)'));
    it("rejects a window that is not a date", () =>
        rejects("production", ["monitoring.deploymentWindow.start=tomorrow"], 'myapp:monitoring.deploymentWindow.start = "tomorrow": must be an ISO 8601 date-time'));
    it("rejects a production threshold looser than the plan's without a reason", () =>
        rejects(
            "production",
            ["monitoring.thresholds.errorRatePct=2"],
            "myapp:monitoring.thresholds.errorRatePct = 2: is looser than the plan's 1 (alerts above it); in production set monitoring.looserThresholdReasons.errorRatePct to say why",
        ));
    it("rejects a looser falling threshold in production too", () =>
        rejects("production", ["monitoring.thresholds.paymentSuccessPct=90"], "myapp:monitoring.thresholds.paymentSuccessPct = 90: is looser than the plan's 95 (alerts below it)"));
    it("accepts a looser production threshold with a reason, and a tighter one without", () => {
        const cfg = validate("production", [
            "monitoring.thresholds.errorRatePct=2",
            "monitoring.looserThresholdReasons.errorRatePct=Known retry storm from partner API until INC-1234 closes",
            "monitoring.thresholds.cpuPct=70",
        ]);
        assert.strictEqual(cfg.monitoring?.thresholds.errorRatePct, 2);
        assert.strictEqual(cfg.monitoring?.thresholds.cpuPct, 70);
    });
    it("rejects a priority outside 1 to 5", () => rejects("production", ["monitoring.priorities.warning=7"], "myapp:monitoring.priorities.warning = 7: must be a priority from 1 to 5"));
});
