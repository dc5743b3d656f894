// Walks a canary release's steps through the Automation API, without Pulumi Deployments: shift, observe, judge,
// then the next step or the rollback (lib/release/walk.ts). Runs from any CI runner with the stack's backend login,
// Datadog keys and this checkout; the state file lets a later run resume where an interrupted one stopped.
//
//   npm run release -- --stack S [--state FILE] [--observe DURATION]
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { ConfigError, ProgramConfig, readRawConfig, validateConfig } from "../lib/config";
import { apiUrlFromEnv, credentialsFromEnv } from "../lib/datadog/credentials";
import { createDatadogReader } from "../lib/datadog/reader";
import { readEditedStack, toRunRequest } from "./offline/stackConfig";
import { judgeStep, ReleaseDriver, releasePlan, ReleaseState, walkRelease } from "../lib/release/walk";

const ROOT = path.join(__dirname, "..");

const USAGE = `usage: npm run release -- --stack NAME [--state FILE] [--observe DURATION]
  --stack NAME        the canary stack to release; its Pulumi.<NAME>.yaml gives the steps, plan.observeMinutes and the judge
  --state FILE        where progress is kept between runs (default .release/<NAME>.json); run again to resume
  --observe DURATION  how long each step is watched before it is judged, e.g. 30m (default plan.observeMinutes)
Datadog: DD_API_KEY and DD_APP_KEY (or DATADOG_API_KEY and DATADOG_APP_KEY); DD_SITE, or DATADOG_HOST for an API URL.
exit codes: 0 promoted, 1 rolled back, 2 usage or invalid config, 3 held (Marginal, or Datadog did not answer: run again)`;

class UsageError extends Error {}

/** The stack's config as its file holds it now, validated as the program validates it. */
export function stackFileConfig(workDir: string, stack: string): ProgramConfig {
    const { project, edited } = readEditedStack(workDir, stack, undefined, []);
    const flat = toRunRequest(project, stack, edited).config;
    return validateConfig(project, stack, readRawConfig({ name: project, get: (key) => flat[`${project}:${key}`] }));
}

/** "30m" → 1 800 000 ms. */
function minutes(flag: string, text: string): number {
    const m = /^([1-9][0-9]*)(s|m|h)$/.exec(text);
    if (!m) throw new UsageError(`${flag} ${text}: must be a duration such as 90s, 30m or 2h`);
    return (Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"]) / 60;
}

/** The driver on the real engine: config edits and `pulumi up` through the Automation API, Datadog through the official client. */
export function automationDriver(
    stack: Stack,
    workDir: string,
    stateFile: string,
    out: (line: string) => void,
): ReleaseDriver {
    const config = () => stackFileConfig(workDir, stack.name);
    return {
        async apply(changes) {
            for (const c of changes) {
                if ("remove" in c) await stack.removeConfig(c.path, true);
                else await stack.setConfig(c.path, { value: String(c.value) }, true);
            }
            const res = await stack.up({ onOutput: (s) => process.stdout.write(s) });
            if (res.summary.result !== "succeeded") throw new Error(`pulumi up ${res.summary.result}`);
        },
        config,
        async deployedWeight() {
            const traffic = (await stack.outputs()).traffic?.value as { canaryWeight?: number } | undefined;
            return traffic?.canaryWeight;
        },
        judge(window) {
            const credentials = credentialsFromEnv();
            return judgeStep(
                stack.name,
                config(),
                credentials && createDatadogReader({ credentials, baseUrl: apiUrlFromEnv() }),
                window,
            );
        },
        now: () => Date.now(),
        sleepUntil: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - Date.now()))),
        save(state) {
            // Written whole, then renamed: an interruption leaves the previous state, never half of one.
            mkdirSync(path.dirname(stateFile), { recursive: true });
            writeFileSync(`${stateFile}.tmp`, JSON.stringify(state, null, 2) + "\n");
            renameSync(`${stateFile}.tmp`, stateFile);
        },
        progress: (line) => out(`${new Date().toISOString()} ${line}`),
    };
}

export async function main(argv: string[], workDir = ROOT): Promise<number> {
    const { values } = parseArgs({
        args: argv,
        options: {
            stack: { type: "string" },
            state: { type: "string" },
            observe: { type: "string" },
            help: { type: "boolean", default: false },
        },
        strict: true,
        allowPositionals: false,
    });
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    if (!values.stack) throw new UsageError("--stack is required");
    const stackName = values.stack;
    const stateFile = path.resolve(values.state ?? path.join(workDir, ".release", `${stackName}.json`));
    let state: ReleaseState;
    if (existsSync(stateFile)) {
        state = JSON.parse(readFileSync(stateFile, "utf8")) as ReleaseState;
        if (state.stack !== stackName)
            throw new UsageError(`${stateFile} belongs to stack ${state.stack}, not ${stackName}`);
    } else {
        state = releasePlan(stackName, stackFileConfig(workDir, stackName));
        if (values.observe) state.observeMinutes = minutes("--observe", values.observe);
    }
    const stack = await LocalWorkspace.selectStack({ stackName, workDir });
    const done = await walkRelease(
        state,
        automationDriver(stack, workDir, stateFile, (line) => console.error(line)),
    );
    return { promoted: 0, "rolled back": 1, held: 3 }[done.outcome ?? "held"];
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
            process.exitCode = usage || err instanceof ConfigError ? 2 : 1;
        },
    );
}
