import { DeclaredResource, ProgramRun } from "./types";

export interface ResourceRef {
    type: string;
    name: string;
}

export interface RunDiff {
    added: ResourceRef[];
    removed: ResourceRef[];
    changed: (ResourceRef & { paths: string[] })[];
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function join(base: string, key: string | number): string {
    if (typeof key === "number") return `${base}[${key}]`;
    if (IDENTIFIER.test(key)) return base ? `${base}.${key}` : key;
    return `${base}[${JSON.stringify(key)}]`;
}

/** Leaf paths at which two input trees differ, e.g. metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]. */
export function changedPaths(before: unknown, after: unknown, base = ""): string[] {
    if (Object.is(before, after)) return [];
    const isObj = (v: unknown) => v !== null && typeof v === "object";
    if (!isObj(before) || !isObj(after) || Array.isArray(before) !== Array.isArray(after)) return [base || "(root)"];
    const a = before as Record<string, unknown>;
    const b = after as Record<string, unknown>;
    const keys = Array.isArray(before) ? [...Array(Math.max((before as unknown[]).length, (after as unknown[]).length)).keys()] : [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], join(base, k)));
}

const key = (r: ResourceRef) => `${r.type}::${r.name}`;
const ref = (r: DeclaredResource): ResourceRef => ({ type: r.type, name: r.name });

/** Whether a changed path lies under one of the resource's ignoreChanges paths, which the engine does not diff. */
function ignored(path: string, ignoreChanges: string[]): boolean {
    return ignoreChanges.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
}

/**
 * What changes between two runs of the program, resource by resource, as the engine would diff their inputs. A read
 * (`Resource.get`) is left out: the engine reads it again or stops reading it, and never creates, updates or deletes
 * the object it reads.
 */
export function diffRuns(before: ProgramRun, after: ProgramRun): RunDiff {
    const declared = (run: ProgramRun) => run.resources.filter((r) => !r.read);
    const old = new Map(declared(before).map((r) => [key(r), r]));
    const now = new Map(declared(after).map((r) => [key(r), r]));
    const byName = (x: ResourceRef, y: ResourceRef) => key(x).localeCompare(key(y));
    return {
        added: declared(after)
            .filter((r) => !old.has(key(r)))
            .map(ref)
            .sort(byName),
        removed: declared(before)
            .filter((r) => !now.has(key(r)))
            .map(ref)
            .sort(byName),
        changed: declared(after)
            .flatMap((r) => {
                const was = old.get(key(r));
                return was ? [{ ...ref(r), paths: changedPaths(was.inputs, r.inputs).filter((p) => !ignored(p, r.ignoreChanges)) }] : [];
            })
            .filter((c) => c.paths.length > 0)
            .sort(byName),
    };
}

/**
 * The live Deployments a run's config leaves behind, for the reads of the next run (RunRequest.live): each at its
 * autoscaler's minimum (or its declared count without one), with the traffic decision its steps record. An offline
 * run has no cluster, so an autoscaler's own growth, and a floor an earlier shift raised, are not in it.
 */
export function liveStateOf(run: ProgramRun): Record<string, Record<string, unknown>> {
    const live: Record<string, Record<string, unknown>> = {};
    const declared = run.resources.filter((r) => r.custom && !r.read);
    const inputs = (r: DeclaredResource) => r.inputs as { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
    for (const d of declared.filter((r) => r.type === "kubernetes:apps/v1:Deployment")) {
        const name = inputs(d).metadata?.name;
        const hpa = declared.find((r) => r.type.endsWith(":HorizontalPodAutoscaler") && (inputs(r).spec?.scaleTargetRef as { name?: string } | undefined)?.name === name);
        const steps = declared.filter((r) => r.type === "kubernetes:apps/v1:DeploymentPatch" && inputs(r).metadata?.name === name);
        const annotations = Object.assign({}, ...steps.map((r) => inputs(r).metadata?.annotations ?? {})) as Record<string, string>;
        const settled = steps.map((r) => inputs(r).spec?.replicas).find((n) => n !== undefined);
        live[`${d.name}-id`] = {
            metadata: { name, annotations },
            spec: { replicas: settled ?? (hpa ? inputs(hpa).spec?.minReplicas : inputs(d).spec?.replicas) },
        };
    }
    return live;
}
