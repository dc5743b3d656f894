import * as pulumi from "@pulumi/pulumi";

/**
 * Base of the library's components. Their type tokens are `release:index:<Type>`, with no app's name in them, so a
 * second service's program declares the same types. Stacks deployed before the library was split out recorded
 * `myapp:deploy:<Type>`; the alias lets the engine match those URNs instead of replacing the component and every
 * resource beneath it. The SDK sends alias specs and the engine gives each child its parent's aliases
 * (pulumi/pulumi pkg/resource/deploy/step_generator.go, generateAliases and inheritedChildAlias), so a component
 * nested in another (AppWorkload in CanaryDeployment) matches through both. For a stack that never ran the old
 * tokens the alias matches nothing and changes nothing.
 */
export abstract class LibraryComponent extends pulumi.ComponentResource {
    constructor(typeName: string, name: string, opts: pulumi.ComponentResourceOptions | undefined) {
        super(
            `release:index:${typeName}`,
            name,
            {},
            { ...opts, aliases: [...(opts?.aliases ?? []), { type: `myapp:deploy:${typeName}` }] },
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
    return STRATEGIES.filter((s) => s !== self).flatMap((s) =>
        [`release:index:${s}`, `myapp:deploy:${s}`].flatMap((type) => [
            { parent: pulumi.createUrn(parentName, type) },
            ...(s === "BlueGreenDeployment" && blueGreenName
                ? [{ parent: pulumi.createUrn(parentName, type), name: blueGreenName }]
                : []),
        ]),
    );
}
