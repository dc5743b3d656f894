import { ProgramConfig } from "./config";

function configSet(stack: string, path: string, value: string | number): string {
    return `pulumi config set --stack ${stack} --path ${path} ${value} && pulumi up --stack ${stack}`;
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
        return `live runs ${bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion}; ${variant === "blue" ? bg.blueVersion : bg.greenVersion} is only in preview`;
    }
    if (c.strategy === "canary") {
        if (variant === "canary" && c.canary.weight === 0) return "the canary carries no traffic (canary.weight 0)";
        if (variant === "stable" && c.canary.weight === 100) return "stable carries no traffic (canary.weight 100)";
    }
    return undefined;
}

/** The command that takes traffic back to the previous version from the state this config describes. */
export function rollbackCommand(stack: string, c: ProgramConfig): string {
    const previous = c.release.previousVersion;
    switch (c.strategy) {
        case "blue-green": {
            const bg = c.blueGreen;
            const other = bg.activeColor === "blue" ? "green" : "blue";
            const liveVersion = bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion;
            if (liveVersion !== c.release.version) return `none needed: ${noUsersReason(c, other)}`;
            return configSet(stack, "blueGreen.activeColor", other);
        }
        case "canary": {
            const cn = c.canary;
            if (cn.weight > 0) return configSet(stack, "canary.weight", 0);
            if (previous && previous !== cn.stableVersion) return configSet(stack, "canary.stableVersion", previous);
            return `none needed: ${noUsersReason(c, "canary")} and stable runs the previous version`;
        }
        case "rolling":
            if (previous && previous !== c.release.version) return configSet(stack, "release.version", previous);
            return "set release.previousVersion to the version to roll back to";
    }
}

/**
 * The command that takes traffic off one version in flight, for that version's monitors, or undefined when the
 * version is the one a rollback would return to. It depends only on the variant, not on the current weight or
 * color, so shifting traffic does not rewrite monitors.
 */
export function variantRollbackCommand(stack: string, c: ProgramConfig, variant: "stable" | "canary" | "blue" | "green"): string | undefined {
    switch (variant) {
        case "blue":
        case "green": {
            // Switching away from the color that runs the previous version would roll forward, not back: the same
            // rule as the canary's stable track.
            if (c.strategy !== "blue-green") return undefined;
            const version = variant === "blue" ? c.blueGreen.blueVersion : c.blueGreen.greenVersion;
            if (version === c.release.previousVersion) return undefined;
            return configSet(stack, "blueGreen.activeColor", variant === "blue" ? "green" : "blue");
        }
        case "canary":
            return configSet(stack, "canary.weight", 0);
        case "stable": {
            const previous = c.release.previousVersion;
            const current = c.strategy === "canary" ? c.canary.stableVersion : c.release.version;
            if (!previous || previous === current) return undefined;
            return configSet(stack, c.strategy === "canary" ? "canary.stableVersion" : "release.version", previous);
        }
    }
}
