import { spawnSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { ProgramRun, RunRequest } from "./types";

/** The program stopped: exit code 2 for invalid config, 1 for anything else, with what it printed. */
export class ProgramError extends Error {
    constructor(
        message: string,
        public readonly exitCode: number,
        /** Resources registered before the program stopped, not counting the root Stack. */
        public readonly declaredBeforeFailure: number,
    ) {
        super(message);
        this.name = "ProgramError";
    }
}

const CHILD = path.join(__dirname, "child.ts");

/** Runs index.ts under mocks in a fresh Node process and returns what it declared. */
export function runProgram(request: RunRequest): ProgramRun {
    const dir = mkdtempSync(path.join(tmpdir(), "myapp-offline-"));
    try {
        const requestFile = path.join(dir, "request.json");
        const resultFile = path.join(dir, "result.json");
        const countFile = path.join(dir, "declared-count");
        writeFileSync(requestFile, JSON.stringify(request));
        const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", CHILD, requestFile, resultFile, countFile], {
            cwd: path.join(__dirname, "..", ".."),
            encoding: "utf8",
            env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, "..", "..", "tsconfig.json") },
        });
        if (child.status !== 0) {
            const code = child.status === 2 ? 2 : 1;
            const registered = existsSync(countFile) ? Number(readFileSync(countFile, "utf8")) : 0;
            throw new ProgramError((child.stderr || child.stdout || `program exited with ${child.status}`).trim(), code, Math.max(0, registered - 1));
        }
        return JSON.parse(readFileSync(resultFile, "utf8")) as ProgramRun;
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
