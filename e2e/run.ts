// `npm run test:e2e`: builds the missing tools, starts the control plane, runs the e2e specs against the real engine,
// provider and API server, stops everything it started and writes e2e/out/report.json.
//
// E2E_USE_PATH=1 skips the build and the control plane: the specs then use the `pulumi` (and plugins) on PATH and the
// cluster of KUBECONFIG, as a user with their own CLI and a real cluster would.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import Mocha from "mocha";
import { Cluster, startCluster } from "./lib/cluster";
import { Kube } from "./lib/kube";
import { report, writeReport, REPORT_FILE } from "./lib/report";
import { programMode, removeStackDirs } from "./lib/stack";

const E2E = __dirname;
const usePath = process.env.E2E_USE_PATH === "1";

function build(): void {
    const t0 = Date.now();
    execFileSync("bash", [path.join(E2E, "build.sh")], { stdio: "inherit" });
    report.buildSeconds = Math.round((Date.now() - t0) / 100) / 10;
    const entries = execFileSync("bash", [path.join(E2E, "build.sh"), "--path"], { encoding: "utf8" }).trim();
    process.env.PATH = `${entries}${path.delimiter}${process.env.PATH}`;
    report.tools = JSON.parse(execFileSync("bash", [path.join(E2E, "build.sh"), "--json"], { encoding: "utf8" }));
    // Nothing may be downloaded, and the user's own plugins must not stand in for the built ones.
    process.env.PULUMI_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "myapp-e2e-pulumi-home-"));
}

/**
 * `npm run test:sequences -- [--seed S ...] [--seeds N [--from S]] [--length L] [--keep-going]`: only the operation
 * sequences, with the given seeds (--seeds N: N seeds from --from, else from a random seed that the run prints) and
 * length; --keep-going runs each seed to its end past a broken invariant.
 */
function sequenceOptions(argv: string[]): void {
    const { values } = parseArgs({
        args: argv,
        options: {
            sequences: { type: "boolean" },
            seed: { type: "string", multiple: true },
            seeds: { type: "string" },
            from: { type: "string" },
            length: { type: "string" },
            "keep-going": { type: "boolean" },
        },
        strict: true,
    });
    if (!values.sequences && !values.seed && !values.seeds && !values.length) return;
    process.env.E2E_SPEC = "sequences";
    if (values.seed) {
        process.env.E2E_SEQ_SEEDS = values.seed.join(",");
    } else if (values.seeds) {
        const from = Number(values.from ?? 1 + Math.floor(Math.random() * 999_999));
        process.env.E2E_SEQ_SEEDS = Array.from({ length: Number(values.seeds) }, (_, i) => from + i).join(",");
    }
    if (values.length) process.env.E2E_SEQ_LENGTH = values.length;
    if (values["keep-going"]) process.env.E2E_SEQ_KEEP_GOING = "1";
    console.log(
        `e2e sequences: seeds ${process.env.E2E_SEQ_SEEDS ?? "(default)"}, length ${process.env.E2E_SEQ_LENGTH ?? "(default)"}`,
    );
}

function specFiles(): string[] {
    const only = process.env.E2E_SPEC;
    // *.kwok.e2e.ts check the harness's own cluster (kwok's stages); a real cluster has none.
    return fs
        .readdirSync(E2E)
        .filter((f) => f.endsWith(".e2e.ts") && !(usePath && f.endsWith(".kwok.e2e.ts")) && (!only || f.includes(only)))
        .sort()
        .map((f) => path.join(E2E, f));
}

function runMocha(): Promise<number> {
    // The same settings as `mocha --config e2e/.mocharc.json`.
    const rc = JSON.parse(fs.readFileSync(path.join(E2E, ".mocharc.json"), "utf8"));
    const mocha = new Mocha({ timeout: rc.timeout, reporter: rc.reporter });
    for (const f of specFiles()) mocha.addFile(f);
    return new Promise((resolve) => {
        const runner = mocha.run((failures) => resolve(failures));
        runner.on("pass", (t) => report.specs.push({ title: t.fullTitle(), state: "passed", durationMs: t.duration }));
        runner.on("fail", (t, err) =>
            report.specs.push({
                title: t.fullTitle(),
                state: "failed",
                durationMs: t.duration,
                error: String(err?.message ?? err),
            }),
        );
    });
}

async function main(): Promise<number> {
    process.env.PULUMI_SKIP_UPDATE_CHECK = "true";
    process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION = "true";
    let cluster: Cluster | undefined;
    const stopAll = async () => {
        const c = cluster;
        cluster = undefined;
        if (c) await c.stop();
    };
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
        process.once(sig, () => void stopAll().finally(() => process.exit(130)));
    }
    try {
        sequenceOptions(process.argv.slice(2));
        if (!usePath) {
            build();
            cluster = await startCluster();
            report.controlPlaneStartSeconds = Math.round(cluster.startSeconds * 10) / 10;
            report.versions.kubernetes = cluster.kubernetesVersion;
            process.env.KUBECONFIG = cluster.kubeconfig;
            report.versions.kubernetesProvider = (report.tools as any)["pulumi-resource-kubernetes"]?.version ?? "";
        } else {
            if (!process.env.KUBECONFIG)
                throw new Error("E2E_USE_PATH=1 needs KUBECONFIG naming the cluster to deploy to");
            report.versions.kubernetes = (await new Kube(process.env.KUBECONFIG).get("/version")).gitVersion;
        }
        report.versions.pulumiCli = execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim();
        report.programMode = programMode();
        const failures = await runMocha();
        const passed = report.specs.filter((s) => s.state === "passed").length;
        console.log(`e2e: ${passed} passed, ${report.specs.length - passed} failed`);
        return failures ? 1 : 0;
    } finally {
        await stopAll();
        if (!process.env.E2E_KEEP_CLUSTER_DIR) {
            removeStackDirs();
            if (!usePath && process.env.PULUMI_HOME)
                fs.rmSync(process.env.PULUMI_HOME, { recursive: true, force: true });
        }
        writeReport();
        console.log(`e2e report: ${REPORT_FILE}`);
    }
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
