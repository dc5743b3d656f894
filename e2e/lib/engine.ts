import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { Kube } from "./kube";
import { measure } from "./report";
import { PROGRAM_ROOT, ProjectStack } from "./stack";

const REPO = path.resolve(__dirname, "..", "..");

export function kube(): Kube {
    if (!process.env.KUBECONFIG)
        throw new Error("KUBECONFIG is not set: run through `npm run test:e2e`, or set E2E_USE_PATH=1 and KUBECONFIG");
    return new Kube(process.env.KUBECONFIG);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates the namespace the program deploys into and waits for its default ServiceAccount, without which pods are refused. */
export async function namespace(k: Kube, ns: string): Promise<void> {
    await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    for (
        let i = 0;
        i < 60 && (await k.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status !== 200;
        i++
    )
        await sleep(500);
}

export function labelSelector(labels: Record<string, string>): string {
    return encodeURIComponent(
        Object.entries(labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
    );
}

const isReady = (p: any) =>
    !p.metadata.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");

/** Pods matching the labels: every pod's UID, and the UIDs of those Ready and not terminating. */
export async function pods(
    k: Kube,
    ns: string,
    labels: Record<string, string>,
): Promise<{ all: string[]; ready: string[] }> {
    const list = await k.list(`/api/v1/namespaces/${ns}/pods?labelSelector=${labelSelector(labels)}`);
    return {
        all: list.map((p) => p.metadata.uid).sort(),
        ready: list
            .filter(isReady)
            .map((p) => p.metadata.uid)
            .sort(),
    };
}

/** Polls `read` until it deep-equals `expected` or `seconds` pass; then asserts, so a failure shows the last state. */
export async function eventually<T>(seconds: number, read: () => Promise<T>, expected: T): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    let actual = await read();
    while (Date.now() < deadline && JSON.stringify(actual) !== JSON.stringify(expected)) {
        await sleep(500);
        actual = await read();
    }
    assert.deepStrictEqual(actual, expected);
}

/** Where the stack's config lives: the CLI writes `pulumi config set` into this file, which the offline preview reads. */
export function stackFile(ps: ProjectStack): string {
    return path.join(ps.workDir, `Pulumi.${ps.stack.name}.yaml`);
}

/**
 * production.json with `monitors-for-plan-alerts` disabled: the e2e stacks drop `monitoring` (no Datadog provider
 * here), so that policy would rightly block every engine run; everything else stays mandatory.
 */
export function policyConfigWithoutMonitors(ps: ProjectStack, base: "production" | "staging"): string {
    const cfg = JSON.parse(fs.readFileSync(path.join(PROGRAM_ROOT, "policy", "config", `${base}.json`), "utf8"));
    cfg["monitors-for-plan-alerts"] = "disabled";
    // Beside the stack's program copy, so it is removed with it.
    const file = path.join(ps.workDir, `policy-${base}-without-monitors.json`);
    fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
    return file;
}

/** The engine's step ops that change a resource (`pulumi preview --json` steps[].op); a replacement counts as its `replace` step. */
export type StepOp = "create" | "update" | "replace" | "delete";
const STEP_OPS: readonly string[] = ["create", "update", "replace", "delete"];

/** Created, deleted and changed (updated or replaced) resources by name, the changed property paths, and the op per URN, as one side of the agreement check sees them. */
export interface ResourceDiff {
    added: string[];
    removed: string[];
    changed: Record<string, string[]>;
    ops: Record<string, StepOp>;
}

const nameOf = (urn: string) => urn.split("::").pop()!;

/** A diff's ops by resource name, for a spec that names the steps it expects. */
export const opsByName = (d: ResourceDiff): Record<string, StepOp> =>
    Object.fromEntries(Object.entries(d.ops).map(([urn, op]) => [nameOf(urn), op]));

/** A diff without its ops: what a spec that names the resources and paths it expects compares. */
export const named = ({ ops: _ops, ...rest }: ResourceDiff): Omit<ResourceDiff, "ops"> => rest;

/**
 * The engine's own preview of the pending edit: each step's op by URN, and for an update or replacement the property
 * paths of its detailedDiff (the provider's), or its top-level `diffs` when it gives none. Read steps (Secret.get),
 * the stack resource and providers (which the offline preview does not declare) are left out, and so are a
 * replacement's create-replacement and delete-replaced steps around its `replace`.
 */
export async function enginePreview(ps: ProjectStack, onOutput?: (s: string) => void): Promise<ResourceDiff> {
    const out: ResourceDiff = { added: [], removed: [], changed: {}, ops: {} };
    await ps.stack.preview({
        diff: true,
        onOutput,
        onEvent: (e: EngineEvent) => {
            const m = e.resourcePreEvent?.metadata;
            if (
                !m ||
                m.type === "pulumi:pulumi:Stack" ||
                m.type.startsWith("pulumi:providers:") ||
                !STEP_OPS.includes(m.op)
            )
                return;
            const name = nameOf(m.urn);
            out.ops[m.urn] = m.op as StepOp;
            if (m.op === "create") out.added.push(name);
            else if (m.op === "delete") out.removed.push(name);
            else
                out.changed[name] = [...new Set(m.detailedDiff ? Object.keys(m.detailedDiff) : (m.diffs ?? []))].sort();
        },
    });
    return canonical(out);
}

/** `npm run preview:offline -- --stack S --config-file <the stack's file> --set … --diff --json` for the same edit. */
export function offlinePreview(ps: ProjectStack, sets: Record<string, string>, policyConfig: string): ResourceDiff {
    const args = [
        "--transpile-only",
        "tools/preview-offline.ts",
        "--stack",
        ps.stack.name,
        "--config-file",
        stackFile(ps),
        "--diff",
        "--json",
        "--policy-config",
        policyConfig,
    ];
    for (const [k, v] of Object.entries(sets)) args.push("--set", `${k}=${v}`);
    const res = spawnSync(path.join(REPO, "node_modules", ".bin", "ts-node"), args, {
        cwd: PROGRAM_ROOT,
        encoding: "utf8",
        maxBuffer: 64 << 20,
    });
    // Exit 1 is a mandatory policy violation, which is part of what some edits show; the diff is printed either way.
    if (res.status !== 0 && res.status !== 1) throw new Error(`offline preview exited ${res.status}: ${res.stderr}`);
    const diff = JSON.parse(res.stdout).diff as {
        steps: { op: StepOp; urn: string; name: string; changes: { path: string }[] }[];
    };
    const of = (...ops: StepOp[]) => diff.steps.filter((s) => ops.includes(s.op));
    return canonical({
        added: of("create").map((s) => s.name),
        removed: of("delete").map((s) => s.name),
        changed: Object.fromEntries(of("update", "replace").map((s) => [s.name, s.changes.map((c) => c.path)])),
        ops: Object.fromEntries(diff.steps.map((s) => [s.urn, s.op])),
    });
}

/**
 * A diff without the autoscaler minimums a traffic decision sets. They come from the live counts the engine reads
 * (components/traffic/capacity.ts), which the offline preview has no cluster to read: its `--diff` assumes the cluster runs
 * what the config without the edit declares, so after a shift that raised a minimum the two can differ there only.
 */
export function withoutFloors(d: ResourceDiff): ResourceDiff {
    const changed = Object.entries(d.changed)
        .map(([name, paths]) => [name, paths.filter((p) => p !== "spec.minReplicas")] as const)
        .filter(([, paths]) => paths.length > 0);
    const kept = new Set(changed.map(([name]) => name));
    // An update that only moved a minimum is no step once the minimum is left out.
    const ops = Object.entries(d.ops).filter(([urn, op]) => op !== "update" || kept.has(nameOf(urn)));
    return { ...d, changed: Object.fromEntries(changed), ops: Object.fromEntries(ops) };
}

/** The capacity steps of a canary weight, one per track (components/traffic/capacity.ts). */
export const capacitySteps = (weight: number | string) => [
    `myapp-canary-capacity-w${weight}`,
    `myapp-stable-capacity-w${weight}`,
];

export interface Agreement {
    edit: string;
    agree: boolean;
    engine: ResourceDiff;
    offline: ResourceDiff;
}

/** Names, paths and URNs sorted, so that two diffs compare equal whatever order the events arrived in. */
function canonical(d: ResourceDiff): ResourceDiff {
    const sortedKeys = <T>(r: Record<string, T>, value: (v: T) => T) =>
        Object.fromEntries(
            Object.keys(r)
                .sort()
                .map((k) => [k, value(r[k])]),
        );
    return {
        added: [...d.added].sort(),
        removed: [...d.removed].sort(),
        changed: sortedKeys(d.changed, (paths) => [...paths].sort()),
        ops: sortedKeys(d.ops, (op) => op),
    };
}

/** Every comparison of this e2e run, across spec files; recorded as `offlineAgreement` in the report. */
const agreements: Agreement[] = [];

/**
 * Scenario 7: the engine's preview of a config edit and the offline preview of the same edit on the same config
 * take the same step (create, update, replace or delete) on each URN and name the same changed paths. Sets the config (as
 * `pulumi config set --path` does) after the offline preview read the file as it was, and records the comparison.
 */
export async function compareEdit(
    ps: ProjectStack,
    edit: string,
    sets: Record<string, string>,
    policyConfig: string,
    onOutput?: (s: string) => void,
): Promise<Agreement> {
    const offline = offlinePreview(ps, sets, policyConfig);
    for (const [key, value] of Object.entries(sets)) await ps.stack.setConfig(key, { value }, true);
    const engine = await enginePreview(ps, onOutput);
    const a = { edit, agree: JSON.stringify(engine) === JSON.stringify(offline), engine, offline };
    agreements.push(a);
    measure("offlineAgreement", {
        agreed: agreements.filter((x) => x.agree).length,
        of: agreements.length,
        // An agreeing edit by what both sides name; a disagreeing one with both diffs in full.
        edits: agreements.map((x) =>
            x.agree
                ? {
                      edit: x.edit,
                      agree: true,
                      added: x.engine.added,
                      removed: x.engine.removed,
                      changed: Object.keys(x.engine.changed),
                      replaced: Object.keys(x.engine.ops)
                          .filter((u) => x.engine.ops[u] === "replace")
                          .map(nameOf),
                  }
                : x,
        ),
    });
    return a;
}

export interface UpResult {
    seconds: number;
    /** The engine's summary.resourceChanges, e.g. { update: 1, same: 15 }. */
    changes: Record<string, number>;
    /** Resource names per step op other than same and read, from the engine's events. */
    steps: Record<string, string[]>;
}

/** `pulumi up` with its wall time, the engine's resourceChanges and which resources each step touched. */
export async function timedUp(ps: ProjectStack, onOutput?: (s: string) => void): Promise<UpResult> {
    const steps: Record<string, string[]> = {};
    const t0 = Date.now();
    const res = await ps.stack.up({
        onOutput,
        onEvent: (e: EngineEvent) => {
            const m = e.resourcePreEvent?.metadata;
            if (!m || m.type === "pulumi:pulumi:Stack" || m.op === "same" || m.op === "read") return;
            (steps[m.op] ??= []).push(m.urn.split("::").pop()!);
        },
    });
    assert.strictEqual(res.summary.result, "succeeded");
    for (const names of Object.values(steps)) names.sort();
    return { seconds: Math.round((Date.now() - t0) / 100) / 10, changes: res.summary.resourceChanges ?? {}, steps };
}

/** The component type tokens in a state export's URNs (neither the provider's nor the engine's own). */
function componentTokens(state: string): string[] {
    return [
        ...new Set(
            urnsOf(state)
                .flatMap((u) => u.split("::")[2].split("$"))
                .filter((t) => !t.startsWith("kubernetes:") && !t.startsWith("pulumi:")),
        ),
    ].sort();
}

/** The URNs of a state export, sorted. */
function urnsOf(state: string): string[] {
    return (JSON.parse(state).deployment.resources as { urn: string }[]).map((r) => r.urn).sort();
}

export interface TokenMove {
    /** Component tokens in the rewritten state the preview and up start from, and in the state after the up. */
    before: string[];
    after: string[];
    /** The change summaries of the preview and the up on the rewritten state. */
    preview: Record<string, number>;
    up: Record<string, number>;
    /** Whether the up left the very URNs the state had before it was rewritten. */
    sameUrns: boolean;
}

/**
 * Rewrites the stack's state to the first release's component tokens (myapp:deploy:*), as a stack that release
 * deployed holds them, then previews and runs `pulumi up`: the components' aliases must match every URN.
 */
export async function moveFromFirstReleaseTokens(ps: ProjectStack, onOutput?: (s: string) => void): Promise<TokenMove> {
    const current = JSON.stringify(await ps.stack.exportStack());
    const rewritten = current.replace(/release:index:/g, "myapp:deploy:");
    await ps.stack.importStack(JSON.parse(rewritten));
    const preview = await ps.stack.preview({ onOutput });
    const up = await ps.stack.up({ onOutput });
    const after = JSON.stringify(await ps.stack.exportStack());
    return {
        before: componentTokens(rewritten),
        after: componentTokens(after),
        preview: preview.changeSummary,
        up: up.summary.resourceChanges ?? {},
        sameUrns: JSON.stringify(urnsOf(after)) === JSON.stringify(urnsOf(current)),
    };
}

/**
 * Collects the engine's output during each test and prints its last `lines` lines when the test fails. Call it in
 * a describe block: it registers the afterEach that prints and clears it. Returns the onOutput to hand the engine.
 */
export function engineLog(lines = 60): (s: string) => void {
    let log = "";
    afterEach(function () {
        if (this.currentTest?.state === "failed" && log)
            process.stderr.write(`--- engine output ---\n${log.split("\n").slice(-lines).join("\n")}\n`);
        log = "";
    });
    return (s: string) => {
        log += s;
    };
}

/**
 * What a preview of an unchanged deployment must plan, from the stack's own state: every resource `same`, and every
 * resource the program reads (external, e.g. the blue/green colors' Deployment.get) `read`. Default providers are no
 * step of the summary.
 */
export async function noChangeSummary(ps: ProjectStack): Promise<Record<string, number>> {
    const resources = (await ps.stack.exportStack()).deployment.resources as { urn: string; external?: boolean }[];
    const counted = resources.filter((r) => !/::pulumi:providers:[^:]+::default/.test(r.urn));
    const read = counted.filter((r) => r.external).length;
    return { ...(read > 0 ? { read } : {}), same: counted.length - read };
}

export interface DiagnosedPreview {
    /** The engine's changeSummary; undefined when the preview failed. */
    changeSummary?: Record<string, number>;
    /** The failed preview's error (the CLI's stderr and stdout), else undefined. */
    error?: string;
    /** Everything the engine printed. */
    stdout: string;
    /** The engine's warning diagnostics, one entry per event, trimmed. */
    warnings: string[];
    /** Every resource the engine stepped on, as `op type name`. */
    steps: string[];
}

/** A plain `pulumi preview` with what it printed, its warning diagnostics and its steps, whether it passes or fails. */
export async function diagnosedPreview(ps: ProjectStack, onOutput?: (s: string) => void): Promise<DiagnosedPreview> {
    const out: DiagnosedPreview = { stdout: "", warnings: [], steps: [] };
    try {
        const res = await ps.stack.preview({
            onOutput: (s) => {
                out.stdout += s;
                onOutput?.(s);
            },
            onEvent: (e: EngineEvent) => {
                if (e.diagnosticEvent?.severity === "warning") out.warnings.push(e.diagnosticEvent.message.trim());
                const m = e.resourcePreEvent?.metadata;
                if (m) out.steps.push(`${m.op} ${m.type} ${nameOf(m.urn)}`);
            },
        });
        out.changeSummary = res.changeSummary;
    } catch (e) {
        out.error = String(e);
    }
    out.steps.sort();
    return out;
}
