// What the offline commands (the preview and the plan) share: the options naming a stack and its edits, how they
// read them, and how a run ends.
import { statSync } from "fs";
import * as path from "path";
import { parseArgs, ParseArgsConfig } from "util";
import { PolicyConfig, readPolicyConfig } from "./policy";
import { EditError, readEditedStack, StackConfig } from "./stackConfig";
import { ProgramError } from "./types";

/** A mistake in the command line: reported with the command's usage. */
export class UsageError extends Error {}

/** The options every offline command takes. */
const STACK_OPTIONS = {
    stack: { type: "string" },
    "project-dir": { type: "string" },
    "config-file": { type: "string" },
    set: { type: "string", multiple: true, default: [] as string[] },
    "policy-config": { type: "string" },
    now: { type: "string" },
    help: { type: "boolean", default: false },
} as const;

/**
 * Parses a command's arguments, the stack options and its own: every mistake is a UsageError. `--set KEY VALUE`
 * (two arguments, as `pulumi config set --path` takes them) is named with the one-argument form to write instead.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
    argv.forEach((arg, i) => {
        const edit = arg === "--set" ? argv[i + 1] : arg.startsWith("--set=") ? arg.slice("--set=".length) : undefined;
        if (edit === undefined || edit.includes("=") || edit.startsWith("--")) return;
        const value = arg === "--set" ? argv[i + 2] : argv[i + 1];
        const example =
            value !== undefined && !value.startsWith("--") ? `--set ${edit}=${value}` : `--set ${edit}=<value>`;
        throw new UsageError(`--set takes KEY=VALUE as one argument, got "${edit}": write ${example}`);
    });
    try {
        return parseArgs({ args: argv, options: { ...STACK_OPTIONS, ...options }, strict: true }).values;
    } catch (err) {
        // util.parseArgs's own mistakes (an unknown option, a missing value, a stray argument) are usage errors too.
        if ((err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS"))
            throw new UsageError((err as Error).message);
        throw err;
    }
}

/** What a command reads of its stack: the config before and after the `--set` edits, and the policy config. */
export interface CommandStack {
    stack: string;
    project: string;
    /** Another Pulumi project's folder (`--project-dir`), whose program runs instead of myapp's, and its Pulumi.yaml `main`. */
    otherProject?: { dir: string; main?: string };
    base: StackConfig;
    edited: StackConfig;
    policyConfig: PolicyConfig;
    /** The time the run takes as now (`--now`, else the clock's), as an ISO 8601 string. */
    now: string;
}

/**
 * The stack a command names, in myapp's project or `--project-dir`'s, with its edits and its policy config
 * (`--policy-config`, else myapp's policy/config/<stack>.json or the other project's policy.<stack>.json): a missing
 * `--stack`, a malformed `--set` or a `--policy-config` that names no file is a usage error; an unusable stack file
 * is a ProgramError (exit 2).
 */
export function readCommandStack(
    root: string,
    values: {
        stack?: string;
        "project-dir"?: string;
        "config-file"?: string;
        set: string[];
        "policy-config"?: string;
        now?: string;
    },
): CommandStack {
    const stack = values.stack;
    if (!stack) throw new UsageError("--stack is required");
    if (values.now !== undefined && Number.isNaN(Date.parse(values.now)))
        throw new UsageError(`--now must be an ISO 8601 date-time such as 2026-11-27T13:00:00Z, got "${values.now}"`);
    const now = values.now === undefined ? new Date() : new Date(values.now);
    const dir = values["project-dir"] === undefined ? undefined : path.resolve(values["project-dir"]);
    let read: ReturnType<typeof readEditedStack>;
    try {
        read = readEditedStack(dir ?? root, stack, values["config-file"], values.set);
    } catch (err) {
        throw err instanceof EditError ? new UsageError(err.message) : err;
    }
    const { main, ...config } = read;
    const defaultPolicyFile =
        dir === undefined
            ? path.join(root, "policy", "config", `${stack}.json`)
            : path.join(dir, `policy.${stack}.json`);
    const namedPolicyFile = values["policy-config"] && path.resolve(values["policy-config"]);
    // Only the default may be missing (the pack's own levels apply then): a file the option names must be there.
    if (namedPolicyFile !== undefined && !statSync(namedPolicyFile, { throwIfNoEntry: false })?.isFile())
        throw new UsageError(`--policy-config names no file: ${namedPolicyFile}`);
    return {
        stack,
        ...config,
        ...(dir === undefined ? {} : { otherProject: { dir, main } }),
        policyConfig: readPolicyConfig(namedPolicyFile ?? defaultPolicyFile),
        now: now.toISOString(),
    };
}

/**
 * Runs a command's `main` as the process's entry point: its result is the exit code; a ProgramError exits with its
 * code and message (2 for config, with no stack trace), a usage error with 2 and the usage, anything else with 1
 * (which a policy violation also exits with).
 */
export function runCommand(main: (argv: string[]) => Promise<number>, usage: string): void {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (err) => {
            if (err instanceof ProgramError) {
                console.error(err.message);
                process.exitCode = err.exitCode;
            } else if (err instanceof UsageError) {
                console.error(`${err.message}\n\n${usage}`);
                process.exitCode = 2;
            } else {
                console.error((err as Error).message);
                process.exitCode = 1;
            }
        },
    );
}
