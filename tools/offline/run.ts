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
    let registered = 0;
    try {
        const run = await captureDeclarations(
            request,
            async () => ({ ...(await releaseProgram(request.now === undefined ? new Date() : new Date(request.now), onInput)) }),
            (count) => (registered = count),
        );
        // Plain JSON, as the engine records state: an input or output set to undefined is absent, not present.
        return JSON.parse(JSON.stringify(run)) as ProgramRun;
    } catch (err) {
        const e = err as Error;
        // A ConfigError is for the user: its message alone, as the CLI prints it. Anything else is a bug: its stack.
        if (e && e.name === "ConfigError") throw new ProgramError(e.message, 2, Math.max(0, registered - 1));
        // The release gate's refusal is for the user too, and is no invalid config.
        if (e && e.name === "GateRefusal") throw new ProgramError(e.message, 1, Math.max(0, registered - 1));
        throw new ProgramError(e && e.stack ? e.stack : String(err), 1, Math.max(0, registered - 1));
    }
}
