import { describe, Problem } from "./errors";

/** A stack key, or one value of a key, that took a new name: the old one is still read, as the new, with a warning. */
type OldName =
    | { section: string; key: string; newKey: string }
    | { section: string; key: string; value: string; newValue: string };

/** Every old name the program still reads (README, Decisions: "Argo Rollouts' words"). */
const OLD_NAMES: readonly OldName[] = [
    { section: "blueGreen", key: "standbyReplicas", newKey: "previewReplicas" },
    { section: "canary", key: "router", value: "replicas", newValue: "pod-ratio" },
];

/** Raw config with its old names read as the new ones. */
export interface Renamed {
    /** The config the schema reads: new names only. */
    config: Record<string, unknown>;
    /** One line each, for every old name in use. */
    warnings: string[];
    /** An old key set beside its new name: which one counts is the user's to say. */
    problems: Problem[];
    /** The path the stack sets for a path of the renamed config, so that errors name the key as it is written. */
    asWritten(path: PropertyKey[]): PropertyKey[];
}

export function renameOldNames(project: string, raw: Record<string, unknown>): Renamed {
    const config = { ...raw };
    const warnings: string[] = [];
    const problems: Problem[] = [];
    const written = new Map<string, string>();
    for (const old of OLD_NAMES) {
        const section = config[old.section];
        if (section === null || typeof section !== "object" || Array.isArray(section)) continue;
        const fields = { ...(section as Record<string, unknown>) };
        const value = fields[old.key];
        if (value === undefined) continue;
        if ("newKey" in old) {
            delete fields[old.key];
            if (fields[old.newKey] !== undefined) {
                problems.push({
                    path: [old.section, old.key],
                    input: value,
                    message: `is the old name of ${old.section}.${old.newKey}, which is set too (${describe(fields[old.newKey])}): keep ${old.section}.${old.newKey} and remove this one (pulumi config rm --path ${old.section}.${old.key})`,
                });
            } else {
                fields[old.newKey] = value;
                written.set(`${old.section}.${old.newKey}`, old.key);
                // A value the schema will refuse gets its error, under the old name, and no rename to copy.
                if (typeof value === "number" || typeof value === "string")
                    warnings.push(
                        `${project}:${old.section}.${old.key} is deprecated, read as its new name ${project}:${old.section}.${old.newKey}: rename it with \`pulumi config rm --path ${old.section}.${old.key} && pulumi config set --path ${old.section}.${old.newKey} ${value}\``,
                    );
            }
        } else {
            if (value !== old.value) continue;
            fields[old.key] = old.newValue;
            warnings.push(
                `${project}:${old.section}.${old.key} = "${old.value}" is deprecated, read as its new name "${old.newValue}": set it with \`pulumi config set --path ${old.section}.${old.key} ${old.newValue}\``,
            );
        }
        config[old.section] = fields;
    }
    const asWritten = (path: PropertyKey[]) => {
        const key = written.get(`${String(path[0])}.${String(path[1])}`);
        return key === undefined ? path : [path[0], key, ...path.slice(2)];
    };
    return { config, warnings, problems, asWritten };
}
