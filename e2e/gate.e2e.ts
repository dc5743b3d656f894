import * as assert from "assert";
import { eventually, kube, namespace, pods, timedUp, engineLog } from "./lib/engine";
import { Kube } from "./lib/kube";
import { gateOutcome } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";
import { DatadogScope } from "../lib/judge/datadogSeries";
import { DatadogStandIn, startDatadogStandIn } from "../test/support/datadogStandIn";
import { closedPort, rollbackNowTrigger, serveVersion } from "../test/support/gateData";

// Issue 20 part 1 on the engine: the release gate at `pulumi up`, reading the Datadog stand-in on loopback through
// the official client (DATADOG_HOST, DD_API_KEY and DD_APP_KEY in the program's environment). Production's canary
// stack without database, backup and monitoring (their providers cannot run here): the gate reads Datadog with
// release.gate.scope, and a step is observed for 5 minutes (plan.observeMinutes), so the spec waits that long once.
const NS = "e2e-gate";
const APP = { "app.kubernetes.io/name": "myapp" };
const CANARY_INGRESS = `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp-canary`;
const OBSERVE_MINUTES = 5;
const SCOPE: DatadogScope = {
    service: "myapp",
    env: "e2e-gate",
    span: "web.request",
    excludeResources: ["get_/health/*"],
};
const HEALTHY = { requestsPerMinute: 200, errorPct: 0.5, p95Seconds: 0.2 };

/** What a refused `up` must leave alone: the weight, each Deployment's and autoscaler's spec, and every pod. */
async function clusterState(k: Kube): Promise<Record<string, unknown>> {
    const ingress = await k.get(CANARY_INGRESS);
    const deployments = await k.list(`/apis/apps/v1/namespaces/${NS}/deployments`);
    const hpas = await k.list(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`);
    return {
        weight: ingress.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"],
        ingressGeneration: ingress.metadata.generation,
        deployments: Object.fromEntries(
            deployments.map((d) => [
                d.metadata.name,
                { generation: d.metadata.generation, image: d.spec.template.spec.containers[0].image },
            ]),
        ),
        minReplicas: Object.fromEntries(hpas.map((h) => [h.metadata.name, h.spec.minReplicas])),
        pods: (await pods(k, NS, APP)).all,
    };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the release gate on the engine: a raise of the canary's traffic asks Datadog first (production canary, Datadog stand-in)", function () {
    let ps: ProjectStack;
    let k: Kube;
    let dd: DatadogStandIn;
    let since = "";
    const saved = {
        DD_API_KEY: process.env.DD_API_KEY,
        DD_APP_KEY: process.env.DD_APP_KEY,
        DATADOG_HOST: process.env.DATADOG_HOST,
    };
    const onOutput = engineLog(80);

    /** `pulumi up` to this config; the refusal's text when the program refuses, with the seconds it took. */
    async function upTo(sets: Record<string, string>): Promise<{ refused?: string; seconds: number }> {
        for (const [key, value] of Object.entries(sets)) await ps.stack.setConfig(key, { value }, true);
        const t0 = Date.now();
        let refused: string | undefined;
        await ps.stack.up({ onOutput }).catch((e: Error) => (refused = e.message));
        return { refused, seconds: Math.round((Date.now() - t0) / 100) / 10 };
    }

    before(async function () {
        k = kube();
        await namespace(k, NS);
        dd = await startDatadogStandIn();
        Object.assign(process.env, {
            DD_API_KEY: dd.credentials.apiKey,
            DD_APP_KEY: dd.credentials.appKey,
            DATADOG_HOST: dd.url,
        });
        serveVersion(dd, SCOPE, "v1.2.2", { ...HEALTHY, phase: 0 });
        serveVersion(dd, SCOPE, "v1.2.3", { ...HEALTHY, phase: 5 });
        ps = await projectStack({
            base: "production",
            name: "e2e-gate",
            drop: ["database", "backup", "monitoring"],
            set: {
                "release.namespace": NS,
                "canary.weight": "25",
                "plan.observeMinutes": String(OBSERVE_MINUTES),
                "release.gate.scope.span": SCOPE.span,
                // Latency weighs 20 of 100: a canary High on latency alone scores 80, Marginal.
                "judge.groupWeights.latency": "20",
            },
        });
        const first = await timedUp(ps, onOutput);
        const gate = (await ps.stack.outputs()).gate.value;
        since = gate.traffic.since;
        gateOutcome("firstUpTo25", { outcome: gate.outcome, seconds: first.seconds });
        assert.deepStrictEqual([gate.outcome, gate.traffic.shares], ["passed", { "v1.2.2": 75, "v1.2.3": 25 }]);
    });

    after(async () => {
        for (const [key, value] of Object.entries(saved))
            if (value === undefined) delete process.env[key];
            else process.env[key] = value;
        await dd?.close();
    });

    it("Datadog down: the up to 100 is refused, naming why, and nothing changes in the cluster", async function () {
        const before = await clusterState(k);
        process.env.DATADOG_HOST = `http://127.0.0.1:${await closedPort()}`;
        const r = await upTo({ "canary.weight": "100" });
        process.env.DATADOG_HOST = dd.url;
        gateOutcome("datadogDownRaise", { outcome: r.refused ? "refused" : "allowed", seconds: r.seconds });
        assert.ok(r.refused, "the up was refused");
        assert.match(
            r.refused,
            /release gate: raising traffic to v1\.2\.3 \(25% → 100%\) is refused; nothing was declared:/,
        );
        assert.match(
            r.refused,
            /Datadog did not answer \(list monitors: cannot reach Datadog: ECONNREFUSED\): raising traffic is refused while Datadog is down or slow/,
        );
        assert.deepStrictEqual(await clusterState(k), before);
    });

    it(`a canary at 25 with its rollback trigger in ALERT: the up to 100 is refused with the monitor, its state and its link, and nothing changes in the cluster`, async function () {
        // The step must have been observed for plan.observeMinutes before the gate can let anything through.
        await sleep(Math.max(0, Date.parse(since) + OBSERVE_MINUTES * 60_000 + 5_000 - Date.now()));
        dd.monitors = [rollbackNowTrigger(SCOPE, "v1.2.3", "Alert")];
        const before = await clusterState(k);
        const r = await upTo({ "canary.weight": "100" });
        gateOutcome("triggerInAlert", { outcome: r.refused ? "refused" : "allowed", seconds: r.seconds });
        assert.ok(r.refused, "the up was refused");
        // The engine prints the program's error indented under its resource.
        const link = `${dd.url}/monitors/4101`.replace(/[.]/g, "\\.");
        assert.match(
            r.refused,
            new RegExp(
                `release gate: raising traffic to v1\\.2\\.3 \\(25% → 100%\\) is refused; nothing was declared:\\n\\s+monitor "\\[e2e-gate\\] myapp: Rollback trigger \\(now\\): error rate above 5% \\(track:canary\\)" is Alert: ${link}\\n`,
            ),
        );
        assert.deepStrictEqual(await clusterState(k), before);
    });

    it("a canary whose p95 doubled, judged Marginal: the up to 100 is refused with the scorecard", async function () {
        dd.monitors = [rollbackNowTrigger(SCOPE, "v1.2.3", "OK")];
        serveVersion(dd, SCOPE, "v1.2.3", { ...HEALTHY, p95Seconds: 0.4, phase: 5 });
        const before = await clusterState(k);
        const r = await upTo({ "canary.weight": "100" });
        gateOutcome("judgedMarginal", { outcome: r.refused ? "refused" : "allowed", seconds: r.seconds });
        assert.ok(r.refused, "the up was refused");
        assert.match(
            r.refused,
            /judge: v1\.2\.3 against v1\.2\.2 scores 80, Marginal, below judge\.thresholds\.pass 95:/,
        );
        assert.match(r.refused, /p95LatencySeconds {2}High /);
        assert.match(r.refused, /score 80: Marginal/);
        assert.deepStrictEqual(await clusterState(k), before);
    });

    it("a healthy canary, observed and judged Pass: the up to 100 goes through", async function () {
        serveVersion(dd, SCOPE, "v1.2.3", { ...HEALTHY, phase: 5 });
        const r = await upTo({ "canary.weight": "100" });
        gateOutcome("judgedPass", { outcome: r.refused ? "refused" : "allowed", seconds: r.seconds });
        assert.strictEqual(r.refused, undefined);
        const gate = (await ps.stack.outputs()).gate.value;
        assert.strictEqual(gate.outcome, "passed");
        assert.match(
            gate.message,
            /^release gate: raising traffic to v1\.2\.3 \(25% → 100%\) passes: no monitor of v1\.2\.3 alerts, \d+ requests in 5 minutes at 25%, judged Pass \(score 100\) against v1\.2\.2$/,
        );
        await eventually(
            60,
            async () => (await k.get(CANARY_INGRESS)).metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"],
            "100",
        );
    });

    it("Datadog down: the rollback (weight 0, release.version v1.2.2) goes through", async function () {
        process.env.DATADOG_HOST = `http://127.0.0.1:${await closedPort()}`;
        const r = await upTo({ "canary.weight": "0", "release.version": "v1.2.2" });
        process.env.DATADOG_HOST = dd.url;
        gateOutcome("datadogDownRollback", { outcome: r.refused ? "refused" : "allowed", seconds: r.seconds });
        assert.strictEqual(r.refused, undefined);
        assert.strictEqual((await ps.stack.outputs()).gate.value.outcome, "no raise");
        await eventually(
            60,
            async () => (await k.get(CANARY_INGRESS)).metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"],
            "0",
        );
    });
});
