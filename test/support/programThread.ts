// The tests read a run's result synchronously (runStack), while a run under Pulumi's mocks is asynchronous. One
// worker thread of this process loads the SDKs and the program once and runs each request in-process
// (tools/offline/run.ts); the caller blocks on Atomics.wait until the answer is posted. No child process per run.
import * as path from "path";
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from "worker_threads";
import { ProgramError, ProgramRun, RunRequest } from "../../tools/offline/types";

/** What the worker posts back for one request. */
export type Answer =
    { run: ProgramRun } | { error: { message: string; exitCode: number; declaredBeforeFailure: number } };

/** Longer than any run takes; a worker that died answers nothing, and the caller must not wait forever. */
const ANSWER_TIMEOUT_MS = 120_000;

let thread: { port: MessagePort; signal: Int32Array } | undefined;

function start(): { port: MessagePort; signal: Int32Array } {
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const entry = path.join(__dirname, "programWorker.ts");
    const worker = new Worker(
        `require(${JSON.stringify(path.join(__dirname, "..", "..", "lib", "register.js"))}); require(${JSON.stringify(entry)});`,
        {
            eval: true,
            workerData: { port: port2, signal },
            transferList: [port2],
        },
    );
    // The thread lives as long as the test process and does not keep it alive.
    worker.unref();
    port1.unref();
    return { port: port1, signal };
}

/** Runs the program under mocks with this request and returns what it declared; throws ProgramError as runProgram does. */
export function runProgramSync(request: RunRequest): ProgramRun {
    thread ??= start();
    Atomics.store(thread.signal, 0, 0);
    thread.port.postMessage(request);
    if (Atomics.wait(thread.signal, 0, 0, ANSWER_TIMEOUT_MS) === "timed-out")
        throw new Error("the program thread gave no answer");
    const answer = JSON.parse(receiveMessageOnPort(thread.port)!.message) as Answer;
    if ("error" in answer)
        throw new ProgramError(answer.error.message, answer.error.exitCode, answer.error.declaredBeforeFailure);
    return answer.run;
}
