// A production release played through time: the program's monitors for each state the release passes through, each
// evaluated every minute from synthetic metrics by Datadog's documented rules (test/support/datadog.ts), and every
// notification rendered from its message. The runbook's own go/no-go query runs, with jq, over the monitors' states.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { renderRunbook } from "../../lib/plan/render";
import { readRawConfig, validateConfig } from "../../lib/config";
import { applyProjectConfig, readProject, toRunRequest } from "../../tools/offline/stackConfig";
import { MonitorModel, Point, Sent } from "../support/datadog";
import { PROJECT, ROOT, runStack, stackConfig } from "../helpers";
import * as path from "path";

const ORIGIN = Date.parse("2026-11-27T13:00:00Z");
const clock = (minute: number) => new Date(ORIGIN + minute * 60_000).toISOString().replace(".000Z", "Z");
const hhmm = (minute: number) => clock(minute).slice(11, 16);

/** The release's states, each a `pulumi up` at a minute of the story (minute 0 is 13:00 UTC, an hour before the window). */
const STATES: { at: number; what: string; sets: string[] }[] = [
    {
        at: 0,
        what: "healthy stable: v1.2.2 only",
        sets: ["canary.canaryVersion=v1.2.2", "release.version=v1.2.2", "release.previousVersion=v1.2.1"],
    },
    { at: 60, what: "deploy: canary v1.2.3 at 5%", sets: [] },
    { at: 125, what: "rollback: canary.weight 0", sets: ["canary.weight=0"] },
    { at: 185, what: "the fix: canary v1.2.4 at 5%", sets: ["canary.canaryVersion=v1.2.4", "release.version=v1.2.4"] },
    {
        at: 225,
        what: "v1.2.4 at 25%",
        sets: ["canary.canaryVersion=v1.2.4", "release.version=v1.2.4", "canary.weight=25"],
    },
    {
        at: 260,
        what: "v1.2.4 at 100%",
        sets: ["canary.canaryVersion=v1.2.4", "release.version=v1.2.4", "canary.weight=100"],
    },
    {
        at: 295,
        what: "promotion: stable v1.2.4",
        sets: [
            "canary.canaryVersion=v1.2.4",
            "release.version=v1.2.4",
            "canary.stableVersion=v1.2.4",
            "canary.weight=0",
        ],
    },
];
const END = 355;

/** Requests per minute to the service: a quiet morning, then the day's traffic from 14:20. */
const requestsPerMinute = (minute: number) => (minute < 80 ? 300 : 800);
/** Error ratio of a version's requests: v1.2.3 fails 6% of requests from 14:55. */
const errorRatio = (version: string, minute: number) => (version === "v1.2.3" && minute >= 115 ? 0.06 : 0.002);

/** Each version's share of user requests at a minute, from the state in force. */
function shares(minute: number): Record<string, number> {
    const state = [...STATES].reverse().find((s) => s.at <= minute) ?? STATES[0];
    const stable = state.sets.find((s) => s.startsWith("canary.stableVersion="))?.split("=")[1] ?? "v1.2.2";
    const canary = state.sets.find((s) => s.startsWith("canary.canaryVersion="))?.split("=")[1] ?? "v1.2.3";
    const weight = Number(state.sets.find((s) => s.startsWith("canary.weight="))?.split("=")[1] ?? 5);
    if (stable === canary) return { [stable]: 1 };
    return { [stable]: 1 - weight / 100, [canary]: weight / 100 };
}

/** Every series at a minute: the app's traces and business metrics per version, and healthy infrastructure. */
function metrics(minute: number): Point[] {
    const base = { service: "myapp", env: "production" };
    const kube = { kube_cluster_name: "prod-us-east-1", kube_namespace: "production", kube_app_name: "myapp" };
    const points: Point[] = [];
    for (const [version, share] of Object.entries(shares(minute))) {
        const requests = requestsPerMinute(minute) * share;
        const tags = { ...base, version };
        const user = { ...tags, resource_name: "get_/api/orders" };
        if (requests > 0) {
            points.push(
                { metric: "trace.web.request.hits", tags: user, value: requests },
                { metric: "trace.web.request.errors", tags: user, value: requests * errorRatio(version, minute) },
                { metric: "trace.web.request", tags: user, value: 0.3, weight: requests },
                { metric: "payment.total", tags, value: requests * 0.12 },
                { metric: "payment.failed", tags, value: requests * 0.12 * 0.01 },
                { metric: "payment.succeeded", tags, value: requests * 0.12 * 0.99 },
            );
        }
    }
    // Readiness probes reach every pod of every track, users or not: never user traffic.
    for (const version of ["v1.2.2", "v1.2.3", "v1.2.4"]) {
        points.push({
            metric: "trace.web.request.hits",
            tags: { ...base, version, resource_name: "get_/health/ready" },
            value: 24,
        });
    }
    points.push(
        { metric: "email.sent", tags: base, value: 50 },
        { metric: "email.delivered", tags: base, value: 49.8 },
        { metric: "postgresql.connections", tags: { env: "production", db: "myapp", user: "myapp_app" }, value: 60 },
        {
            metric: "postgresql.queries.count",
            tags: { env: "production", db: "myapp", user: "myapp_app" },
            value: 5000,
        },
        {
            metric: "postgresql.queries.time",
            tags: { env: "production", db: "myapp", user: "myapp_app" },
            value: 5000 * 20e6,
        },
        { metric: "postgresql.buffer_hit", tags: { env: "production", db: "myapp" }, value: 99_000 },
        { metric: "postgresql.disk_read", tags: { env: "production", db: "myapp" }, value: 1_000 },
        { metric: "kubernetes.cpu.usage.total", tags: { ...kube, kube_deployment: "myapp-stable" }, value: 2.4e9 },
        { metric: "kubernetes.cpu.limits", tags: { ...kube, kube_deployment: "myapp-stable" }, value: 6 },
        {
            metric: "kubernetes.memory.working_set",
            tags: { ...kube, kube_deployment: "myapp-stable" },
            value: 400 * 2 ** 20,
        },
        { metric: "kubernetes.memory.limits", tags: { ...kube, kube_deployment: "myapp-stable" }, value: 2 ** 30 },
        {
            metric: "system.io.util",
            tags: { kube_cluster_name: "prod-us-east-1", host: "node-1", device: "nvme0n1" },
            value: 35,
        },
        {
            metric: "kubernetes_state.hpa.current_replicas",
            tags: {
                kube_cluster_name: "prod-us-east-1",
                kube_namespace: "production",
                horizontalpodautoscaler: "myapp-stable",
            },
            value: 6,
        },
        {
            metric: "kubernetes_state.hpa.max_replicas",
            tags: {
                kube_cluster_name: "prod-us-east-1",
                kube_namespace: "production",
                horizontalpodautoscaler: "myapp-stable",
            },
            value: 24,
        },
        {
            metric: "kubernetes_state.cronjob.duration_since_last_schedule",
            tags: {
                kube_cluster_name: "prod-us-east-1",
                kube_namespace: "production",
                kube_cronjob: "myapp-db-backup",
            },
            // "0 */6 * * *": the last run started at 12:00, the next at 18:00.
            value: ((minute + 60) % 360) * 60,
        },
    );
    return points;
}

/** The backups and the drill succeed throughout. */
const checks = () =>
    ["myapp-db-backup", "myapp-db-restore-drill"].map((cronjob) => ({
        check: "kubernetes_state.cronjob.complete",
        tags: { kube_cluster_name: "prod-us-east-1", kube_namespace: "production", kube_cronjob: cronjob },
        status: "ok" as const,
    }));

/** The jq program of the runbook's go/no-go check, as the runbook prints it. */
function runbookFilter(): string {
    const sets = STATES[1].sets;
    const request = toRunRequest(
        PROJECT,
        "production",
        applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), "production", stackConfig("production", sets)),
    );
    const cfg = validateConfig(
        PROJECT,
        "production",
        readRawConfig({ name: PROJECT, get: (k: string) => request.config[`${PROJECT}:${k}`] }),
    );
    const runbook = renderRunbook({
        stack: "production",
        cfg,
        resources: runStack("production", sets, clock(STATES[1].at)).resources,
        outputRefs: false,
        now: new Date(clock(0)),
    });
    const filter = /\| jq -r '([^']*)'/.exec(runbook);
    assert.ok(filter, "the runbook has a go/no-go query");
    return filter[1];
}

/** What the runbook's query prints over the monitors' states: runs jq for real. */
function goNoGo(filter: string, listing: unknown): string[] {
    const r = spawnSync("jq", ["-r", filter], { input: JSON.stringify(listing), encoding: "utf8" });
    assert.strictEqual(r.status, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l !== "");
}

const PAGER = "@pagerduty-myapp";
const CHAT = "@slack-engineering";

describe("a production release through time, through the notification logic", function () {
    this.timeout(600_000);
    let model: MonitorModel;
    const printed: Record<number, string[]> = {};
    const declared: Record<number, string[]> = {};

    before(() => {
        const filter = runbookFilter();
        model = new MonitorModel(metrics, checks);
        model.origin = ORIGIN;
        // The windows hold the hour before the story.
        for (let minute = 0; minute <= END; minute++) {
            const state = STATES.find((s) => s.at === minute);
            if (state) {
                const run = runStack("production", state.sets, clock(minute));
                model.declare(run.resources);
                declared[minute] = run.resources.filter((r) => r.type.endsWith(":Monitor")).map((r) => r.name);
            }
            model.tick(minute);
            printed[minute] = goNoGo(filter, model.apiListing());
        }
    });

    const pages = () => model.sent.filter((s) => s.handles.includes(PAGER) && s.to !== "ok");
    const resolutions = () => model.sent.filter((s) => s.handles.includes(PAGER) && s.to === "ok");
    const chat = () => model.sent.filter((s) => s.handles.includes(CHAT));
    const show = (s: Sent) =>
        `${hhmm(s.minute)} ${s.monitor.replace("myapp-monitoring-", "")} ${s.from} -> ${s.to}${s.renotify ? " (renotify)" : ""}`;

    it("pages exactly once, 'roll back now' for the canary at 6% errors, with the rollback command, and nothing else", () => {
        assert.deepStrictEqual(pages().map(show), ["14:59 rollback-now-error-rate-pct-canary ok -> alert"]);
        assert.deepStrictEqual(pages()[0].lines, [
            "Rollback trigger (now): error rate above 5% for myapp in production (track:canary, version:v1.2.3).",
            "Roll back now: `pulumi config set --stack production --path canary.weight 0 && pulumi up --stack production`",
            "@pagerduty-myapp @slack-engineering",
        ]);
    });

    it("resolves that incident through the pager once the rolled-back version's traffic is gone, and tells nobody to roll back after it", () => {
        assert.deepStrictEqual(resolutions().map(show), ["15:07 rollback-now-error-rate-pct-canary alert -> ok"]);
        assert.deepStrictEqual(resolutions()[0].lines, [
            "Recovered: Rollback trigger (now): error rate for myapp in production (track:canary, version:v1.2.3) is back within 5 %. @pagerduty-myapp @slack-engineering",
        ]);
        // Every incident the pager opened, it was told to resolve.
        const open = new Set<string>();
        for (const s of model.sent.filter((x) => x.handles.includes(PAGER))) {
            if (s.to === "ok") open.delete(s.monitor);
            else open.add(s.monitor);
        }
        assert.deepStrictEqual([...open], []);
        const afterRollback = model.sent.filter((s) => s.minute >= 125);
        assert.ok(
            afterRollback.every((s) => !s.lines.join("\n").includes("Roll back now")),
            afterRollback.map(show).join("\n"),
        );
    });

    it("tells chat what it tells the pager, and nothing more", () => {
        assert.deepStrictEqual(chat().map(show), [
            "14:59 rollback-now-error-rate-pct-canary ok -> alert",
            "15:07 rollback-now-error-rate-pct-canary alert -> ok",
        ]);
    });

    it("has no monitor in ALERT or WARN while the release is healthy, but the traffic plumbing of a version no user reaches", () => {
        const healthy = [
            [30, 60],
            [100, 115],
            [150, 185],
            [205, 225],
            [240, 260],
            [275, 295],
            [315, END],
        ];
        for (const [from, to] of healthy) {
            for (let minute = from; minute < to; minute++)
                assert.deepStrictEqual(printed[minute], [], `${hhmm(minute)}: ${printed[minute].join(", ")}`);
        }
    });

    it("the runbook's go/no-go query fails while the canary is unjudged or failing, and passes once it has been judged healthy", () => {
        // The check before a step: the query printed nothing at every minute of the last `observe` minutes.
        const passes = (at: number, observe: number) =>
            Array.from({ length: observe }, (_, k) => at - k).every((m) => printed[m].length === 0);
        // 15 canary requests a minute: enough for the 10- and 15-minute windows, too few for five minutes and its payments.
        assert.deepStrictEqual(printed[70], [
            "[production] myapp: fewer than 100 requests of track:canary in 5m",
            "[production] myapp: fewer than 20 payments of track:canary in 5m",
        ]);
        assert.strictEqual(passes(80, 20), false, "14:20, canary unjudged: 15 requests a minute");
        assert.strictEqual(passes(114, 30), true, "14:54: judged healthy for 30 minutes");
        // The trigger that pages, and the conditions behind it and behind the tiers it silences.
        assert.deepStrictEqual(printed[120], [
            "[production] myapp: Error rate above 1% (track:canary): condition",
            "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary): condition",
            "[production] myapp: Rollback trigger (15 minutes): error rate above 2% (track:canary): condition",
            "[production] myapp: Rollback trigger (now): error rate above 5% (track:canary)",
        ]);
        assert.strictEqual(passes(124, 10), false, "15:04: rolling back");
        for (const at of [225, 260, 295, END]) assert.strictEqual(passes(at, 30), true, `${hhmm(at)}`);
    });

    it("drops the canary's monitors at the promotion, and keeps one set judging v1.2.4", () => {
        assert.ok(declared[295].every((n) => !n.includes("-canary")));
        assert.ok(declared[260].some((n) => n === "myapp-monitoring-rollback-now-error-rate-pct-canary"));
    });
});
