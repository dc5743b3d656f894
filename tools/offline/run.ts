import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { ReleaseInput, releaseProgram } from "../../program/release";
import { captureDeclarations } from "./capture";
import { ProgramError, ProgramRun, RunRequest } from "./types";

export { ProgramError };

/**
 * Runs the program under mocks in this process and returns what it declared. Each run sets the mocks and config
 * afresh and declares inside its own root Stack, so runs in one process are independent (see capture.ts).
 * `onInput` hears the validated config and files the run was declared from.
 */
export async function runProgram(request: RunRequest, onInput?: (input: ReleaseInput) => void): Promise<ProgramRun> {
    return capture(request, async () => ({
        ...(await releaseProgram(request.now === undefined ? new Date() : new Date(request.now), onInput)),
    }));
}

/**
 * Runs another Pulumi project's program under the same mocks, as Pulumi's Node.js runtime runs it: the module `main`
 * names (Pulumi.yaml's `main`, else the project folder) is loaded; a function it exports is called and its result
 * is the stack outputs, otherwise its exports are.
 */
export async function runProject(request: RunRequest, dir: string, main = "."): Promise<ProgramRun> {
    const file = require.resolve(path.resolve(dir, main));
    return capture(request, async () => {
        // Loaded afresh per run, so a program that declares as it loads declares again in a second run (--diff).
        delete require.cache[file];
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded as Pulumi loads it, with no ES module interop around its export
        const loaded = require(file) as unknown;
        const exported = typeof loaded === "function" ? ((await (loaded as () => unknown)()) ?? {}) : loaded;
        return { ...(exported as Record<string, unknown>) };
    });
}

async function capture(request: RunRequest, body: () => Promise<Record<string, unknown>>): Promise<ProgramRun> {
    let registered = 0;
    try {
        const run = await captureDeclarations(request, body, (count) => (registered = count));
        // Plain JSON, as the engine records state: an input or output set to undefined is absent, not present.
        return JSON.parse(JSON.stringify(run)) as ProgramRun;
    } catch (err) {
        const e = err as Error;
        const declared = Math.max(0, registered - 1);
        // The release gate's refusal is for the user: its message alone, as the CLI prints a RunError, and no invalid config.
        if (e && e.name === "GateRefusal") throw new ProgramError(e.message, 1, declared);
        // Any other RunError (myapp's ConfigError, another project's refusal of its config) is invalid config, for
        // the user too. Anything else is a bug: its stack.
        if (pulumi.RunError.isInstance(err)) throw new ProgramError(err.message, 2, declared);
        throw new ProgramError(e && e.stack ? e.stack : String(err), 1, declared);
    }
}
