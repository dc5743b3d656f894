// The operations a sequence is made of, generated only where the model says they are valid. Each is what an operator,
// the cluster or the autoscaler does to a running release; the config edits are the documented ones.
import {
    clone,
    configEdits,
    LOG_LEVELS,
    Model,
    nextPhase,
    other,
    phaseAllows,
    rollbackExpected,
    SECRET_KEY,
    StuckJob,
} from "./model";
import { Prng } from "./prng";

export const OP_KINDS = [
    "shift-up",
    "shift-down",
    "promote",
    "rollback",
    "switch",
    "switch-back",
    "decommission",
    "recommission",
    "new-version",
    "migration-phase",
    "strategy-change",
    "job-fails",
    "job-pending",
    "retry",
    "refresh",
    "autoscale",
    "slow-start",
    "fast-start",
    "unrelated-edit",
    "invalid-edit",
    "not-ready",
] as const;
export type OpKind = (typeof OP_KINDS)[number];

/**
 * How the harness carries an operation out:
 * - "up": `pulumi config set --path` of `edits` (the real CLI's effect, through the Automation API), then `pulumi up`;
 * - "printed-rollback": `pulumi stack output rollback`, run as printed;
 * - "printed-retry": `edits` (the fix), then `database.retryFailedJob` run as printed;
 * - "refresh": `pulumi refresh`, then (unless a Job is stuck) `pulumi up` with no edit, as `pulumi up --refresh`;
 * - "autoscale": the load changes; each routed track's autoscaler PUTs /scale as kube-controller-manager;
 * - "nodes": cordon the fast nodes (slow start) or the slow node (fast start);
 * - "invalid": the edits are a config the program must refuse (offline exit 2, the engine's preview fails); reverted.
 */
export type Runner = "up" | "printed-rollback" | "printed-retry" | "refresh" | "autoscale" | "nodes" | "invalid";

export interface Operation {
    /** "deploy" is a seed's first step, the stack's first `pulumi up`; the generator never draws it. */
    kind: OpKind | "deploy";
    /** What it does, for the report and a replay's listing, e.g. "shift-up 5→25". */
    label: string;
    run: Runner;
    /** Config edits the harness writes before the up; a printed command writes its own. */
    edits: Record<string, string>;
    /** The model once the edits are written (a printed command's edits are applied by the runner). */
    next: Model;
    /** How the up must end: a failing or pending Job stops it; "pending" ups are cancelled once the Job sits Pending. */
    expect: "success" | "failure" | "pending";
    /** Before the up: this Deployment's pods report Ready=False for `seconds` (pods/status), as a failing readiness probe makes them. */
    notReady?: { deployment: string; seconds: number };
    /** For "invalid": the key whose value the program must name in its refusal. */
    invalidKey?: string;
}

const NOT_READY_SECONDS = 20;
const HUGE_SCRATCH = "4Ti";

function op(
    kind: OpKind,
    label: string,
    m: Model,
    n: Model,
    run: Runner = "up",
    expect: Operation["expect"] = "success",
): Operation {
    return { kind, label, run, edits: configEdits(m, n), next: n, expect };
}

/** The model after releasing a new version: the canary's new version, the blue/green preview color's, or rolling. */
function withNewVersion(m: Model): { n: Model; version: string } {
    const n = clone(m);
    n.issued = m.issued + 1;
    const v = `v1.3.${n.issued}`;
    n.version = v;
    if (m.strategy === "canary" && n.canary) {
        n.previousVersion = n.canary.stable;
        n.canary.canary = v;
    } else if (m.strategy === "blue-green" && n.blueGreen) {
        const bg = n.blueGreen;
        n.previousVersion = bg[bg.active];
        bg[other(bg.active)] = v;
    } else {
        n.previousVersion = m.version;
    }
    return { n, version: v };
}

/** A new version is released at canary weight 0 (a canary carrying traffic is promoted or rolled back first), or any time otherwise. */
function newVersionValid(m: Model): boolean {
    return m.strategy !== "canary" || m.canary?.weight === 0;
}

const failing = (image: string, how: "fail" | "pending") => `${image}-${how}`;

/**
 * After a printed rollback (release.version is stable's, or the color traffic went back to), traffic moves onto the
 * version rolled back from only with the release going forward again, as the README's rollback section says:
 * release.version back, database.migration.attempt raised. The program refuses a promotion, or an active color that
 * runs neither release.version nor release.previousVersion, without it. Returns the label's note, if it went forward.
 */
function goForward(n: Model): string {
    const cn = n.strategy === "canary" ? n.canary : undefined;
    const bg = n.strategy === "blue-green" ? n.blueGreen : undefined;
    const routed = cn && cn.weight > 0 ? cn.canary : bg ? bg[bg.active] : undefined;
    if (routed === undefined || routed === n.version || (bg && routed === n.previousVersion)) return "";
    n.version = routed;
    n.attempt += 1;
    return ` (forward again: release.version ${n.version}, database.migration.attempt ${n.attempt})`;
}

/** The next operation for model `m`, drawn with `rng` among the valid ones by weight. */
export function generate(m: Model, rng: Prng): Operation {
    const all: { item: () => Operation; weight: number }[] = [];
    const add = (weight: number, build: () => Operation) => all.push({ item: build, weight });
    const cn = m.strategy === "canary" ? m.canary : undefined;
    const bg = m.strategy === "blue-green" ? m.blueGreen : undefined;

    if (m.stuck) {
        const stuck = m.stuck;
        add(12, () => retry(m, stuck));
    } else {
        if (cn && cn.canary !== cn.stable && cn.weight < cn.steps[cn.steps.length - 1]) {
            add(4, () => {
                const n = clone(m);
                const to = cn.steps.find((s) => s > cn.weight) ?? cn.weight;
                n.canary!.weight = to;
                const forward = goForward(n);
                return op("shift-up", `shift-up ${cn.weight}→${to}${forward}`, m, n);
            });
        }
        if (cn && cn.weight > 0) {
            add(2, () => {
                const n = clone(m);
                const to = [...cn.steps].reverse().find((s) => s < cn.weight) ?? 0;
                n.canary!.weight = to;
                return op("shift-down", `shift-down ${cn.weight}→${to}`, m, n);
            });
        }
        if (cn && cn.canary !== cn.stable && cn.weight === cn.steps[cn.steps.length - 1]) {
            add(4, () => {
                const n = clone(m);
                n.canary!.stable = cn.canary;
                n.canary!.weight = 0;
                return op("promote", `promote ${cn.canary} (stableVersion ${cn.canary}, weight 0)`, m, n);
            });
        }
        if (bg) {
            add(4, () => {
                const n = clone(m);
                const to = other(bg.active);
                n.blueGreen!.active = to;
                const forward = goForward(n);
                const kind = bg[to] === n.version ? "switch" : "switch-back";
                return op(
                    kind,
                    `${kind} to ${to} (${bg[to]}${bg.preview === 0 ? ", from 0 pods" : ""})${forward}`,
                    m,
                    n,
                );
            });
            if (bg.preview > 0) {
                add(1, () => {
                    const n = clone(m);
                    n.blueGreen!.preview = 0;
                    return op("decommission", `decommission ${other(bg.active)} (previewReplicas 0)`, m, n);
                });
            } else {
                add(2, () => {
                    const n = clone(m);
                    n.blueGreen!.preview = m.replicas;
                    return op("recommission", `recommission ${other(bg.active)} (previewReplicas ${m.replicas})`, m, n);
                });
            }
        }
        if (newVersionValid(m)) {
            add(3, () => {
                const { n, version } = withNewVersion(m);
                return op("new-version", `new-version ${version}`, m, n);
            });
        }
        const phase = nextPhase(m.phase);
        if (phase) {
            add(2, () => {
                const n = clone(m);
                n.phase = phase;
                return op("migration-phase", `migration-phase ${phase}`, m, n);
            });
        }
        const change = strategyChange(m);
        if (change) add(1, () => change);
        if (troubleKinds(m).length > 0) {
            add(1.5, () => jobTrouble(m, rng, "fail"));
            add(1, () => jobTrouble(m, rng, "pending"));
        }
        add(1.5, () => unrelatedEdit(m, rng));
        add(1, () => invalidEdit(m, rng));
        // A track about to take traffic goes NotReady (a failing readiness probe), and the traffic moves to it
        // right away: the up must prove its ready pods, not only that its Deployment is unchanged (item 4's case).
        if (bg && bg.preview > 0) {
            add(1, () => {
                const n = clone(m);
                const to = other(bg.active);
                n.blueGreen!.active = to;
                const forward = goForward(n);
                return {
                    ...op(
                        "not-ready",
                        `not-ready ${m.app}-${to} (${NOT_READY_SECONDS}s), then switch to ${to}${forward}`,
                        m,
                        n,
                    ),
                    notReady: { deployment: `${m.app}-${to}`, seconds: NOT_READY_SECONDS },
                };
            });
        }
        if (cn && cn.weight === 0 && cn.canary !== cn.stable) {
            add(1, () => {
                const n = clone(m);
                n.canary!.weight = cn.steps[0];
                const forward = goForward(n);
                return {
                    ...op(
                        "not-ready",
                        `not-ready ${m.app}-canary (${NOT_READY_SECONDS}s), then shift-up 0→${cn.steps[0]}${forward}`,
                        m,
                        n,
                    ),
                    notReady: { deployment: `${m.app}-canary`, seconds: NOT_READY_SECONDS },
                };
            });
        }
    }
    if (rollbackExpected(m))
        add(2, () => ({
            kind: "rollback",
            label: "rollback (as printed)",
            run: "printed-rollback",
            edits: {},
            next: clone(m),
            expect: "success",
        }));
    add(m.stuck ? 1 : 2, () => ({
        kind: "refresh",
        label: m.stuck ? "refresh" : "refresh, then up",
        run: "refresh",
        edits: {},
        next: clone(m),
        expect: "success",
    }));
    // The load changes and each routed track's autoscaler follows it for its share (the runner writes the counts).
    const loads = Array.from({ length: 7 }, (_, i) => m.replicas + i).filter((l) => l !== m.load && l <= m.maxReplicas);
    if (loads.length > 0) {
        add(2, () => {
            const n = clone(m);
            n.load = rng.pick(loads);
            return {
                kind: "autoscale",
                label: `autoscale: load ${m.load}→${n.load} pods`,
                run: "autoscale",
                edits: {},
                next: n,
                expect: "success",
            };
        });
    }
    add(1, () => {
        const n = clone(m);
        n.slowStart = !m.slowStart;
        const kind = n.slowStart ? "slow-start" : "fast-start";
        return {
            kind,
            label: n.slowStart ? "slow-start (new pods Ready after 3-6 s)" : "fast-start (new pods Ready at once)",
            run: "nodes",
            edits: {},
            next: n,
            expect: "success",
        };
    });
    // An operation is valid only if every version it leaves serving runs on its migration phase's schema (the
    // program refuses the migrations otherwise); a refused candidate is dropped and the draw made again, so the
    // operations stay a function of the seed.
    const candidates = all.filter((c) => c.weight > 0);
    for (;;) {
        const build = rng.weighted(candidates);
        const op = build();
        if (op.run !== "up" && op.run !== "printed-retry") return op;
        if (phaseAllows(op.next)) return op;
        candidates.splice(
            candidates.findIndex((c) => c.item === build),
            1,
        );
    }
}

/** canary ↔ rolling (production), blue/green ↔ rolling (staging), once the traffic is on one version that is the release. */
function strategyChange(m: Model): Operation | undefined {
    const n = clone(m);
    if (m.strategy === "canary" && m.canary && m.canary.weight === 0 && m.canary.stable === m.version) {
        n.strategy = "rolling";
    } else if (m.strategy === "blue-green" && m.blueGreen && m.blueGreen[m.blueGreen.active] === m.version) {
        n.strategy = "rolling";
    } else if (m.strategy === "rolling" && m.canary) {
        n.strategy = "canary";
        Object.assign(n.canary!, { stable: m.version, canary: m.version, weight: 0 });
    } else if (m.strategy === "rolling" && m.blueGreen) {
        n.strategy = "blue-green";
        // The active color takes the release; the preview color keeps the previous version for the rollback, as the
        // program requires of an active color on release.version.
        const bg = n.blueGreen!;
        bg[bg.active] = m.version;
        bg[other(bg.active)] = m.previousVersion ?? m.version;
    } else {
        return undefined;
    }
    return op("strategy-change", `strategy-change ${m.strategy}→${n.strategy}`, m, n);
}

/**
 * A backup, migration or smoke Job that fails (image ending in -fail) or stays Pending (a scratch volume no node can
 * hold, or an image ending in -pending that is never pulled), in the up of a new version or a new migration phase.
 */
function troubleKinds(m: Model): StuckJob["kind"][] {
    const kinds: StuckJob["kind"][] = [];
    if (newVersionValid(m)) kinds.push("backup");
    if (nextPhase(m.phase)) kinds.push("migration");
    if (m.strategy === "blue-green") kinds.push("smoke");
    return kinds;
}

function jobTrouble(m: Model, rng: Prng, how: "fail" | "pending"): Operation {
    const kind = rng.pick(troubleKinds(m));
    const stuck: StuckJob = { kind, how: how === "fail" ? "failed" : "pending" };
    let n: Model;
    let what: string;
    if (kind === "migration") {
        n = clone(m);
        n.phase = nextPhase(m.phase)!;
        n.toolsImage = failing(m.good.toolsImage, how);
        what = `migration-phase ${n.phase} with tools image …-${how}`;
    } else {
        const released = withNewVersion(m);
        n = released.n;
        if (kind === "backup" && how === "pending") {
            n.scratchSize = HUGE_SCRATCH;
            what = `new-version ${released.version} with backup.scratchSize ${HUGE_SCRATCH} (no node has it)`;
        } else if (kind === "backup") {
            n.toolsImage = failing(m.good.toolsImage, how);
            what = `new-version ${released.version} with tools image …-${how}`;
        } else {
            const bg = n.blueGreen!;
            bg.smokeImage = failing(m.good.smokeImage, how);
            // The test runs when its color has pods: at previewReplicas 0 only a switch brings them. Otherwise half the
            // time the release and the switch go in one up, so the failing test is the active color's (item 3's case).
            const switchToo = bg.preview === 0 || rng.next() < 0.5;
            if (switchToo) bg.active = other(bg.active);
            what = `new-version ${released.version}${switchToo ? ` and switch to ${bg.active}` : ""} with smoke image …-${how}`;
        }
    }
    n.stuck = stuck;
    return op(
        how === "fail" ? "job-fails" : "job-pending",
        `${how === "fail" ? "job-fails" : "job-pending"} ${kind}: ${what}`,
        m,
        n,
        "up",
        how === "fail" ? "failure" : "pending",
    );
}

/** What an operator does about a stuck Job: fix the config that broke it, then the printed retry (backup, migration) or an up (smoke). */
function retry(m: Model, stuck: StuckJob): Operation {
    const n = clone(m);
    n.toolsImage = m.good.toolsImage;
    n.scratchSize = m.good.scratchSize;
    if (n.blueGreen) n.blueGreen.smokeImage = m.good.smokeImage;
    n.stuck = undefined;
    if (stuck.kind === "smoke") return op("retry", "retry smoke: smoke image fixed, up", m, n);
    return op("retry", `retry ${stuck.kind}: config fixed, database.retryFailedJob as printed`, m, n, "printed-retry");
}

/** An edit that moves no traffic: the log level, a rotated app secret, a new tools image for the CronJobs. */
function unrelatedEdit(m: Model, rng: Prng): Operation {
    const n = clone(m);
    const what = rng.pick(["log-level", "secret", "tools-image"] as const);
    if (what === "log-level") {
        n.logLevel = LOG_LEVELS[(LOG_LEVELS.indexOf(m.logLevel) + 1) % LOG_LEVELS.length];
        return op("unrelated-edit", `unrelated-edit release.env.LOG_LEVEL ${n.logLevel}`, m, n);
    }
    if (what === "secret") {
        n.secretRotations = m.secretRotations + 1;
        return op("unrelated-edit", `unrelated-edit ${SECRET_KEY} rotated (--secret)`, m, n);
    }
    const revision = Number(/-r(\d+)$/.exec(m.good.toolsImage)?.[1] ?? 1) + 1;
    n.toolsImage = `${m.good.toolsImage.replace(/-r\d+$/, "")}-r${revision}`;
    n.good.toolsImage = n.toolsImage;
    return op("unrelated-edit", `unrelated-edit database.toolsImage …-r${revision}`, m, n);
}

/** A config the program must refuse before it declares anything. */
function invalidEdit(m: Model, rng: Prng): Operation {
    const options: [string, string][] = [["release.version", "latest"]];
    if (m.strategy === "canary" && m.canary)
        options.push(["canary.weight", String(m.canary.steps.includes(50) ? 60 : 50)]);
    if (m.strategy === "blue-green") options.push(["blueGreen.activeColor", "purple"]);
    const [key, value] = rng.pick(options);
    return {
        kind: "invalid-edit",
        label: `invalid-edit ${key} ${value}`,
        run: "invalid",
        edits: { [key]: value },
        next: clone(m),
        expect: "failure",
        invalidKey: key,
    };
}
