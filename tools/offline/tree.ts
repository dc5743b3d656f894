import { ANNOTATION } from "../../policy/contract";
import { DeclaredResource, ProgramRun } from "./types";

function get(obj: unknown, dotted: string): unknown {
    return dotted
        .split(".")
        .reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** A few inputs that say what a resource is for, for the tree view. */
function summary(r: DeclaredResource): string {
    const i = r.inputs;
    const parts: string[] = [];
    const add = (label: string, value: unknown) => {
        if (value !== undefined && value !== null && value !== "")
            parts.push(`${label}=${typeof value === "string" ? value : JSON.stringify(value)}`);
    };
    add("name", get(i, "metadata.name"));
    const containers =
        get(i, "spec.template.spec.containers") ?? get(i, "spec.jobTemplate.spec.template.spec.containers");
    if (Array.isArray(containers)) add("image", containers.map((c) => c.image).join(","));
    add("replicas", get(i, "spec.replicas"));
    add("minReplicas", get(i, "spec.minReplicas"));
    add("maxReplicas", get(i, "spec.maxReplicas"));
    if (r.type.endsWith(":Service")) add("selector", get(i, "spec.selector"));
    const annotations = (get(i, "metadata.annotations") ?? {}) as Record<string, string>;
    // A traffic step (components/traffic/capacity.ts): the ready pods it waits for and the share it records.
    const ready = /readyReplicas>(\d+)/.exec(annotations["pulumi.com/waitFor"] ?? "");
    if (r.type.endsWith("Patch")) add("ready", ready ? Number(ready[1]) + 1 : undefined);
    if (r.type.endsWith("Patch")) add("share", annotations[ANNOTATION.trafficShare]);
    if (r.read) parts.push("read");
    add("canary-weight", annotations["nginx.ingress.kubernetes.io/canary-weight"]);
    const rules = get(i, "spec.rules");
    if (Array.isArray(rules))
        add(
            "host",
            rules
                .map((rule) => rule.host)
                .filter(Boolean)
                .join(",") || undefined,
        );
    add("hostnames", get(i, "spec.hostnames"));
    add("schedule", get(i, "spec.schedule"));
    add("query", get(i, "query"));
    add("bucket", get(i, "bucket"));
    if (r.dependsOn.length > 0) add("after", r.dependsOn.join(","));
    return parts.join("  ");
}

/** The text view of a run: its resources as a tree under their parents, each with a summary, then its outputs. */
export function treeLines(run: ProgramRun, project: string): string[] {
    const lines: string[] = [];
    // By URN: a child may share its parent's name (a component `api` holding a ConfigMap `api`).
    const children = new Map<string | null, DeclaredResource[]>();
    for (const r of run.resources) children.set(r.parentUrn, [...(children.get(r.parentUrn) ?? []), r]);
    lines.push(
        `${project}-${run.stack} (${run.resources.filter((r) => r.custom).length} resources, ${run.resources.filter((r) => !r.custom).length} components)`,
    );
    const walk = (parent: string | null, indent: string) => {
        const list = children.get(parent) ?? [];
        list.forEach((r, idx) => {
            const last = idx === list.length - 1;
            const s = summary(r);
            lines.push(`${indent}${last ? "└─" : "├─"} ${r.type}  ${r.name}${s ? "  " + s : ""}`);
            walk(r.urn, indent + (last ? "   " : "│  "));
        });
    };
    walk(null, "");
    lines.push("\nOutputs:");
    for (const [k, v] of Object.entries(run.outputs)) {
        // The `readme` output is a whole document: its title stands for it.
        const text =
            typeof v === "string" && v.includes("\n") ? `${v.split("\n")[0]} (${v.split("\n").length} lines)` : v;
        lines.push(`  ${k}: ${typeof text === "string" ? text : JSON.stringify(text)}`);
    }
    return lines;
}
