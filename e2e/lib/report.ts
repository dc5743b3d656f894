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
};

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
