import * as assert from "assert";
import * as path from "path";
import { ALERT_NAMES, PLAN_ALERTS } from "../policy/planAlerts";
import { PACK_ENFORCEMENT, policies } from "../policy/policies";
import { validateConfig } from "../lib/config";
import { readPolicyConfig, runPolicies } from "../lib/offline/policy";
import { DeclaredResource, ProgramRun } from "../lib/offline/types";
import { all, at, configErrorFor, find, programConfig, PROJECT, ROOT, runConfig, runStack, stackConfig } from "./helpers";

const monitorsOf = (run: ProgramRun) => all(run, ":Monitor");
const tagValue = (m: DeclaredResource, key: string) => (at(m, "tags") as string[]).find((t) => t.startsWith(`${key}:`))?.slice(key.length + 1);

const DIGEST = `sha256:${"ab".repeat(32)}`;

/**
 * What Datadog sends for a monitor's transition: its message with each conditional block kept or dropped
 * (docs.datadoghq.com/monitors/notify/variables: is_alert, is_warning, is_recovery, is_alert_recovery,
 * is_warning_recovery), as non-empty lines. An @-handle is notified only when it survives.
 */
function notification(message: string, from: "ok" | "warn" | "alert", to: "ok" | "warn" | "alert"): string[] {
    const on: Record<string, boolean> = {
        is_alert: to === "alert",
        is_warning: to === "warn",
        is_recovery: to === "ok" && from !== "ok",
        is_alert_recovery: to === "ok" && from === "alert",
        is_warning_recovery: to === "ok" && from === "warn",
    };
    const kept = message.replace(/\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\1\}\}/g, (_, block: string, body: string) => (on[block] ? body : ""));
    return kept
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

/** A query alert's state for a value, from its own thresholds and comparator. */
function stateOf(m: DeclaredResource, value: number): "ok" | "warn" | "alert" {
    const op = (at(m, "query") as string).match(/ (>=|<=|>|<) \S+$/)![1];
    const t = at(m, "monitorThresholds");
    const breaches = (limit: string | undefined) =>
        limit !== undefined && (op === ">" ? value > Number(limit) : op === ">=" ? value >= Number(limit) : op === "<" ? value < Number(limit) : value <= Number(limit));
    return breaches(t.critical) ? "alert" : breaches(t.warning) ? "warn" : "ok";
}

/**
 * The @-handles of `{{#is_alert_recovery}}` blocks, which Datadog notifies with no message body when a monitor goes
 * from ALERT to WARNING (docs.datadoghq.com/monitors/notify/variables, the note under is_alert_recovery).
 */
function bodylessRecipients(message: string): string[] {
    return [...message.matchAll(/\{\{#is_alert_recovery\}\}([\s\S]*?)\{\{\/is_alert_recovery\}\}/g)].flatMap((x) => x[1].match(/@\S+/g) ?? []);
}

/**
 * The notifications a version's traffic produces from a quiet start: every notifying monitor of that version is a
 * composite taking its condition's state (error rate, p95 or payment failures) while its traffic guard alerts ("a && b").
 */
function notificationsFor(run: ProgramRun, variant: string, traffic: { requests: number; errors: number; p95: number }): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    const byName = (n: string) => find(run, ":Monitor", n);
    for (const m of monitorsOf(run).filter((x) => (at(x, "tags") as string[]).includes(variant) && tagValue(x, "plan-alert"))) {
        const alert = tagValue(m, "plan-alert") as keyof typeof PLAN_ALERTS;
        assert.strictEqual(at(m, "type"), "composite", m.name);
        const [condition, guard] = (at(m, "query") as string).split(" && ").map((id) => byName(id.replace(/-id$/, "")));
        const payments = alert === "versionPaymentFailurePct";
        const value = payments ? 0 : PLAN_ALERTS[alert].unit === "s" ? traffic.p95 : (100 * traffic.errors) / traffic.requests;
        const state = stateOf(guard, payments ? 0 : traffic.requests) === "alert" ? stateOf(condition, value) : "ok";
        if (state !== "ok") out[m.name.replace("myapp-monitoring-", "")] = notification(at(m, "message"), "ok", state);
    }
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

    describe("unified service tagging (defect 1)", () => {
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
                    env: Object.fromEntries((at(d, "spec.template.spec.containers")[0].env as any[]).filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom.fieldRef.fieldPath])),
                }));
                const queried = monitorsOf(run).flatMap((m) => (at(m, "type") === "composite" ? [] : versionScopes(at(m, "query"))));
                assert.ok(queried.length > 0);
                for (const q of queried) {
                    const carrier = templates.find(
                        (t) => t.pod["tags.datadoghq.com/version"] === q.version && t.pod["tags.datadoghq.com/env"] === q.env && t.pod["tags.datadoghq.com/service"] === q.service,
                    );
                    assert.ok(carrier, `no pod template carries ${JSON.stringify(q)}`);
                    for (const k of ["env", "service", "version"]) assert.strictEqual(carrier.deployment[`tags.datadoghq.com/${k}`], carrier.pod[`tags.datadoghq.com/${k}`]);
                    assert.deepStrictEqual(carrier.env, {
                        DD_ENV: "metadata.labels['tags.datadoghq.com/env']",
                        DD_SERVICE: "metadata.labels['tags.datadoghq.com/service']",
                        DD_VERSION: "metadata.labels['tags.datadoghq.com/version']",
                    });
                }
                if (label === "digest canary") assert.ok(queried.some((q) => q.version === `sha256-${"ab".repeat(32)}`.slice(0, 63)));
            });
        }

        it("labels the canary's pods with exactly the strings its monitors query; batch pods carry their own service", () => {
            const d = find(production, ":Deployment", "myapp-canary-deployment");
            const dd = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith("tags.datadoghq.com/")));
            const expected = { "tags.datadoghq.com/env": "production", "tags.datadoghq.com/service": "myapp", "tags.datadoghq.com/version": "v1.2.3" };
            assert.deepStrictEqual(dd(at(d, "metadata.labels")), expected);
            assert.deepStrictEqual(dd(at(d, "spec.template.metadata.labels")), expected);
            const batch = [...all(production, ":Job"), ...all(staging, ":Job")].map((j) => at(j, "spec.template.metadata.labels")["tags.datadoghq.com/service"]);
            assert.ok(batch.length > 0 && batch.every((s) => typeof s === "string" && s !== "myapp"), JSON.stringify(batch));
        });
    });

    describe("paging (defect 2)", () => {
        it("a 1.5% error rate on the canary pages once, and its rollback trigger's warning goes to chat only", () => {
            assert.deepStrictEqual(notificationsFor(production, "track:canary", { requests: 1000, errors: 15, p95: 0.3 }), {
                "error-rate-pct-canary": [
                    "Error rate above 1% for myapp in production (track:canary, version:v1.2.3).",
                    "The on-call engineer is paged. If it started with the release, roll back: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                    "@pagerduty-myapp @slack-engineering",
                ],
                "rollback-sustained-error-rate-pct-canary": [
                    "Rollback trigger (15 minutes): error rate above 1% for myapp in production (track:canary, version:v1.2.3). Nearing the critical 2. @slack-engineering",
                ],
            });
        });

        it("recoveries page only when the alert paged; a warning's recovery goes to chat", () => {
            const errorRate = at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary"), "message");
            const sustained = at(find(production, ":Monitor", "myapp-monitoring-rollback-sustained-error-rate-pct-canary"), "message");
            assert.deepStrictEqual(notification(errorRate, "alert", "ok"), [
                "Recovered: Error rate for myapp in production (track:canary, version:v1.2.3) is back within 1 %. @pagerduty-myapp @slack-engineering",
            ]);
            assert.deepStrictEqual(notification(sustained, "warn", "ok"), [
                "Recovered: Rollback trigger (15 minutes): error rate for myapp in production (track:canary, version:v1.2.3) is back within 1 %. @slack-engineering",
            ]);
            assert.deepStrictEqual(notification(sustained, "alert", "warn"), [
                "Rollback trigger (15 minutes): error rate above 1% for myapp in production (track:canary, version:v1.2.3). Nearing the critical 2. @slack-engineering",
            ]);
            // Besides that warning, Datadog tells the alert-recovery handles of ALERT -> WARNING with no body.
            assert.deepStrictEqual(bodylessRecipients(sustained), ["@pagerduty-myapp", "@slack-engineering"]);
        });

        it("never names the pager outside an alert block, in either stack", () => {
            for (const m of [...monitorsOf(production), ...monitorsOf(staging)]) {
                const outside = (at(m, "message") as string).replace(/\{\{#is_alert(_recovery)?\}\}[\s\S]*?\{\{\/is_alert\1\}\}/g, "");
                assert.ok(!outside.includes("@pagerduty"), m.name);
            }
        });
    });

    describe("connection pressure (defect 3)", () => {
        it("measures the app role's connections against its own limit, which app load reaches", () => {
            const q = (run: ProgramRun) => at(find(run, ":Monitor", "myapp-monitoring-db-connections-pct"), "query");
            assert.strictEqual(q(production), "avg(last_5m):sum:postgresql.connections{env:production,db:myapp,user:myapp_app} / 150 * 100 > 90");
            assert.strictEqual(q(staging), "avg(last_5m):sum:postgresql.connections{env:staging,db:myapp,user:myapp_app} / 60 * 100 > 90");
            // Fires at 136 of the role's 150 connections; server-wide, 150 of max_connections 200 read 75% and never reached 90%.
            const [, limit, threshold] = q(production)
                .match(/ \/ (\d+) \* 100 > (\d+)$/)!
                .map(Number);
            assert.strictEqual(Math.floor((limit * threshold) / 100) + 1, 136);
            assert.ok((100 * 150) / 200 < 90);
        });
    });

    describe("minimum traffic (defect 4)", () => {
        it("1 error in 10 requests on the 5% canary says nothing; 10 in 100 pages roll back now, once", () => {
            assert.deepStrictEqual(notificationsFor(production, "track:canary", { requests: 10, errors: 1, p95: 0.3 }), {});
            const pages = Object.values(notificationsFor(production, "track:canary", { requests: 100, errors: 10, p95: 0.3 })).filter((lines) => lines.some((l) => l.includes("@pagerduty")));
            assert.strictEqual(pages.length, 3, "error rate, roll back now, roll back sustained");
            assert.deepStrictEqual(notificationsFor(production, "track:canary", { requests: 100, errors: 10, p95: 0.3 })["rollback-now-error-rate-pct-canary"], [
                "Rollback trigger (now): error rate above 5% for myapp in production (track:canary, version:v1.2.3).",
                "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                "@pagerduty-myapp @slack-engineering",
            ]);
        });

        it("counts requests without probes, with the configured minimum", () => {
            const guard = find(runStack("production", ["monitoring.trafficGuard.minRequests=500"]), ":Monitor", "myapp-monitoring-requests-15m-canary");
            assert.strictEqual(at(guard, "query"), "sum(last_15m):sum:trace.http.request.hits{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_count() >= 500");
            assert.deepStrictEqual(at(guard, "monitorThresholds"), { critical: "500" });
            assert.ok(!(at(guard, "message") as string).includes("@"));
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary"), "query"),
                "myapp-monitoring-error-rate-pct-canary-condition-id && myapp-monitoring-requests-5m-canary-id",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-error-rate-pct-canary-condition"), "query"),
                "sum(last_5m):sum:trace.http.request.errors{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_count() / sum:trace.http.request.hits{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_count() * 100 > 1",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-p95-latency-seconds-canary-condition"), "query"),
                "percentile(last_10m):p95:trace.http.request{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*} > 2",
            );
        });

        it("a few slow requests on the 5% canary say nothing; a slow p95 over 100 requests pages roll back now, through the composite only", () => {
            assert.deepStrictEqual(notificationsFor(production, "track:canary", { requests: 10, errors: 0, p95: 6 }), {});
            const slow = notificationsFor(production, "track:canary", { requests: 100, errors: 0, p95: 6 });
            assert.deepStrictEqual(Object.keys(slow).sort(), ["p95-latency-seconds-canary", "rollback-now-p95-seconds-canary", "rollback-sustained-p95-seconds-canary"]);
            assert.deepStrictEqual(slow["rollback-now-p95-seconds-canary"], [
                "Rollback trigger (now): p95 response time above 5 s for myapp in production (track:canary, version:v1.2.3).",
                "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
                "@pagerduty-myapp @slack-engineering",
            ]);
            assert.ok(!slow["p95-latency-seconds-canary"].join("\n").includes("@pagerduty"), "the 2 s latency alert is a warning: chat only");
            const q = (n: string) => at(find(production, ":Monitor", `myapp-monitoring-${n}`), "query");
            assert.strictEqual(q("rollback-now-p95-seconds-canary"), "myapp-monitoring-rollback-now-p95-seconds-canary-condition-id && myapp-monitoring-requests-5m-canary-id");
            assert.strictEqual(q("rollback-sustained-p95-seconds-canary"), "myapp-monitoring-rollback-sustained-p95-seconds-canary-condition-id && myapp-monitoring-requests-15m-canary-id");
            assert.strictEqual(q("p95-latency-seconds-canary"), "myapp-monitoring-p95-latency-seconds-canary-condition-id && myapp-monitoring-requests-10m-canary-id");
            assert.strictEqual(
                q("requests-10m-canary"),
                "sum(last_10m):sum:trace.http.request.hits{service:myapp,env:production,version:v1.2.3,!resource_name:get_/health/*}.as_count() >= 100",
            );
            // The p95 conditions themselves notify nobody.
            for (const n of ["rollback-now-p95-seconds-canary", "rollback-sustained-p95-seconds-canary", "p95-latency-seconds-canary"]) {
                const condition = find(production, ":Monitor", `myapp-monitoring-${n}-condition`);
                assert.ok(!(at(condition, "message") as string).includes("@"), n);
                assert.strictEqual(tagValue(condition, "plan-alert"), undefined, n);
            }
        });
    });

    describe("payments per version (defect 5)", () => {
        it("judges each version's payment failures as a rollback trigger, guarded by a payment count, and keeps the service-wide ones", () => {
            const m = find(production, ":Monitor", "myapp-monitoring-version-payment-failure-pct-canary");
            assert.strictEqual(at(m, "priority"), "1");
            assert.strictEqual(tagValue(m, "severity"), "rollback");
            assert.strictEqual(at(m, "query"), "myapp-monitoring-version-payment-failure-pct-canary-condition-id && myapp-monitoring-payments-5m-canary-id");
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-version-payment-failure-pct-canary-condition"), "query"),
                "sum(last_5m):sum:payment.failed{service:myapp,env:production,version:v1.2.3}.as_count() / sum:payment.total{service:myapp,env:production,version:v1.2.3}.as_count() * 100 > 5",
            );
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-payments-5m-canary"), "query"),
                "sum(last_5m):sum:payment.total{service:myapp,env:production,version:v1.2.3}.as_count() >= 20",
            );
            assert.ok((at(m, "message") as string).includes("Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`"));
            assert.strictEqual(
                at(find(production, ":Monitor", "myapp-monitoring-payment-failure-pct"), "query"),
                "sum(last_5m):sum:payment.failed{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 > 5",
            );
        });
    });

    describe("the deployment window (defects 6 and 7)", () => {
        it("mutes only rollout noise, in every group of those monitors, and keeps what the plan checks at T+30 live", () => {
            const downtime = find(production, ":DowntimeSchedule", "myapp-monitoring-deployment-window");
            assert.strictEqual(at(downtime, "scope"), "*");
            assert.deepStrictEqual(at(downtime, "oneTimeSchedule"), { start: "2026-11-27T14:00:00Z", end: "2026-11-27T16:00:00Z" });
            const muteTags = at(downtime, "monitorIdentifier.monitorTags") as string[];
            const muted = monitorsOf(production).filter((m) => muteTags.every((t) => (at(m, "tags") as string[]).includes(t)));
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

        it("normalises an offset to the provider's UTC form", () => {
            const run = runStack("production", ["monitoring.deploymentWindow.start=2026-11-27T15:00:00+01:00", "monitoring.deploymentWindow.end=2026-11-27T11:30:00-04:30"]);
            assert.deepStrictEqual(at(find(run, ":DowntimeSchedule", "myapp-monitoring-deployment-window"), "oneTimeSchedule"), {
                start: "2026-11-27T14:00:00Z",
                end: "2026-11-27T16:00:00Z",
            });
        });
    });

    describe("rollback advice (defect 8)", () => {
        it("a blue/green color that runs the previous version does not advise switching away from it", () => {
            const blue = at(find(staging, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-blue"), "message") as string;
            const green = at(find(staging, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-green"), "message") as string;
            assert.ok(blue.includes("This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook."), blue);
            assert.ok(!blue.includes("blueGreen.activeColor"), blue);
            assert.ok(green.includes("Roll back now: `pulumi config set --stack staging --path blueGreen.activeColor blue && pulumi up --stack staging`"), green);
        });
    });

    describe("smaller items (9)", () => {
        it("watches the working set against the limit, per pod, and the autoscaler pinned at its maximum", () => {
            const q = (s: string) => at(find(production, ":Monitor", `myapp-monitoring-${s}`), "query");
            assert.strictEqual(
                q("memory-pct"),
                "avg(last_10m):sum:kubernetes.memory.working_set{kube_namespace:production,kube_app_name:myapp} by {kube_deployment,pod_name} / sum:kubernetes.memory.limits{kube_namespace:production,kube_app_name:myapp} by {kube_deployment,pod_name} * 100 > 90",
            );
            assert.strictEqual(
                q("autoscaler-at-max-pct"),
                "min(last_15m):sum:kubernetes_state.hpa.current_replicas{kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary, myapp-stable)} by {horizontalpodautoscaler} / sum:kubernetes_state.hpa.max_replicas{kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary, myapp-stable)} by {horizontalpodautoscaler} * 100 >= 100",
            );
        });

        it("watches only the autoscalers that can grow: one pinned at min = max is left out, and with none there is no such monitor", async () => {
            const hpaScope = (run: ProgramRun) => (at(find(run, ":Monitor", "myapp-monitoring-autoscaler-at-max-pct"), "query") as string).match(/\{([^}]*)\}/)![1];
            const bounds = (run: ProgramRun) =>
                Object.fromEntries(all(run, ":HorizontalPodAutoscaler").map((h) => [at(h, "metadata.name"), [at(h, "spec.minReplicas"), at(h, "spec.maxReplicas")]]));
            const pack = async (run: ProgramRun) => runPolicies(run, PROJECT, policies, readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")), PACK_ENFORCEMENT);

            // release.maxReplicas = release.replicas pins stable at 6; the canary still grows from 2 to 6.
            const stablePinned = runStack("production", ["release.maxReplicas=6"]);
            assert.deepStrictEqual(bounds(stablePinned), { "myapp-stable": [6, 6], "myapp-canary": [2, 6] });
            assert.strictEqual(hpaScope(stablePinned), "kube_namespace:production AND horizontalpodautoscaler IN (myapp-canary)");
            assert.deepStrictEqual(await pack(stablePinned), []);

            // Both pinned (canaryMaxReplicas = canaryReplicas too): nothing can reach a maximum it did not start at. The
            // steps stop at 25%, which 2 canary pods can carry of a fleet of 6 (capacity-follows-traffic).
            const bothPinned = runStack("production", ["release.maxReplicas=6", "canary.canaryMaxReplicas=2", "canary.steps[0]=1", "canary.steps[1]=5", "canary.steps[2]=25"]);
            assert.deepStrictEqual(bounds(bothPinned), { "myapp-stable": [6, 6], "myapp-canary": [2, 2] });
            assert.deepStrictEqual(
                monitorsOf(bothPinned).filter((m) => tagValue(m, "plan-alert") === "autoscalerAtMaxPct"),
                [],
            );
            assert.deepStrictEqual(await pack(bothPinned), []);

            // The replicas router's proportional bounds pin both tracks when the fleet cannot grow.
            const proportional = runStack("production", [
                "canary.router=replicas",
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
                /kube_namespace:production AND horizontalpodautoscaler IN \(myapp-canary\)/g,
                "kube_namespace:production,horizontalpodautoscaler:myapp-stable",
            );
            const violations = await runPolicies(run, PROJECT, policies, readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")), PACK_ENFORCEMENT);
            assert.deepStrictEqual(
                violations.map((v) => v.message),
                [
                    "monitor [production] myapp: Autoscaler replicas (% of its maximum) above 100% watches autoscaler myapp-stable, pinned at 6 (minReplicas = maxReplicas): it alerts for good",
                    "no autoscalerAtMaxPct monitor watches autoscaler myapp-canary, which can grow from 2 to 6",
                ],
            );
        });

        it("lets a retired version's monitors resolve on their own; service-wide ones never time out", () => {
            for (const m of monitorsOf(production).filter((x) => at(x, "type") === "query alert")) {
                const perVersion = (at(m, "tags") as string[]).some((t) => t.startsWith("track:"));
                assert.strictEqual(at(m, "timeoutH"), perVersion ? 1 : undefined, m.name);
            }
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
                (at(find(run, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-stable"), "message") as string).includes(
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
        const counts = Object.fromEntries(ALERT_NAMES.map((n) => [n, monitorsOf(production).filter((m) => tagValue(m, "plan-alert") === n).length]));
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

    it("pages the rollback triggers at priority 1 with the plan's tiers as warnings", () => {
        const expected: Record<string, [string, object]> = {
            "rollback-now-error-rate-pct-canary-condition": ["sum(last_5m)", { critical: "5", warning: "2", criticalRecovery: "4" }],
            "rollback-now-p95-seconds-canary-condition": ["percentile(last_5m)", { critical: "5", warning: "3", criticalRecovery: "4" }],
            "rollback-sustained-error-rate-pct-canary-condition": ["sum(last_15m)", { critical: "2", warning: "1", criticalRecovery: "1.6" }],
            "rollback-sustained-p95-seconds-canary-condition": ["percentile(last_15m)", { critical: "3", warning: "2", criticalRecovery: "2.4" }],
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
        for (const m of [...monitorsOf(production), ...monitorsOf(staging)].filter((x) => at(x, "type") === "query alert")) {
            const [, op, n] = (at(m, "query") as string).match(/ (>=|<=|>|<) (\S+)$/)!;
            assert.strictEqual(n, at(m, "monitorThresholds").critical, m.name);
            const alert = tagValue(m, "plan-alert") ?? tagValue(m, "plan-alert-condition");
            if (alert) assert.strictEqual(op.startsWith(PLAN_ALERTS[alert as keyof typeof PLAN_ALERTS].bad === "above" ? ">" : "<"), true, m.name);
        }
    });

    it("uses the integrations' metric names and the app's own business metrics", () => {
        const q = (s: string) => at(find(production, ":Monitor", `myapp-monitoring-${s}`), "query");
        assert.strictEqual(
            q("payment-success-pct"),
            "sum(last_15m):sum:payment.succeeded{service:myapp,env:production}.as_count() / sum:payment.total{service:myapp,env:production}.as_count() * 100 < 95",
        );
        assert.strictEqual(
            q("email-delivery-pct"),
            "sum(last_30m):sum:email.delivered{service:myapp,env:production}.as_count() / sum:email.sent{service:myapp,env:production}.as_count() * 100 < 98",
        );
        assert.strictEqual(
            q("db-query-ms"),
            "sum(last_10m):sum:postgresql.queries.time{env:production,db:myapp}.as_count() / sum:postgresql.queries.count{env:production,db:myapp}.as_count() / 1000000 > 500",
        );
        assert.strictEqual(
            q("cpu-pct"),
            "avg(last_10m):sum:kubernetes.cpu.usage.total{kube_namespace:production,kube_app_name:myapp} by {kube_deployment} / 1000000000 / sum:kubernetes.cpu.limits{kube_namespace:production,kube_app_name:myapp} by {kube_deployment} * 100 > 80",
        );
        assert.strictEqual(q("disk-io-pct"), "avg(last_10m):max:system.io.util{env:production} by {host,device} > 80");
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
            "percentile(last_10m):p95:trace.http.request{service:myapp,env:staging,version:v1.2.3,!resource_name:get_/health/*} > 3",
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
                "payments-5m-stable",
                "version-payment-failure-pct-stable",
                "version-payment-failure-pct-canary-condition",
                "payments-5m-canary",
                "version-payment-failure-pct-canary",
                "payment-failure-pct",
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
        assert.deepStrictEqual(await runPolicies(withoutMetrics, PROJECT, policies, productionPack(), PACK_ENFORCEMENT), [
            { policy: "monitors-for-plan-alerts", level: "mandatory", message: "no monitor for the plan's alert paymentFailurePct (Payment failure rate)", resource: null },
            { policy: "monitors-for-plan-alerts", level: "mandatory", message: "no monitor for the plan's alert paymentSuccessPct (Payment success rate)", resource: null },
            { policy: "monitors-for-plan-alerts", level: "mandatory", message: "no monitor for the plan's alert emailDeliveryPct (Email delivery rate)", resource: null },
            {
                policy: "monitors-for-plan-alerts",
                level: "mandatory",
                message: "no monitor for the plan's alert versionPaymentFailurePct (Rollback trigger: payment failure rate)",
                resource: null,
            },
        ]);
        const pack = productionPack();
        const noBusinessMetrics = { ...pack, "monitors-for-plan-alerts": { ...(pack["monitors-for-plan-alerts"] as object), businessMetrics: false } };
        assert.deepStrictEqual(await runPolicies(withoutMetrics, PROJECT, policies, noBusinessMetrics, PACK_ENFORCEMENT), []);
        // Declared ones are still held to the plan: a looser payment monitor is refused with businessMetrics false too.
        const looser = structuredClone(production);
        looser.resources.find((r) => r.name === "myapp-monitoring-payment-failure-pct")!.inputs.monitorThresholds = { critical: "9" };
        assert.deepStrictEqual(
            (await runPolicies(looser, PROJECT, policies, noBusinessMetrics, PACK_ENFORCEMENT)).map((v) => v.message),
            ["monitor [production] myapp: Payment failure rate above 5% alerts at 9, looser than the plan's 5"],
        );
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
        rejects(
            "production",
            ["monitoring.deploymentWindow.end=2026-11-27T13:00:00Z"],
            'myapp:monitoring.deploymentWindow.end = "2026-11-27T13:00:00Z": must be after start (2026-11-27T14:00:00Z)',
        ));
    it("rejects a window that is not a date", () =>
        rejects("production", ["monitoring.deploymentWindow.start=tomorrow"], 'myapp:monitoring.deploymentWindow.start = "tomorrow": must be an ISO 8601 date-time in whole seconds'));
    it("rejects a window time with fractions of a second, which the provider cannot take", () =>
        rejects(
            "production",
            ["monitoring.deploymentWindow.start=2026-11-27T14:00:00.500Z"],
            'myapp:monitoring.deploymentWindow.start = "2026-11-27T14:00:00.500Z": must be an ISO 8601 date-time in whole seconds',
        ));
    it("rejects a traffic guard of 0 requests", () => rejects("production", ["monitoring.trafficGuard.minRequests=0"], "myapp:monitoring.trafficGuard.minRequests = 0: must be at least 1"));
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
    it("resolves every alert's thresholds: the plan's numbers unless set, and the plan's warning tiers where they sit below critical", () => {
        const m = validate("production", ["monitoring.thresholds.rollbackNowErrorRatePct=4", "monitoring.warnings.cpuPct=70"]).monitoring!;
        assert.deepStrictEqual(m.thresholds, { ...Object.fromEntries(ALERT_NAMES.map((n) => [n, PLAN_ALERTS[n].plan])), rollbackNowErrorRatePct: 4 });
        assert.deepStrictEqual(m.warnings, { cpuPct: 70, rollbackNowErrorRatePct: 2, rollbackSustainedErrorRatePct: 1, rollbackNowP95Seconds: 3, rollbackSustainedP95Seconds: 2 });
        // Staging's 3 s p95 is the sustained latency trigger's own critical: that tier is not below it, so no warning.
        assert.deepStrictEqual(validate("staging", []).monitoring!.warnings, { rollbackNowErrorRatePct: 2, rollbackSustainedErrorRatePct: 1, rollbackNowP95Seconds: 3 });
    });
    it("rejects a priority outside 1 to 5", () => rejects("production", ["monitoring.priorities.warning=7"], "myapp:monitoring.priorities.warning = 7: must be a priority from 1 to 5"));
});
