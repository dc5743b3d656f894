// The model of a sequence's stack: what its config says (and so what the program should declare), what the routing
// objects hold since the last `pulumi up` that succeeded, and what the live system did beside Pulumi (an autoscaler's
// counts, a Job stuck in state). The generator picks only operations that are valid in it; the invariants read it.
import { compareVersions, migrationsForPhase, PHASES, Phase, SqlMigration } from "../../../lib/migrations";

export type Strategy = "canary" | "blue-green" | "rolling";
export type Color = "blue" | "green";
export type JobKind = "backup" | "migration" | "smoke";

/** A Job the last up left failed or stuck Pending in the stack's state, and the config value that made it so. */
export interface StuckJob {
    kind: JobKind;
    how: "failed" | "pending";
}

/** Where the host's traffic goes: the routing part of the config, as the last successful `pulumi up` applied it. */
export interface Traffic {
    strategy: Strategy;
    /** release.version: what the rolling Deployment runs. */
    version: string;
    weight: number;
    stable: string;
    canary: string;
    active: Color;
    blue: string;
    green: string;
}

export interface Model {
    base: "production" | "staging";
    app: string;
    host: string;
    strategy: Strategy;
    version: string;
    previousVersion?: string;
    replicas: number;
    maxReplicas: number;
    canary?: { stable: string; canary: string; weight: number; steps: number[]; replicas: number; maxReplicas: number };
    blueGreen?: { blue: string; green: string; active: Color; preview: number; smokeImage: string };
    phase: Phase;
    /** Per phase, the oldest version that may serve while its migrations are applied (their oldest-serving-version). */
    phaseFloor: Partial<Record<Phase, string>>;
    attempt: number;
    toolsImage: string;
    scratchSize: string;
    logLevel: string;
    /** appSecrets.SESSION_KEY has been rotated this many times (0: not set). */
    secretRotations: number;
    /** Keys a printed command set that the model does not interpret; kept so the config stays what the stack holds. */
    extra: Record<string, string>;
    /** The values a failing or pending Job is fixed back to. */
    good: { toolsImage: string; scratchSize: string; smokeImage: string };
    /** New versions handed out so far (v1.3.1, v1.3.2, ...). */
    issued: number;
    stuck?: StuckJob;
    applied: Traffic;
    /**
     * The fleet's count: the pods the whole load needs at the autoscalers' target, which the harness sets (the
     * autoscale operation) and the autoscalers follow, each for its share. It starts at release.replicas.
     */
    load: number;
    /** Deployment name -> the replica count the autoscaler set last, while that Deployment's share has not gone down. */
    autoscaled: Record<string, number>;
    /** Whether new pods land on the slow node (kwok-node-slow). */
    slowStart: boolean;
}

export const LOG_LEVELS = ["info", "debug", "warn"];

/** The model of a stack created from a committed stack file (its `config`, with the e2e's edits applied) and the release's migrations. */
export function initialModel(
    base: "production" | "staging",
    config: Record<string, any>,
    migrations: SqlMigration[] = [],
): Model {
    const c = (k: string) => config[`myapp:${k}`];
    const release = c("release");
    const cn = c("canary");
    const bg = c("blueGreen");
    const db = c("database");
    const backup = c("backup");
    const m: Model = {
        base,
        app: release.appName ?? "myapp",
        host: release.host,
        strategy: c("strategy"),
        version: release.version,
        previousVersion: release.previousVersion,
        replicas: release.replicas,
        maxReplicas: release.maxReplicas,
        canary: cn && {
            stable: cn.stableVersion,
            canary: cn.canaryVersion,
            weight: cn.weight,
            steps: cn.steps,
            replicas: cn.canaryReplicas ?? 2,
            maxReplicas: cn.canaryMaxReplicas ?? release.maxReplicas,
        },
        blueGreen: bg && {
            blue: bg.blueVersion,
            green: bg.greenVersion,
            active: bg.activeColor,
            preview: bg.previewReplicas,
            smokeImage: bg.smokeTest.image,
        },
        phase: db.migration.phase,
        phaseFloor: phaseFloors(migrations),
        attempt: db.migration.attempt ?? 1,
        toolsImage: db.toolsImage,
        scratchSize: backup.scratchSize ?? "20Gi",
        logLevel: release.env?.LOG_LEVEL ?? "info",
        secretRotations: 0,
        extra: {},
        good: {
            toolsImage: db.toolsImage,
            scratchSize: backup.scratchSize ?? "20Gi",
            smokeImage: bg?.smokeTest.image ?? "",
        },
        issued: 0,
        applied: undefined as unknown as Traffic,
        load: release.replicas,
        autoscaled: {},
        slowStart: false,
    };
    m.applied = trafficOf(m);
    return m;
}

function phaseFloors(migrations: SqlMigration[]): Partial<Record<Phase, string>> {
    const floors: Partial<Record<Phase, string>> = {};
    for (const phase of PHASES) {
        for (const m of migrationsForPhase(migrations, phase)) {
            const floor = floors[phase];
            if (m.oldestServing && (floor === undefined || (compareVersions(m.oldestServing, floor) ?? 0) > 0))
                floors[phase] = m.oldestServing;
        }
    }
    return floors;
}

/** The versions the program counts as serving (lib/config servingTracks): each must run on the phase's schema. */
export function servingTrackVersions(m: Model): string[] {
    switch (m.strategy) {
        case "canary":
            return [m.canary!.stable, m.canary!.canary];
        case "blue-green": {
            const bg = m.blueGreen!;
            return (["blue", "green"] as const).filter((c) => c === bg.active || bg.preview > 0).map((c) => bg[c]);
        }
        case "rolling":
            return [m.version, ...(m.previousVersion && m.previousVersion !== m.version ? [m.previousVersion] : [])];
    }
}

/** Whether every serving version is at least the phase's floor: else the program refuses the migrations. */
export function phaseAllows(m: Model, phase: Phase = m.phase): boolean {
    const floor = m.phaseFloor[phase];
    return floor === undefined || servingTrackVersions(m).every((v) => (compareVersions(v, floor) ?? -1) >= 0);
}

export function clone(m: Model): Model {
    return structuredClone(m);
}

export function trafficOf(m: Model): Traffic {
    return {
        strategy: m.strategy,
        version: m.version,
        weight: m.canary?.weight ?? 0,
        stable: m.canary?.stable ?? "",
        canary: m.canary?.canary ?? "",
        active: m.blueGreen?.active ?? "blue",
        blue: m.blueGreen?.blue ?? "",
        green: m.blueGreen?.green ?? "",
    };
}

export const other = (c: Color): Color => (c === "blue" ? "green" : "blue");

/** Each routed share of the host: the Service the Ingress sends it to, its percent, and the version behind it. */
export function routes(m: Pick<Model, "app">, t: Traffic): { service: string; percent: number; version: string }[] {
    switch (t.strategy) {
        case "canary":
            return [
                { service: m.app, percent: 100 - t.weight, version: t.stable },
                { service: `${m.app}-canary`, percent: t.weight, version: t.canary },
            ];
        case "blue-green":
            return [{ service: m.app, percent: 100, version: t[t.active] }];
        case "rolling":
            return [{ service: m.app, percent: 100, version: t.version }];
    }
}

/** The versions that serve users under `t`: what a rollback's traffic must run once it is back. */
export function servingVersions(m: Pick<Model, "app">, t: Traffic): string[] {
    return [...new Set(routes(m, t).flatMap((r) => (r.percent > 0 ? [r.version] : [])))].sort();
}

/** Each Deployment's share of the traffic under `t`, in percent. */
export function deploymentShares(m: Pick<Model, "app">, t: Traffic): Record<string, number> {
    switch (t.strategy) {
        case "canary":
            return { [`${m.app}-stable`]: 100 - t.weight, [`${m.app}-canary`]: t.weight };
        case "blue-green":
            return { [`${m.app}-${t.active}`]: 100, [`${m.app}-${other(t.active)}`]: 0 };
        case "rolling":
            return { [m.app]: 100 };
    }
}

/** The Deployments the config declares with an autoscaler: its minimum (the declared count) and maximum. */
export function autoscaledDeployments(m: Model): { name: string; min: number; max: number }[] {
    switch (m.strategy) {
        case "canary": {
            const cn = m.canary!;
            return [
                { name: `${m.app}-stable`, min: m.replicas, max: m.maxReplicas },
                { name: `${m.app}-canary`, min: cn.replicas, max: cn.maxReplicas },
            ];
        }
        case "blue-green": {
            const bg = m.blueGreen!;
            const preview = other(bg.active);
            return [
                { name: `${m.app}-${bg.active}`, min: m.replicas, max: m.maxReplicas },
                ...(bg.preview > 0
                    ? [{ name: `${m.app}-${preview}`, min: bg.preview, max: Math.max(m.maxReplicas, bg.preview) }]
                    : []),
            ];
        }
        case "rolling":
            return [{ name: m.app, min: m.replicas, max: m.maxReplicas }];
    }
}

/** The stack config the model stands for, as `pulumi config set --path` keys and values. */
export function configOf(m: Model): Record<string, string> {
    const c: Record<string, string> = {
        strategy: m.strategy,
        "release.version": m.version,
        "release.env.LOG_LEVEL": m.logLevel,
        "database.migration.phase": m.phase,
        "database.migration.attempt": String(m.attempt),
        "database.toolsImage": m.toolsImage,
        "backup.scratchSize": m.scratchSize,
    };
    if (m.previousVersion) c["release.previousVersion"] = m.previousVersion;
    if (m.canary) {
        c["canary.stableVersion"] = m.canary.stable;
        c["canary.canaryVersion"] = m.canary.canary;
        c["canary.weight"] = String(m.canary.weight);
    }
    if (m.blueGreen) {
        c["blueGreen.blueVersion"] = m.blueGreen.blue;
        c["blueGreen.greenVersion"] = m.blueGreen.green;
        c["blueGreen.activeColor"] = m.blueGreen.active;
        c["blueGreen.previewReplicas"] = String(m.blueGreen.preview);
        c["blueGreen.smokeTest.image"] = m.blueGreen.smokeImage;
    }
    if (m.secretRotations > 0) c[SECRET_KEY] = secretValue(m.secretRotations);
    return { ...c, ...m.extra };
}

export const SECRET_KEY = "appSecrets.SESSION_KEY";
const secretValue = (n: number) => `e2e-only-session-key-rotation-${n}`;

/** The keys whose values differ from `before` to `after`: what `pulumi config set --path` must write. */
export function configEdits(before: Model, after: Model): Record<string, string> {
    const a = configOf(before);
    const b = configOf(after);
    return Object.fromEntries(Object.entries(b).filter(([k, v]) => a[k] !== v));
}

/** The model after `pulumi config set --path key value`, as a printed command or an operation writes it. */
export function applyEdit(m: Model, key: string, value: string): void {
    const cn = m.canary;
    const bg = m.blueGreen;
    switch (key) {
        case "strategy":
            m.strategy = value as Strategy;
            return;
        case "release.version":
            m.version = value;
            return;
        case "release.previousVersion":
            m.previousVersion = value;
            return;
        case "release.env.LOG_LEVEL":
            m.logLevel = value;
            return;
        case "database.migration.phase":
            m.phase = value as Phase;
            return;
        case "database.migration.attempt":
            m.attempt = Number(value);
            return;
        case "database.toolsImage":
            m.toolsImage = value;
            return;
        case "backup.scratchSize":
            m.scratchSize = value;
            return;
        case SECRET_KEY:
            m.secretRotations = Number(value.split("-").pop());
            return;
    }
    if (cn && key === "canary.stableVersion") cn.stable = value;
    else if (cn && key === "canary.canaryVersion") cn.canary = value;
    else if (cn && key === "canary.weight") cn.weight = Number(value);
    else if (bg && key === "blueGreen.blueVersion") bg.blue = value;
    else if (bg && key === "blueGreen.greenVersion") bg.green = value;
    else if (bg && key === "blueGreen.activeColor") bg.active = value as Color;
    else if (bg && key === "blueGreen.previewReplicas") bg.preview = Number(value);
    else if (bg && key === "blueGreen.smokeTest.image") bg.smokeImage = value;
    else m.extra[key] = value;
}

/** The model after the edits; a null value is `pulumi config rm --path`, which the model holds only for keys it does not interpret. */
export function applyEdits(m: Model, edits: Record<string, string | null>): Model {
    const n = clone(m);
    for (const [k, v] of Object.entries(edits)) {
        if (v === null) delete n.extra[k];
        else applyEdit(n, k, v);
    }
    return n;
}

/** The next phase of the expand/contract sequence, or undefined after contract. */
export function nextPhase(p: Phase): Phase | undefined {
    return PHASES[PHASES.indexOf(p) + 1];
}

/** The pods of a blue/green color, or 0 when the strategy is not blue/green. */
export function colorReplicas(m: Model, c: Color): number {
    if (m.strategy !== "blue-green" || !m.blueGreen) return 0;
    return m.blueGreen.active === c ? m.replicas : m.blueGreen.preview;
}

/** Whether the release's backup and migration Jobs are declared: not when the release is the previous version again. */
export function databaseJobsDeclared(m: Model): boolean {
    return m.version !== m.previousVersion;
}

/**
 * Whether the model expects `pulumi stack output rollback` to hold a command (lib/rollback.ts's cases): the canary
 * carries traffic or stable is not the previous version; blue/green's active color runs the release and the config is
 * not a rollback's; rolling is not on the previous version.
 */
export function rollbackExpected(m: Model): boolean {
    switch (m.strategy) {
        case "canary":
            return m.canary!.weight > 0 || (!!m.previousVersion && m.previousVersion !== m.canary!.stable);
        case "blue-green":
            // A rollback's config (release.version is release.previousVersion) on the active color needs none.
            return m.blueGreen![m.blueGreen!.active] === m.version && m.previousVersion !== m.version;
        case "rolling":
            return !!m.previousVersion && m.previousVersion !== m.version;
    }
}
