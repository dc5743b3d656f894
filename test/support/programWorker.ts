// The program thread of programThread.ts: runs each request it is posted, one at a time, and signals the answer.
import { MessagePort, workerData } from "worker_threads";
import { runProgram } from "../../tools/offline/run";
import { ProgramError, RunRequest } from "../../tools/offline/types";
import { Answer } from "./programThread";

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };

/** Answers every request, a failing program included, so the waiting caller never hangs. */
async function respond(request: RunRequest): Promise<void> {
    let answer: Answer;
    try {
        answer = { run: await runProgram(request) };
    } catch (err) {
        const e = err instanceof ProgramError ? err : new ProgramError(String((err as Error)?.stack ?? err), 1, 0);
        answer = {
            error: { message: e.message, exitCode: e.exitCode, declaredBeforeFailure: e.declaredBeforeFailure },
        };
    }
    port.postMessage(JSON.stringify(answer));
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
}

port.on("message", (request: RunRequest) => void respond(request));
