// URNs as the engine builds them: README "Decisions", "The offline diff's steps".

/** The type part of a URN: its parents' types and its own, joined by `$`. */
export const qualifiedType = (urn: string): string => urn.split("::")[2];

/** The name part of a URN. */
export const urnName = (urn: string): string => urn.split("::").slice(3).join("::");

/** The root Stack's type, which the engine leaves out of the URNs of the resources under it. */
const ROOT_STACK = "pulumi:pulumi:Stack";

/**
 * The URN of a resource of `type` named `name` under `parent` (a URN; none, or the root Stack's, for a resource at
 * the top).
 */
export function resourceUrn(
    stack: string,
    project: string,
    parent: string | undefined,
    type: string,
    name: string,
): string {
    const parentTypes = parent && qualifiedType(parent) !== ROOT_STACK ? `${qualifiedType(parent)}$` : "";
    return `urn:pulumi:${stack}::${project}::${parentTypes}${type}::${name}`;
}
