// The deployment plan of another project on the library (`npm run plan -- --project-dir DIR`). myapp's plan takes
// its steps, timeline and people from myapp's config; for a project whose config it cannot read, the plan says what
// the program declares, the checklist as the policy pack proves it, and the stack outputs.
import { CHECKLIST } from "./checklist";
import { canaryRoutingObject, cronJobFacts, jobFacts } from "./facts";
import { ROLE_DUTIES } from "./people";
import { checklistItem } from "./render";
import { PlanPolicyRun, PlanResource } from "./types";

/** What a service's plan is rendered from. */
export interface ServicePlanInput {
    /** The project's name (its Pulumi.yaml). */
    project: string;
    stack: string;
    /** What the program declares, with each resource's parent component and whether it is one. */
    resources: (PlanResource & { parent: string | null; custom: boolean })[];
    /** The stack outputs. */
    outputs: Record<string, unknown>;
    policy: PlanPolicyRun;
}

const code = (s: string) => `\`${s}\``;

/** The top-level resources and components, each with the number of resources beneath it. */
function declared(input: ServicePlanInput): string[] {
    const children = new Map<string | null, ServicePlanInput["resources"]>();
    for (const r of input.resources) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
    const beneath = (name: string): number =>
        (children.get(name) ?? []).reduce((n, c) => n + (c.custom ? 1 : 0) + beneath(c.name), 0);
    return (children.get(null) ?? []).map(
        (r) => `- ${code(r.type)} ${code(r.name)}${r.custom ? "" : `: ${beneath(r.name)} resources`}`,
    );
}

export function renderServicePlan(input: ServicePlanInput): string {
    const { resources, policy } = input;
    const out = [
        `# Deployment plan: ${input.project} to ${input.stack}`,
        "",
        "## What `pulumi up` declares",
        "",
        ...declared(input),
    ];
    const jobs = jobFacts(resources);
    if (jobs.length > 0)
        out.push(
            "",
            "Jobs the release runs, each awaited before what depends on it:",
            "",
            ...jobs.map((j) => `- ${code(j.name)} (${j.component})`),
        );
    const crons = cronJobFacts(resources);
    if (crons.length > 0)
        out.push("", "Scheduled jobs (UTC):", "", ...crons.map((c) => `- ${code(c.name)}: ${code(c.schedule)}`));
    const routing = canaryRoutingObject(resources);
    if (routing)
        out.push("", `A canary weight edit changes ${routing} and the tracks' capacity steps; no pod restarts.`);

    const v = policy.violations;
    const ran = Object.values(policy.levels).filter((l) => l !== "disabled").length;
    out.push(
        "",
        "## Pre-Deployment Checklist",
        "",
        `Policy run: ${ran} policies, ${v.length} violation${v.length === 1 ? "" : "s"}, ${v.filter((x) => x.level === "mandatory").length} mandatory.`,
    );
    for (const section of CHECKLIST) {
        out.push("", `### ${section.section}`, "");
        for (const line of section.lines)
            out.push(...checklistItem({ ...input, owner: (role) => ROLE_DUTIES[role].title }, line));
    }
    out.push(
        "",
        "## Stack outputs",
        "",
        ...Object.entries(input.outputs).map(
            ([k, value]) => `- ${k}: ${typeof value === "string" ? code(value) : JSON.stringify(value)}`,
        ),
    );
    return out.join("\n") + "\n";
}
