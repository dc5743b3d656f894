// The deployment plan of a stack, filled in from what `pulumi up` would do: the program run under mocks (as the
// offline preview runs it), its config, its migrations and the policy pack's results. With --project-dir, another
// project's plan: what its program declares, the checklist as the pack proves it, and its outputs.
//
//   npm run plan -- --stack production [--project-dir D] [--config-file F] [--set key=value ...] [--out FILE] [--runbook]
import { writeFileSync } from "fs";
import * as path from "path";
import { PACK_ENFORCEMENT, policies } from "../policy/policies";
import { ReleaseInput } from "../program/release";
import { levelOf, runPolicies } from "./offline/policy";
import { runProgram, runProject } from "./offline/run";
import { toRunRequest } from "./offline/stackConfig";
import { parseCommandArgs, readCommandStack, runCommand, UsageError } from "./offline/cli";
import { renderPlan, renderRunbook } from "../lib/plan/render";
import { renderServicePlan } from "../lib/plan/service";
import { PlanInput } from "../lib/plan/types";

const ROOT = path.join(__dirname, "..");

const USAGE = `usage: npm run plan -- --stack <name> [options]
  --stack NAME          stack whose Pulumi.<NAME>.yaml supplies config
  --project-dir DIR     the plan of the Pulumi project in DIR (its Pulumi.yaml, stack files and program) instead of myapp's
  --config-file PATH    read config from this stack file instead
  --set KEY=VALUE       apply a config edit as \`pulumi config set --path KEY VALUE\` would (repeatable; a list item: KEY[0]=VALUE)
  --policy-config PATH  policy pack config (default policy/config/<stack>.json; with --project-dir, DIR/policy.<stack>.json)
  --now TIME            run as at this time (ISO 8601; default: now), e.g. to preview a deployment window's downtime
  --runbook             write the runbook (the commands in order, with the checks between them) instead of the plan
  --out FILE            write the document to FILE instead of standard output
exit codes: 0 written (policy violations are marked in the checklist), 2 invalid config or a usage mistake, 1 anything else`;

export async function main(argv: string[]): Promise<number> {
    const values = parseCommandArgs(argv, {
        runbook: { type: "boolean", default: false },
        out: { type: "string" },
    } as const);
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    const { stack, project, otherProject, edited, policyConfig, now } = readCommandStack(ROOT, values);
    const levels = () => Object.fromEntries(policies.map((p) => [p.name, levelOf(p, policyConfig, PACK_ENFORCEMENT)]));
    if (otherProject) {
        // The runbook's commands and checks come from myapp's config, which another project does not have.
        if (values.runbook) throw new UsageError("--runbook is myapp's: another project's plan has no steps to run");
        const run = await runProject(
            { ...toRunRequest(project, stack, edited), now },
            otherProject.dir,
            otherProject.main,
        );
        const violations = await runPolicies(run, policies, policyConfig, PACK_ENFORCEMENT);
        const resources = run.resources.filter((r) => !r.read);
        return write(
            values.out,
            stack,
            "deployment plan",
            renderServicePlan({
                project,
                stack,
                resources,
                outputs: run.outputs,
                policy: { levels: levels(), violations },
            }),
        );
    }
    // The config, migrations and squawk's findings exactly as the program read and validated them; it stops first on
    // a bad value, with exit code 2.
    const read: ReleaseInput[] = [];
    const run = await runProgram({ ...toRunRequest(project, stack, edited), now }, (input) => read.push(input));
    const [{ cfg, files }] = read;
    const violations = await runPolicies(run, policies, policyConfig, PACK_ENFORCEMENT);
    const input: PlanInput = {
        stack,
        cfg,
        // What the program declares: a read of a live object is none of it (the readme output records the same).
        resources: run.resources.filter((r) => !r.read),
        migrations: files.migrations,
        policy: { levels: levels(), violations },
        outputRefs: false,
        now: new Date(now),
    };
    return write(
        values.out,
        stack,
        values.runbook ? "runbook" : "deployment plan",
        values.runbook ? renderRunbook(input) : renderPlan(input),
    );
}

/** Writes the document to `out`, or to standard output. */
function write(out: string | undefined, stack: string, what: string, document: string): number {
    if (out) {
        writeFileSync(path.resolve(out), document);
        console.error(`Wrote the ${what} of ${stack} to ${out}`);
    } else {
        process.stdout.write(document);
    }
    return 0;
}

if (require.main === module) runCommand(main, USAGE);
