import * as fs from "fs";
import * as path from "path";

/** What one e2e run measured; written to e2e/out/report.json by e2e/run.ts. */
export const report = {
    startedAt: new Date().toISOString(),
    /** "local" (pulumi-language-nodejs runs index.ts) or "inline" (the Automation API serves the program). */
    programMode: "",
    versions: { pulumiCli: "", kubernetesProvider: "", kubernetes: "" },
    /** Per tool: module, version, cache dir and the seconds its cold build took on this machine. */
    tools: {} as Record<string, unknown>,
    /** Wall seconds of `e2e/build.sh` in this run: the cold build the first time, the cache check after that. */
    buildSeconds: null as number | null,
    /** Seconds from starting etcd to Ready kwok nodes, with the binaries built. */
    controlPlaneStartSeconds: null as number | null,
    specs: [] as { title: string; state: "passed" | "failed"; durationMs?: number; error?: string }[],
    /** Per-spec measurements (update counts, wall times), keyed by the spec's own names. */
    measurements: {} as Record<string, unknown>,
    /** The release judging itself (issue 20): each gate scenario's outcome and seconds, and the seconds from ALERT to weight 0. */
    gate: {} as Record<string, unknown>,
    /** The operation sequences (e2e/sequences.kwok.e2e.ts) of this run, when they ran. */
    sequences: null as SequencesReport | null,
};

/** What the operation sequences ran and found: one entry per seed, totals across seeds. */
export interface SequencesReport {
    /** The checkout whose program ran (E2E_PROGRAM_DIR, or this repo). */
    programDir: string;
    /** The operations each seed ran (its first step is the stack's first deploy), and where it failed. */
    seeds: {
        seed: number;
        base: string;
        length: number;
        operations: string[];
        /** Wall seconds of each step, its rollback check included. */
        stepSeconds: number[];
        passed: boolean;
        /** The first failing step, or every one with --keep-going. */
        failures: {
            step: number;
            operation: string;
            violations: { invariant: string; message: string }[];
            replay: string;
        }[];
        seconds: number;
    }[];
    operations: { total: number; byKind: Record<string, number> };
    /** Per invariant: how many times it was checked and how many of those checks failed. */
    invariants: Record<string, { checked: number; failed: number }>;
    /** Ready pods behind each routed share, sampled during every up, against that share of the fleet before the step. */
    capacity: {
        samples: number;
        /** The sample with the least ready pods above (or below, when negative) the required number. */
        worst: {
            seed: number;
            step: number;
            operation: string;
            service: string;
            percent: number;
            ready: number;
            required: number;
        } | null;
    };
    /** The printed rollback run from each reached state: seconds from the command to traffic on the rolled-back version. */
    rollback: {
        run: number;
        notNeeded: number;
        failed: number;
        seconds: number[];
        worstSeconds: number | null;
        medianSeconds: number | null;
    };
    /** Wall seconds spent per part of a step, summed over the run (the offline preview overlaps the up). */
    phaseSeconds: Record<string, number>;
    /** Ups that failed only because the program lost its connection to the engine, each run once more. */
    engineRetries: { seed: number; step: number; operation: string; error: string }[];
    wallSeconds: number;
}

export function measure(key: string, value: unknown): void {
    report.measurements[key] = value;
}

export function gateMeasure(key: string, value: unknown): void {
    report.gate[key] = value;
}

export function gateOutcome(scenario: string, value: { outcome: string; seconds?: number }): void {
    report.gate[scenario] = value;
}

export const REPORT_FILE = path.join(__dirname, "..", "out", "report.json");

export function writeReport(): void {
    fs.mkdirSync(path.dirname(REPORT_FILE), { recursive: true });
    fs.writeFileSync(REPORT_FILE, JSON.stringify(report, null, 2) + "\n");
}
