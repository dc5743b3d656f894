import { execFileSync } from "child_process";
import { UpResult } from "@pulumi/pulumi/automation";
import { ProjectStack } from "./stack";

/** The environment the stack's workspace gives the CLI (file backend, passphrase), on top of this process's (PATH, PULUMI_HOME). */
export function cliEnv(ps: ProjectStack): NodeJS.ProcessEnv {
    return { ...process.env, ...(ps.stack.workspace as unknown as { envVars: Record<string, string> }).envVars };
}

/** Runs a shell command line as a user would in the stack's program directory; returns stdout, throws with stderr. */
export function shell(ps: ProjectStack, commandLine: string): string {
    try {
        return execFileSync("bash", ["-c", commandLine], {
            cwd: ps.workDir,
            env: cliEnv(ps),
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
    } catch (e) {
        const err = e as { status?: number; stderr?: string };
        throw new Error(`\`${commandLine}\` exited ${err.status}: ${err.stderr}`);
    }
}

export interface PrintedRun {
    /** The `pulumi config set …` part, run by the real CLI exactly as printed. */
    configPart: string;
    /** The `pulumi up …` part, which ran through the Automation API on the same stack (see `runPrinted`). */
    upPart: string;
    up: UpResult;
    /** Wall seconds of that `pulumi up`. */
    upSeconds: number;
}

/**
 * Runs a command the program prints, `pulumi config set … && pulumi up --stack <s>`. The config part runs in bash
 * exactly as printed (cwd = the program dir, the stack's backend and passphrase). The `pulumi up` part needs the
 * Node.js language host, which the module proxy refuses to serve, so unless that host is on PATH it runs as the
 * Automation API's `up` on the same stack: the same CLI, engine, provider and config file, the program served inline.
 */
export async function runPrinted(
    ps: ProjectStack,
    printed: string,
    onOutput?: (s: string) => void,
): Promise<PrintedRun> {
    const parts = printed.split(" && ");
    const upPart = parts.pop()!;
    const configPart = parts.join(" && ");
    if (!/^pulumi config set /.test(configPart)) throw new Error(`not a config edit: ${configPart}`);
    if (upPart !== `pulumi up --stack ${ps.stack.name}`)
        throw new Error(`the printed command ends with "${upPart}", not "pulumi up --stack ${ps.stack.name}"`);
    shell(ps, configPart);
    const t0 = Date.now();
    const up = ps.mode === "local" ? await upLocal(ps, upPart, onOutput) : await ps.stack.up({ onOutput });
    return { configPart, upPart, up, upSeconds: (Date.now() - t0) / 1000 };
}

/** With pulumi-language-nodejs on PATH the printed `pulumi up` runs as printed (non-interactive), then reads the result through the API. */
async function upLocal(ps: ProjectStack, upPart: string, onOutput?: (s: string) => void): Promise<UpResult> {
    onOutput?.(shell(ps, `${upPart} --yes --skip-preview`));
    const history = await ps.stack.history(1);
    const outputs = await ps.stack.outputs();
    return { stdout: "", stderr: "", summary: history[0], outputs };
}
