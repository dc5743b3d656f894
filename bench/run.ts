// Measures, in one run: the floor (plain Node loading the Pulumi SDKs the program uses), the offline preview of each
// stack as a whole command and its ratio to the floor, `--diff` against a plain run, the policy pack on each stack,
// and 1, 10 and 50 services declared through declareRelease, each with its own config. Prints a Markdown table for
// the README. The runs alternate, so a machine whose load changes weighs on every row alike.
// Run: npm run bench
import { spawnSync } from "child_process";
import * as path from "path";
import { readPolicyConfig, runPolicies } from "../tools/offline/policy";
import { runProgram } from "../tools/offline/run";
import { applyProjectConfig, readProject, readStackFile, toRunRequest } from "../tools/offline/stackConfig";
import { PACK_ENFORCEMENT, policies } from "../policy/policies";
import { servicesLabel } from "./labels";

const ROOT = path.join(__dirname, "..");
const RUNS = 5;
const SDKS = [
    "@pulumi/pulumi",
    "@pulumi/kubernetes",
    "@pulumi/aws",
    "@pulumi/datadog",
    "@pulumi/postgresql",
    "@pulumi/random",
];
const REGISTER = path.join(ROOT, "lib", "register.js");

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

function timeNode(args: string[]): number {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} failed: ${r.stderr}`);
    return Number(process.hrtime.bigint() - start) / 1e6;
}

const commands = {
    floor: ["-e", SDKS.map((s) => `require(${JSON.stringify(s)});`).join("")],
    production: ["-r", REGISTER, "tools/preview-offline.ts", "--stack", "production", "--json"],
    staging: ["-r", REGISTER, "tools/preview-offline.ts", "--stack", "staging", "--json"],
    diff: [
        "-r",
        REGISTER,
        "tools/preview-offline.ts",
        "--stack",
        "production",
        "--set",
        "canary.weight=25",
        "--diff",
        "--json",
    ],
};
const times: Record<keyof typeof commands, number[]> = { floor: [], production: [], staging: [], diff: [] };
// One run of each warms the transpile cache and the file system before anything is timed.
for (const args of Object.values(commands)) timeNode(args);
for (let i = 0; i < RUNS; i++)
    for (const [name, args] of Object.entries(commands)) times[name as keyof typeof commands].push(timeNode(args));
const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof commands,
    number
>;

console.log(`| measurement | median of ${RUNS} |\n|---|---|`);
console.log(`| floor: \`node\` loading ${SDKS.join(", ")} | ${Math.round(ms.floor)} ms |`);
for (const stack of ["production", "staging"] as const) {
    console.log(
        `| offline preview, ${stack} (whole command) | ${Math.round(ms[stack])} ms, ${(ms[stack] / ms.floor).toFixed(2)}x the floor |`,
    );
}
console.log(
    `| offline preview, production \`--set canary.weight=25 --diff\` (two runs of the program) | ${Math.round(ms.diff)} ms, ${(ms.diff / ms.production).toFixed(2)}x one run |`,
);

async function policyTimes(): Promise<void> {
    for (const stack of ["production", "staging"]) {
        const project = readProject(path.join(ROOT, "Pulumi.yaml"));
        const config = applyProjectConfig(project, stack, readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`)));
        const run = await runProgram(toRunRequest(project.name, stack, config));
        const policyConfig = readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));
        const policyMs: number[] = [];
        for (let i = 0; i < RUNS; i++) {
            const start = process.hrtime.bigint();
            await runPolicies(run, policies, policyConfig, PACK_ENFORCEMENT);
            policyMs.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        console.log(
            `| policy pack, ${stack} (${run.resources.length} resources, ${policies.length} policies) | ${median(policyMs).toFixed(1)} ms |`,
        );
    }
}

function services(): void {
    const byCount = new Map<number, { resources: number; ms: number; maxRssMiB: number }>();
    for (const count of [1, 10, 50]) {
        // Its own process each, so that the peak memory is that count's.
        const r = spawnSync(process.execPath, ["-r", REGISTER, "bench/declare.ts", String(count)], {
            cwd: ROOT,
            encoding: "utf8",
        });
        if (r.status !== 0) throw new Error(r.stderr);
        const result = JSON.parse(r.stdout) as { resources: number; ms: number; maxRssMiB: number };
        byCount.set(count, result);
        console.log(
            `| ${servicesLabel(count, result.resources)} | ${result.ms} ms, peak RSS ${result.maxRssMiB} MiB |`,
        );
    }
    const ten = byCount.get(10)!;
    const fifty = byCount.get(50)!;
    console.log(
        `| growth 10 → 50 services (5x the services) | time ${(fifty.ms / ten.ms).toFixed(2)}x, peak RSS ${(fifty.maxRssMiB / ten.maxRssMiB).toFixed(2)}x |`,
    );
}

policyTimes()
    .then(services)
    .catch((err) => {
        console.error(err);
        process.exit(1);
    });
