import * as pulumi from "@pulumi/pulumi";
import { PlanResource } from "./types";

/** What is known at declaration time: `value` with every Output, Promise and Resource left out. */
function plainPart(value: unknown): unknown {
    if (pulumi.Output.isInstance(value) || value instanceof Promise || pulumi.Resource.isInstance(value)) return undefined;
    if (Array.isArray(value)) return value.map(plainPart);
    if (value && typeof value === "object") {
        return Object.fromEntries(
            Object.entries(value)
                .map(([k, v]) => [k, plainPart(v)])
                .filter(([, v]) => v !== undefined),
        );
    }
    return value;
}

/** The recording in progress; a program that declares several releases in one stack records each on its own. */
let active: PlanResource[] | undefined;

/**
 * Records the inputs of every resource of these types the program declares from now until `stop()`, as they are
 * known when it declares them. Values the engine computes (an id, a secret) are left out, so the document built from
 * them is a plain string during `pulumi preview` and never carries a secret. Registered as a stack transformation,
 * which sees every resource, components' children included (pulumi/pulumi sdk/nodejs/resource.ts applies
 * transformations in the Resource constructor, before registration, so a release's resources are recorded while
 * it declares them); it changes nothing.
 */
export function recordDeclarations(types: readonly string[]): { peek(): readonly PlanResource[]; stop(): PlanResource[] } {
    const recorded: PlanResource[] = [];
    pulumi.runtime.registerStackTransformation((args) => {
        if (active === recorded && types.includes(args.type)) recorded.push({ type: args.type, name: args.name, inputs: plainPart(args.props) as Record<string, unknown> });
        return undefined;
    });
    active = recorded;
    return {
        /** What has been recorded so far: the program reads the CronJobs it declared, to watch them. */
        peek: () => recorded,
        stop: () => {
            if (active === recorded) active = undefined;
            return recorded;
        },
    };
}
