// URNs as the engine builds them: README "Decisions", "The offline diff's steps".

/** The type part of a URN: its parents' types and its own, joined by `$`. */
export const qualifiedType = (urn: string): string => urn.split("::")[2];

/** The name part of a URN. */
export const urnName = (urn: string): string => urn.split("::").slice(3).join("::");

/** The URN of a resource of `type` named `name` under `parent` (a URN; none for a resource at the top, under the root Stack). */
export function resourceUrn(
    stack: string,
    project: string,
    parent: string | undefined,
    type: string,
    name: string,
): string {
    return `urn:pulumi:${stack}::${project}::${parent ? `${qualifiedType(parent)}$` : ""}${type}::${name}`;
}
