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
        super(`release:index:${typeName}`, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), { type: `myapp:deploy:${typeName}` }] });
    }
}
