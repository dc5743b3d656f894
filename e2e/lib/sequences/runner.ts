// Runs one seed's sequence of operations on the real engine, provider and API server, checking every invariant after
// every step; totals go to the report's `sequences` section.
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineEvent, OutputMap } from "@pulumi/pulumi/automation";
import { NODES, SLOW_NODE } from "../cluster";
import { policyConfigWithoutMonitors, stackFile } from "../engine";
import { existingResourceStack } from "../existing";
import { Kube } from "../kube";
import { sampledDuring, sampleTraffic, TrafficSample } from "../observe";
import { cliEnv } from "../printed";
import { SequencesReport } from "../report";
import { PROGRAM_ROOT, ProjectStack } from "../stack";
import { loadMigrations, SqlMigration } from "../../../lib/migrations";
import { SECRET_MASK } from "../../../tools/offline/types";
import {
    addStep,
    capacity,
    engineConnectionLost,
    INVARIANTS,
    Invariant,
    jobAllowance,
    noSteps,
    required,
    routingMismatch,
    sameSteps,
    servedOnlyBy,
    StepKinds,
    TrackedJob,
    Violation,
} from "./checks";
import {
    applyEdits,
    autoscaledDeployments,
    configEdits,
    configOf,
    deploymentShares,
    initialModel,
    Model,
    SECRET_KEY,
    servingVersions,
    StuckJob,
    trafficOf,
} from "./model";
import { generate, OP_KINDS, Operation } from "./operations";
import { Prng } from "./prng";

const TS_NODE = path.resolve(__dirname, "..", "..", "..", "node_modules", ".bin", "ts-node");
/** How long a printed rollback may take, command to end of its up, before it counts as not moving the traffic. */
const ROLLBACK_DEADLINE_SECONDS = 90;
/** How long any other up may take before the harness cancels it (a Job stuck Pending would hold it for its deadline). */
const UP_DEADLINE_SECONDS = 240;
/** How long a Job must sit Pending before a "pending" operation's up is cancelled, as an operator would. */
const PENDING_SECONDS = 5;
const DRY_RUN_NAMESPACE = "e2e-seq-dryrun";
const JOB_COMPONENT = { backup: "predeploy-backup", migration: "migration", smoke: "smoke-test" } as const;

/** The run's totals, filled in by every seed. */
export function emptyReport(): SequencesReport {
    return {
        programDir: PROGRAM_ROOT,
        seeds: [],
        operations: { total: 0, byKind: Object.fromEntries(OP_KINDS.map((k) => [k, 0])) },
        invariants: Object.fromEntries(INVARIANTS.map((i) => [i, { checked: 0, failed: 0 }])),
        capacity: { samples: 0, worst: null },
        rollback: { run: 0, notNeeded: 0, failed: 0, seconds: [], worstSeconds: null, medianSeconds: null },
        phaseSeconds: {},
        engineRetries: [],
        wallSeconds: 0,
    };
}

/** A seed's failure: its message names the seed, the failing step and every operation before it, and the replay. */
export class SequenceFailure extends Error {}

interface Context {
    seed: number;
    k: Kube;
    ps: ProjectStack;
    ns: string;
    policyConfig: string;
    model: Model;
    /** Whether the stack's state is what its config says: the last up succeeded. Only then can a config diff be compared. */
    clean: boolean;
    /** Every Job this seed has seen, by name: the uid it had. */
    jobHistory: Map<string, string>;
    report: SequencesReport;
    step: number;
    label: string;
    onOutput: (s: string) => void;
    /** NotReady pods that a timer will make Ready again. */
    pendingRestores: Promise<void>[];
    /** Whether an up has succeeded: before that, nothing serves. */
    deployed: boolean;
    /** The stack outputs the last up wrote, when it succeeded (what `pulumi stack output` then prints); else read again. */
    outputs?: OutputMap;
}

class Checks {
    readonly violations: Violation[] = [];

    constructor(private readonly ctx: Context) {}

    check(invariant: Invariant, ok: boolean, message: () => string): void {
        const tally = this.ctx.report.invariants[invariant];
        tally.checked++;
        if (!ok) {
            tally.failed++;
            this.violations.push({ invariant, message: message() });
        }
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `work`, adding its wall seconds to the run's total for `phase`. */
async function timed<T>(ctx: Context, phase: string, work: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
        return await work();
    } finally {
        const p = ctx.report.phaseSeconds;
        p[phase] = Math.round(((p[phase] ?? 0) + (Date.now() - t0) / 1000) * 10) / 10;
    }
}

/** Runs `seed` for `length` operations after the first deploy; throws a SequenceFailure at the first step that breaks an invariant. */
export async function runSeed(
    k: Kube,
    seed: number,
    length: number,
    report: SequencesReport,
    onOutput: (s: string) => void,
    keepGoing = false,
): Promise<void> {
    const t0 = Date.now();
    const rng = new Prng(seed);
    // Odd seeds run production's canary, even ones staging's blue/green: a default run of a few seeds has both.
    const base = seed % 2 === 1 ? "production" : "staging";
    const ns = `e2e-seq-${seed}`;
    const entry: SequencesReport["seeds"][number] = {
        seed,
        base,
        length,
        operations: [],
        stepSeconds: [],
        passed: false,
        failures: [],
        seconds: 0,
    };
    report.seeds.push(entry);
    await setSlowStart(k, false);
    await ensureNamespace(k, DRY_RUN_NAMESPACE);
    const ps = await existingResourceStack(k, { base, name: ns, namespace: ns });
    const ctx: Context = {
        seed,
        k,
        ps,
        ns,
        policyConfig: policyConfigWithoutMonitors(ps, base),
        model: initialModel(base, ps.config, releaseMigrations(ps.config)),
        // Nothing is deployed yet: no config describes the empty state, so the first up has no diff to compare.
        clean: false,
        jobHistory: new Map(),
        report,
        step: 0,
        label: "deploy",
        onOutput,
        pendingRestores: [],
        deployed: false,
    };
    const deploy: Operation = {
        kind: "deploy",
        label: `deploy (${base}: ${ctx.model.strategy})`,
        run: "up",
        edits: {},
        next: ctx.model,
        expect: "success",
    };
    try {
        for (let step = 0; step <= length; step++) {
            const op = step === 0 ? deploy : generate(ctx.model, rng);
            ctx.step = step;
            ctx.label = op.label;
            entry.operations.push(op.label);
            if (step > 0) {
                report.operations.total++;
                report.operations.byKind[op.kind]++;
            }
            const checks = new Checks(ctx);
            const stepStart = Date.now();
            const note = await runOperation(ctx, op, checks);
            if (note) entry.operations[step] = `${op.label} (${note})`;
            if (op.kind !== "rollback" && op.kind !== "invalid-edit") await checkRollback(ctx, checks);
            entry.stepSeconds.push(Math.round((Date.now() - stepStart) / 100) / 10);
            if (checks.violations.length > 0) {
                entry.failures.push({
                    step,
                    operation: op.label,
                    violations: checks.violations,
                    replay: `npm run test:sequences -- --seed ${seed} --length ${step}`,
                });
                // Past a broken invariant the state is off the model: later steps only go on when asked to (--keep-going).
                if (!keepGoing) break;
            }
        }
        entry.passed = entry.failures.length === 0;
        if (!entry.passed) throw new SequenceFailure(failureMessage(entry));
    } catch (e) {
        if (e instanceof SequenceFailure) throw e;
        // Not an invariant: the harness could not carry the step out. Still say where, and how to get there again.
        throw new Error(
            [
                `seed ${seed} stopped at step ${ctx.step} (${ctx.label}): ${(e as Error).stack ?? String(e)}`,
                "operations:",
                ...entry.operations.map((l, i) => `  ${i}. ${l}`),
                `replay: npm run test:sequences -- --seed ${seed} --length ${ctx.step}`,
            ].join("\n"),
        );
    } finally {
        entry.seconds = Math.round((Date.now() - t0) / 100) / 10;
        await Promise.all(ctx.pendingRestores);
        await setSlowStart(k, false);
        if (!process.env.E2E_KEEP_CLUSTER_DIR) await k.request("DELETE", `/api/v1/namespaces/${ns}`);
    }
}

/** The seed, each failing step with what it broke, every operation up to the last one run, and how to replay it. */
function failureMessage(entry: SequencesReport["seeds"][number]): string {
    const lines = [
        `seed ${entry.seed} (${entry.base}, ${entry.length} operations) broke an invariant at step ${entry.failures.map((f) => f.step).join(", ")}:`,
    ];
    for (const f of entry.failures) {
        lines.push(`step ${f.step}: ${f.operation}`, ...f.violations.map((v) => `  [${v.invariant}] ${v.message}`));
    }
    lines.push("operations:", ...entry.operations.map((l, i) => `  ${i}. ${l}`));
    const last = entry.failures[entry.failures.length - 1];
    lines.push(
        `replay: ${last.replay}${process.env.E2E_PROGRAM_DIR ? ` (with E2E_PROGRAM_DIR=${process.env.E2E_PROGRAM_DIR})` : ""}`,
    );
    return lines.join("\n");
}

/** The release's SQL migrations as the program reads them (database.migration.sqlDir of the program under test), or none. */
function releaseMigrations(config: Record<string, any>): SqlMigration[] {
    const sqlDir = config["myapp:database"]?.migration?.sqlDir;
    try {
        return sqlDir ? loadMigrations(path.join(PROGRAM_ROOT, sqlDir)) : [];
    } catch {
        // A program whose migrations lack the headers this harness reads has no version floors to keep.
        return [];
    }
}

async function ensureNamespace(k: Kube, ns: string): Promise<void> {
    await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
}

/** Slow start: new pods land on the slow node only (the fast ones cordoned); fast start: the reverse, as the harness starts. */
async function setSlowStart(k: Kube, slow: boolean): Promise<void> {
    for (const node of NODES) await k.mergePatch(`/api/v1/nodes/${node}`, { spec: { unschedulable: slow } });
    await k.mergePatch(`/api/v1/nodes/${SLOW_NODE}`, { spec: { unschedulable: !slow } });
}

/**
 * A printed command line run as a user runs it, in bash in the stack's program directory with its backend and
 * passphrase (e2e/lib/printed.ts shell), without blocking the sampler meanwhile.
 */
function shellAsync(ps: ProjectStack, commandLine: string): Promise<void> {
    return new Promise((resolve, reject) => {
        execFile(
            "bash",
            ["-c", commandLine],
            { cwd: ps.workDir, env: cliEnv(ps), encoding: "utf8" },
            (err, _stdout, stderr) =>
                err ? reject(new Error(`\`${commandLine}\` exited ${err.code}: ${stderr}`)) : resolve(),
        );
    });
}

/** Carries the operation out and checks what it did; returns what it did beyond its label, if anything. */
async function runOperation(ctx: Context, op: Operation, checks: Checks): Promise<string | undefined> {
    const { k, ns } = ctx;
    switch (op.run) {
        case "autoscale": {
            const notes: string[] = [];
            for (const [deployment, share] of Object.entries(deploymentShares(ctx.model, ctx.model.applied))) {
                const count = await autoscale(ctx, deployment, share, op.next.load);
                if (count !== undefined) {
                    op.next.autoscaled[deployment] = count;
                    notes.push(`${deployment} → ${count}`);
                }
            }
            // The load grew as fast as the autoscalers could follow: the step ends once their new pods are Ready, so
            // that what comes next is not blamed for pods still starting.
            for (const d of Object.keys(op.next.autoscaled)) await readyAtLeast(ctx, d, op.next.autoscaled[d], 90);
            ctx.model = op.next;
            return notes.length > 0 ? notes.join(", ") : "no count changed";
        }
        case "nodes":
            await setSlowStart(k, op.next.slowStart);
            ctx.model = op.next;
            return undefined;
        case "invalid":
            await invalidEdit(ctx, op, checks);
            return undefined;
        case "printed-rollback": {
            const r = await printedRollback(ctx, checks);
            if (r) ctx.model = r;
            await checkRouting(ctx, checks);
            return r ? undefined : "none needed";
        }
        default:
            if (op.notReady)
                ctx.pendingRestores.push(
                    (await makeNotReady(k, ns, op.notReady.deployment, op.notReady.seconds)).restored,
                );
            await upOperation(ctx, op, checks);
            return undefined;
    }
}

/**
 * What a track's HorizontalPodAutoscaler does when the load changes: its count becomes its share of the load, within
 * its live bounds, written as an Update of the scale subresource by kube-controller-manager (kubernetes
 * pkg/controller/podautoscaler/horizontal.go, scaleNamespacer.Update). Returns the count written, if it changed.
 */
async function autoscale(ctx: Context, deployment: string, share: number, load: number): Promise<number | undefined> {
    if (share === 0) return undefined;
    const hpa = await ctx.k.request(
        "GET",
        `/apis/autoscaling/v2/namespaces/${ctx.ns}/horizontalpodautoscalers/${deployment}`,
    );
    if (hpa.status !== 200) return undefined;
    const count = Math.min(hpa.body.spec.maxReplicas, Math.max(hpa.body.spec.minReplicas ?? 1, required(share, load)));
    return (await scaleAsAutoscaler(ctx, deployment, count, "any")) ? count : undefined;
}

/** Waits, at most `seconds`, until the Deployment has `count` Ready pods. */
async function readyAtLeast(ctx: Context, deployment: string, count: number, seconds: number): Promise<void> {
    for (let waited = 0; waited < seconds * 2; waited++) {
        const res = await ctx.k.request("GET", `/apis/apps/v1/namespaces/${ctx.ns}/deployments/${deployment}`);
        if (res.status !== 200 || (res.body.status?.readyReplicas ?? 0) >= count) return;
        await sleep(500);
    }
}

/**
 * Sets the Deployment's count through the scale subresource as kube-controller-manager, when it differs ("any") or
 * is lower ("up"); returns whether it wrote.
 */
async function scaleAsAutoscaler(
    ctx: Context,
    deployment: string,
    count: number,
    direction: "any" | "up",
): Promise<boolean> {
    const scalePath = `/apis/apps/v1/namespaces/${ctx.ns}/deployments/${deployment}/scale`;
    const res = await ctx.k.request("GET", scalePath);
    if (res.status !== 200) return false;
    const scale = res.body;
    if (scale.spec.replicas === count || (direction === "up" && scale.spec.replicas > count)) return false;
    scale.spec.replicas = count;
    const put = await ctx.k.request("PUT", `${scalePath}?fieldManager=kube-controller-manager`, scale);
    if (put.status !== 200) throw new Error(`PUT ${scalePath}: ${put.status} ${JSON.stringify(put.body)}`);
    return true;
}

/** Marks the Deployment's pods not Ready (a failing readiness probe), and returns when a timer has made them Ready again. */
async function makeNotReady(
    k: Kube,
    ns: string,
    deployment: string,
    seconds: number,
): Promise<{ restored: Promise<void> }> {
    const d = await k.get(`/apis/apps/v1/namespaces/${ns}/deployments/${deployment}`);
    const selector = Object.entries(d.spec.selector.matchLabels as Record<string, string>)
        .map(([key, v]) => `${key}=${v}`)
        .join(",");
    const pods = await k.list(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`);
    const patch = async (status: "True" | "False") => {
        const now = new Date().toISOString();
        const conditions = ["Ready", "ContainersReady"].map((type) => ({ type, status, lastTransitionTime: now }));
        for (const p of pods) {
            await k.request(
                "PATCH",
                `/api/v1/namespaces/${ns}/pods/${p.metadata.name}/status`,
                { status: { conditions } },
                "application/strategic-merge-patch+json",
            );
        }
    };
    await patch("False");
    return { restored: sleep(seconds * 1000).then(() => patch("True")) };
}

/** Writes config edits as `pulumi config set --path` does (the Automation API runs that command); the app secret with --secret. */
async function writeEdits(ps: ProjectStack, edits: Record<string, string>): Promise<void> {
    if (Object.keys(edits).length === 0) return;
    // One `pulumi config set-all --path` for all of them.
    await ps.stack.setAllConfig(
        Object.fromEntries(Object.entries(edits).map(([key, value]) => [key, { value, secret: key === SECRET_KEY }])),
        true,
    );
}

interface OfflineRun {
    status: number;
    stderr: string;
    diff?: StepKinds;
    /** The Kubernetes objects the program declares; `patch` for a part of an object (a …Patch resource). */
    manifests: { object: Record<string, any>; patch: boolean }[];
}

/**
 * The offline preview of `edits` on the stack's file as it is now (copied first, so the engine side can write the
 * edits meanwhile): `npm run preview:offline -- --config-file <copy> --set … --json [--diff]`, from PROGRAM_ROOT.
 */
function offlinePreview(ctx: Context, edits: Record<string, string>, diff: boolean): Promise<OfflineRun> {
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "myapp-e2e-seq-")), "stack.yaml");
    fs.copyFileSync(stackFile(ctx.ps), copy);
    const args = [
        "--transpile-only",
        "tools/preview-offline.ts",
        "--stack",
        ctx.ps.stack.name,
        "--config-file",
        copy,
        "--json",
        "--policy-config",
        ctx.policyConfig,
    ];
    if (diff) args.push("--diff");
    for (const [key, value] of Object.entries(edits)) args.push("--set", `${key}=${value}`);
    return new Promise((resolve, reject) => {
        const child = spawn(TS_NODE, args, { cwd: PROGRAM_ROOT, stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => out.push(c));
        child.stderr.on("data", (c: Buffer) => err.push(c));
        child.on("error", reject);
        child.on("close", (status) => {
            fs.rmSync(path.dirname(copy), { recursive: true, force: true });
            const stderr = Buffer.concat(err).toString("utf8");
            // 0: fine; 1: a mandatory policy violation, still with the JSON; 2: the program refused the config.
            if (status !== 0 && status !== 1) return resolve({ status: status ?? -1, stderr, manifests: [] });
            let doc: any;
            try {
                doc = JSON.parse(Buffer.concat(out).toString("utf8"));
            } catch {
                return resolve({
                    status: -1,
                    stderr: `exit ${status} without a JSON document: ${stderr}`,
                    manifests: [],
                });
            }
            let diff: StepKinds | undefined;
            if (doc.diff) {
                diff = noSteps();
                for (const s of doc.diff.steps as {
                    op: "create" | "delete" | "update" | "replace";
                    type: string;
                    urn: string;
                }[])
                    addStep(diff, s.op, s.type, s.urn);
            }
            resolve({
                status: status ?? 0,
                stderr,
                diff,
                // Reads (Resource.get) declare nothing; a patch (…Patch) is a part of an object, checked against the live one.
                manifests: (doc.resources as { type: string; read?: boolean; inputs: Record<string, any> }[])
                    .filter((r) => r.type.startsWith("kubernetes:") && !r.read && r.inputs.apiVersion && r.inputs.kind)
                    .map((r) => ({ object: r.inputs, patch: r.type.endsWith("Patch") })),
            });
        });
    });
}

/**
 * Collects the engine's steps by kind from its events. An update that changes no property (no diffs, no
 * detailedDiff) is the engine awaiting again a resource whose create failed (pulumi/pulumi step_generator.go,
 * "initialization errors"): no config edit makes it, so it is kept apart.
 */
function stepCollector(): { steps: StepKinds; reawaits: string[]; onEvent: (e: EngineEvent) => void } {
    const steps = noSteps();
    const reawaits: string[] = [];
    const onEvent = (e: EngineEvent) => {
        const m = e.resourcePreEvent?.metadata;
        if (!m || m.type === "pulumi:pulumi:Stack" || m.type.startsWith("pulumi:providers:")) return;
        if (m.op === "update" && (m.diffs ?? []).length === 0 && Object.keys(m.detailedDiff ?? {}).length === 0)
            reawaits.push(m.urn.split("::").pop()!);
        else if (m.op === "create" || m.op === "delete" || m.op === "update" || m.op === "replace")
            addStep(steps, m.op, m.type, m.urn);
    };
    return { steps, reawaits, onEvent };
}

const discovery = new Map<string, { name: string; kind: string; namespaced: boolean }[]>();

/** Server-side dry-run creates of the program's Kubernetes objects in a scratch namespace: the API server's validation, nothing stored. */
async function apiServerRefusals(k: Kube, manifests: OfflineRun["manifests"]): Promise<string[]> {
    const refusals: string[] = [];
    await Promise.all(
        manifests.map(async ({ object, patch }) => {
            let m = object;
            const base = String(m.apiVersion).includes("/") ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
            if (!discovery.has(base)) discovery.set(base, (await k.get(base)).resources);
            const resource = discovery.get(base)!.find((r) => r.kind === m.kind && !r.name.includes("/"));
            // A Secret's values stay secrets offline: the rendered object carries the keys' shape only (as --render-dir writes it).
            for (const field of ["data", "stringData"]) if (m[field] === SECRET_MASK) m = { ...m, [field]: {} };
            if (!resource) {
                refusals.push(`${m.kind} ${m.metadata?.name}: the API server serves no ${m.kind} in ${m.apiVersion}`);
                return;
            }
            let res: { status: number; body: any };
            if (patch) {
                // A server-side apply of the patch onto the object it patches, dry run; one that does not exist yet is
                // created by the same up first, so there is nothing to check it against.
                const where = `${base}/namespaces/${m.metadata.namespace}/${resource.name}/${m.metadata.name}`;
                res = await k.request(
                    "PATCH",
                    `${where}?dryRun=All&fieldManager=e2e-dry-run&force=true&fieldValidation=Strict`,
                    m,
                    "application/apply-patch+yaml",
                );
                if (res.status === 404) return;
            } else {
                const body = {
                    ...m,
                    metadata: { ...m.metadata, namespace: resource.namespaced ? DRY_RUN_NAMESPACE : undefined },
                };
                const where = resource.namespaced
                    ? `${base}/namespaces/${DRY_RUN_NAMESPACE}/${resource.name}`
                    : `${base}/${resource.name}`;
                res = await k.request("POST", `${where}?dryRun=All&fieldValidation=Strict`, body);
            }
            if (res.status !== 200 && res.status !== 201)
                refusals.push(
                    `${m.kind}${patch ? " patch" : ""} ${m.metadata?.name}: ${res.status} ${res.body?.message ?? JSON.stringify(res.body)}`,
                );
        }),
    );
    return refusals;
}

/** The Jobs of the namespace that the release declares (not those a CronJob starts). */
async function trackedJobs(k: Kube, ns: string): Promise<TrackedJob[]> {
    const [list, pods] = await Promise.all([
        k.list(`/apis/batch/v1/namespaces/${ns}/jobs`),
        k.list(`/api/v1/namespaces/${ns}/pods`),
    ]);
    return list
        .filter((j) => !(j.metadata.ownerReferences ?? []).some((o: any) => o.kind === "CronJob"))
        .map((j) => {
            const done = (j.status?.conditions ?? []).find(
                (c: any) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
            );
            const own = pods.filter((p) =>
                (p.metadata.ownerReferences ?? []).some((o: any) => o.uid === j.metadata.uid),
            );
            return {
                name: j.metadata.name,
                uid: j.metadata.uid,
                completionTime: j.status?.completionTime,
                component: j.metadata.labels?.["app.kubernetes.io/component"],
                color: j.metadata.labels?.color,
                outcome: done?.type ?? "running",
                pending: own.length > 0 && own.every((p) => p.status?.phase === "Pending"),
                createdAt: Date.parse(j.metadata.creationTimestamp),
            };
        });
}

/** No Job runs again unless its purpose changed; a new Job only for a new purpose (checks.ts jobAllowance). */
async function checkJobs(
    ctx: Context,
    checks: Checks,
    before: Model,
    after: Model,
    completed: Map<string, string | undefined>,
): Promise<void> {
    // The first deploy declares every purpose for the first time.
    const allowance =
        ctx.step === 0 && ctx.jobHistory.size === 0
            ? { anyNew: true, rerun: () => false }
            : jobAllowance(before, after);
    const problems: string[] = [];
    for (const j of await trackedJobs(ctx.k, ctx.ns)) {
        const seen = ctx.jobHistory.get(j.name);
        if (seen === undefined && !allowance.anyNew)
            problems.push(`Job ${j.name} was created though no Job's purpose changed`);
        if (seen !== undefined && seen !== j.uid && !allowance.rerun(j))
            problems.push(`Job ${j.name} ran again (uid ${seen} → ${j.uid}) though its purpose did not change`);
        if (seen === j.uid && completed.has(j.name) && completed.get(j.name) !== j.completionTime)
            problems.push(`Job ${j.name} completed again (${completed.get(j.name)} → ${j.completionTime})`);
        ctx.jobHistory.set(j.name, j.uid);
    }
    checks.check("jobsRunOnce", problems.length === 0, () => problems.join("; "));
}

async function completionTimes(ctx: Context): Promise<Map<string, string | undefined>> {
    return new Map((await trackedJobs(ctx.k, ctx.ns)).map((j) => [j.name, j.completionTime]));
}

interface UpRun {
    samples: TrafficSample[];
    /** The engine's steps by kind, and the resources it awaited again with no change. */
    steps: StepKinds;
    reawaits: string[];
    /** The fleet's count before the up: the model's load. */
    fleet: number;
    ok: boolean;
    cancelled: boolean;
    error?: string;
    seconds: number;
}

/**
 * `pulumi up` (or `work`) while sampling the traffic; cancelled (SIGINT, as Ctrl-C) after `deadlineSeconds`, or by
 * `cancelWhen` (polled every second) returning true.
 */
async function sampledUp(
    ctx: Context,
    deadlineSeconds: number,
    cancelWhen?: () => Promise<boolean>,
    before?: () => Promise<void>,
): Promise<UpRun> {
    const abort = new AbortController();
    let cancelled = false;
    const cancel = () => {
        cancelled = true;
        abort.abort();
    };
    const t0 = Date.now();
    const timer = setTimeout(cancel, deadlineSeconds * 1000);
    let watching = true;
    const watcher = (async () => {
        while (watching && cancelWhen) {
            await sleep(1000);
            if (watching && !cancelled && (await cancelWhen().catch(() => false))) cancel();
        }
    })();
    // Before the first deploy nothing serves: no share needs pods.
    const fleet = ctx.deployed ? ctx.model.load : 0;
    let collector = stepCollector();
    const attempt = (first: boolean) =>
        sampledDuring(ctx.k, ctx.ns, ctx.model.host, async () => {
            if (first) await before?.();
            // Verbose runs print each step's property diff, to tell an update from a replacement and why.
            return ctx.ps.stack.up({
                onOutput: ctx.onOutput,
                onEvent: collector.onEvent,
                signal: abort.signal,
                diff: process.env.E2E_SEQ_VERBOSE === "1",
            });
        });
    let run = await attempt(true);
    if (run.error && !cancelled && engineConnectionLost(String((run.error as Error).message ?? run.error))) {
        // The program lost its connection to the engine, and nothing else failed: the same up once more, recorded.
        // Its samples follow the first attempt's, so a capacity dip during either still counts.
        const error = engineErrors(run.error);
        ctx.report.engineRetries.push({ seed: ctx.seed, step: ctx.step, operation: ctx.label, error });
        ctx.onOutput(`\n[sequences] the engine connection was lost (${error}); running the same up once more\n`);
        const offset = Date.now() - t0;
        const first = run.samples;
        collector = stepCollector();
        run = await attempt(false);
        run.samples = [...first, ...run.samples.map((sample) => ({ ...sample, at: sample.at + offset }))];
    }
    watching = false;
    clearTimeout(timer);
    await watcher;
    ctx.outputs = !run.error && run.result?.summary.result === "succeeded" ? run.result.outputs : undefined;
    if (ctx.outputs) ctx.deployed = true;
    const ok = !run.error && run.result?.summary.result === "succeeded";
    ctx.report.capacity.samples += run.samples.length;
    return {
        samples: run.samples,
        steps: collector.steps,
        reawaits: collector.reawaits,
        fleet,
        ok,
        cancelled,
        error: run.error ? engineErrors(run.error) : undefined,
        seconds: (Date.now() - t0) / 1000,
    };
}

/** The error lines of a failed engine run (its diagnostics), not the whole output it carries. */
function engineErrors(error: unknown): string {
    const text = String((error as Error).message ?? error);
    const lines = text
        .split("\n")
        .map((l) => l.trim())
        .filter(
            (l) =>
                /^error: |was not successfully|failed to fully initialize|conflict|cancel/i.test(l) &&
                !/^error: update failed$/.test(l),
        );
    return (lines.length > 0 ? [...new Set(lines)].join(" | ") : text.slice(-800)).slice(0, 1200);
}

/** Ready pods behind each routed share, at every sample, against that share of the fleet's count before the up. */
function checkCapacity(ctx: Context, checks: Checks, run: UpRun, what: string): void {
    const { tightest, short } = capacity(run.fleet, run.samples);
    if (tightest) {
        const worst = ctx.report.capacity.worst;
        if (!worst || tightest.ready - tightest.required < worst.ready - worst.required) {
            ctx.report.capacity.worst = {
                seed: ctx.seed,
                step: ctx.step,
                operation: `${ctx.label}${what}`,
                ...tightest,
            };
        }
    }
    checks.check(
        "capacity",
        short.length === 0,
        () =>
            `${what ? `${what.trim()}: ` : ""}the fleet was ${run.fleet} pods before the up; ` +
            short
                .slice(0, 3)
                .map(
                    (s) =>
                        `at ${(s.at / 1000).toFixed(1)}s ${s.service} took ${s.percent}% with ${s.ready} ready pods, ${s.required} needed`,
                )
                .join("; ") +
            (short.length > 3 ? ` (${short.length} short samples)` : ""),
    );
}

/** No Deployment below the count its autoscaler set, at any sample, unless a traffic decision took its share away. */
function checkAutoscalerFloor(checks: Checks, model: Model, run: UpRun): void {
    const low: string[] = [];
    for (const [deployment, count] of Object.entries(model.autoscaled)) {
        const seen = Math.min(...run.samples.map((s) => s.replicas[deployment] ?? 0));
        if (seen < count) low.push(`${deployment} went to ${seen} replicas; its autoscaler had set ${count}`);
    }
    checks.check("autoscalerFloor", low.length === 0, () => low.join("; "));
}

/** The model's autoscaled counts after a step: forgotten for a Deployment whose share went down or that is gone. */
function keepAutoscaled(before: Model, after: Model): Record<string, number> {
    const was = deploymentShares(before, before.applied);
    const now = deploymentShares(after, after.applied);
    const declared = new Set(autoscaledDeployments(after).map((d) => d.name));
    return Object.fromEntries(
        Object.entries(after.autoscaled).filter(([d]) => declared.has(d) && (now[d] ?? 0) >= (was[d] ?? 0)),
    );
}

/** The routing objects hold what the model says the last successful up applied. */
async function checkRouting(ctx: Context, checks: Checks): Promise<void> {
    const sample = { at: 0, ...(await sampleTraffic(ctx.k, ctx.ns, ctx.model.host)) };
    const mismatch = routingMismatch(ctx.model, ctx.model.applied, sample);
    checks.check("model", mismatch === undefined, () => `routing: ${mismatch}`);
}

/**
 * An operation carried out by `pulumi up`: the offline preview and the engine's preview of its edits compared, the
 * offline preview's objects dry-run on the API server, the up sampled, then its outcome, capacity, autoscaler floor,
 * Jobs and routing checked.
 */
async function upOperation(ctx: Context, op: Operation, checks: Checks): Promise<void> {
    const before = ctx.model;
    let next = op.next;
    const completed = await completionTimes(ctx);
    if (op.run === "refresh") {
        await timed(ctx, "refresh", () => ctx.ps.stack.refresh({ onOutput: ctx.onOutput }));
        ctx.outputs = undefined;
        if (before.stuck) {
            await checkRouting(ctx, checks);
            return;
        }
    }
    // printed-retry: the fix goes in first, then the command the program printed for this state.
    let printed: { configPart: string; edits: Record<string, string | null> } | undefined;
    if (op.run === "printed-retry") {
        await writeEdits(ctx.ps, op.edits);
        const line =
            ((ctx.outputs ?? (await ctx.ps.stack.outputs())).database?.value as { retryFailedJob?: string } | undefined)
                ?.retryFailedJob ?? "";
        printed = parsePrinted(ctx, line);
        checks.check("model", printed !== undefined, () => `database.retryFailedJob is not a command: "${line}"`);
        if (!printed) return;
        next = { ...applyEdits(op.next, printed.edits), stuck: undefined };
    }
    const edits = printed ? {} : op.edits;
    const comparable = ctx.clean && op.run !== "printed-retry";
    const offline = offlinePreview(ctx, printed ? { ...op.edits, ...setsOf(printed.edits) } : edits, comparable);
    await writeEdits(ctx.ps, edits);
    if (printed) await shellAsync(ctx.ps, printed.configPart);
    // The offline preview keeps running during the up (it is the slowest part of a step); its checks come after.
    const stuck = next.stuck;
    const cancelWhen = op.expect === "pending" ? whenPending(ctx, stuck) : undefined;
    const run = await timed(ctx, "up", () =>
        sampledUp(ctx, op.expect === "pending" ? 180 : UP_DEADLINE_SECONDS, cancelWhen),
    );
    const off = await timed(ctx, "offlinePreview (after the up)", () => offline);
    checks.check(
        "model",
        off.status === 0 || off.status === 1,
        () =>
            `the offline preview refused a config the model holds valid (exit ${off.status}): ${off.stderr.trim().slice(-800)}`,
    );
    // The engine's plan is the steps the up ran (the Automation API's up skips the separate preview: same step
    // generator, same steps, one engine run less per step); a failed up stops planning, so only a successful one counts.
    if (comparable && run.ok && off.diff) {
        const agree = sameSteps(run.steps, off.diff);
        checks.check(
            "offlineAgreement",
            agree,
            () =>
                `the engine's steps ${JSON.stringify(run.steps)} and the offline --diff ${JSON.stringify(off.diff)} differ`,
        );
    }
    if (off.manifests.length > 0) {
        const refusals = await apiServerRefusals(ctx.k, off.manifests);
        checks.check(
            "apiAcceptsConfig",
            refusals.length === 0,
            () => `the API server refuses what the program declares: ${refusals.join("; ")}`,
        );
    }
    if (op.expect === "success") {
        checks.check(
            "model",
            run.ok,
            () =>
                `pulumi up ${run.cancelled ? `did not finish within ${UP_DEADLINE_SECONDS}s` : "failed"}: ${run.error ?? ""}`,
        );
    } else if (op.expect === "failure" && stuck) {
        const failedJob = (await trackedJobs(ctx.k, ctx.ns)).some(
            (j) => j.component === JOB_COMPONENT[stuck.kind] && j.outcome === "Failed",
        );
        checks.check(
            "model",
            !run.ok && failedJob,
            () =>
                `pulumi up was to fail at a failed ${stuck.kind} Job: ${run.ok ? "it succeeded" : "no such Job failed"}`,
        );
    } else if (stuck) {
        const pendingJob = (await trackedJobs(ctx.k, ctx.ns)).some(
            (j) => j.component === JOB_COMPONENT[stuck.kind] && j.outcome === "running",
        );
        checks.check(
            "model",
            !run.ok && pendingJob,
            () =>
                `pulumi up was to wait on a Pending ${stuck.kind} Job: ${run.ok ? "it succeeded" : "no such Job is pending"}`,
        );
    }
    checkCapacity(ctx, checks, run, "");
    next = { ...next, applied: run.ok ? trafficOf(next) : before.applied };
    next.autoscaled = keepAutoscaled(before, next);
    checkAutoscalerFloor(checks, next, run);
    await checkJobs(ctx, checks, before, next, completed);
    ctx.model = next;
    ctx.clean = run.ok;
    await checkRouting(ctx, checks);
}

/** For an up that a Job stuck Pending holds: true once that Job has sat Pending PENDING_SECONDS, when the operator interrupts it. */
function whenPending(ctx: Context, stuck: StuckJob | undefined): (() => Promise<boolean>) | undefined {
    if (stuck?.how !== "pending") return undefined;
    return async () => {
        const js = await trackedJobs(ctx.k, ctx.ns);
        return js.some(
            (j) =>
                j.component === JOB_COMPONENT[stuck.kind] &&
                j.pending &&
                Date.now() - j.createdAt >= PENDING_SECONDS * 1000,
        );
    };
}

/**
 * `pulumi config set --stack S --path K V && … && pulumi up --stack S` (a part may also be `pulumi config rm --stack S
 * --path K`): the config part and its edits (null for a removed key), or undefined.
 */
function parsePrinted(
    ctx: Context,
    line: string,
): { configPart: string; edits: Record<string, string | null> } | undefined {
    const parts = line.split(" && ");
    if (parts.length < 2 || parts.pop() !== `pulumi up --stack ${ctx.ps.stack.name}`) return undefined;
    const edits: Record<string, string | null> = {};
    for (const p of parts) {
        const m = /^pulumi config (set|rm) --stack (\S+) --path (\S+)(?: (\S+))?$/.exec(p);
        if (!m || m[2] !== ctx.ps.stack.name || (m[1] === "set") !== (m[4] !== undefined)) return undefined;
        edits[m[3]] = m[1] === "set" ? m[4] : null;
    }
    return { configPart: parts.join(" && "), edits };
}

/** The config edits a printed command makes, as `--set` arguments of the offline preview (a removal has none). */
const setsOf = (edits: Record<string, string | null>): Record<string, string> =>
    Object.fromEntries(Object.entries(edits).filter((e): e is [string, string] => e[1] !== null));

/**
 * Runs `pulumi stack output rollback` as printed from the reached state: the config part in bash with the real CLI,
 * the up through the Automation API. It must finish within ROLLBACK_DEADLINE_SECONDS with the routed traffic on
 * the version(s) the rollback returns to, sampled for capacity throughout; the seconds from the command to that
 * traffic are recorded. Returns the model it reached, or undefined when none was needed.
 */
async function printedRollback(ctx: Context, checks: Checks): Promise<Model | undefined> {
    const line = (ctx.outputs ?? (await ctx.ps.stack.outputs())).rollback?.value as string | undefined;
    if (!line || !line.startsWith("pulumi ")) {
        ctx.report.rollback.notNeeded++;
        return undefined;
    }
    const printed = parsePrinted(ctx, line);
    checks.check(
        "rollback",
        printed !== undefined,
        () => `the rollback output is not a config edit and one up: "${line}"`,
    );
    if (!printed) return undefined;
    const before = ctx.model;
    const target = applyEdits(before, printed.edits);
    const versions = servingVersions(target, trafficOf(target));
    const completed = await completionTimes(ctx);
    ctx.report.rollback.run++;
    const run = await sampledUp(ctx, ROLLBACK_DEADLINE_SECONDS, undefined, () =>
        shellAsync(ctx.ps, printed.configPart),
    );
    const back = run.samples.find((s) => servedOnlyBy(s, versions));
    // Samples are timed from the start of the command's config part.
    const seconds = back ? Math.round(back.at / 100) / 10 : undefined;
    const ok = run.ok && back !== undefined && servedOnlyBy(run.samples[run.samples.length - 1], versions);
    checks.check("rollback", ok, () =>
        run.ok
            ? `\`${line}\` succeeded but the traffic is not on ${versions.join(", ")}: ${JSON.stringify(run.samples[run.samples.length - 1]?.shares)}`
            : `\`${line}\` ${run.cancelled ? `did not finish within ${ROLLBACK_DEADLINE_SECONDS}s` : "failed"}: ${run.error ?? ""}`,
    );
    if (ok && seconds !== undefined) ctx.report.rollback.seconds.push(seconds);
    else ctx.report.rollback.failed++;
    const r = ctx.report.rollback;
    const sorted = [...r.seconds].sort((a, b) => a - b);
    r.worstSeconds = sorted.length ? sorted[sorted.length - 1] : null;
    r.medianSeconds = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
    checkCapacity(ctx, checks, run, " (printed rollback)");
    const reached = { ...target, applied: run.ok ? trafficOf(target) : before.applied };
    reached.autoscaled = keepAutoscaled(before, reached);
    await checkJobs(ctx, checks, before, reached, completed);
    ctx.clean = run.ok;
    return reached;
}

/**
 * The rollback invariant after a step: the printed rollback from the reached state (printedRollback), then the
 * config put back as it was and one up, which returns the stack to the reached state (itself sampled for capacity).
 */
async function checkRollback(ctx: Context, checks: Checks): Promise<void> {
    const reached = ctx.model;
    const failedBefore = checks.violations.length;
    const rolledBack = await timed(ctx, "rollback check", () => printedRollback(ctx, checks));
    if (!rolledBack) return;
    ctx.model = rolledBack;
    // A rollback that failed leaves its config written: the sequence (with --keep-going) goes on from there.
    if (checks.violations.some((v, i) => i >= failedBefore && v.invariant === "rollback")) return;
    const edits = configEdits(rolledBack, reached);
    const completed = await completionTimes(ctx);
    await writeEdits(ctx.ps, edits);
    // With a Job stuck Pending in the reached config, that up waits on it again: interrupted as the step's own up was.
    const run = await timed(ctx, "forward again after the rollback", () =>
        sampledUp(ctx, UP_DEADLINE_SECONDS, whenPending(ctx, reached.stuck)),
    );
    // With a Job stuck, the reached config includes what made it stuck: that up may fail on the Job again.
    checks.check(
        "model",
        run.ok || reached.stuck !== undefined,
        () => `putting the config back after the rollback: pulumi up failed: ${run.error ?? ""}`,
    );
    checkCapacity(ctx, checks, run, " (forward again after the rollback)");
    const restored = { ...reached, applied: run.ok ? trafficOf(reached) : rolledBack.applied };
    await checkJobs(ctx, checks, rolledBack, restored, completed);
    ctx.model = restored;
    ctx.clean = run.ok;
    await checkRouting(ctx, checks);
    // The load did not change while the harness probed the rollback: each autoscaler holds the count it had, and
    // takes back a Deployment the probe scaled below it, as the HPA does at its next sync.
    for (const [deployment, count] of Object.entries(restored.autoscaled)) {
        if (await scaleAsAutoscaler(ctx, deployment, count, "up")) await readyAtLeast(ctx, deployment, count, 90);
    }
}

/** A config the program must refuse: the offline preview exits 2 naming the key, the engine's preview fails the same way; then it is put back. */
async function invalidEdit(ctx: Context, op: Operation, checks: Checks): Promise<void> {
    const key = op.invalidKey!;
    const off = await offlinePreview(ctx, op.edits, false);
    const original = configOf(ctx.model)[key];
    await writeEdits(ctx.ps, op.edits);
    let engineError = "";
    try {
        await ctx.ps.stack.preview({ onOutput: ctx.onOutput });
    } catch (e) {
        engineError = String((e as Error).message);
    }
    await writeEdits(ctx.ps, { [key]: original });
    checks.check(
        "model",
        off.status === 2 && off.stderr.includes(`myapp:${key}`),
        () => `the offline preview of ${key} ${op.edits[key]} exited ${off.status}: ${off.stderr.trim().slice(-400)}`,
    );
    checks.check(
        "model",
        engineError.includes(`myapp:${key}`),
        () =>
            `the engine's preview of ${key} ${op.edits[key]} ${engineError ? `failed without naming the key: ${engineError.slice(-400)}` : "succeeded"}`,
    );
}
