// The automatic-rollback mark: the versions an automatic rollback took traffic from, which no later `pulumi up` may
// send traffic back to until a person names the version in `release.gate.resume`. It lives in the stack's own
// outputs: the deployment that rolled back writes it there, and every later run, git-driven or automated, reads its
// previous outputs through a StackReference to itself and carries the mark forward.
import * as pulumi from "@pulumi/pulumi";
import { ConfigChange } from "../rollback";

/** The stack output holding the mark, `{ halted: [versions] }`. */
export const MARK_OUTPUT = "autoRollback";

/** The edit an automatic rollback adds to the rollback's own: it sets `autoRollback.halt` to the version it takes traffic from (never committed). */
export const haltChange = (version: string): ConfigChange => ({ path: "autoRollback.halt", value: version });

/** The halted versions a previous run left in its `autoRollback` output; nothing for a stack that has none. */
export function previousHalted(output: unknown): string[] {
    const halted = (output as { halted?: unknown } | undefined)?.halted;
    if (halted === undefined) return [];
    if (!Array.isArray(halted) || !halted.every((v) => typeof v === "string")) {
        throw new Error(`the previous ${MARK_OUTPUT} output is not { halted: [versions] }: ${JSON.stringify(output)}`);
    }
    return halted;
}

/**
 * The versions under an automatic-rollback mark after this run: those of the previous run and the one this run's
 * automatic rollback halts (`halt`), less the one a person resumes (`release.gate.resume`), which is the gate's own
 * rule: a version that resume names is never held back.
 */
export function haltedVersions(o: { previous: readonly string[]; halt?: string; resume?: string }): string[] {
    return [...new Set([...o.previous, ...(o.halt ? [o.halt] : [])])].filter((v) => v !== o.resume).sort();
}

/** The stack's fully qualified name, as a StackReference to it names it. */
export function selfStackName(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/**
 * Reads the mark the previous run of this stack left, through a StackReference to the stack itself (the engine reads
 * the last checkpoint's outputs, which an update changes only when it completes). `name` names the read.
 */
export async function readPreviousHalted(name: string): Promise<string[]> {
    const self = new pulumi.StackReference(name, { name: selfStackName() });
    const details = await self.getOutputDetails(MARK_OUTPUT);
    return previousHalted(details.value ?? details.secretValue);
}
