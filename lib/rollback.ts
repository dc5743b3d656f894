import { ProgramConfig } from "./config";

/**
 * The config is a rollback's: the release brings the version it returns to (release.version is
 * release.previousVersion). Then the program runs no release Job and waits for none, and a track or color still
 * declared with the version it left keeps the pods the cluster runs (program/release.ts), so that no failed or stuck
 * Job, and no pod the release never finished, can hold the traffic back.
 */
export function rollingBack(c: ProgramConfig): boolean {
    return c.release.previousVersion !== undefined && c.release.version === c.release.previousVersion;
}

/** One edit of stack config, by `--path`: a value set, or a key removed. */
export type ConfigChange = { path: string; value: string | number } | { path: string; remove: true };

/** The edits as `pulumi config set --path` and `pulumi config rm --path` commands of this stack. */
export function configCommands(stack: string, changes: readonly ConfigChange[]): string[] {
    return changes.map((c) =>
        "remove" in c
            ? `pulumi config rm --stack ${stack} --path ${c.path}`
            : `pulumi config set --stack ${stack} --path ${c.path} ${c.value}`,
    );
}

const sets = (pairs: [string, string | number][]): ConfigChange[] => pairs.map(([path, value]) => ({ path, value }));

function command(stack: string, changes: readonly ConfigChange[]): string {
    return `${configCommands(stack, changes).join(" && ")} && pulumi up --stack ${stack}`;
}

/** The edits that make `version` the version the release brings and returns to: a rollback's config. */
function returnTo(c: ProgramConfig, version: string): [string, string][] {
    return [
        ...(c.release.version !== version ? ([["release.version", version]] as [string, string][]) : []),
        ...(c.release.previousVersion !== version
            ? ([["release.previousVersion", version]] as [string, string][])
            : []),
    ];
}

/** A restore the config still asks for is dropped: a failed or stuck restore Job would otherwise hold the rollback up. */
function withoutRestore(c: ProgramConfig): ConfigChange[] {
    return c.database?.restore ? [{ path: "database.restore", remove: true }] : [];
}

/**
 * Why a version in flight reaches no user, in the words `rollbackCommand` uses for that state, or undefined when it
 * serves users: the color behind the preview host only, a canary at weight 0, stable at weight 100. Its monitors
 * quote it and tell chat only: no rollback can help a version nobody uses.
 */
export function noUsersReason(c: ProgramConfig, variant: "stable" | "canary" | "blue" | "green"): string | undefined {
    if (c.strategy === "blue-green" && (variant === "blue" || variant === "green")) {
        const bg = c.blueGreen;
        if (variant === bg.activeColor) return undefined;
        return `the active color runs ${bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion}; ${variant === "blue" ? bg.blueVersion : bg.greenVersion} is only in preview`;
    }
    if (c.strategy === "canary") {
        if (variant === "canary" && c.canary.weight === 0) return "the canary carries no traffic (canary.weight 0)";
        if (variant === "stable" && c.canary.weight === 100) return "stable carries no traffic (canary.weight 100)";
    }
    return undefined;
}

/**
 * The rollback from the state this config describes: the config commands that take traffic back to the previous
 * version in one `pulumi up`, whatever state the release's Jobs are in (they move the traffic and make the config a
 * rollback's, rollingBack), and the version they take it from; or, when there is nothing to roll back, why.
 */
export type RollbackPlan = { kind: "edits"; from: string; changes: ConfigChange[] } | { kind: "none"; text: string };

export function rollbackPlan(c: ProgramConfig): RollbackPlan {
    const previous = c.release.previousVersion;
    const none = (text: string): RollbackPlan => ({ kind: "none", text });
    const plan = (from: string, pairs: [string, string | number][]): RollbackPlan => ({
        kind: "edits",
        from,
        changes: [...sets(pairs), ...withoutRestore(c)],
    });
    switch (c.strategy) {
        case "blue-green": {
            const bg = c.blueGreen;
            const other = bg.activeColor === "blue" ? "green" : "blue";
            const activeVersion = bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion;
            const otherVersion = other === "blue" ? bg.blueVersion : bg.greenVersion;
            if (activeVersion !== c.release.version) return none(`none needed: ${noUsersReason(c, other)}`);
            if (rollingBack(c)) return none(`none needed: the active color runs the previous version ${activeVersion}`);
            return plan(activeVersion, [["blueGreen.activeColor", other], ...returnTo(c, otherVersion)]);
        }
        case "canary": {
            const cn = c.canary;
            if (cn.weight > 0) return plan(cn.canaryVersion, [["canary.weight", 0], ...returnTo(c, cn.stableVersion)]);
            if (previous && previous !== cn.stableVersion)
                return plan(cn.stableVersion, [["canary.stableVersion", previous], ...returnTo(c, previous)]);
            return none(`none needed: ${noUsersReason(c, "canary")} and stable runs the previous version`);
        }
        case "rolling":
            if (previous && previous !== c.release.version)
                return plan(c.release.version, [["release.version", previous]]);
            return none("set release.previousVersion to the version to roll back to");
    }
}

/** `pulumi stack output rollback`: the rollback's config edits and `pulumi up`, or why there is none. */
export function rollbackCommand(stack: string, c: ProgramConfig): string {
    const p = rollbackPlan(c);
    return p.kind === "edits" ? command(stack, p.changes) : p.text;
}

/**
 * The command that takes traffic off one version in flight, for that version's monitors, or undefined when the
 * version is the one a rollback would return to. It depends only on the variant, not on the current weight or
 * color, so shifting traffic does not rewrite monitors. It moves the traffic only; `rollbackCommand` also makes the
 * config a rollback's, which a failed or stuck release Job needs.
 */
export function variantRollbackCommand(
    stack: string,
    c: ProgramConfig,
    variant: "stable" | "canary" | "blue" | "green",
): string | undefined {
    switch (variant) {
        case "blue":
        case "green": {
            // Switching away from the color that runs the previous version would roll forward, not back: the same
            // rule as the canary's stable track.
            if (c.strategy !== "blue-green") return undefined;
            const version = variant === "blue" ? c.blueGreen.blueVersion : c.blueGreen.greenVersion;
            if (version === c.release.previousVersion) return undefined;
            return command(stack, sets([["blueGreen.activeColor", variant === "blue" ? "green" : "blue"]]));
        }
        case "canary":
            return command(stack, sets([["canary.weight", 0]]));
        case "stable": {
            const previous = c.release.previousVersion;
            const current = c.strategy === "canary" ? c.canary.stableVersion : c.release.version;
            if (!previous || previous === current) return undefined;
            return command(
                stack,
                sets([[c.strategy === "canary" ? "canary.stableVersion" : "release.version", previous]]),
            );
        }
    }
}
