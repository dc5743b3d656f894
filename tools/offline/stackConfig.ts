import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ProgramError, RunRequest } from "./types";

/** A stack's config as written in Pulumi.<stack>.yaml: fully qualified keys to YAML values. */
export type StackConfig = Record<string, unknown>;

/**
 * Parses a YAML file; a file that cannot be read or parsed is a config input problem (exit 2), named by file, line
 * and column as the CLI names it, with no stack trace.
 */
function readYaml(file: string, what: string): unknown {
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (err) {
        throw new ProgramError(
            `${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
            2,
            0,
        );
    }
    try {
        return YAML.parse(text);
    } catch (err) {
        const e = err as { linePos?: { line: number; col: number }[]; message: string };
        const at = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : "";
        throw new ProgramError(`${file}${at}: not valid YAML: ${e.message.split("\n")[0]}`, 2, 0);
    }
}

/** Reads the `config:` map of a stack file. */
export function readStackFile(file: string): StackConfig {
    const doc = (readYaml(file, "stack file") ?? {}) as { config?: unknown };
    const config = doc.config ?? {};
    if (typeof config !== "object" || Array.isArray(config))
        throw new ProgramError(`${file}: "config" must be a map of keys to values`, 2, 0);
    return config as StackConfig;
}

/** What the offline preview needs of Pulumi.yaml: the project name, its program's entry and its config declarations. */
export interface ProjectFile {
    name: string;
    /** The program's module, relative to the project folder (Pulumi.yaml's `main`; the folder itself when absent). */
    main?: string;
    config: Record<string, { default?: unknown; value?: unknown }>;
}

export function readProject(file: string): ProjectFile {
    const doc = readYaml(file, "project file") as {
        name?: unknown;
        main?: unknown;
        config?: ProjectFile["config"];
    } | null;
    if (!doc || typeof doc.name !== "string") throw new ProgramError(`${file}: no project name`, 2, 0);
    return { name: doc.name, ...(typeof doc.main === "string" ? { main: doc.main } : {}), config: doc.config ?? {} };
}

/**
 * Merges Pulumi.yaml's declarations into a stack's config as the CLI does before it runs a program: a declared
 * project key the stack leaves out takes its default, and one without a default stops the run.
 */
export function applyProjectConfig(project: ProjectFile, stack: string, config: StackConfig): StackConfig {
    const merged: StackConfig = { ...config };
    const missing: string[] = [];
    for (const [declared, declaration] of Object.entries(project.config)) {
        const key = declared.includes(":") ? declared : `${project.name}:${declared}`;
        if (key in merged) continue;
        const fallback = declaration?.value ?? declaration?.default;
        if (fallback !== undefined) merged[key] = fallback;
        else if (key.startsWith(`${project.name}:`)) missing.push(declared);
    }
    if (missing.length > 0) {
        throw new ProgramError(
            `Stack '${stack}' is missing configuration value${missing.length > 1 ? "s" : ""} ${missing.map((k) => `'${k}'`).join(", ")}`,
            2,
            0,
        );
    }
    return merged;
}

/** Splits a `pulumi config set --path` key into its segments: a.b[0]["c.d"] → [a, b, 0, c.d]. */
export function parsePath(path: string): (string | number)[] {
    const segments: (string | number)[] = [];
    const re = /([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]|(\.)/gy;
    let m: RegExpExecArray | null;
    let expectSegment = true;
    while ((m = re.exec(path)) !== null) {
        if (m[4]) {
            if (expectSegment) throw new Error(`invalid config path "${path}"`);
            expectSegment = true;
            continue;
        }
        segments.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]));
        expectSegment = false;
        if (re.lastIndex === path.length) break;
    }
    if (re.lastIndex !== path.length || segments.length === 0 || expectSegment)
        throw new Error(`invalid config path "${path}"`);
    return segments;
}

/** Pulumi's reading of a value set with --path: "true"/"false" are booleans, integers are numbers, the rest strings. */
export function parsePathValue(value: string): unknown {
    if (value === "true") return true;
    if (value === "false") return false;
    if (/^-?(0|[1-9][0-9]*)$/.test(value)) return Number(value);
    return value;
}

/** Applies `key=value` the way `pulumi config set --path key value` does. Unqualified keys belong to the project. */
export function applySet(config: StackConfig, project: string, assignment: string): StackConfig {
    const eq = assignment.indexOf("=");
    if (eq <= 0) throw new Error(`--set needs key=value, got "${assignment}"`);
    const [head, ...rest] = parsePath(assignment.slice(0, eq));
    const raw = assignment.slice(eq + 1);
    if (typeof head !== "string") throw new Error(`--set key must start with a name, got "${assignment}"`);
    const key = head.includes(":") ? head : `${project}:${head}`;
    const current = rest.reduce<unknown>(
        (node, segment) =>
            node !== null && typeof node === "object" ? (node as Record<string | number, unknown>)[segment] : undefined,
        config[key],
    );
    if (Array.isArray(current)) throw new Error(listEdit(assignment.slice(0, eq), raw));
    const next: StackConfig = structuredClone(config);
    if (rest.length === 0) {
        next[key] = raw;
        return next;
    }
    let node = (next[key] ??= typeof rest[0] === "number" ? [] : {}) as Record<string | number, unknown>;
    rest.forEach((segment, i) => {
        if (i === rest.length - 1) {
            node[segment] = parsePathValue(raw);
            return;
        }
        if (node[segment] === undefined || node[segment] === null || typeof node[segment] !== "object") {
            node[segment] = typeof rest[i + 1] === "number" ? [] : {};
        }
        node = node[segment] as Record<string | number, unknown>;
    });
    return next;
}

/**
 * The usage mistake of a whole list given to a list key: `pulumi config set --path` would store it as one string, so
 * the message names the edits, one per item, that write the list as the CLI writes lists.
 */
function listEdit(path: string, value: string): string {
    let items: unknown[] = [value];
    try {
        const parsed: unknown = JSON.parse(value);
        if (Array.isArray(parsed)) items = parsed;
    } catch {
        // [a, b] as a shell passes it, unquoted: its items are what lies between the commas.
        const inner = /^\[(.*)\]$/s.exec(value)?.[1];
        if (inner !== undefined) items = inner.split(",").map((item) => item.trim());
    }
    const edits = items.map(
        (item, i) => `--set ${path}[${i}]=${typeof item === "string" ? item : JSON.stringify(item)}`,
    );
    return `--set ${path}=${value}: ${path} is a list, and --set writes one value, as pulumi config set --path does; set each item by its index: ${edits.join(" ")}`;
}

function isSecure(value: unknown): value is { secure: string } {
    return (
        !!value &&
        typeof value === "object" &&
        !Array.isArray(value) &&
        Object.keys(value).length === 1 &&
        "secure" in value
    );
}

/**
 * Turns stack config into what the CLI hands a program: strings, objects as JSON. Encrypted values cannot be read
 * offline; each becomes a placeholder naming its key, and its top-level key is marked secret as the CLI would.
 */
export function toRunRequest(project: string, stack: string, config: StackConfig): RunRequest {
    const flat: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(config)) {
        let secret = false;
        const decrypt = (v: unknown, where: string): unknown => {
            if (isSecure(v)) {
                secret = true;
                return `offline-secret(${where})`;
            }
            if (Array.isArray(v)) return v.map((x, i) => decrypt(x, `${where}[${i}]`));
            if (v && typeof v === "object")
                return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decrypt(x, `${where}.${k}`)]));
            return v;
        };
        const plain = decrypt(value, key);
        flat[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
        if (secret) secretKeys.push(key);
    }
    return { project, stack, config: flat, secretKeys };
}

/** A `--set` edit that cannot be applied: the commands report it as a usage error. */
export class EditError extends Error {}

/**
 * What the offline commands run: the stack's file (or `configFile`) merged with Pulumi.yaml's declarations as the
 * CLI merges them, before (`base`) and after (`edited`) the `--set` edits.
 */
export function readEditedStack(
    root: string,
    stack: string,
    configFile: string | undefined,
    sets: string[],
): { project: string; main?: string; base: StackConfig; edited: StackConfig } {
    const projectFile = readProject(path.join(root, "Pulumi.yaml"));
    const stackPath = configFile ? path.resolve(configFile) : path.join(root, `Pulumi.${stack}.yaml`);
    if (!configFile && !existsSync(stackPath)) {
        const known = readdirSync(root).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
        throw new ProgramError(
            `no stack "${stack}": ${path.basename(stackPath)} does not exist (stacks here: ${known.join(", ") || "none"})`,
            2,
            0,
        );
    }
    const stackFile = readStackFile(stackPath);
    let edited = stackFile;
    for (const assignment of sets) {
        try {
            edited = applySet(edited, projectFile.name, assignment);
        } catch (err) {
            throw new EditError((err as Error).message);
        }
    }
    return {
        project: projectFile.name,
        main: projectFile.main,
        base: applyProjectConfig(projectFile, stack, stackFile),
        edited: applyProjectConfig(projectFile, stack, edited),
    };
}
