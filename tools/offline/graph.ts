import { ProgramRun } from "./types";

/**
 * Each resource's dependencies, by URN, as the engine records them in state: explicit dependsOn and the resources whose
 * outputs feed its inputs, with a component expanded to every custom resource beneath it (the Node.js SDK waits for
 * a component's descendants: gatherExplicitDependencies / getAllTransitivelyReferencedResourceURNs in
 * pulumi/pulumi sdk/nodejs/runtime/resource.ts).
 */
export function engineDependencies(run: ProgramRun): Map<string, string[]> {
    const children = new Map<string, string[]>();
    for (const r of run.resources)
        if (r.parentUrn) children.set(r.parentUrn, [...(children.get(r.parentUrn) ?? []), r.urn]);
    const custom = new Set(run.resources.filter((r) => r.custom).map((r) => r.urn));
    const expand = (urn: string): string[] => (custom.has(urn) ? [urn] : (children.get(urn) ?? []).flatMap(expand));
    return new Map(run.resources.map((r) => [r.urn, [...new Set(r.dependencies.flatMap(expand))]]));
}
