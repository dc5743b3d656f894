import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import {
    diagnosedPreview,
    eventually,
    kube,
    namespace,
    noChangeSummary,
    stackFile,
    timedUp,
    engineLog,
} from "./lib/engine";
import { Kube } from "./lib/kube";
import { shell } from "./lib/printed";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";
import { readyPods, replicaCounts, sampledDuring } from "./lib/traffic";

// The pod-ratio router on the engine (issue 17 item 6): the production canary stack with `canary.router: pod-ratio`,
// 8 replicas and steps 25 and 50, without `database`, `backup` and `monitoring`. Its pods take 4 s to become ready
// (E2E_READY_DELAY, e2e/kwok/stages.yaml), so a track scaled up serves nothing for a while, as in a real cluster.
const NS = "e2e-pod-ratio";
const track = (name: string) => ({ "app.kubernetes.io/name": "myapp", track: name });

describe("pod-ratio router on the engine: a shift scales the receiving track and waits for it before the giving track loses a pod (production, 8 replicas, pods ready after 4 s)", function () {
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const ready = async () => ({
        stable: await readyPods(k, NS, track("stable")),
        canary: await readyPods(k, NS, track("canary")),
    });

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "production",
            name: "e2e-pod-ratio",
            drop: ["database", "backup", "monitoring"],
            set: {
                "release.namespace": NS,
                "release.replicas": "8",
                "release.env.E2E_READY_DELAY": "4s",
                "canary.router": "pod-ratio",
                "canary.steps[0]": "25",
                "canary.steps[1]": "50",
                "canary.steps[2]": "100",
                "canary.weight": "50",
            },
        });
        await timedUp(ps, onOutput);
        await eventually(60, ready, { stable: 4, canary: 4 });
    });

    for (const [from, to, expected] of [
        [50, 0, { stable: 8, canary: 0 }],
        [0, 25, { stable: 6, canary: 2 }],
    ] as const) {
        it(`${from} → ${to}: the fleet never has fewer than 8 ready pods, and ends at ${expected.stable}/${expected.canary}`, async function () {
            await ps.stack.setConfig("canary.weight", { value: String(to) }, true);
            const run = await sampledDuring(ready, () => timedUp(ps, onOutput));
            const lowest = Math.min(...run.samples.map((s) => s.stable + s.canary));
            measure(`podRatio.${from}to${to}`, {
                seconds: run.result.seconds,
                changes: run.result.changes,
                samples: run.samples.length,
                lowestReadyFleet: lowest,
            });
            assert.ok(
                lowest >= 8,
                `ready stable+canary pods: ${run.samples.map((s) => `${s.stable}+${s.canary}`).join(",")}`,
            );
            await eventually(60, () => replicaCounts(k, NS), {
                "myapp-canary": expected.canary,
                "myapp-stable": expected.stable,
            });
            await eventually(60, ready, expected);
        });
    }

    // `replicas` is the old name of the pod-ratio router (lib/config/oldNames.ts), as a user's older stack file holds it.
    const DEPRECATED =
        'myapp:canary.router = "replicas" is deprecated, read as its new name "pod-ratio": set it with `pulumi config set --path canary.router pod-ratio`';
    const routerInFile = () => YAML.parse(fs.readFileSync(stackFile(ps), "utf8")).config["myapp:canary"].router;

    it("a stack file still using canary.router replicas (set back by the real CLI) previews with no change at all and prints the deprecation warning once; its command, run as printed, restores pod-ratio", async function () {
        shell(ps, "pulumi config set --path canary.router replicas");
        assert.strictEqual(routerInFile(), "replicas");

        // Every resource of the stack as the last up left it is same, every one the program reads is read.
        const expected = await noChangeSummary(ps);
        const p = await diagnosedPreview(ps, onOutput);
        const printed = p.stdout.split("\n").filter((l) => l.includes(`warning: ${DEPRECATED}`));
        measure("podRatio.oldNameReplicas", {
            expected,
            changeSummary: p.changeSummary,
            warnings: p.warnings,
            printed,
        });
        assert.strictEqual(p.error, undefined);
        assert.deepStrictEqual(p.changeSummary, expected);
        assert.deepStrictEqual(
            p.warnings.filter((w) => w.startsWith("myapp:")),
            [DEPRECATED],
        );
        // One diagnostic, which the engine prints twice: on the stack's row as it arrives, and under "Diagnostics:".
        assert.deepStrictEqual(
            printed.map((l) => l.trim()),
            [`pulumi:pulumi:Stack myapp-e2e-pod-ratio running warning: ${DEPRECATED}`, `warning: ${DEPRECATED}`],
        );

        shell(ps, /`([^`]+)`/.exec(DEPRECATED)![1]);
        assert.strictEqual(routerInFile(), "pod-ratio");
    });
});
