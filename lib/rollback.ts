import { ProgramConfig } from "./config";

function configSet(stack: string, path: string, value: string | number): string {
    return `pulumi config set --stack ${stack} --path ${path} ${value} && pulumi up --stack ${stack}`;
}

/** The command that takes traffic back to the previous version from the state this config describes. */
export function rollbackCommand(stack: string, c: ProgramConfig): string {
    const previous = c.release.previousVersion;
    switch (c.strategy) {
        case "blue-green": {
            const bg = c.blueGreen!;
            const other = bg.activeColor === "blue" ? "green" : "blue";
            const liveVersion = bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion;
            if (liveVersion !== c.release.version) return `none needed: live runs ${liveVersion}; ${c.release.version} is only in preview`;
            return configSet(stack, "blueGreen.activeColor", other);
        }
        case "canary": {
            const cn = c.canary!;
            if (cn.weight > 0) return configSet(stack, "canary.weight", 0);
            if (previous && previous !== cn.stableVersion) return configSet(stack, "canary.stableVersion", previous);
            return "none needed: the canary carries no traffic and stable runs the previous version";
        }
        case "rolling":
            if (previous && previous !== c.release.version) return configSet(stack, "release.version", previous);
            return "set release.previousVersion to the version to roll back to";
    }
}
