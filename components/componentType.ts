import * as pulumi from "@pulumi/pulumi";

/** The library's type module: its components are `release:index:<Type>`, with no app's name in them. */
const LIBRARY = "release:index";

/** Per root Stack: the module its state recorded the library's components under before, when its program says so. */
const formerModules = new WeakMap<pulumi.Resource, string>();

/**
 * For a program whose stacks recorded the library's components under another module before they were
 * `release:index` (myapp's first releases: `myapp:deploy:<Type>`): from now on in this stack, each component also
 * carries an alias from `<module>:<Type>`, and the strategies' live objects alias the other strategies under it
 * too, so that the engine matches the recorded URNs instead of replacing each component and every resource beneath
 * it. The SDK sends alias specs and the engine gives each child its parent's aliases, so a component nested in
 * another (AppWorkload in CanaryDeployment) matches through both. A stack that never ran the old tokens matches
 * nothing through them; a program that does not call this gives its components no alias at all.
 */
export function aliasFormerTypes(module: string): void {
    const stack = pulumi.runtime.getStackResource();
    if (!stack) throw new Error("aliasFormerTypes is for a Pulumi program: it names the stack's former types");
    formerModules.set(stack, module);
}

/** The module aliasFormerTypes named for this stack, if it did. */
function formerModule(): string | undefined {
    const stack = pulumi.runtime.getStackResource();
    return stack && formerModules.get(stack);
}

/** Base of the library's components: `release:index:<Type>`, aliased from the former type aliasFormerTypes names. */
export abstract class LibraryComponent extends pulumi.ComponentResource {
    constructor(typeName: string, name: string, opts: pulumi.ComponentResourceOptions | undefined) {
        const former = formerModule();
        super(
            `${LIBRARY}:${typeName}`,
            name,
            {},
            former ? { ...opts, aliases: [...(opts?.aliases ?? []), { type: `${former}:${typeName}` }] } : opts,
        );
    }
}

/** The strategy components: each declares the app's Service `<name>-live` and, with an Ingress, `<name>-ingress`. */
export type StrategyType = "BlueGreenDeployment" | "CanaryDeployment" | "RollingDeployment";
const STRATEGIES: StrategyType[] = ["BlueGreenDeployment", "CanaryDeployment", "RollingDeployment"];

/**
 * Aliases that let the app's Service or Ingress under one strategy component take over the object the same name had
 * under another, so that a change of strategy updates the objects in place. Without them the child's URN
 * changes with its parent's type: the engine creates the new resource and then deletes the old one, and the old one's
 * delete removes the Kubernetes object the new one has just applied, since both have the same metadata.name
 * (pulumi/pulumi-kubernetes#2948). `blueGreenName` is the name the child had under BlueGreenDeployment when it
 * differed (the first releases named its Ingress `<name>-live-ingress`).
 */
export function acrossStrategies(parentName: string, self: StrategyType, blueGreenName?: string): pulumi.Alias[] {
    const former = formerModule();
    const modules = former ? [LIBRARY, former] : [LIBRARY];
    return STRATEGIES.filter((s) => s !== self).flatMap((s) =>
        modules.flatMap((module) => [
            { parent: pulumi.createUrn(parentName, `${module}:${s}`) },
            ...(s === "BlueGreenDeployment" && blueGreenName
                ? [{ parent: pulumi.createUrn(parentName, `${module}:${s}`), name: blueGreenName }]
                : []),
        ]),
    );
}
