// Measures the offline preview per stack (whole command, wall time), the policy pack on each stack, and the cost of
// declaring 1, 10 and 50 deployment components in one program. Prints a Markdown table for the README.
// Run: npm run bench
import { spawnSync } from "child_process";
import * as path from "path";
import { readPolicyConfig, runPolicies } from "../lib/offline/policy";
import { runProgram } from "../lib/offline/run";
import { applyProjectConfig, readProject, readStackFile, toRunRequest } from "../lib/offline/stackConfig";
import { PACK_ENFORCEMENT, policies } from "../policy/policies";

const ROOT = path.join(__dirname, "..");
const RUNS = 3;

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

function timeCommand(args: string[]): number {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", ...args], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
    return Number(process.hrtime.bigint() - start) / 1e6;
}

console.log(`| measurement | median of ${RUNS} |\n|---|---|`);
for (const stack of ["production", "staging"]) {
    const times = Array.from({ length: RUNS }, () => timeCommand(["scripts/preview-offline.ts", "--stack", stack, "--json"]));
    console.log(`| offline preview, ${stack} (whole command) | ${Math.round(median(times))} ms |`);
}
async function policyTimes(): Promise<void> {
    for (const stack of ["production", "staging"]) {
        const project = readProject(path.join(ROOT, "Pulumi.yaml"));
        const config = applyProjectConfig(project, stack, readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`)));
        const run = await runProgram(toRunRequest(project.name, stack, config));
        const policyConfig = readPolicyConfig(path.join(ROOT, "policy", "config", `${stack}.json`));
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) {
            const start = process.hrtime.bigint();
            await runPolicies(run, project.name, policies, policyConfig, PACK_ENFORCEMENT);
            times.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        console.log(`| policy pack, ${stack} (${run.resources.length} resources, ${policies.length} policies) | ${median(times).toFixed(1)} ms |`);
    }
}

for (const count of [1, 10, 50]) {
    const results = Array.from({ length: RUNS }, () => {
        const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "bench/declare.ts", String(count)], { cwd: ROOT, encoding: "utf8" });
        if (r.status !== 0) throw new Error(r.stderr);
        return JSON.parse(r.stdout) as { resources: number; ms: number; maxRssMiB: number };
    });
    const ms = median(results.map((r) => r.ms));
    const rss = median(results.map((r) => r.maxRssMiB));
    console.log(`| ${count} CanaryDeployment components (${results[0].resources} resources) | ${ms} ms, peak RSS ${rss} MiB |`);
}

policyTimes().catch((err) => {
    console.error(err);
    process.exit(1);
});
