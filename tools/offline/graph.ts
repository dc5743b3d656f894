import { ProgramRun } from "./types";

/**
 * Each resource's dependencies as the engine records them in state: explicit dependsOn and the resources whose
 * outputs feed its inputs, with a component expanded to every custom resource beneath it (the Node.js SDK waits for
 * a component's descendants: gatherExplicitDependencies / getAllTransitivelyReferencedResourceURNs in
 * pulumi/pulumi sdk/nodejs/runtime/resource.ts).
 */
export function engineDependencies(run: ProgramRun): Map<string, string[]> {
    const children = new Map<string, string[]>();
    for (const r of run.resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r.name]);
    const custom = new Set(run.resources.filter((r) => r.custom).map((r) => r.name));
    const expand = (name: string): string[] => (custom.has(name) ? [name] : (children.get(name) ?? []).flatMap(expand));
    return new Map(run.resources.map((r) => [r.name, [...new Set(r.dependencies.flatMap(expand))]]));
}
