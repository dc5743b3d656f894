// Which changes replace a resource rather than update it, as the engine decides it: the provider's Diff, then the
// resource's own `replaceOnChanges`. Sources: README "Decisions", "The offline diff's steps".

/** A path into a resource's inputs: object keys and array indexes. */
export type Segments = (string | number)[];

/**
 * The Kubernetes provider's fields whose change replaces an object (its forceNew table), for the kinds this library
 * declares. ConfigMap and Secret data replace under the
 * provider's defaults (enableConfigMapMutable and enableSecretMutable off), `immutable: true` or not.
 */
const FORCE_NEW: Record<string, string[]> = {
    "apps/v1:Deployment": ["spec.selector"],
    "batch/v1:Job": ["spec.completions", "spec.parallelism", "spec.selector", "spec.template"],
    "core/v1:Service": ["spec.clusterIP"],
    "core/v1:Secret": ["type", "stringData", "data"],
    "core/v1:ConfigMap": ["data", "binaryData"],
};
/** A change of identity replaces every object, a patch (`…Patch`) included. */
const IDENTITY = ["metadata.name", "metadata.namespace"];

const segmentsOf = (pattern: string): Segments => pattern.split(".");
const at = (value: unknown, path: Segments): unknown =>
    path.reduce<unknown>(
        (v, k) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
        value,
    );

/**
 * Whether a change at `path` (from `old` to `now`) touches the field `pattern` names, as the provider's jsonpath
 * match on the patch does: the change lies under the field, or replaces a whole object that holds it.
 */
function touches(pattern: Segments, path: Segments, old: unknown, now: unknown): boolean {
    const common = Math.min(pattern.length, path.length);
    for (let i = 0; i < common; i++) if (pattern[i] !== path[i]) return false;
    if (pattern.length <= path.length) return true;
    const rest = pattern.slice(path.length);
    return at(old, rest) !== undefined || at(now, rest) !== undefined;
}

/** Whether the Kubernetes provider replaces a resource of `type` for a change at `path`. */
export function kubernetesReplaces(type: string, path: Segments, old: unknown, now: unknown): boolean {
    const [, groupVersion, kind] = type.split(":");
    const fields = kind.endsWith("Patch") ? IDENTITY : [...IDENTITY, ...(FORCE_NEW[`${groupVersion}:${kind}`] ?? [])];
    return fields.some((f) => touches(segmentsOf(f), path, old, now));
}

/** Whether `path` (Pulumi's property path syntax) is `prefix` or lies under it; `*` holds every path. */
export function under(path: string, prefix: string): boolean {
    return prefix === "*" || path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);
}
