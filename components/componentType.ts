import * as pulumi from "@pulumi/pulumi";

/**
 * Base of the library's components. Their type tokens are `release:index:<Type>`, with no app's name in them, so a
 * second service's program declares the same types. Stacks deployed before the library was split out recorded
 * `myapp:deploy:<Type>`; the alias lets the engine match those URNs instead of replacing the component and every
 * resource beneath it (children inherit their parent's aliases: pulumi/pulumi sdk/nodejs/resource.ts, allAliases
 * and inheritedChildAlias).
 */
export abstract class LibraryComponent extends pulumi.ComponentResource {
    constructor(typeName: string, name: string, opts: pulumi.ComponentResourceOptions | undefined) {
        super(`release:index:${typeName}`, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), { type: `myapp:deploy:${typeName}` }] });
    }
}
