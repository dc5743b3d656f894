import { mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { DeclaredResource, SECRET_MASK } from "./types";

type Validatable = new (data: unknown) => { validate(): void };

/** The kubernetes-models class for an apiVersion and kind, or undefined when no schema is known. */
function modelClass(apiVersion: string, kind: string): Validatable | undefined {
    const candidates = apiVersion.startsWith("gateway.networking.k8s.io/")
        ? [`@kubernetes-models/gateway-api/${apiVersion}/${kind}`]
        : [`kubernetes-models/${apiVersion}/${kind}`];
    for (const candidate of candidates) {
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return require(candidate)[kind] as Validatable;
        } catch {
            // not a module of this package; try the next
        }
    }
    return undefined;
}

/** A Kubernetes object as applied to the cluster, from a declared resource's inputs. */
export function manifestOf(resource: DeclaredResource): Record<string, unknown> | undefined {
    if (!resource.custom || !resource.type.startsWith("kubernetes:") || resource.type.startsWith("pulumi:providers:"))
        return undefined;
    // A patch is part of an object made elsewhere (the schema requires the whole object); a read declares nothing.
    if (resource.read || resource.type.endsWith("Patch")) return undefined;
    const { apiVersion, kind } = resource.inputs as { apiVersion?: string; kind?: string };
    if (!apiVersion || !kind) return undefined;
    const manifest = { ...resource.inputs };
    // A Secret's data stays a Pulumi secret: the rendered file carries the keys' shape, never the values.
    for (const field of ["data", "stringData"]) if (manifest[field] === SECRET_MASK) manifest[field] = {};
    return manifest;
}

/** Validates a manifest against the Kubernetes OpenAPI schema; throws naming the object and the failing field. */
export function validateManifest(manifest: Record<string, unknown>): void {
    const { apiVersion, kind, metadata } = manifest as {
        apiVersion: string;
        kind: string;
        metadata?: { name?: string };
    };
    const Model = modelClass(apiVersion, kind);
    if (!Model) throw new Error(`${kind} ${metadata?.name}: no schema known for ${apiVersion}`);
    try {
        new Model(manifest).validate();
    } catch (err) {
        throw new Error(`${kind} ${metadata?.name} does not match the ${apiVersion} schema: ${(err as Error).message}`);
    }
}

/** Validates every Kubernetes object and writes each as YAML, one file per object; returns the files written. */
export function renderManifests(resources: DeclaredResource[], dir: string): string[] {
    const manifests = resources.map(manifestOf).filter((m): m is Record<string, unknown> => m !== undefined);
    manifests.forEach(validateManifest);
    mkdirSync(dir, { recursive: true });
    return manifests.map((m) => {
        const meta = m.metadata as { name: string; namespace?: string };
        const file = path.join(dir, `${meta.namespace ?? "cluster"}.${String(m.kind).toLowerCase()}.${meta.name}.yaml`);
        writeFileSync(file, YAML.stringify(m, { sortMapEntries: false }));
        return file;
    });
}
