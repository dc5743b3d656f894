// What a program declares, as it declares it: the one recorder behind the plan (lib/plan/record.ts) and the offline
// preview (tools/offline/capture.ts), and the one walk over a resource's inputs.
import * as pulumi from "@pulumi/pulumi";

/**
 * Hands `listen` every resource the program declares in this stack from now on, components' children included, with
 * its inputs and options as the program passes them. A stack transformation, which changes nothing: pulumi/pulumi
 * sdk/nodejs/resource.ts applies transformations in the Resource constructor, before registration.
 */
export function watchDeclarations(listen: (declared: pulumi.ResourceTransformationArgs) => void): void {
    pulumi.runtime.registerStackTransformation((args) => {
        listen(args);
        return undefined;
    });
}

/** What `replace` returns to go on into an array or object, and to leave a key out of the object that holds it. */
export const DESCEND = Symbol("descend");
export const OMIT = Symbol("omit");

/**
 * `value` rebuilt with `replace` applied to it and, where `replace` returns DESCEND, to each item of an array or
 * entry of an object; `replace` is also given the path to the value. OMIT leaves an object's key out (an array keeps
 * the place, undefined).
 */
export function rebuild(
    value: unknown,
    replace: (v: unknown, path: (string | number)[]) => unknown,
    path: (string | number)[] = [],
): unknown {
    const replaced = replace(value, path);
    if (replaced !== DESCEND) return replaced;
    if (Array.isArray(value)) return value.map((v, i) => orUndefined(rebuild(v, replace, [...path, i])));
    if (value && typeof value === "object") {
        return Object.fromEntries(
            Object.entries(value)
                .map(([k, v]) => [k, rebuild(v, replace, [...path, k])])
                .filter(([, v]) => v !== OMIT),
        );
    }
    return value;
}

const orUndefined = (v: unknown) => (v === OMIT ? undefined : v);
