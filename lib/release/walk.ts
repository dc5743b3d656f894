// `npm run release`: the plan's traffic steps walked without a person. Each step is a config edit and `pulumi up`
// (shift), a wait of plan.observeMinutes (observe) and the canary judge over that wait (judge); then the next step,
// or the printed rollback. Every change of state is saved before the next action, so a run that stops (a CI job
// cancelled, a runner lost) resumes where it stopped.
import type { ProgramConfig } from "../config";
import { DatadogReader, DatadogRequestError, DatadogUnavailableError, Window } from "../datadog/model";
import { haltChange } from "../gate/mark";
import { judgeableProblem, judgeCanary } from "../judge/canary";
import type { Verdict } from "../judge/scorer";
import { followUpEdits } from "../plan/steps";
import { ConfigChange, rollbackPlan } from "../rollback";

/** One step of the walk and how far it got. */
export interface StepState {
    title: string;
    changes: ConfigChange[];
    /** The canary weight the step leaves; the promotion leaves 0 and is not judged (no canary is left to judge). */
    weight: number;
    judged: boolean;
    /** When its `pulumi up` completed (ISO 8601). */
    appliedAt?: string;
    /** The last judgment of the step, over its observe window. */
    verdict?: { at: string; verdict: Verdict | "not judged"; score?: number; reason?: string };
}

/** What the walk saves between actions. */
export interface ReleaseState {
    stack: string;
    canaryVersion: string;
    stableVersion: string;
    observeMinutes: number;
    steps: StepState[];
    /** promoted: every step passed; rolled back: a step failed; held: a step is Marginal or was not judged (run again to re-judge). */
    outcome?: "promoted" | "rolled back" | "held";
    rollback?: { at: string; changes: ConfigChange[]; why: string };
}

/** What the walk does through the engine, Datadog and the clock. */
export interface ReleaseDriver {
    /** Applies the config edits to the stack and runs `pulumi up`; throws if the update fails. */
    apply(changes: ConfigChange[], title: string): Promise<void>;
    /** The stack's config as it is now, validated. */
    config(): ProgramConfig;
    /** The canary weight the stack's last update deployed (its `traffic.canaryWeight` output). */
    deployedWeight(): Promise<number | undefined>;
    /** The canary judge over the window; `notJudged` when Datadog could not answer. */
    judge(window: { from: number; to: number }): Promise<{ verdict: Verdict; score: number } | { notJudged: string }>;
    now(): number;
    sleepUntil(ms: number): Promise<void>;
    save(state: ReleaseState): void;
    progress(line: string): void;
}

/** The walk a canary config asks for: its remaining steps and the promotion (lib/plan/steps followUpEdits). */
export function releasePlan(stack: string, cfg: ProgramConfig): ReleaseState {
    if (cfg.strategy !== "canary")
        throw new Error(
            `stack ${stack} runs strategy ${cfg.strategy}: npm run release walks a canary's steps; a blue/green switch is one config edit`,
        );
    const cn = cfg.canary;
    const steps = followUpEdits(cfg).map((e): StepState => {
        const weight = Number(e.sets.find(([k]) => k === "canary.weight")?.[1] ?? cn.weight);
        const promotion = e.sets.some(([k]) => k === "canary.stableVersion");
        return {
            title: e.title,
            changes: e.sets.map(([path, value]) => ({ path, value })),
            weight,
            judged: !promotion,
        };
    });
    if (steps.length === 0)
        throw new Error(`stack ${stack} has no step left: canary ${cn.canaryVersion} is already stable`);
    return {
        stack,
        canaryVersion: cn.canaryVersion,
        stableVersion: cn.stableVersion,
        observeMinutes: cfg.plan.observeMinutes,
        steps,
    };
}

const iso = (ms: number) => new Date(ms).toISOString();
/** How often the observe wait reports progress. */
const PROGRESS_EVERY_MS = 60_000;

/** Walks the steps from where `state` stands; returns the state it leaves, which it has also saved. */
export async function walkRelease(initial: ReleaseState, d: ReleaseDriver): Promise<ReleaseState> {
    const state: ReleaseState = structuredClone(initial);
    if (state.outcome === "promoted" || state.outcome === "rolled back") {
        d.progress(`release ${state.canaryVersion} already ${state.outcome}; nothing to do`);
        return state;
    }
    state.outcome = undefined;
    const n = state.steps.length;
    const observeMs = state.observeMinutes * 60_000;
    for (const [i, step] of state.steps.entries()) {
        const label = `[${i + 1}/${n}] ${step.title}`;
        if (step.verdict?.verdict === "Pass" || (!step.judged && step.appliedAt)) continue;
        if (!step.appliedAt) {
            d.progress(`${label}: pulumi up`);
            await d.apply(step.changes, step.title);
            step.appliedAt = iso(d.now());
            d.save(state);
        } else {
            // Resuming: the stack must still run what the step applied, or the saved state is not the stack's.
            const deployed = await d.deployedWeight();
            if (deployed !== step.weight)
                throw new Error(
                    `${label}: the saved state says weight ${step.weight} was applied, but the stack runs ${deployed}; remove the state file to start over`,
                );
            d.progress(`${label}: resumed (applied at ${step.appliedAt})`);
        }
        if (!step.judged) continue;
        const from = Date.parse(step.appliedAt);
        const until = Math.max(from + observeMs, d.now());
        for (let t = d.now(); t < until; t = d.now()) {
            d.progress(
                `${label}: observing, ${Math.ceil((until - t) / 60_000)} of ${state.observeMinutes} min left (until ${iso(until)})`,
            );
            await d.sleepUntil(Math.min(until, t + PROGRESS_EVERY_MS));
        }
        const result = await d.judge({ from, to: until });
        step.verdict =
            "notJudged" in result
                ? { at: iso(d.now()), verdict: "not judged", reason: result.notJudged }
                : { at: iso(d.now()), verdict: result.verdict, score: result.score };
        d.progress(
            `${label}: judged ${step.verdict.verdict}${step.verdict.score !== undefined ? ` (score ${step.verdict.score})` : ""}${step.verdict.reason ? `: ${step.verdict.reason}` : ""}`,
        );
        if (step.verdict.verdict === "Pass") {
            d.save(state);
            continue;
        }
        if (step.verdict.verdict !== "Fail") {
            // Marginal, or no judgment: neither forward nor back without a person; a later run judges again.
            state.outcome = "held";
            d.save(state);
            return state;
        }
        const cfg = d.config();
        const plan = rollbackPlan(cfg);
        if (plan.kind === "none")
            throw new Error(`${label}: the judge failed the canary but there is nothing to roll back (${plan.text})`);
        // With automatic rollback set up, the walk's rollback marks the version halted as the webhook's does.
        const changes = [...plan.changes, ...(cfg.autoRollback ? [haltChange(plan.from)] : [])];
        d.progress(`${label}: rolling back (${changes.map((c) => c.path).join(", ")})`);
        await d.apply(changes, `Roll back from ${plan.from}`);
        state.rollback = { at: iso(d.now()), changes, why: `${step.title}: judged Fail (score ${step.verdict.score})` };
        state.outcome = "rolled back";
        d.save(state);
        return state;
    }
    state.outcome = "promoted";
    d.save(state);
    d.progress(`release ${state.canaryVersion} promoted`);
    return state;
}

/**
 * The judgment a step waits for: the canary judge over its window, or why there is none (a config the judge cannot
 * read, or Datadog unavailable or refusing), which holds the walk instead of moving traffic either way.
 */
export async function judgeStep(
    stack: string,
    cfg: ProgramConfig,
    reader: DatadogReader | undefined,
    window: Window,
): Promise<{ verdict: Verdict; score: number } | { notJudged: string }> {
    const problem = judgeableProblem(stack, cfg);
    if (problem || cfg.strategy !== "canary") return { notJudged: problem ?? "" };
    if (!reader)
        return {
            notJudged: "no Datadog credentials; set DD_API_KEY and DD_APP_KEY (or DATADOG_API_KEY and DATADOG_APP_KEY)",
        };
    try {
        const { judgment } = await judgeCanary(cfg, reader, window);
        return { verdict: judgment.scorecard.verdict, score: judgment.scorecard.score };
    } catch (err) {
        if (err instanceof DatadogUnavailableError || err instanceof DatadogRequestError)
            return { notJudged: err.message };
        throw err;
    }
}
