import * as assert from "assert";
import { validateConfig } from "../../lib/config";
import { createDatadogReader } from "../../lib/datadog/reader";
import { applySet, StackConfig } from "../../tools/offline/stackConfig";
import { judgeStep, ReleaseDriver, releasePlan, ReleaseState, walkRelease } from "../../lib/release/walk";
import { ConfigChange } from "../../lib/rollback";
import { main } from "../../tools/release";
import { PROJECT, programConfig, ROOT, stackConfig } from "../helpers";
import { DatadogStandIn, startDatadogStandIn } from "../support/datadogStandIn";
import { noise, serveProductionTracks } from "../support/tracks";

const MINUTE = 60_000;
const START = Date.parse("2026-11-27T14:00:00Z");
const span = `trace.${(programConfig("production").monitoring as { span: string }).span}`;

/** What the fake engine did: each `pulumi up` with the edits before it, at the fake clock's time. */
interface Up {
    at: number;
    title: string;
    changes: ConfigChange[];
}

/**
 * A driver on a fake engine (the stack's config edited as `pulumi config set --path` does, each up recorded) and a
 * fake clock, judging through the real Datadog client against the stand-in. `stopAfterSleeps` interrupts the run,
 * as a cancelled CI job does, after that many waits.
 */
function fakeDriver(
    dd: DatadogStandIn,
    stack: { config: StackConfig; weight?: number; ups: Up[] },
    clock: { now: number },
    saved: ReleaseState[],
    stopAfterSleeps = Infinity,
): ReleaseDriver {
    let sleeps = 0;
    const config = () => validateConfig(PROJECT, "production", rawOf(stack.config));
    return {
        apply(changes, title) {
            for (const c of changes) {
                if ("remove" in c) throw new Error("no removal expected here");
                stack.config = applySet(stack.config, PROJECT, `${c.path}=${c.value}`);
            }
            const cfg = config();
            stack.weight = cfg.strategy === "canary" ? cfg.canary.weight : undefined;
            stack.ups.push({ at: clock.now, title, changes });
            clock.now += MINUTE;
            return Promise.resolve();
        },
        config,
        deployedWeight: () => Promise.resolve(stack.weight),
        // As `npm run release` judges, within 5 s: a second 503 in a row is Datadog unavailable (its retry would wait 4 s more).
        judge: (window) =>
            judgeStep(
                "production",
                config(),
                createDatadogReader({ credentials: dd.credentials, baseUrl: dd.url, timeoutMs: 5_000 }),
                window,
            ),
        now: () => clock.now,
        sleepUntil(ms) {
            if (++sleeps > stopAfterSleeps) return Promise.reject(new Error("interrupted"));
            clock.now = ms;
            return Promise.resolve();
        },
        save: (s) => void saved.push(structuredClone(s)),
        progress: () => undefined,
    };
}

/** Stack config as the program reads it: the project's keys without the namespace. */
function rawOf(config: StackConfig): Record<string, unknown> {
    return Object.fromEntries(
        Object.entries(config).flatMap(([k, v]) =>
            k.startsWith(`${PROJECT}:`) ? [[k.slice(PROJECT.length + 1), v]] : [],
        ),
    );
}

/** Serves both tracks' metrics; the canary's error rate in percent by minute since START. */
const serve = (dd: DatadogStandIn, canaryErrorPct: (minute: number) => number) =>
    serveProductionTracks(dd, span, canaryErrorPct, (t) => Math.floor((t - START) / MINUTE));

const healthy = (m: number) => 1 + noise(m, 104729);

describe("npm run release: the plan's steps walked through shift, observe and judge", function () {
    this.timeout(60_000);
    let dd: DatadogStandIn;
    beforeEach(async () => {
        dd = await startDatadogStandIn();
    });
    afterEach(async () => {
        await dd.close();
        assert.deepStrictEqual(dd.invalid, []);
    });
    const fresh = (sets: string[] = ["canary.weight=0"]) => ({
        config: stackConfig("production", sets),
        weight: 0,
        ups: [] as Up[],
    });
    const planOf = (s: { config: StackConfig }) =>
        releasePlan("production", validateConfig(PROJECT, "production", rawOf(s.config)));

    it("a healthy canary: each step shifts, is watched 30 minutes and judged Pass over that window, then the promotion", async () => {
        serve(dd, healthy);
        const stack = fresh();
        const clock = { now: START };
        const saved: ReleaseState[] = [];
        const done = await walkRelease(planOf(stack), fakeDriver(dd, stack, clock, saved));
        assert.strictEqual(done.outcome, "promoted");
        assert.deepStrictEqual(
            stack.ups.map((u) => [
                (u.at - START) / MINUTE,
                u.changes.map((c) => `${c.path}=${"value" in c ? c.value : ""}`).join(" "),
            ]),
            [
                [0, "canary.weight=5"],
                [31, "canary.weight=25"],
                [62, "canary.weight=100"],
                [93, "canary.stableVersion=v1.2.3 canary.weight=0"],
            ],
        );
        assert.deepStrictEqual(
            done.steps.map((s) => [s.weight, s.verdict?.verdict, s.verdict?.score]),
            [
                [5, "Pass", 100],
                [25, "Pass", 100],
                [100, "Pass", 100],
                [0, undefined, undefined],
            ],
        );
        // Each judgment read exactly its step's observe window: from its up to 30 minutes later.
        const windows = dd.requests
            .map((r) => (r.body as any).data.attributes)
            .map((a) => [(a.from - START) / MINUTE, (a.to - START) / MINUTE]);
        assert.deepStrictEqual(windows, [
            [1, 31],
            [32, 62],
            [63, 93],
        ]);
    });

    it("a canary whose errors rise at 25%: judged Fail, the printed rollback's edits are applied and nothing is shifted after", async () => {
        serve(dd, (m) => (m >= 32 ? 6 : healthy(m)));
        const stack = fresh();
        const done = await walkRelease(planOf(stack), fakeDriver(dd, stack, { now: START }, []));
        assert.strictEqual(done.outcome, "rolled back");
        assert.deepStrictEqual(
            stack.ups.map((u) => u.changes),
            [
                [{ path: "canary.weight", value: 5 }],
                [{ path: "canary.weight", value: 25 }],
                [
                    { path: "canary.weight", value: 0 },
                    { path: "release.version", value: "v1.2.2" },
                ],
            ],
        );
        assert.deepStrictEqual(
            done.steps.map((s) => s.verdict?.verdict),
            ["Pass", "Fail", undefined, undefined],
        );
        assert.strictEqual(stack.weight, 0);
    });

    it("with automatic rollback set up, its rollback also marks the canary's version halted", async () => {
        serve(dd, () => 6);
        const stack = fresh(["canary.weight=0", "autoRollback.enabled=false"]);
        const done = await walkRelease(planOf(stack), fakeDriver(dd, stack, { now: START }, []));
        assert.deepStrictEqual(done.rollback?.changes.at(-1), { path: "autoRollback.halt", value: "v1.2.3" });
    });

    it("resumes after an interruption from the saved state: the applied step is not applied again and its window still starts at its up", async () => {
        serve(dd, healthy);
        const stack = fresh();
        const clock = { now: START };
        const saved: ReleaseState[] = [];
        // Stopped during the second step's watch (after its up), as a cancelled CI job stops.
        await assert.rejects(walkRelease(planOf(stack), fakeDriver(dd, stack, clock, saved, 40)), /interrupted/);
        const last = saved.at(-1)!;
        assert.deepStrictEqual(
            last.steps.map((s) => [
                s.weight,
                s.appliedAt && (Date.parse(s.appliedAt) - START) / MINUTE,
                s.verdict?.verdict,
            ]),
            [
                [5, 1, "Pass"],
                [25, 32, undefined],
                [100, undefined, undefined],
                [0, undefined, undefined],
            ],
        );
        clock.now += 5 * MINUTE;
        const done = await walkRelease(
            JSON.parse(JSON.stringify(last)) as ReleaseState,
            fakeDriver(dd, stack, clock, saved),
        );
        assert.strictEqual(done.outcome, "promoted");
        assert.deepStrictEqual(
            stack.ups.map((u) => u.title),
            [
                "Shift 5% of requests to the canary",
                "Shift 25% of requests to the canary",
                "Shift 100% of requests to the canary",
                "Promote v1.2.3 to stable",
            ],
        );
        const second = (dd.requests[1].body as any).data.attributes;
        assert.deepStrictEqual([(second.from - START) / MINUTE, (second.to - START) / MINUTE], [32, 62]);
    });

    it("holds, neither shifting nor rolling back, while Datadog does not answer; a later run judges again and goes on", async () => {
        serve(dd, healthy);
        dd.inject({ kind: "status", status: 503 }, 2);
        const stack = fresh();
        const driver = fakeDriver(dd, stack, { now: START }, []);
        const held = await walkRelease(planOf(stack), driver);
        assert.deepStrictEqual(
            [held.outcome, held.steps[0].verdict?.verdict, stack.ups.length],
            ["held", "not judged", 1],
        );
        assert.match(held.steps[0].verdict?.reason ?? "", /Datadog answered 503/);
        const done = await walkRelease(held, driver);
        assert.deepStrictEqual([done.outcome, stack.ups.length], ["promoted", 4]);
    });

    it("refuses to resume when the stack no longer runs what the saved state says it applied", async () => {
        serve(dd, healthy);
        const stack = fresh();
        const saved: ReleaseState[] = [];
        await assert.rejects(
            walkRelease(planOf(stack), fakeDriver(dd, stack, { now: START }, saved, 3)),
            /interrupted/,
        );
        stack.weight = 0;
        await assert.rejects(
            walkRelease(saved.at(-1)!, fakeDriver(dd, stack, { now: START + 10 * MINUTE }, saved)),
            /\[1\/4\] Shift 5% of requests to the canary: the saved state says weight 5 was applied, but the stack runs 0/,
        );
    });

    it("refuses a stack that is not a canary, and one whose canary is already stable", () => {
        assert.throws(
            () => releasePlan("staging", validateConfig(PROJECT, "staging", programConfig("staging"))),
            /npm run release walks a canary's steps/,
        );
        assert.throws(
            () => planOf(fresh(["canary.stableVersion=v1.2.3", "canary.weight=0"])),
            /has no step left: canary v1.2.3 is already stable/,
        );
    });

    it("npm run release needs --stack, and refuses a stack that is not a canary before it touches the engine", async () => {
        await assert.rejects(main([], ROOT), /--stack is required/);
        await assert.rejects(
            main(["--stack", "staging", "--state", "/nonexistent/state.json"], ROOT),
            /stack staging runs strategy blue-green: npm run release walks a canary's steps/,
        );
    });
});
