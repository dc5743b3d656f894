// The offline preview: runs the program (declareRelease, as index.ts calls it), or another project's program that
// uses the library (--project-dir), under Pulumi's mock runtime in this process with a stack's config and shows what
// it would declare. No Pulumi CLI, no cloud credentials.
//
//   npm run preview:offline -- --stack production [--project-dir D] [--config-file F] [--set key=value ...] [--diff] [--json] [--render-dir D]
import * as path from "path";
import { PACK_ENFORCEMENT, policies } from "../policy/policies";
import { diffRuns, liveStateOf, RunDiff, StepOp } from "./offline/diff";
import { engineDependencies } from "./offline/graph";
import type { PolicyViolation } from "../lib/plan/types";
import { runPolicies } from "./offline/policy";
import { renderManifests } from "./offline/render";
import { treeLines } from "./offline/tree";
import { runProgram, runProject } from "./offline/run";
import { toRunRequest } from "./offline/stackConfig";
import { parseCommandArgs, readCommandStack, runCommand } from "./offline/cli";
import { RunRequest } from "./offline/types";
import { urnName } from "./offline/urn";

const ROOT = path.join(__dirname, "..");

const USAGE = `usage: npm run preview:offline -- --stack <name> [options]
  --stack NAME          stack whose Pulumi.<NAME>.yaml supplies config
  --project-dir DIR     run the Pulumi project in DIR (its Pulumi.yaml, stack files and program) instead of myapp's
  --config-file PATH    read config from this stack file instead
  --set KEY=VALUE       apply a config edit as \`pulumi config set --path KEY VALUE\` would (repeatable; a list item: KEY[0]=VALUE)
  --diff                compare the run with the --set edits against the run without them
  --json                print one JSON document instead of the tree
  --render-dir DIR      validate every Kubernetes object against its schema and write it to DIR as YAML
  --policy-config PATH  policy pack config (default policy/config/<stack>.json; with --project-dir, DIR/policy.<stack>.json)
  --now TIME            run as at this time (ISO 8601; default: now), e.g. to preview a deployment window's downtime
exit codes: 0 fine, 2 invalid config or a usage mistake, 1 a mandatory policy violation or anything else`;

function printViolations(violations: PolicyViolation[]): void {
    console.log(`\nPolicy violations (${violations.length}):`);
    if (violations.length === 0) console.log("  none");
    for (const v of violations)
        console.log(`  [${v.level}] ${v.policy}${v.resource ? `  ${v.resource}` : ""}: ${v.message}`);
}

const SYMBOL: Record<StepOp, string> = { create: "+", update: "~", replace: "+-", delete: "-" };
const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? "(unset)"));

/**
 * The diff as `pulumi preview --diff` shows it: each step with its symbol, each changed input old => new (a secret
 * stays "[secret]": capture masks it), the inputs that force a replacement marked, then the count of each kind.
 */
function printDiff(diff: RunDiff): void {
    console.log("Diff against the stack's config without the edits:");
    for (const s of diff.steps) {
        const order = s.deleteBeforeReplace ? " (delete before replace)" : "";
        console.log(`  ${SYMBOL[s.op]} ${s.op.padEnd(7)} ${s.type}  ${s.name}${order}`);
        for (const c of s.changes) {
            const change =
                c.old === undefined
                    ? `+ ${c.path}: ${show(c.new)}`
                    : c.new === undefined
                      ? `- ${c.path}: ${show(c.old)}`
                      : `~ ${c.path}: ${show(c.old)} => ${show(c.new)}`;
            console.log(`      ${change}${c.replaces ? "  (forces replacement)" : ""}`);
        }
    }
    const counts = (["create", "update", "replace", "delete"] as const)
        .map((op) => [op, diff.steps.filter((s) => s.op === op).length] as const)
        .filter(([, n]) => n > 0);
    const to = { create: "to create", update: "to update", replace: "to replace", delete: "to delete" };
    console.log(
        `  Resources: ${[...counts.map(([op, n]) => `${SYMBOL[op]}${n} ${to[op]}`), `${diff.same} unchanged`].join(", ")}\n`,
    );
}

export async function main(argv: string[]): Promise<number> {
    const values = parseCommandArgs(argv, {
        diff: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "render-dir": { type: "string" },
    } as const);
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    const {
        stack,
        project,
        otherProject,
        base: baseConfig,
        edited,
        policyConfig,
        now,
    } = readCommandStack(ROOT, values);
    const declare = (request: RunRequest) =>
        otherProject ? runProject(request, otherProject.dir, otherProject.main) : runProgram(request);

    // With --diff the edited run reads the cluster the config without the edits leaves (liveStateOf); the second run
    // shares this process's loaded modules: --diff costs one more declaration, not one more start.
    const base = values.diff ? await declare({ ...toRunRequest(project, stack, baseConfig), now }) : undefined;
    const run = await declare({ ...toRunRequest(project, stack, edited), now, live: base && liveStateOf(base) });
    const diff = base ? diffRuns(base, run) : undefined;
    const rendered = values["render-dir"]
        ? renderManifests(run.resources, path.resolve(values["render-dir"]))
        : undefined;
    const violations = await runPolicies(run, policies, policyConfig, PACK_ENFORCEMENT);

    if (values.json) {
        const dependencies = engineDependencies(run);
        const resources = run.resources.map(({ type, name, urn, parent, ignoreChanges, read, inputs }) => ({
            type,
            name,
            parent,
            dependsOn: [...new Set(dependencies.get(urn)!.map(urnName))],
            ignoreChanges,
            ...(read ? { read } : {}),
            inputs,
        }));
        console.log(
            JSON.stringify(
                { stack, resources, outputs: run.outputs, ...(diff ? { diff } : {}), policy: { violations } },
                null,
                2,
            ),
        );
    } else {
        // The diff first, as `pulumi preview --diff` puts the changes before anything else.
        if (diff) printDiff(diff);
        for (const line of treeLines(run, project)) console.log(line);
        printViolations(violations);
        if (rendered) console.log(`\nWrote ${rendered.length} validated manifests to ${values["render-dir"]}`);
    }
    return violations.some((v) => v.level === "mandatory") ? 1 : 0;
}

if (require.main === module) runCommand(main, USAGE);
