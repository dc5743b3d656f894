import { kubernetesReplaces, Segments, under } from "./replacement";
import { AliasSpec, DeclaredResource, ProgramRun, SECRET_MASK } from "./types";
import { qualifiedType, resourceUrn, urnName } from "./urn";

/** The engine's step ops (`pulumi preview --json` steps[].op) for what a resource does; a replacement is one `replace`. */
export type StepOp = "create" | "update" | "replace" | "delete";

/** One input that changes: its value before and after (absent where unset); `replaces` where it is why the resource is replaced. */
export interface Change {
    path: string;
    old?: unknown;
    new?: unknown;
    replaces?: true;
}

export interface Step {
    op: StepOp;
    urn: string;
    type: string;
    name: string;
    /** Name of the parent component, or null at the top, as in the preview's resources. */
    parent: string | null;
    /** The inputs that change, for an update or a replacement; none for a create or a delete. */
    changes: Change[];
    /** A replacement that deletes the old object before it creates the new one. */
    deleteBeforeReplace?: true;
}

/** What the engine will do to go from one run's declarations to the next's: its steps, and how many resources stay the same. */
export interface RunDiff {
    steps: Step[];
    same: number;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Pulumi's property path syntax, e.g. metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]. */
function pathOf(segments: Segments): string {
    return segments.reduce<string>((base, key) => {
        if (typeof key === "number") return `${base}[${key}]`;
        if (IDENTIFIER.test(key)) return base ? `${base}.${key}` : key;
        return `${base}[${JSON.stringify(key)}]`;
    }, "");
}

/** The leaves at which two input trees differ, with the value on each side. */
function leafChanges(
    before: unknown,
    after: unknown,
    base: Segments = [],
): { segments: Segments; old: unknown; now: unknown }[] {
    if (Object.is(before, after)) return [];
    const isObj = (v: unknown) => v !== null && typeof v === "object";
    if (!isObj(before) || !isObj(after) || Array.isArray(before) !== Array.isArray(after))
        return [{ segments: base, old: before, now: after }];
    const a = before as Record<string, unknown>;
    const b = after as Record<string, unknown>;
    const keys = Array.isArray(before)
        ? [...Array(Math.max((before as unknown[]).length, (after as unknown[]).length)).keys()]
        : [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => leafChanges(a[k], b[k], [...base, k]));
}

/**
 * The inputs that change from `was` to `r`, as the engine diffs them: none under `ignoreChanges`; a change replaces
 * the resource where the provider or its `replaceOnChanges` says so.
 */
function changesOf(was: DeclaredResource, r: DeclaredResource): Change[] {
    // Both sides show "[secret]" where a secret sits: its digest tells whether the value behind it changed.
    const digests = new Map((was.secrets ?? []).map((s) => [pathOf(s.path), s.digest]));
    const secretChanges = (r.secrets ?? [])
        .filter((s) => digests.has(pathOf(s.path)) && digests.get(pathOf(s.path)) !== s.digest)
        .map((s) => ({ segments: s.path, old: SECRET_MASK, now: SECRET_MASK }));
    return [...leafChanges(was.inputs, r.inputs), ...secretChanges].flatMap(({ segments, old, now }) => {
        const path = pathOf(segments) || "(root)";
        if (r.ignoreChanges.some((p) => under(path, p))) return [];
        const replaces =
            (r.type.startsWith("kubernetes:") && kubernetesReplaces(r.type, segments, old, now)) ||
            (r.replaceOnChanges ?? []).some((p) => under(path, p));
        return [
            {
                path,
                ...(old !== undefined ? { old } : {}),
                ...(now !== undefined ? { new: now } : {}),
                ...(replaces ? { replaces: true as const } : {}),
            },
        ];
    });
}

/**
 * Whether a replacement deletes first: the resource's `deleteBeforeReplace`, or a Kubernetes object that keeps its
 * name and namespace, which two objects cannot share.
 */
function deletesFirst(was: DeclaredResource, r: DeclaredResource): boolean {
    if (r.deleteBeforeReplace) return true;
    if (!r.type.startsWith("kubernetes:")) return false;
    const meta = (d: DeclaredResource) => (d.inputs.metadata ?? {}) as { name?: string; namespace?: string };
    return (
        meta(r).name !== undefined &&
        meta(r).name === meta(was).name &&
        (meta(r).namespace ?? "default") === (meta(was).namespace ?? "default")
    );
}

/**
 * What the engine will do to go from `before`'s declarations to `after`'s, matching resources by URN (parent
 * included) and then by their aliases (README "Decisions", "The offline diff's steps"): a resource found at neither
 * is created, and an old one nobody claims is deleted. A read (`Resource.get`) is left out: the engine never
 * creates, updates or deletes what it reads. Steps come in declaration order, the deletes last, in reverse.
 */
export function diffRuns(before: ProgramRun, after: ProgramRun): RunDiff {
    const declared = (run: ProgramRun) => run.resources.filter((r) => !r.read);
    const olds = new Map(declared(before).map((r) => [r.urn, r]));
    const claimed = new Set<string>();
    // The old URN each resource matched through an alias, for its children's aliases.
    const matchedAlias = new Map<string, string>();
    const steps: Step[] = [];
    let same = 0;
    for (const r of declared(after)) {
        const candidates = [r.urn, ...aliasUrns(r, after, matchedAlias)];
        const found = candidates.find((u) => olds.has(u) && !claimed.has(u));
        const step = { urn: r.urn, type: r.type, name: r.name, parent: r.parent };
        if (found === undefined) {
            steps.push({ op: "create", ...step, changes: [] });
            continue;
        }
        claimed.add(found);
        if (found !== r.urn) matchedAlias.set(r.urn, found);
        const was = olds.get(found)!;
        const changes = changesOf(was, r);
        if (changes.length === 0) same++;
        else if (changes.some((c) => c.replaces))
            steps.push({
                op: "replace",
                ...step,
                changes,
                ...(deletesFirst(was, r) ? { deleteBeforeReplace: true as const } : {}),
            });
        else steps.push({ op: "update", ...step, changes });
    }
    const deleted = declared(before).filter((r) => !claimed.has(r.urn));
    for (const r of deleted.reverse())
        steps.push({ op: "delete", urn: r.urn, type: r.type, name: r.name, parent: r.parent, changes: [] });
    return { steps, same };
}

/** The old URNs a resource's aliases name, with those its parent's matched alias gives it, as the engine generates them. */
function aliasUrns(r: DeclaredResource, run: ProgramRun, matchedAlias: Map<string, string>): string[] {
    const parent = r.parentUrn ?? undefined;
    const collapse = (a: AliasSpec): string => {
        if (a.urn) return a.urn;
        // An alias that names no parent has the resource's own: the SDK sends it in the alias spec. Either parent
        // stands for its old URN when it matched through an alias.
        const named = a.noParent ? undefined : (a.parent ?? parent);
        const aliasParent = named && (matchedAlias.get(named) ?? named);
        return resourceUrn(
            a.stack ?? run.stack,
            a.project ?? projectOf(r.urn),
            aliasParent,
            a.type ?? r.type,
            a.name ?? r.name,
        );
    };
    const own = (r.aliases ?? []).map(collapse);
    const parentAlias = parent && matchedAlias.get(parent);
    if (!parentAlias) return own;
    // A child named after its parent ("<parent>-x") is named after the parent's old name under its old URN.
    const inherited = (type: string, name: string) => {
        const parentName = urnName(parent);
        const aliasName = name.startsWith(parentName) ? urnName(parentAlias) + name.slice(parentName.length) : name;
        return `urn:pulumi:${run.stack}::${projectOf(r.urn)}::${qualifiedType(parentAlias)}$${type}::${aliasName}`;
    };
    return [
        ...new Set([
            ...own,
            inherited(r.type, r.name),
            ...own.map((u) => inherited(qualifiedType(u).split("$").pop()!, urnName(u))),
        ]),
    ];
}

const projectOf = (urn: string) => urn.split("::")[1];

/**
 * The live Deployments a run's config leaves behind, for the reads of the next run (RunRequest.live): each at its
 * autoscaler's minimum (or its declared count without one), with the traffic decision its steps record. An offline
 * run has no cluster, so an autoscaler's own growth, and a floor an earlier shift raised, are not in it.
 */
export function liveStateOf(run: ProgramRun): Record<string, Record<string, unknown>> {
    const live: Record<string, Record<string, unknown>> = {};
    const declared = run.resources.filter((r) => r.custom && !r.read);
    const inputs = (r: DeclaredResource) =>
        r.inputs as {
            metadata?: { name?: string; annotations?: Record<string, string> };
            spec?: Record<string, unknown>;
        };
    for (const d of declared.filter((r) => r.type === "kubernetes:apps/v1:Deployment")) {
        const name = inputs(d).metadata?.name;
        const hpa = declared.find(
            (r) =>
                r.type.endsWith(":HorizontalPodAutoscaler") &&
                (inputs(r).spec?.scaleTargetRef as { name?: string } | undefined)?.name === name,
        );
        const steps = declared.filter(
            (r) => r.type === "kubernetes:apps/v1:DeploymentPatch" && inputs(r).metadata?.name === name,
        );
        const annotations = Object.assign({}, ...steps.map((r) => inputs(r).metadata?.annotations ?? {})) as Record<
            string,
            string
        >;
        const settled = steps.map((r) => inputs(r).spec?.replicas).find((n) => n !== undefined);
        live[`${d.name}-id`] = {
            metadata: { name, annotations },
            spec: { replicas: settled ?? (hpa ? inputs(hpa).spec?.minReplicas : inputs(d).spec?.replicas) },
        };
    }
    return live;
}
