// The canary judge (Kayenta's NetflixACAJudge, lib/judge) from the command line: on recorded series, or on the
// canary's and stable's metrics read from Datadog over a window.
//
//   npm run judge -- --series FILE [--stack S] [--json]
//   npm run judge -- --stack S [--window 30m] [--interval 10m] [--json]
import { readFileSync } from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { z } from "zod";
import type { ProgramConfig } from "../lib/config";
import { apiUrlFromEnv, credentialsFromEnv } from "../lib/datadog/credentials";
import { DatadogRequestError, DatadogUnavailableError } from "../lib/datadog/model";
import { CanaryJudgment, judgeableProblem, judgeCanary } from "../lib/judge/canary";
import {
    DEFAULT_JUDGE_SETTINGS,
    Judgment,
    judgeSeries,
    JudgeSettings,
    renderScorecard,
    SeriesPair,
} from "../lib/judge/judge";
import { ProgramError } from "./offline/types";

const ROOT = path.join(__dirname, "..");

const USAGE = `usage: npm run judge -- --series FILE [--stack NAME] [--json]
       npm run judge -- --stack NAME [--window DURATION] [--interval DURATION] [--json]
  --series FILE        judge recorded series: {"metrics": {"<metric>": {"canary": [numbers], "baseline": [numbers]}}},
                       null for a missing point; errorRatePct, p95LatencySeconds and paymentFailurePct take their
                       configured direction and group, any other name Kayenta's defaults
  --stack NAME         the stack whose Pulumi.<NAME>.yaml sets the judge (judge.*); alone, judge its canary against
                       its stable track on their Datadog metrics
  --window DURATION    with --stack alone: the window that ends now, e.g. 30m or 2h (default plan.observeMinutes)
  --interval DURATION  with --stack alone: judge the window in cumulative intervals of this length; an interim score
                       at or below the marginal threshold fails at once (Kayenta's rule)
  --json               print the scorecard as JSON
Datadog: DD_API_KEY and DD_APP_KEY (or DATADOG_API_KEY and DATADOG_APP_KEY); DD_SITE, or DATADOG_HOST for an API URL.
exit codes: 0 Pass, 1 Marginal or Fail, 2 usage or invalid input, 3 not judged (no credentials, Datadog unavailable, any other failure)`;

/** A mistake in the command line: reported with the usage, exit 2. */
class UsageError extends Error {}

/** The run ends without a judgment: missing credentials, or Datadog unavailable. */
class NotJudged extends Error {}

const seriesFileSchema = z.strictObject({
    metrics: z.record(
        z.string().min(1),
        z.strictObject({
            canary: z.array(z.number().nullable(), {
                message: "must be an array of numbers (null for a missing point)",
            }),
            baseline: z.array(z.number().nullable(), {
                message: "must be an array of numbers (null for a missing point)",
            }),
        }),
    ),
});

/** Reads a series file; null marks a missing point (NaN to the judge). */
export function readSeriesFile(file: string): Record<string, SeriesPair> {
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (err) {
        throw new ProgramError(
            `${file}: cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
            2,
            0,
        );
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (err) {
        throw new ProgramError(`${file}: not valid JSON: ${(err as Error).message}`, 2, 0);
    }
    const result = seriesFileSchema.safeParse(parsed);
    if (!result.success) {
        const lines = result.error.issues.map(
            (i) =>
                `  ${i.path
                    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
                    .join("")
                    .slice(1)}: ${i.message}`,
        );
        throw new ProgramError(
            `${file}: not a series file ({"metrics": {"<metric>": {"canary": [...], "baseline": [...]}}}):\n${lines.join("\n")}`,
            2,
            0,
        );
    }
    const nan = (values: (number | null)[]) => values.map((v) => v ?? NaN);
    return Object.fromEntries(
        Object.entries(result.data.metrics).map(([name, s]) => [
            name,
            { canary: nan(s.canary), baseline: nan(s.baseline) },
        ]),
    );
}

/** A stack's validated config, read from its Pulumi.<stack>.yaml as the program would read it. */
async function stackConfig(stack: string): Promise<ProgramConfig> {
    // Loaded only for --stack: the config layer brings the Pulumi SDK, which a judgment of a series file does not need.
    const { ConfigError, readRawConfig, validateConfig } = await import("../lib/config");
    const { readEditedStack, toRunRequest } = await import("./offline/stackConfig");
    const { project, edited } = readEditedStack(ROOT, stack, undefined, []);
    const flat = toRunRequest(project, stack, edited).config;
    try {
        const raw = readRawConfig({ name: project, get: (key) => flat[`${project}:${key}`] }, Object.keys(flat));
        return validateConfig(project, stack, raw, (message) => console.error(`warning: ${message}`));
    } catch (err) {
        if (err instanceof ConfigError) throw new ProgramError(err.message, 2, 0);
        throw err;
    }
}

/** "30m" → 1 800 000 ms. */
function duration(flag: string, text: string): number {
    const m = /^([1-9][0-9]*)(s|m|h)$/.exec(text);
    if (!m) throw new UsageError(`${flag} ${text}: must be a duration such as 90s, 30m or 2h`);
    return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
}

/** Reads both tracks' metrics from Datadog over the window that ends now and judges them, interval by interval if asked. */
async function judgeFromDatadog(
    stack: string,
    cfg: ProgramConfig,
    windowMs: number,
    intervalMs: number | undefined,
): Promise<Judgment> {
    const problem = judgeableProblem(stack, cfg);
    if (problem || cfg.strategy !== "canary") throw new ProgramError(problem ?? "", 2, 0);
    const credentials = credentialsFromEnv();
    if (!credentials)
        throw new NotJudged(
            "not judged: no Datadog credentials; set DD_API_KEY and DD_APP_KEY (or DATADOG_API_KEY and DATADOG_APP_KEY)",
        );
    const to = Date.now();
    const window = { from: to - windowMs, to };
    const { createDatadogReader } = await import("../lib/datadog/reader");
    const reader = createDatadogReader({ credentials, baseUrl: apiUrlFromEnv() });
    let judged: CanaryJudgment;
    try {
        judged = await judgeCanary(cfg, reader, window, intervalMs);
    } catch (err) {
        if (err instanceof DatadogUnavailableError || err instanceof DatadogRequestError)
            throw new NotJudged(`not judged: ${err.message}`);
        throw err;
    }
    const { versions, intervalScores, decidedBy } = judged;
    console.error(
        `Judging canary ${versions.canary} against stable ${versions.baseline} of ${cfg.datadog.service} in ${cfg.datadog.env}, ${new Date(window.from).toISOString()} to ${new Date(to).toISOString()}`,
    );
    if (intervalScores.length > 1)
        console.error(
            `Interval scores: ${intervalScores.join(", ")}; decided by interval ${decidedBy + 1} of ${intervalScores.length}`,
        );
    return judged.judgment;
}

export async function main(argv: string[]): Promise<number> {
    const { values } = parseArgs({
        args: argv,
        options: {
            series: { type: "string" },
            stack: { type: "string" },
            window: { type: "string" },
            interval: { type: "string" },
            json: { type: "boolean", default: false },
            help: { type: "boolean", default: false },
        },
        strict: true,
        allowPositionals: false,
    });
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    if (!values.series && !values.stack) throw new UsageError("--series or --stack is required");
    if (values.series && (values.window || values.interval))
        throw new UsageError("--window and --interval apply to a judgment read from Datadog, not to --series");
    const cfg = values.stack ? await stackConfig(values.stack) : undefined;
    let judgment: Judgment;
    if (values.series) {
        const settings: JudgeSettings = cfg?.judge ?? DEFAULT_JUDGE_SETTINGS;
        judgment = judgeSeries(readSeriesFile(path.resolve(values.series)), settings);
    } else {
        const stack = values.stack as string;
        const c = cfg as ProgramConfig;
        const windowMs = values.window ? duration("--window", values.window) : c.plan.observeMinutes * 60_000;
        const intervalMs = values.interval ? duration("--interval", values.interval) : undefined;
        if (intervalMs !== undefined && intervalMs > windowMs)
            throw new UsageError(`--interval ${values.interval} is longer than the window`);
        judgment = await judgeFromDatadog(stack, c, windowMs, intervalMs);
    }
    process.stdout.write(values.json ? `${JSON.stringify(judgment.scorecard, null, 2)}\n` : renderScorecard(judgment));
    return judgment.scorecard.verdict === "Pass" ? 0 : 1;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (err: Error) => {
            const usage =
                err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS");
            console.error(usage ? `${err.message}\n\n${USAGE}` : err.message);
            process.exitCode = usage ? 2 : err instanceof ProgramError ? err.exitCode : 3;
        },
    );
}
