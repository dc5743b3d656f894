import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, ProgramConfig, servingTracks, validateConfig } from "../../lib/config";
import { loadMigrations } from "../../lib/migrations";
import { readReleaseFiles } from "../../program/release";
import { rollbackCommand } from "../../lib/rollback";
import { withExistingResources } from "../../e2e/lib/existing";
import {
    applyEdits,
    configOf,
    initialModel,
    Model,
    rollbackExpected,
    SECRET_KEY,
    trafficOf,
} from "../../e2e/lib/sequences/model";
import {
    addStep,
    capacity,
    engineConnectionLost,
    jobAllowance,
    noSteps,
    required,
    sameSteps,
    servedOnlyBy,
    StepKinds,
} from "../../e2e/lib/sequences/checks";
import { generate, Operation } from "../../e2e/lib/sequences/operations";
import { Prng } from "../../e2e/lib/sequences/prng";

// The e2e operation sequences (e2e/sequences.kwok.e2e.ts) generate only what their model holds valid. Here the model
// is checked against the program's own rules, without a cluster: every config a sequence writes passes the program's
// validation, every invalid edit is refused naming its key, and the model predicts when `pulumi stack output
// rollback` holds a command exactly as lib/rollback.ts decides it. The program's checks of the release's migrations
// against the serving versions run too.
const ROOT = path.join(__dirname, "..", "..");
const STACK = "e2e-seq-test";
const MIGRATIONS = loadMigrations(path.join(ROOT, "migrations"));

function committed(base: "production" | "staging"): Record<string, any> {
    const doc = YAML.parse(readFileSync(path.join(ROOT, `Pulumi.${base}.yaml`), "utf8"));
    withExistingResources(doc.config, STACK);
    return doc.config;
}

/** A value as `pulumi config set --path` stores it: integers and booleans typed, everything else a string. */
function typed(value: string): unknown {
    if (/^-?\d+$/.test(value)) return Number(value);
    if (value === "true" || value === "false") return value === "true";
    return value;
}

/** The program's raw config (readRawConfig's shape) for the committed file with the model's keys set by path. */
function rawConfig(base: "production" | "staging", m: Model): Record<string, unknown> {
    const raw: Record<string, any> = Object.fromEntries(
        Object.entries(committed(base))
            .filter(([k]) => k.startsWith("myapp:"))
            .map(([k, v]) => [k.slice("myapp:".length), v]),
    );
    for (const [key, value] of Object.entries(configOf(m))) {
        if (key === SECRET_KEY) continue;
        const parts = key.split(".");
        if (parts.length === 1) {
            raw[key] = value;
            continue;
        }
        let at = raw;
        for (const p of parts.slice(0, -1)) at = at[p] ??= {};
        at[parts[parts.length - 1]] = typed(value);
    }
    return raw;
}

const checkedFiles = new Set<string>();

/**
 * The program's validation of the model's config: the config layer, then the release's files as the program reads
 * them (the migrations against the serving versions), once per phase and set of serving versions.
 */
function validated(base: "production" | "staging", m: Model): ProgramConfig {
    const cfg = validateConfig("myapp", STACK, rawConfig(base, m));
    const key = JSON.stringify([cfg.database?.migration.phase, servingTracks(cfg).map((t) => t.version)]);
    if (!checkedFiles.has(key)) {
        readReleaseFiles("myapp", cfg);
        checkedFiles.add(key);
    }
    return cfg;
}

/** What the runner does to the model after an operation, when every up ends as the model expects; undefined when the program refuses the config its own printed rollback writes (the e2e's rollback invariant reports that). */
function simulate(base: "production" | "staging", m: Model, op: Operation): Model | undefined {
    if (op.run === "printed-rollback") {
        const line = rollbackCommand(STACK, validated(base, m));
        const edits = Object.fromEntries([...line.matchAll(/--path (\S+) (\S+)/g)].map((x) => [x[1], x[2]]));
        const n = applyEdits(m, edits);
        try {
            validated(base, n);
        } catch {
            return undefined;
        }
        return { ...n, applied: trafficOf(n) };
    }
    const next = op.run === "printed-retry" ? { ...op.next, attempt: m.attempt + 1 } : op.next;
    if (op.run === "invalid" || op.run === "autoscale" || op.run === "nodes") return next;
    if (op.run === "refresh" && m.stuck) return next;
    return { ...next, applied: op.expect === "success" ? trafficOf(next) : m.applied };
}

function sequence(seed: number, length: number): { base: "production" | "staging"; ops: Operation[]; models: Model[] } {
    const rng = new Prng(seed);
    const base = seed % 2 === 1 ? "production" : "staging";
    let m = initialModel(base, committed(base), MIGRATIONS);
    const ops: Operation[] = [];
    const models = [m];
    for (let i = 0; i < length; i++) {
        const op = generate(m, rng);
        const next = simulate(base, m, op);
        if (!next) break;
        ops.push(op);
        models.push((m = next));
    }
    return { base, ops, models };
}

describe("e2e operation sequences: the model agrees with the program's rules", function () {
    it("a seed names one sequence: the same seed gives the same operations, another seed others", function () {
        const labels = (seed: number) => sequence(seed, 20).ops.map((o) => o.label);
        assert.deepStrictEqual(labels(7), labels(7));
        assert.notDeepStrictEqual(labels(7), labels(8));
    });

    it("over 120 seeds of 25 operations, every config the sequence writes passes validation, and every invalid edit is refused naming its key", function () {
        const kinds = new Set<string>();
        for (let seed = 1; seed <= 120; seed++) {
            const { base, ops, models } = sequence(seed, 25);
            ops.forEach((op, i) => {
                kinds.add(op.kind);
                const where = `seed ${seed} step ${i + 1} (${op.label})`;
                if (op.run === "invalid") {
                    assert.throws(
                        () => validated(base, applyEdits(models[i], op.edits)),
                        (e: unknown) => e instanceof ConfigError && e.message.includes(`myapp:${op.invalidKey}`),
                        where,
                    );
                } else {
                    assert.doesNotThrow(() => validated(base, models[i + 1]), where);
                }
            });
        }
        // Every kind of operation is reachable (deploy is step 0, not generated).
        assert.deepStrictEqual([...kinds].sort(), [
            "autoscale",
            "decommission",
            "fast-start",
            "invalid-edit",
            "job-fails",
            "job-pending",
            "migration-phase",
            "new-version",
            "not-ready",
            "promote",
            "recommission",
            "refresh",
            "retry",
            "rollback",
            "shift-down",
            "shift-up",
            "slow-start",
            "strategy-change",
            "switch",
            "switch-back",
            "unrelated-edit",
        ]);
    });

    it("the model expects a printed rollback command exactly when lib/rollback.ts prints one, in every reached state", function () {
        for (let seed = 1; seed <= 120; seed++) {
            const { base, models } = sequence(seed, 25);
            models.forEach((m, i) => {
                const line = rollbackCommand(STACK, validated(base, m));
                assert.strictEqual(
                    rollbackExpected(m),
                    line.startsWith("pulumi config set"),
                    `seed ${seed} after step ${i}: ${line}`,
                );
            });
        }
    });
});

describe("e2e operation sequences: what the invariants compute", function () {
    const share = (service: string, percent: number, ready: number, versions: Record<string, number> = {}) => ({
        service,
        percent,
        ready,
        versions,
    });

    it("a share of the traffic needs that share of the fleet's count, rounded up", function () {
        assert.deepStrictEqual(
            [required(5, 6), required(25, 6), required(95, 6), required(100, 6), required(25, 12), required(0, 6)],
            [1, 2, 6, 6, 3, 0],
        );
    });

    it("capacity: a canary at 100% on 2 pods of a fleet of 6 is short by 4 at every sample; the stable's 6 pods at 75% are not", function () {
        const samples = [0, 250].map((at) => ({
            at,
            replicas: {},
            shares: [share("myapp", 75, 6), share("myapp-canary", 25, 2)],
        }));
        samples.push({ at: 500, replicas: {}, shares: [share("myapp", 0, 6), share("myapp-canary", 100, 2)] });
        const { tightest, short } = capacity(6, samples);
        assert.deepStrictEqual(short, [{ at: 500, service: "myapp-canary", percent: 100, ready: 2, required: 6 }]);
        assert.deepStrictEqual(tightest, short[0]);
    });

    it("the traffic is back once every routed share is served, and only by the rolled-back version", function () {
        const sample = (shares: ReturnType<typeof share>[]) => ({ at: 0, replicas: {}, shares });
        assert.strictEqual(
            servedOnlyBy(
                sample([share("myapp", 75, 6, { "v1.2.2": 6 }), share("myapp-canary", 25, 2, { "v1.2.3": 2 })]),
                ["v1.2.2"],
            ),
            false,
        );
        assert.strictEqual(
            servedOnlyBy(
                sample([share("myapp", 100, 6, { "v1.2.2": 6 }), share("myapp-canary", 0, 2, { "v1.2.3": 2 })]),
                ["v1.2.2"],
            ),
            true,
        );
        assert.strictEqual(servedOnlyBy(sample([share("myapp", 100, 0)]), ["v1.2.2"]), false);
    });

    it("offline agreement: an autoscaler's minimum raised from the live fleet on the engine only still agrees; a Deployment's change, an autoscaler created, or a replace for an update, on one side only does not", function () {
        const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
        const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
        const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
        const steps = (...entries: ["create" | "delete" | "update" | "replace", string, string][]): StepKinds => {
            const s = noSteps();
            for (const [op, type, name] of entries) addStep(s, op, type, `urn:pulumi:s::myapp::${type}::${name}`);
            return s;
        };
        // A shift to 25: the engine read the stable track at 8 pods (its autoscaler grew it), so it raises
        // myapp-stable-hpa's minimum as well; offline, stable sits at its minimum and only the canary's changes.
        const engine = steps(
            ["update", HPA, "myapp-canary-hpa"],
            ["update", HPA, "myapp-stable-hpa"],
            ["update", INGRESS, "myapp-canary-ingress"],
        );
        const offline = steps(["update", HPA, "myapp-canary-hpa"], ["update", INGRESS, "myapp-canary-ingress"]);
        assert.deepStrictEqual(engine.autoscalers, [
            `urn:pulumi:s::myapp::${HPA}::myapp-canary-hpa`,
            `urn:pulumi:s::myapp::${HPA}::myapp-stable-hpa`,
        ]);
        assert.strictEqual(sameSteps(engine, offline), true);
        assert.strictEqual(sameSteps(steps(["update", DEPLOYMENT, "myapp-stable"]), offline), false);
        assert.strictEqual(
            sameSteps(
                steps(["replace", INGRESS, "myapp-canary-ingress"]),
                steps(["update", INGRESS, "myapp-canary-ingress"]),
            ),
            false,
        );
        assert.strictEqual(sameSteps(steps(["create", HPA, "myapp-green-hpa"]), steps()), false);
        assert.strictEqual(sameSteps(steps(["delete", HPA, "myapp-green-hpa"]), steps()), false);
    });

    it("an up is run once more only when the program lost its connection to the engine and nothing else failed", function () {
        const lost =
            "error: Error: 14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:40935";
        assert.strictEqual(
            engineConnectionLost(`Updating (e2e-seq-3):\n    ${lost}\n    error: update failed\n`),
            true,
        );
        // A resource that failed is a real failure, whatever the program saw after it.
        const failed =
            'error: 1 error occurred:\n* the Kubernetes API server reported that "e2e-seq-3/myapp-stable" failed to fully initialize or become live';
        assert.strictEqual(engineConnectionLost(`${failed}\n${lost}\n`), false);
        assert.strictEqual(engineConnectionLost("error: update canceled\n" + lost), false);
        assert.strictEqual(engineConnectionLost("error: update failed\n"), false);
    });

    it("a Job may run again only when its purpose comes back or changes: the release after a rollback to the previous version, a color back from 0 pods or from a rollback that held it, a new smoke image", function () {
        const staging = initialModel("staging", committed("staging"));
        const job = (component: string, color?: string) => ({
            name: "j",
            uid: "u",
            component,
            color,
            outcome: "Complete",
            pending: false,
            createdAt: 0,
        });
        const bg = (m: Model, patch: Partial<NonNullable<Model["blueGreen"]>>) => ({
            ...m,
            blueGreen: { ...m.blueGreen!, ...patch },
        });
        // A switch changes no purpose: nothing new, nothing again.
        const switched = bg(staging, { active: "green" });
        assert.strictEqual(jobAllowance(staging, switched).anyNew, false);
        assert.strictEqual(jobAllowance(staging, switched).rerun(job("smoke-test", "green")), false);
        // Green back from 0 pods runs its smoke test again; blue's does not.
        const decommissioned = bg(staging, { preview: 0 });
        assert.strictEqual(jobAllowance(decommissioned, staging).rerun(job("smoke-test", "green")), true);
        assert.strictEqual(jobAllowance(decommissioned, staging).rerun(job("smoke-test", "blue")), false);
        // The release's backup and migration run again only when the release is declared again after a rollback to the previous version.
        const rolledBack = { ...staging, strategy: "rolling" as const, version: "v1.2.2" };
        const rolling = { ...staging, strategy: "rolling" as const };
        assert.strictEqual(jobAllowance(rolledBack, rolling).rerun(job("predeploy-backup")), true);
        assert.strictEqual(jobAllowance(rolling, { ...rolling, logLevel: "warn" }).rerun(job("migration")), false);
        // The printed rollback of a switch holds green (no smoke test declared for it): going forward again runs green's test anew, and only green's.
        const onGreen = bg({ ...staging, version: "v1.2.3", previousVersion: "v1.2.2" }, { active: "green" });
        const rolledBackSwitch = bg({ ...onGreen, version: "v1.2.2" }, { active: "blue" });
        assert.strictEqual(jobAllowance(rolledBackSwitch, onGreen).rerun(job("smoke-test", "green")), true);
        assert.strictEqual(jobAllowance(rolledBackSwitch, onGreen).rerun(job("smoke-test", "blue")), false);
        // A new phase is a new migration Job; the backup keeps its purpose.
        const backfill = { ...rolling, phase: "backfill" as const };
        assert.strictEqual(jobAllowance(rolling, backfill).anyNew, true);
        assert.strictEqual(jobAllowance(rolling, backfill).rerun(job("predeploy-backup")), false);
    });
});
