import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import {
    compareEdit,
    diagnosedPreview,
    eventually,
    kube,
    labelSelector,
    named,
    namespace,
    opsByName,
    pods,
    policyConfigWithoutMonitors,
    timedUp,
    moveFromFirstReleaseTokens,
    engineLog,
    stackFile,
} from "./lib/engine";
import { Kube } from "./lib/kube";
import { shell } from "./lib/printed";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// Blue/green on the engine, and the offline preview agreeing with it, on the committed staging stack.
// They are about traffic, so `database`, `backup` and `monitoring` are dropped (their providers cannot run here); the
// smoke-test Jobs run (kwok completes them). The stack deploys into a namespace of its own.
const NS = "e2e-bluegreen";
const APP = { "app.kubernetes.io/name": "myapp" };
const REPLICAS = 2; // release.replicas in Pulumi.staging.yaml
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;

async function selector(k: Kube, service: string): Promise<Record<string, string>> {
    return (await k.get(`/api/v1/namespaces/${NS}/services/${service}`)).spec.selector;
}

/** Each color's spec.replicas and ready pods as the API server holds them. */
async function colors(k: Kube): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const d of await k.list(DEPLOYMENTS))
        out[d.metadata.name] = `${(await pods(k, NS, d.spec.selector.matchLabels)).ready.length}/${d.spec.replicas}`;
    return out;
}

/** Ready endpoints of the Service's EndpointSlices (discovery.k8s.io/v1, label kubernetes.io/service-name). */
async function readyEndpoints(k: Kube, service: string): Promise<number> {
    const slices = await k.list(
        `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${labelSelector({ "kubernetes.io/service-name": service })}`,
    );
    return slices.flatMap((s) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready === true).length;
}

/** The stack file's `myapp:blueGreen` section, as the CLI wrote it. */
function blueGreenInFile(ps: ProjectStack): Record<string, unknown> {
    return YAML.parse(fs.readFileSync(stackFile(ps), "utf8")).config["myapp:blueGreen"];
}

async function exists(k: Kube, path: string): Promise<boolean> {
    return (await k.request("GET", path)).status === 200;
}

describe("blue/green on the engine: switch, switch back, decommission a preview color the HPA scaled, switch from a preview color at 0 (staging, no database/backup/monitoring)", function () {
    let ps: ProjectStack;
    let k: Kube;
    let policyConfig: string;
    let resources = 0;
    const onOutput = engineLog(80);

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "staging",
            name: "e2e-bluegreen",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS },
        });
        policyConfig = policyConfigWithoutMonitors(ps, "staging");
        const first = await timedUp(ps, onOutput);
        resources = first.changes.create;
        measure("blueGreen.firstDeploy", first);
        assert.deepStrictEqual(await colors(k), { "myapp-blue": "2/2", "myapp-green": "2/2" });
        assert.deepStrictEqual(await selector(k, "myapp"), { ...APP, color: "blue" });
    });

    it("the stack under the first release's myapp:deploy:* tokens moves to release:index:* with no change, and no smoke test runs again", async function () {
        const before = await pods(k, NS, APP);
        const move = await moveFromFirstReleaseTokens(ps, onOutput);
        assert.deepStrictEqual(move, {
            before: ["myapp:deploy:AppWorkload", "myapp:deploy:BlueGreenDeployment"],
            after: ["release:index:AppWorkload", "release:index:BlueGreenDeployment"],
            // The two colors' live Deployments are read (Deployment.get) on every run.
            preview: { read: 2, same: resources },
            up: { read: 2, same: resources },
            sameUrns: true,
        });
        assert.deepStrictEqual(await pods(k, NS, APP), before);
    });

    for (const [to, from] of [
        ["green", "blue"],
        ["blue", "green"],
    ]) {
        it(`switch to ${to}: the active and preview Service selectors change after each color's capacity step for its new role (engine and offline preview), no pod restarts`, async function () {
            const before = await pods(k, NS, APP);
            assert.strictEqual(before.ready.length, 4);
            const a = await compareEdit(
                ps,
                `blue/green switch to ${to}`,
                { "blueGreen.activeColor": to },
                policyConfig,
                onOutput,
            );
            const steps = {
                create: [`myapp-${from}-capacity-standby`, `myapp-${to}-capacity-live`].sort(),
                delete: [`myapp-${from}-capacity-live`, `myapp-${to}-capacity-standby`].sort(),
            };
            assert.deepStrictEqual(named(a.engine), {
                added: steps.create,
                removed: steps.delete,
                changed: { "myapp-live": ["spec.selector.color"], "myapp-preview": ["spec.selector.color"] },
            });
            assert.deepStrictEqual(
                [opsByName(a.engine)["myapp-live"], opsByName(a.engine)["myapp-preview"]],
                ["update", "update"],
            );
            assert.deepStrictEqual(a.offline, a.engine);

            const up = await timedUp(ps, onOutput);
            measure(`blueGreen.switchTo_${to}`, up);
            assert.deepStrictEqual(up.changes, { create: 2, delete: 2, read: 2, update: 2, same: resources - 4 });
            assert.deepStrictEqual(up.steps, { ...steps, update: ["myapp-live", "myapp-preview"] });
            assert.deepStrictEqual(await selector(k, "myapp"), { ...APP, color: to });
            assert.deepStrictEqual(await selector(k, "myapp-preview"), { ...APP, color: from });
            assert.deepStrictEqual(await pods(k, NS, APP), before);
        });
    }

    it("decommission the preview color after the HPA has scaled it (pulumi-kubernetes#2491's conflict): kube-controller-manager owns spec.replicas, pulumi up still takes it to 0", async function () {
        // What the HPA controller does: an Update of the scale subresource as kube-controller-manager
        // (kubernetes pkg/controller/podautoscaler/horizontal.go, scaleNamespacer.Update).
        const scalePath = `${DEPLOYMENTS}/myapp-green/scale`;
        const scale = await k.get(scalePath);
        scale.spec.replicas = 3;
        const put = await k.request("PUT", `${scalePath}?fieldManager=kube-controller-manager`, scale);
        assert.strictEqual(put.status, 200, JSON.stringify(put.body));
        const green = await k.get(`${DEPLOYMENTS}/myapp-green`);
        const owners = green.metadata.managedFields
            .filter((f: any) => f.fieldsV1?.["f:spec"]?.["f:replicas"] !== undefined)
            .map((f: any) => ({ manager: f.manager, operation: f.operation, subresource: f.subresource }));
        measure("blueGreen.replicasOwnersAfterHpaScale", owners);
        assert.deepStrictEqual(owners, [
            { manager: "kube-controller-manager", operation: "Update", subresource: "scale" },
        ]);
        await eventually(30, () => colors(k), { "myapp-blue": "2/2", "myapp-green": "3/3" });
        const blueBefore = await pods(k, NS, { ...APP, color: "blue" });

        const a = await compareEdit(
            ps,
            "blue/green previewReplicas 0",
            { "blueGreen.previewReplicas": "0" },
            policyConfig,
            onOutput,
        );
        assert.deepStrictEqual(a.offline, a.engine);
        const up = await timedUp(ps, onOutput);
        measure("blueGreen.decommissionPreview", up);
        // Green goes to 0 by the decision's settle step; at 0 its autoscaler, disruption budget, capacity step and smoke
        // test are no longer declared. Its Deployment is not updated: Pulumi sets no count but at creation.
        assert.deepStrictEqual(up.steps, {
            create: ["myapp-green-settle-standby"],
            delete: ["myapp-green-capacity-standby", "myapp-green-hpa", "myapp-green-pdb", "myapp-smoke-green"],
        });
        assert.deepStrictEqual(up.changes, { create: 1, delete: 4, read: 2, same: resources - 4 });
        await eventually(30, () => colors(k), { "myapp-blue": "2/2", "myapp-green": "0/0" });
        assert.deepStrictEqual(await pods(k, NS, { ...APP, color: "green" }), { all: [], ready: [] });
        assert.strictEqual(
            await exists(k, `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/myapp-green`),
            false,
        );
        assert.strictEqual(await exists(k, `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/myapp-green`), false);
        assert.deepStrictEqual(await pods(k, NS, { ...APP, color: "blue" }), blueBefore);
        assert.deepStrictEqual(await selector(k, "myapp"), { ...APP, color: "blue" });
    });

    it("switch to green from 0 (previewReplicas 0): polled every 200 ms, the active Service never selects fewer Ready pods than release.replicas", async function () {
        const a = await compareEdit(
            ps,
            "blue/green switch to green with previewReplicas 0",
            { "blueGreen.activeColor": "green" },
            policyConfig,
            onOutput,
        );
        assert.deepStrictEqual(a.offline, a.engine);

        const samples: { selector: string; ready: number; endpoints: number }[] = [];
        let polling = true;
        const poll = (async () => {
            while (polling) {
                const sel = await selector(k, "myapp");
                const ready = (
                    await k.list(`/api/v1/namespaces/${NS}/pods?labelSelector=${labelSelector(sel)}`)
                ).filter(
                    (p) =>
                        !p.metadata.deletionTimestamp &&
                        (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
                );
                samples.push({ selector: sel.color, ready: ready.length, endpoints: await readyEndpoints(k, "myapp") });
                await new Promise((r) => setTimeout(r, 200));
            }
        })();
        let up;
        try {
            up = await timedUp(ps, onOutput);
        } finally {
            polling = false;
            await poll;
        }
        const minReady = Math.min(...samples.map((s) => s.ready));
        const selectors = samples.map((s) => s.selector).filter((c, i, all) => i === 0 || all[i - 1] !== c);
        const minEndpoints = Math.min(...samples.map((s) => s.endpoints));
        measure("blueGreen.switchFromZero", {
            ...up,
            samples: samples.length,
            minReady,
            minEndpoints,
            selectorSequence: selectors,
        });
        assert.deepStrictEqual(selectors, ["blue", "green"]);
        assert.ok(samples.length >= 10, `only ${samples.length} samples`);
        assert.ok(
            minReady >= REPLICAS,
            `the active Service selected ${minReady} Ready pods at one sample: ${JSON.stringify(samples)}`,
        );

        // Green is woken from 0 by its capacity step (an autoscaler never scales up from 0); blue goes to 0 by its settle step.
        assert.deepStrictEqual(up.steps, {
            create: [
                "myapp-blue-settle-standby",
                "myapp-green-capacity-live",
                "myapp-green-hpa",
                "myapp-green-pdb",
                "myapp-smoke-green",
            ],
            delete: [
                "myapp-blue-capacity-live",
                "myapp-blue-hpa",
                "myapp-blue-pdb",
                "myapp-green-settle-standby",
                "myapp-smoke-blue",
            ],
            update: ["myapp-live", "myapp-preview"],
        });
        await eventually(30, () => colors(k), { "myapp-blue": "0/0", "myapp-green": "2/2" });
        assert.deepStrictEqual(await selector(k, "myapp"), { ...APP, color: "green" });
        assert.deepStrictEqual(await selector(k, "myapp-preview"), { ...APP, color: "blue" });
    });

    // The old name of previewReplicas (lib/config/oldNames.ts) as a user's older stack file holds it, written by the
    // real CLI; the stack now runs previewReplicas 0 (decommissioned above), so the old key carries 0.
    const DEPRECATED =
        "myapp:blueGreen.standbyReplicas is deprecated, read as its new name myapp:blueGreen.previewReplicas: rename it with `pulumi config rm --path blueGreen.standbyReplicas && pulumi config set --path blueGreen.previewReplicas 0`";

    it("a stack file still using blueGreen.standbyReplicas (set back by the real CLI) previews with no change at all and prints the deprecation warning once; its rename, run as printed, restores previewReplicas", async function () {
        assert.strictEqual(blueGreenInFile(ps).previewReplicas, 0);
        shell(
            ps,
            "pulumi config rm --path blueGreen.previewReplicas && pulumi config set --path blueGreen.standbyReplicas 0",
        );
        const edited = blueGreenInFile(ps);
        assert.deepStrictEqual([edited.standbyReplicas, edited.previewReplicas], [0, undefined]);

        const p = await diagnosedPreview(ps, onOutput);
        const printed = p.stdout.split("\n").filter((l) => l.includes(`warning: ${DEPRECATED}`));
        measure("blueGreen.oldNameStandbyReplicas", { changeSummary: p.changeSummary, warnings: p.warnings, printed });
        assert.strictEqual(p.error, undefined);
        // Every resource the switch from 0 left (the first deploy's, less 3 by the decommission) is same; the two
        // colors' Deployments are read on every run.
        assert.deepStrictEqual(p.changeSummary, { read: 2, same: resources - 3 });
        assert.deepStrictEqual(
            p.warnings.filter((w) => w.startsWith("myapp:")),
            [DEPRECATED],
        );
        // One diagnostic, which the engine prints twice: on the stack's row as it arrives, and under "Diagnostics:".
        assert.deepStrictEqual(
            printed.map((l) => l.trim()),
            [`pulumi:pulumi:Stack myapp-e2e-bluegreen running warning: ${DEPRECATED}`, `warning: ${DEPRECATED}`],
        );

        // The warning's command, as printed, in the stack's directory.
        shell(ps, /`([^`]+)`/.exec(DEPRECATED)![1]);
        const restored = blueGreenInFile(ps);
        assert.deepStrictEqual([restored.standbyReplicas, restored.previewReplicas], [undefined, 0]);
    });

    it("a stack file with both blueGreen.standbyReplicas and blueGreen.previewReplicas is refused: the preview fails naming both keys, before any resource is declared", async function () {
        shell(ps, "pulumi config set --path blueGreen.standbyReplicas 1");
        const p = await diagnosedPreview(ps, onOutput);
        const refusal =
            "myapp:blueGreen.standbyReplicas = 1: is the old name of blueGreen.previewReplicas, which is set too (0): keep blueGreen.previewReplicas and remove this one (pulumi config rm --path blueGreen.standbyReplicas)";
        const printed = p.stdout.split("\n").filter((l) => /Invalid stack configuration|standbyReplicas/.test(l));
        measure("blueGreen.bothNames", { failed: p.error !== undefined, steps: p.steps, printed });
        assert.strictEqual(p.changeSummary, undefined);
        assert.ok(p.error, "the preview passed");
        assert.ok(p.stdout.includes("Invalid stack configuration (nothing was declared):"), p.stdout.slice(-3000));
        assert.ok(p.stdout.includes(refusal), p.stdout.slice(-3000));
        // The program stops before its first resource: the engine steps on the stack alone.
        assert.deepStrictEqual(p.steps, ["same pulumi:pulumi:Stack myapp-e2e-bluegreen"]);

        // The refusal's own remedy, as printed, leaves the stack file as deployed.
        shell(ps, "pulumi config rm --path blueGreen.standbyReplicas");
        const restored = blueGreenInFile(ps);
        assert.deepStrictEqual([restored.standbyReplicas, restored.previewReplicas], [undefined, 0]);
    });
});
