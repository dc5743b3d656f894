import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, validateConfig } from "../lib/config";
import { captureDeclarations } from "../tools/offline/capture";
import {
    applyProjectConfig,
    applySet,
    readProject,
    readStackFile,
    StackConfig,
    toRunRequest,
} from "../tools/offline/stackConfig";
import { diffRuns, liveStateOf, RunDiff } from "../tools/offline/diff";
import { DeclaredResource, ProgramRun, RunRequest } from "../tools/offline/types";
import { urnName } from "../tools/offline/urn";
import { runProgramSync } from "./support/programThread";
import type * as pulumi from "@pulumi/pulumi";
import type { BackupRole, BackupScheduleArgs } from "../components/database";
import { readDatabaseScripts } from "../components/database";

export const ROOT = path.join(__dirname, "..");
export const PROJECT = "myapp";

/**
 * The time every run of the tests takes as now, unless a test names another: an hour before production's deployment
 * window (2026-11-27 14:00 to 16:00 UTC), when the plan's final verification runs. A run never reads the clock.
 */
export const NOW = "2026-11-27T13:00:00Z";

/** A stack file's config with `pulumi config set --path` edits applied. */
export function stackConfig(stack: string, sets: string[] = []): StackConfig {
    return sets.reduce((c, s) => applySet(c, PROJECT, s), readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`)));
}

/** A stack's config, edited, as the program reads it: project keys without the namespace. */
export function programConfig(stack: string, sets: string[] = []): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(stackConfig(stack, sets))) {
        if (key.startsWith(`${PROJECT}:`)) raw[key.slice(PROJECT.length + 1)] = value;
    }
    return raw;
}

/** The ConfigError message that validation gives a stack's config with edits; fails when the config is accepted. */
export function configErrorFor(stack: string, sets: string[]): string {
    try {
        validateConfig(PROJECT, stack, programConfig(stack, sets));
    } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        return err.message;
    }
    throw new Error(`config with ${sets.join(" ")} was accepted`);
}

/** Asserts that validation refuses a stack's config with edits, naming `expected` on a line of its own; returns the message. */
export function rejectsConfig(stack: string, sets: string[], expected: string): string {
    const message = configErrorFor(stack, sets);
    assert.ok(message.includes(`  ${expected}`), `expected "${expected}" in:\n${message}`);
    return message;
}

/** Writes config to a temporary stack file, for --config-file. */
export function writeStackFile(config: StackConfig): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "myapp-test-")), "Pulumi.test.yaml");
    writeFileSync(file, YAML.stringify({ config }));
    return file;
}

const runs = new Map<string, ProgramRun>();

/** Runs the program under mocks, in this process, with a stack's config and edits, at `now`; the same config runs once. */
export function runStack(stack: string, sets: string[] = [], now = NOW): ProgramRun {
    return runConfig(stack, stackConfig(stack, sets), undefined, now);
}

/**
 * Runs the program under mocks with this config as the stack's file holds it, at `now`; the same config runs once.
 * `live` is what its reads of live objects find (RunRequest.live); nothing, as in the offline preview, without it.
 */
export function runConfig(stack: string, config: StackConfig, live?: RunRequest["live"], now = NOW): ProgramRun {
    const request = {
        ...toRunRequest(PROJECT, stack, applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), stack, config)),
        live,
        now,
    };
    const key = JSON.stringify(request);
    if (!runs.has(key)) runs.set(key, runProgramSync(request));
    return structuredClone(runs.get(key)!);
}

/**
 * The diff the offline preview's `--diff` prints: the stack with `before` applied, against the same with `edits` too,
 * whose reads find the cluster as the first run leaves it (liveStateOf).
 */
export function diffOf(stack: string, before: string[], edits: string[]): RunDiff {
    const base = runStack(stack, before);
    return diffRuns(base, runConfig(stack, stackConfig(stack, [...before, ...edits]), liveStateOf(base)));
}

/** A diff by the engine's step ops: the names created and deleted, and each updated or replaced name with its changed paths; sorted by name. */
export interface DiffByOp {
    create: string[];
    update: [string, string[]][];
    replace: [string, string[]][];
    delete: string[];
}

export function byOp(diff: RunDiff): DiffByOp {
    const of = (op: string) => diff.steps.filter((s) => s.op === op).sort((a, b) => a.name.localeCompare(b.name));
    const changed = (op: string) => of(op).map((s): [string, string[]] => [s.name, s.changes.map((c) => c.path)]);
    return {
        create: of("create").map((s) => s.name),
        update: changed("update"),
        replace: changed("replace"),
        delete: of("delete").map((s) => s.name),
    };
}

/** Declares resources in this process under mocks; for components built directly. */
export function declare(body: () => void): Promise<ProgramRun> {
    return captureDeclarations({ project: PROJECT, stack: "test", config: {}, secretKeys: [] }, () => {
        body();
        return {};
    });
}

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs the offline preview command as a user would, at NOW unless the arguments name a `--now`. */
export function preview(args: string[]): CliResult {
    const at = args.includes("--now") ? [] : ["--now", NOW];
    const r = spawnSync(
        process.execPath,
        ["-r", path.join(ROOT, "lib", "register.js"), path.join(ROOT, "tools", "preview-offline.ts"), ...args, ...at],
        {
            cwd: ROOT,
            encoding: "utf8",
        },
    );
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** The one resource of a type (matched on its suffix, e.g. ":Deployment") and name; throws when absent. */
export function find(run: { resources: DeclaredResource[] }, typeSuffix: string, name: string): DeclaredResource {
    const r = run.resources.find((x) => x.type.endsWith(typeSuffix) && x.name === name);
    if (!r)
        throw new Error(
            `no ${typeSuffix} ${name}; declared: ${run.resources.map((x) => `${x.type} ${x.name}`).join(", ")}`,
        );
    return r;
}

/** Every resource whose type ends with the suffix that the program declares (reads of live objects left out). */
export function all(run: { resources: DeclaredResource[] }, typeSuffix: string): DeclaredResource[] {
    return run.resources.filter((x) => x.type.endsWith(typeSuffix) && !x.read);
}

/** The names of the resources `r` depends on: its recorded dependencies are URNs. */
export const dependencyNames = (r: DeclaredResource): string[] => r.dependencies.map(urnName);

/** Reads a dotted path from inputs. */
export function at(r: DeclaredResource, dotted: string): any {
    return dotted.split(".").reduce<any>((o, k) => (o === undefined || o === null ? undefined : o[k]), r.inputs);
}

/** A BackupSchedule's arguments for a test that varies the app, the IAM role and the Secrets the pods read. */
export function backupScheduleArgs(
    app: string,
    role: BackupRole,
    secret: (kind: string) => pulumi.Input<string>,
): BackupScheduleArgs {
    return {
        appName: app,
        namespace: app,
        bucketName: `${app}-dumps`,
        prefix: `postgres/${app}`,
        region: "us-east-1",
        role,
        toolsImage: "registry.example.com/pg-tools:15",
        scripts: readDatabaseScripts().dumps,
        backupDatabaseSecret: secret("backup"),
        drillDatabaseSecret: secret("drill"),
        schedule: "0 * * * *",
        drillSchedule: "0 1 * * *",
        drillCheckSql: "SELECT 1",
        deadlineSeconds: 600,
        scratchSize: "1Gi",
        tags: {},
    };
}
