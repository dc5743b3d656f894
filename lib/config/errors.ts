import * as pulumi from "@pulumi/pulumi";

/**
 * A config value the program refuses. It extends RunError so that `pulumi preview` prints the message without a
 * stack trace, and the offline preview recognises it by name to exit with code 2.
 */
export class ConfigError extends pulumi.RunError {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

/** One refused key: where it is, the value it holds and why it is refused. */
export interface Problem {
    path: PropertyKey[];
    input: unknown;
    message: string;
}

/** Marks a problem whose value is not worth printing, such as an unknown key. */
export const SKIP = Symbol("skip");

/** A key holding a credential: an error names it but never prints its value. */
export const isCredential = (path: PropertyKey[]) => path[0] === "autoRollback" && path[1] === "pulumiAccessToken";

export function describe(value: unknown): string {
    if (value === undefined) return "(not set)";
    return JSON.stringify(value);
}

export function formatPath(project: string, path: PropertyKey[]): string {
    const [head, ...rest] = path;
    return (
        `${project}:${String(head)}` + rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")
    );
}

/** The error that refuses a stack before anything is declared, one problem a line. */
export function refused(lines: string[]): ConfigError {
    return new ConfigError(`Invalid stack configuration (nothing was declared):\n${lines.join("\n")}`);
}
