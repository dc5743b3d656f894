import * as pulumi from "@pulumi/pulumi";
import { DESCEND, OMIT, rebuild, watchDeclarations } from "../declarations";
import { PlanResource } from "./types";

/** What is known at declaration time: `value` with every Output, Promise and Resource (and undefined key) left out. */
function plainPart(value: unknown): unknown {
    const unknownYet = (v: unknown) =>
        v === undefined || pulumi.Output.isInstance(v) || v instanceof Promise || pulumi.Resource.isInstance(v);
    return rebuild(value, (v) => (unknownYet(v) ? OMIT : DESCEND));
}

/** The recording in progress; a program that declares several releases in one stack records each on its own. */
let active: PlanResource[] | undefined;

/**
 * Records the inputs of every resource of these types the program declares from now until `stop()`, as they are
 * known when it declares them. Values the engine computes (an id, a secret) are left out, so the document built from
 * them is a plain string during `pulumi preview` and never carries a secret. A release's resources are recorded
 * while it declares them (watchDeclarations).
 */
export function recordDeclarations(types: readonly string[]): {
    peek(): readonly PlanResource[];
    stop(): PlanResource[];
} {
    const recorded: PlanResource[] = [];
    watchDeclarations((args) => {
        // A read (`Resource.get`, opts.id) declares nothing: the plan is about what the program declares.
        if (active === recorded && types.includes(args.type) && !args.opts.id)
            recorded.push({
                type: args.type,
                name: args.name,
                inputs: plainPart(args.props) as Record<string, unknown>,
            });
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
