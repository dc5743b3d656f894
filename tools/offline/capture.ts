import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { DESCEND, rebuild, watchDeclarations } from "../../lib/declarations";
import { AliasSpec, DeclaredResource, ProgramRun, RunRequest, SECRET_MASK, SecretDigest } from "./types";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- an SDK module whose export a run replaces, which an import cannot
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
    debuggablePromise: <T>(p: Promise<T>, ctx: string) => Promise<T>;
};
import { resourceUrn, urnName } from "./urn";

const isSecret = (v: unknown): v is { value: unknown } =>
    !!v &&
    typeof v === "object" &&
    (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

/**
 * Replaces every secret, as the mock monitor hands it over (wrapped in Pulumi's secret signature), with "[secret]";
 * `digests` hears where each was, with a digest of its value.
 */
function mask(value: unknown, digests: SecretDigest[] = []): unknown {
    return rebuild(value, (v, path) => {
        if (!isSecret(v)) return DESCEND;
        digests.push({
            path,
            digest: createHash("sha256")
                .update(JSON.stringify(reveal(v.value)))
                .digest("hex")
                .slice(0, 16),
        });
        return SECRET_MASK;
    });
}

/** Unwraps every secret, for a test that needs the values the program built (a connection URL). */
function reveal(value: unknown): unknown {
    return rebuild(value, (v) => (isSecret(v) ? reveal(v.value) : DESCEND));
}

/** Values a provider would compute, so that programs reading them get something sensible. */
function computedOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    if (type === "random:index/randomPassword:RandomPassword") return { result: `offline-password(${name})` };
    if (type.startsWith("aws:")) {
        return {
            arn: `arn:aws:mock:us-east-1:123456789012:${name}`,
            bucket: inputs.bucket ?? name,
            name: inputs.name ?? name,
        };
    }
    return {};
}

/** Resources whose outputs feed these inputs: the dependencies the engine adds beyond dependsOn. */
async function referencedResources(props: unknown): Promise<pulumi.Resource[]> {
    const found: Promise<pulumi.Resource[]>[] = [];
    rebuild(props, (v) => {
        if (pulumi.Output.isInstance(v)) {
            const out = v as unknown as {
                allResources?: () => Promise<Set<pulumi.Resource>>;
                resources: () => Set<pulumi.Resource>;
            };
            found.push(
                (out.allResources ? out.allResources() : Promise.resolve(out.resources())).then((set) => [...set]),
            );
            return v;
        }
        return pulumi.Resource.isInstance(v) || v instanceof Promise ? v : DESCEND;
    });
    return (await Promise.all(found)).flat();
}

const resolved = <T>(input: pulumi.Input<T>) =>
    new Promise<T>((resolve) => pulumi.output(input).apply((v) => resolve(v as T)));

/**
 * A resource's aliases as the SDK sends them (alias specs): `{ parent: undefined }` is a resource that sat at the
 * top, and a parent given as a resource is that resource's URN (`urns`; none for the root Stack).
 */
async function aliasSpecs(
    aliases: pulumi.Input<pulumi.URN | pulumi.Alias>[],
    urns: WeakMap<pulumi.Resource, string>,
): Promise<AliasSpec[]> {
    return Promise.all(
        aliases.map(async (input): Promise<AliasSpec> => {
            const alias =
                typeof input === "string" || pulumi.Output.isInstance(input) || input instanceof Promise
                    ? await resolved(input)
                    : input;
            if (typeof alias === "string") return { urn: alias };
            const spec: AliasSpec = {};
            for (const key of ["name", "type", "project", "stack"] as const)
                if (alias[key] !== undefined) spec[key] = await resolved(alias[key]);
            if ("parent" in alias) {
                const parent = pulumi.Resource.isInstance(alias.parent)
                    ? urns.get(alias.parent)
                    : alias.parent === undefined
                      ? undefined
                      : await resolved(alias.parent);
                if (parent === undefined) spec.noParent = true;
                else spec.parent = parent;
            }
            return spec;
        }),
    );
}

/**
 * Errors that stopped a run. The root Stack's own promises reject with the same error and nothing awaits them;
 * under the CLI, Pulumi's run harness swallows those. Here this listener does, and only those, so that the next run
 * in the same process is not taken down by the last one's failure: any other unhandled rejection still ends the
 * process, as Node's default would.
 */
const stoppedRuns = new WeakSet<object>();
let listening = false;
function ignoreStoppedRuns(reason: unknown): void {
    if (!(reason && typeof reason === "object" && stoppedRuns.has(reason))) throw reason;
}

/**
 * Runs `body` under Pulumi's mock runtime inside a root Stack resource, as the CLI runs a program, and records every
 * resource it declares with its parent, explicit dependencies and inputs. `body` returns the stack outputs;
 * `onDeclare` hears the running count of resources registered, the root Stack included.
 */
export async function captureDeclarations(
    request: RunRequest,
    body: () => Record<string, unknown> | Promise<Record<string, unknown>>,
    onDeclare: (count: number) => void = () => undefined,
): Promise<ProgramRun> {
    if (!listening) {
        process.on("unhandledRejection", ignoreStoppedRuns);
        listening = true;
    }
    // The SDK wraps every promise it creates for a leak report at exit (README, Benchmarks), which an offline run
    // never prints: its promises go unwrapped. One stack frame per error still gives the throw site in the program.
    const stackTraceLimit = Error.stackTraceLimit;
    const wrap = debuggable.debuggablePromise;
    Error.stackTraceLimit = 1;
    debuggable.debuggablePromise = (p) => p;
    try {
        return await declareUnderMocks(request, body, onDeclare);
    } finally {
        Error.stackTraceLimit = stackTraceLimit;
        debuggable.debuggablePromise = wrap;
    }
}

/** What capture reads of the requests with which Pulumi's mock monitor registers or reads a resource. */
interface ResourceRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
}
type Properties = Parameters<typeof pulumi.runtime.deserializeProperties>[0];
type Callback = (...args: unknown[]) => void;
interface MockMonitor {
    newUrn(parent: string, type: string, name: string): string;
    registerResource(
        req: ResourceRequest & { getObject(): Properties; getCustom(): boolean },
        callback: Callback,
    ): void;
    readResource(req: ResourceRequest & { getProperties(): Properties }, callback: Callback): void;
}

/**
 * Hands `record` each resource the mock monitor registers or reads, with its URN and its inputs as the mocks'
 * newResource gets them. newResource is told no parent, and the monitor's URNs keep only the parent's last type
 * (@pulumi/pulumi runtime/mocks.js `newUrn`): here the monitor names resources as the engine does, from the parent
 * its request carries, so that resources of one type and name under different parents stay apart.
 */
function recordRegistrations(
    request: RunRequest,
    record: (urn: string, inputs: Record<string, unknown>, custom: boolean) => void,
): void {
    const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
    monitor.newUrn = (parent, type, name) => resourceUrn(request.stack, request.project, parent, type, name);
    const register = monitor.registerResource.bind(monitor);
    const read = monitor.readResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
        const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
        record(urn, pulumi.runtime.deserializeProperties(req.getObject()), req.getCustom());
        register(req, callback);
    };
    monitor.readResource = (req, callback) => {
        const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
        record(urn, pulumi.runtime.deserializeProperties(req.getProperties()), true);
        read(req, callback);
    };
}

async function declareUnderMocks(
    request: RunRequest,
    body: () => Record<string, unknown> | Promise<Record<string, unknown>>,
    onDeclare: (count: number) => void,
): Promise<ProgramRun> {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                // A read (args.id) finds what the request says the cluster holds, or nothing; a StackReference finds
                // the outputs the request gives that stack, or none.
                if (args.id && args.type === "pulumi:pulumi:StackReference")
                    return {
                        id: args.id,
                        state: {
                            name: args.id,
                            outputs: {},
                            secretOutputNames: [],
                            ...(request.live?.[args.id] ?? {}),
                        },
                    };
                if (args.id) return { id: args.id, state: { ...args.inputs, ...(request.live?.[args.id] ?? {}) } };
                return {
                    id: `${args.name}-id`,
                    state: { ...args.inputs, ...computedOutputs(args.type, args.name, args.inputs) },
                };
            },
            call: (args) =>
                args.token === "aws:index/getCallerIdentity:getCallerIdentity" ? { accountId: "123456789012" } : {},
        },
        request.project,
        request.stack,
        false,
        // The file backend's organization, which a StackReference to the stack itself names.
        request.organization ?? "organization",
    );
    pulumi.runtime.setAllConfig(request.config, request.secretKeys);
    const declared = new Map<string, { inputs: Record<string, unknown>; custom: boolean }>();
    recordRegistrations(request, (urn, inputs, custom) => {
        declared.set(urn, { inputs, custom });
        onDeclare(declared.size);
    });

    // No mock sees a resource's options (dependsOn, aliases…); a stack transformation sees them as the program passes them.
    const urns = new WeakMap<pulumi.Resource, string>();
    type Declared = Omit<DeclaredResource, "dependencies" | "custom" | "inputs" | "aliases"> & {
        dependsOnUrns: string[];
        implicit: Promise<pulumi.Resource[]>;
        aliases: Promise<AliasSpec[]>;
    };
    const graph: Declared[] = [];
    let exported: Record<string, unknown> = {};
    const run = pulumi.runtime.runInPulumiStack(async () => {
        watchDeclarations((args) => {
            const parentUrn = (args.opts.parent && urns.get(args.opts.parent)) ?? null;
            const urn = resourceUrn(request.stack, request.project, parentUrn ?? undefined, args.type, args.name);
            urns.set(args.resource, urn);
            const deps = args.opts.dependsOn;
            const depList = (Array.isArray(deps) ? deps : deps ? [deps] : []) as pulumi.Resource[];
            const dependsOnUrns = depList.map((d) => urns.get(d)).filter((u): u is string => u !== undefined);
            const { replaceOnChanges, deleteBeforeReplace } = args.opts as pulumi.CustomResourceOptions;
            graph.push({
                type: args.type,
                name: args.name,
                urn,
                // Names for display, from the URNs, which tell resources of one name apart.
                parent: parentUrn && urnName(parentUrn),
                parentUrn,
                dependsOn: dependsOnUrns.map(urnName),
                dependsOnUrns,
                ignoreChanges: args.opts.ignoreChanges ?? [],
                // A `Resource.get`: a read step, which declares nothing and which the engine hands to no policy.
                ...(args.opts.id !== undefined ? { read: true as const } : {}),
                ...(replaceOnChanges?.length ? { replaceOnChanges } : {}),
                ...(deleteBeforeReplace ? { deleteBeforeReplace: true as const } : {}),
                implicit: referencedResources(args.props),
                aliases: aliasSpecs(args.opts.aliases ?? [], urns),
            });
        });
        try {
            exported = await body();
        } catch (err) {
            if (err && typeof err === "object") stoppedRuns.add(err);
            throw err;
        }
        return {};
    });
    try {
        await run;
    } finally {
        // Registrations still in flight finish against this run's mocks, never the next run's.
        await pulumi.runtime.disconnect();
    }

    const outputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(exported)) {
        const out: pulumi.Output<unknown> = pulumi.output(value);
        const secret = await pulumi.isSecret(out);
        const plain = await new Promise((resolve) => out.apply(resolve));
        outputs[key] = secret ? SECRET_MASK : mask(plain);
    }
    const resources: DeclaredResource[] = [];
    for (const { implicit, aliases, dependsOnUrns, ...g } of graph) {
        const d = declared.get(g.urn);
        const referenced = (await implicit).map((r) => urns.get(r)).filter((u): u is string => u !== undefined);
        const specs = await aliases;
        const secrets: SecretDigest[] = [];
        resources.push({
            ...g,
            ...(specs.length > 0 ? { aliases: specs } : {}),
            dependencies: [...new Set([...dependsOnUrns, ...referenced])],
            custom: d?.custom ?? false,
            inputs: (request.revealSecrets ? reveal(d?.inputs ?? {}) : mask(d?.inputs ?? {}, secrets)) as Record<
                string,
                unknown
            >,
            ...(secrets.length > 0 ? { secrets } : {}),
        });
    }
    return { stack: request.stack, resources, outputs };
}
