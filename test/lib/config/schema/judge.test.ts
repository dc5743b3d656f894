import * as assert from "assert";
import { validateConfig } from "../../../../lib/config";
import { configErrorFor, programConfig, PROJECT } from "../../../helpers";

describe("the judge's config section", () => {
    it("defaults to Kayenta's sample thresholds 95 and 75 and equal groups", () => {
        assert.deepStrictEqual(validateConfig(PROJECT, "production", programConfig("production")).judge, {
            thresholds: { pass: 95, marginal: 75 },
            groupWeights: {},
            metrics: {},
            stepSeconds: 60,
        });
    });

    it("reads decimals as `pulumi config set --path` writes them (strings)", () => {
        const cfg = validateConfig(
            PROJECT,
            "production",
            programConfig("production", [
                "judge.thresholds.pass=92.5",
                "judge.metrics.p95LatencySeconds.effectSize.allowedIncrease=1.2",
            ]),
        );
        assert.deepStrictEqual(
            [cfg.judge.thresholds.pass, cfg.judge.metrics.p95LatencySeconds?.effectSize?.allowedIncrease],
            [92.5, 1.2],
        );
    });

    const refused: [string, string[], string][] = [
        [
            "a marginal threshold above pass",
            ["judge.thresholds.marginal=96"],
            "myapp:judge.thresholds.marginal = 96: must not be above judge.thresholds.pass (95)",
        ],
        [
            "a threshold above 100",
            ["judge.thresholds.pass=101"],
            "myapp:judge.thresholds.pass = 101: must be a number from 0 to 100",
        ],
        [
            "weights adding up to more than 100",
            ["judge.groupWeights.errors=80", "judge.groupWeights.latency=30"],
            'myapp:judge.groupWeights = {"errors":80,"latency":30}: add up to 110',
        ],
        [
            "a metric the judge does not know",
            ["judge.metrics.cpu.critical=true"],
            'myapp:judge.metrics: Unrecognized key: "cpu"',
        ],
        [
            "an unknown direction",
            ["judge.metrics.errorRatePct.direction=up"],
            'myapp:judge.metrics.errorRatePct.direction = "up": Invalid option',
        ],
    ];
    for (const [what, sets, message] of refused)
        it(`refuses ${what}`, () =>
            assert.ok(configErrorFor("production", sets).includes(message), configErrorFor("production", sets)));

    it("refuses a weight on the payments group of a service without business metrics", () => {
        const raw = programConfig("production", ["judge.groupWeights.payments=20"]);
        delete (raw.monitoring as Record<string, unknown>).metrics;
        assert.throws(
            () => validateConfig(PROJECT, "production", raw),
            /myapp:judge\.groupWeights\.payments = 20: weighs a group without metrics: payments are judged only with monitoring\.metrics/,
        );
    });
});
