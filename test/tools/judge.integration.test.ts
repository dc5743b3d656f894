import * as assert from "assert";
import { execFile } from "child_process";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { judgeQueries } from "../../lib/judge/datadogSeries";
import { all, at, CliResult, programConfig, ROOT, runStack } from "../helpers";
import { DatadogStandIn, startDatadogStandIn } from "../support/datadogStandIn";
import { noise, serveProductionTracks } from "../support/tracks";

/** Runs `npm run judge -- ARGS` as a user would, with only the environment given (no Datadog keys unless given). */
function judge(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return new Promise((resolve) => {
        execFile(
            process.execPath,
            ["-r", path.join(ROOT, "lib", "register.js"), path.join(ROOT, "tools", "judge.ts"), ...args],
            { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } },
            (err, stdout, stderr) =>
                resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
        );
    });
}

function seriesFile(content: unknown): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "judge-series-")), "series.json");
    writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
    return file;
}

describe("npm run judge -- --series", function () {
    this.timeout(60_000);

    it("prints the scorecard as JSON: each metric's shift canary minus baseline, interval and effect, the groups, score and verdict", async () => {
        const file = seriesFile({
            metrics: {
                latency: { canary: [10, 20, 30, 40], baseline: [1, 2, 3, 4] },
                errorRatePct: { canary: [1, 2, 3, 4], baseline: [10, 20, 30, 40] },
                other: { canary: [1, 2, 3, 4], baseline: [10, 20, 30, 40] },
            },
        });
        const r = await judge(["--series", file, "--json"]);
        // The intervals are R's wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98, exact = FALSE): [6, 39], 22.5.
        assert.deepStrictEqual(JSON.parse(r.stdout), {
            metrics: {
                latency: { classification: "High", estimate: 22.5, lower: 6, upper: 39, effectSize: 10 },
                errorRatePct: { classification: "Pass", estimate: -22.5, lower: -39, upper: -6, effectSize: 0.1 },
                other: { classification: "Low", estimate: -22.5, lower: -39, upper: -6, effectSize: 0.1 },
            },
            groups: { latency: 0, errors: 100, other: 0 },
            score: 33.33,
            verdict: "Fail",
        });
        assert.strictEqual(r.code, 1, "a verdict other than Pass exits 1");
    });

    it("judges a known metric in its plan direction (errors only up) and any other name in either, with null as a missing point", async () => {
        const lower = { canary: [1, 1.1, null, 0.9, 1, 1.2, 0.8, 1], baseline: [5, 5.5, 4.5, 5, 5.2, 4.8, 5, 5.1] };
        const r = await judge([
            "--series",
            seriesFile({ metrics: { errorRatePct: lower, "queue.depth": lower } }),
            "--json",
        ]);
        const card = JSON.parse(r.stdout);
        assert.deepStrictEqual(
            [card.metrics.errorRatePct.classification, card.metrics["queue.depth"].classification],
            ["Pass", "Low"],
        );
        assert.deepStrictEqual(card.groups, { errors: 100, "queue.depth": 0 });
    });

    it("exits 0 on Pass and takes the thresholds of the stack's judge section", async () => {
        const file = seriesFile({ metrics: { errorRatePct: { canary: [1, 2, 3, 4], baseline: [1, 2, 3, 4] } } });
        const r = await judge(["--series", file, "--stack", "production"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.match(r.stdout, /^score 100: Pass$/m);
    });

    it("refuses a malformed series file with exit 2, naming the file and the path", async () => {
        const file = seriesFile({ metrics: { errorRatePct: { canary: [1, "2"], baseline: [1] } } });
        const r = await judge(["--series", file]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(
            r.stderr,
            `${file}: not a series file ({"metrics": {"<metric>": {"canary": [...], "baseline": [...]}}}):\n  metrics.errorRatePct.canary[1]: Invalid input: expected number, received string\n`,
        );
    });

    it("answers a usage mistake with exit 2 and the syntax", async () => {
        for (const args of [
            [],
            ["--series"],
            ["--series", "x.json", "--window", "30m"],
            ["--stack", "production", "--window", "30 minutes"],
        ]) {
            const r = await judge(args);
            assert.strictEqual(r.code, 2, args.join(" "));
            assert.match(r.stderr, /usage: npm run judge -- --series FILE/, args.join(" "));
        }
    });
});

describe("npm run judge -- --stack against the Datadog API stand-in", function () {
    this.timeout(60_000);
    let dd: DatadogStandIn;
    beforeEach(async () => {
        dd = await startDatadogStandIn();
    });
    afterEach(async () => {
        await dd.close();
        assert.deepStrictEqual(dd.invalid, []);
    });
    const env = () => ({ DATADOG_HOST: dd.url, DD_API_KEY: dd.credentials.apiKey, DD_APP_KEY: dd.credentials.appKey });
    // The span production's monitors and the judge read, as the committed stack file names it.
    const span = `trace.${(programConfig("production").monitoring as { span: string }).span}`;
    const minute = (t: number) => Math.floor(t / 60_000);
    const serve = (canaryErrorPct: (minute: number) => number) =>
        serveProductionTracks(dd, span, canaryErrorPct, minute);

    it("reads both tracks' metrics over the window and passes a canary like its stable", async () => {
        serve((m) => 1 + noise(m, 104729));
        const r = await judge(["--stack", "production", "--window", "30m", "--json"], env());
        assert.strictEqual(r.code, 0, r.stderr);
        const card = JSON.parse(r.stdout);
        assert.deepStrictEqual(
            [Object.keys(card.metrics), card.score, card.verdict],
            [["errorRatePct", "p95LatencySeconds", "paymentFailurePct"], 100, "Pass"],
        );
        const attributes = (dd.requests[0].body as any).data.attributes;
        assert.strictEqual(attributes.to - attributes.from, 30 * 60_000);
        assert.strictEqual(attributes.interval, 60_000);
    });

    it("fails a canary whose errors rise: the error rate is critical", async () => {
        serve((m) => 5 + noise(m, 104729));
        const r = await judge(["--stack", "production", "--window", "30m"], env());
        assert.strictEqual(r.code, 1);
        assert.match(r.stdout, /^errorRatePct +High \(critical\)/m);
        assert.match(r.stdout, /^score 0 \(a critical metric is High\): Fail$/m);
    });

    it("fails at the first interval at or below marginal, though the whole window (the last interval) passes", async () => {
        const now = minute(Date.now());
        serve((m) => (now - m > 20 ? 5 : 1) + noise(m, 7919));
        const r = await judge(["--stack", "production", "--window", "30m", "--interval", "10m", "--json"], env());
        assert.deepStrictEqual(
            [r.code, JSON.parse(r.stdout).verdict, JSON.parse(r.stdout).metrics.errorRatePct.classification],
            [1, "Fail", "High"],
        );
        assert.match(r.stderr, /Interval scores: 0, [0-9.]+, 100; decided by interval 1 of 3/);
    });

    it("queries each version with the tags its per-version monitors use", async () => {
        serve(() => 1);
        await judge(["--stack", "production", "--window", "30m"], env());
        const sent: string[] = (dd.requests[0].body as any).data.attributes.queries.map(
            (q: { query: string }) => q.query,
        );
        const monitorQueries = all(runStack("production"), ":Monitor").map((m) => at(m, "query") as string);
        for (const query of sent)
            assert.ok(
                monitorQueries.some((mq) => mq.includes(query)),
                `no per-version monitor queries ${query}`,
            );
        assert.strictEqual(
            sent.length,
            Object.keys(
                judgeQueries(
                    {
                        service: "myapp",
                        env: "production",
                        span: "http.request",
                        excludeResources: [],
                        payments: { total: "t", failed: "f" },
                    },
                    { canary: "a", baseline: "b" },
                ),
            ).length,
        );
    });

    it("says it was not judged, with exit 3, without Datadog credentials", async () => {
        const r = await judge(["--stack", "production"], { DATADOG_HOST: dd.url });
        assert.deepStrictEqual(
            [r.code, r.stdout, r.stderr],
            [
                3,
                "",
                "not judged: no Datadog credentials; set DD_API_KEY and DD_APP_KEY (or DATADOG_API_KEY and DATADOG_APP_KEY)\n",
            ],
        );
        assert.strictEqual(dd.requests.length, 0);
    });

    it("says it was not judged, with exit 3, when Datadog is down", async () => {
        dd.inject({ kind: "rateLimit", resetSeconds: 600 });
        const r = await judge(["--stack", "production"], env());
        assert.deepStrictEqual(
            [r.code, r.stdout, r.stderr],
            [
                3,
                "",
                "not judged: query timeseries: Datadog rate limited (429) with X-RateLimit-Reset 600 s; retrying would take longer than the 30 s allowed\n",
            ],
        );
    });
});
