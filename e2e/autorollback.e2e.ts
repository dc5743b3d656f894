import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { v1 } from "@datadog/datadog-api-client";
import { applyProjectConfig, readProject, readStackFile, toRunRequest } from "../tools/offline/stackConfig";
import { DeclaredResource } from "../tools/offline/types";
import { DeclaredWebhook, startDatadogStandIn, DatadogStandIn } from "../test/support/datadogStandIn";
import {
    createDeploymentRequest,
    Deployment,
    DeploymentsStandIn,
    startDeploymentsStandIn,
} from "../test/support/deploymentsStandIn";
import { runProgramSync } from "../test/support/programThread";
import { engineLog, kube, namespace, stackFile, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { shell } from "./lib/printed";
import { gateMeasure } from "./lib/report";
import { checkoutOf, projectStack, ProjectStack } from "./lib/stack";
import { releasePlan, ReleaseState, walkRelease } from "../lib/release/walk";
import { automationDriver, stackFileConfig } from "../tools/release";

// Issue 20 part 3: a rollback trigger that fires takes the canary's traffic back with no person and no controller.
// Datadog (the stand-in, on loopback) calls the webhook the program declares; the webhook's request reaches the Pulumi
// Deployments stand-in, which checks it against the published request type and runs it as the service does: in a
// fresh checkout of the stack, the request's pre-run commands with the real CLI, then `pulumi up` on the real engine
// and API server. Neither provider of those two SaaS can run here (no Datadog or Pulumi Cloud provider plugin), so
// the e2e stack leaves `monitoring` out and sets `autoRollback.enabled: false`; the webhook and the monitors that
// call it are the same program's declaration under mocks, from this stack's file with production's monitoring and
// the automatic rollback enabled. The mark is read by every run of the e2e stack all the same (the section is set).
const NS = "e2e-autorollback";
const STACK = "e2e-autorollback";
const WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";
const REPO = path.join(__dirname, "..");
const TOKEN = "pul-e2e-stand-in-token";

describe("automatic rollback: a rollback trigger's webhook takes the canary to weight 0 through Pulumi Deployments, and the mark refuses the git-driven run until a person resumes", function () {
    let ps: ProjectStack;
    let k: Kube;
    let datadog: DatadogStandIn;
    let deployments: DeploymentsStandIn;
    let declared: DeclaredResource[];
    const onOutput = engineLog(80);
    const weight = async () =>
        (await k.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp-canary`)).metadata.annotations[
            WEIGHT
        ] as string;
    const outputs = async () =>
        Object.fromEntries(Object.entries(await ps.stack.outputs()).map(([key, o]) => [key, o.value])) as Record<
            string,
            any
        >;

    /** Pulumi Deployments, as far as a deployment of this stack goes: a fresh checkout, the pre-run commands, `pulumi up`. */
    async function runDeployment(d: Deployment): Promise<void> {
        const checkout = await checkoutOf(ps, d.id);
        for (const command of d.request.operationContext?.preRunCommands ?? []) {
            // The commands a rollback needs; anything else would run unchecked on the service's runner.
            if (
                !new RegExp(`^pulumi config (set|rm) --stack ${STACK} --path [A-Za-z.]+( [A-Za-z0-9.]+)?$`).test(
                    command,
                )
            )
                throw new Error(`not a config edit of ${STACK}: ${command}`);
            shell(checkout, command);
        }
        const res = await checkout.stack.up({ onOutput });
        if (res.summary.result !== "succeeded") throw new Error(`deployment ${d.id}: pulumi up ${res.summary.result}`);
    }

    /** The program's declaration under mocks for this stack's config with production's monitoring and the automatic rollback on. */
    function declaredWithAutomation(revealSecrets: boolean): DeclaredResource[] {
        const file = readStackFile(stackFile(ps));
        const committed = readStackFile(path.join(REPO, "Pulumi.production.yaml"));
        const config = {
            ...file,
            "myapp:monitoring": committed["myapp:monitoring"],
            "myapp:autoRollback": {
                enabled: true,
                apiUrl: deployments.url,
                source: { repoUrl: "https://github.com/acme/myapp-deploy.git", branch: "main" },
                pulumiAccessToken: TOKEN,
            },
        };
        const request = toRunRequest(
            "myapp",
            STACK,
            applyProjectConfig(readProject(path.join(REPO, "Pulumi.yaml")), STACK, config),
        );
        // The token as `pulumi config set --secret` passes it: the key is secret, and the run keeps it in the clear
        // only so that the stand-in can send what the program built.
        return runProgramSync({ ...request, secretKeys: [...request.secretKeys, "myapp:autoRollback"], revealSecrets })
            .resources;
    }

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "production",
            name: STACK,
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": NS, "canary.weight": "25", "autoRollback.enabled": "false" },
        });
        datadog = await startDatadogStandIn();
        deployments = await startDeploymentsStandIn(TOKEN, runDeployment);
        await timedUp(ps, onOutput);
    });

    after(async function () {
        await datadog?.close();
        await deployments?.close();
    });

    it("the first up carries no mark: the stack's own previous outputs have none", async function () {
        assert.strictEqual(await weight(), "25");
        assert.deepStrictEqual((await outputs()).autoRollback, { halted: [] });
    });

    it("the webhook the program declares is the Deployments API of this stack, with the printed rollback's edits and the mark as pre-run commands, and its token a secret", async function () {
        declared = declaredWithAutomation(true);
        const hooks = declared.filter((r) => r.type === "datadog:index/webhook:Webhook");
        assert.strictEqual(hooks.length, 1);
        const hook = hooks[0].inputs as unknown as DeclaredWebhook;
        assert.strictEqual(hook.url, `${deployments.url}/api/stacks/organization/myapp/${STACK}/deployments`);
        const body = createDeploymentRequest.parse(JSON.parse(hook.payload!));
        const printed = (await outputs()).rollback as string;
        assert.deepStrictEqual(body.operationContext?.preRunCommands, [
            ...printed.split(" && ").slice(0, -1),
            `pulumi config set --stack ${STACK} --path autoRollback.halt v1.2.3`,
        ]);
        assert.strictEqual(JSON.parse(hook.customHeaders!).Authorization, `token ${TOKEN}`);
        // The headers carry the token: a secret, masked wherever the run is shown.
        const masked = declaredWithAutomation(false).find((r) => r.type === "datadog:index/webhook:Webhook")!;
        assert.strictEqual(masked.inputs.customHeaders, "[secret]");
        datadog.webhooks.push(hook);
    });

    it("the canary's rollback trigger in ALERT calls the webhook; the deployment it creates takes the cluster to weight 0, and the time from ALERT to weight 0 is measured", async function () {
        const trigger = declared.find((r) => r.name === "myapp-monitoring-rollback-now-error-rate-pct-canary")!;
        const monitor = Object.assign(new v1.Monitor(), {
            id: 1001,
            name: trigger.inputs.name as string,
            message: trigger.inputs.message as string,
            tags: trigger.inputs.tags as string[],
        });
        datadog.monitors = [monitor];
        const alertAt = Date.now();
        const deliveries = await datadog.alert(monitor);
        assert.deepStrictEqual(
            deliveries.map((d) => [d.webhook, d.status]),
            [[`myapp-${STACK}-auto-rollback`, 202]],
        );
        let zeroAt = 0;
        while (Date.now() - alertAt < 300_000) {
            if ((await weight()) === "0") {
                zeroAt = Date.now();
                break;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
        await deployments.idle();
        const seconds = Math.round((zeroAt - alertAt) / 100) / 10;
        gateMeasure("alertToWeightZeroSeconds", zeroAt ? seconds : null);
        gateMeasure("autoRollback", {
            outcome: zeroAt ? "weight 0 through the webhook path" : "weight not 0 within 300 s",
            deployments: deployments.deployments.map((d) => ({
                id: d.id,
                state: d.state,
                error: d.error,
                seconds: d.finishedAt && (d.finishedAt - d.receivedAt) / 1000,
            })),
        });
        assert.deepStrictEqual(deployments.invalid, []);
        assert.deepStrictEqual(
            deployments.deployments.map((d) => [d.state, d.error]),
            [["succeeded", undefined]],
        );
        assert.deepStrictEqual(deployments.deployments[0].request.operationContext?.environmentVariables, {
            AUTO_ROLLBACK_ALERT_ID: "1001",
            AUTO_ROLLBACK_ALERT_TRANSITION: "Triggered",
        });
        assert.ok(zeroAt > 0, "the canary Ingress never reached weight 0");
        const after = await outputs();
        assert.deepStrictEqual(after.autoRollback, { halted: ["v1.2.3"] });
        assert.strictEqual(after.traffic.canaryWeight, 0);
    });

    it("the mark is not in the repository's config: the git checkout still says weight 25 and sets no halt", function () {
        const file = readStackFile(stackFile(ps));
        assert.strictEqual((file["myapp:canary"] as { weight: number }).weight, 25);
        assert.deepStrictEqual(file["myapp:autoRollback"], { enabled: false });
    });

    it("the next git-driven up (config from git: weight 25, no pre-run commands) is refused by the gate: v1.2.3 is halted, the weight stays 0 and the mark stays", async function () {
        let refused: string | undefined;
        await ps.stack.up({ onOutput }).catch((e: Error) => (refused = e.message));
        assert.ok(refused, "the git-driven up was not refused");
        assert.match(
            refused,
            /v1\.2\.3 was halted by an automatic rollback: raising its traffic again takes release\.gate\.resume = "v1\.2\.3"/,
        );
        assert.strictEqual(await weight(), "0");
        const after = await outputs();
        assert.deepStrictEqual([after.autoRollback, after.traffic.canaryWeight], [{ halted: ["v1.2.3"] }, 0]);
        gateMeasure("markAfterGitDrivenUp", {
            outcome: "refused",
            halted: after.autoRollback.halted,
            canaryWeight: await weight(),
        });
    });

    it("a person's edit naming the version (release.gate.resume v1.2.3) lets the next up send weight 25 again and lifts the mark", async function () {
        await ps.stack.setConfig("release.gate.resume", { value: "v1.2.3" }, true);
        await timedUp(ps, onOutput);
        assert.strictEqual(await weight(), "25");
        assert.deepStrictEqual((await outputs()).autoRollback, { halted: [] });
    });

    it("the stand-in's request type names the fields of apitype.CreateDeploymentRequest and OperationContext at v3.248.0", function () {
        // Downloaded if missing: a tools cache restored without the module cache leaves the module out (issue 16).
        const { Dir: dir } = JSON.parse(
            execFileSync("go", ["mod", "download", "-json", "github.com/pulumi/pulumi/sdk/v3@v3.248.0"], {
                encoding: "utf8",
            }),
        ) as { Dir: string };
        assert.ok(dir, "go mod download gave no directory for github.com/pulumi/pulumi/sdk/v3@v3.248.0");
        const source = fs.readFileSync(path.join(dir, "go/common/apitype/deployments.go"), "utf8");
        const tags = (type: string) =>
            [
                ...(new RegExp(`type ${type} struct \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? "").matchAll(
                    /json:"([A-Za-z]+)/g,
                ),
            ]
                .map((m) => m[1])
                .sort();
        assert.deepStrictEqual(Object.keys(createDeploymentRequest.shape).sort(), tags("CreateDeploymentRequest"));
        assert.deepStrictEqual(
            Object.keys(createDeploymentRequest.shape.operationContext.unwrap().shape).sort(),
            tags("OperationContext"),
        );
    });
});

describe("npm run release on the engine: a step shifted through the Automation API, saved, and resumed without shifting again", function () {
    const RNS = "e2e-release";
    let ps: ProjectStack;
    let k: Kube;
    const onOutput = engineLog(80);
    const weight = async () =>
        (await k.get(`/apis/networking.k8s.io/v1/namespaces/${RNS}/ingresses/myapp-canary`)).metadata.annotations[
            WEIGHT
        ] as string;

    before(async function () {
        k = kube();
        await namespace(k, RNS);
        ps = await projectStack({
            base: "production",
            name: "e2e-release",
            drop: ["database", "backup", "monitoring"],
            set: { "release.namespace": RNS, "canary.weight": "0" },
        });
        await timedUp(ps, onOutput);
    });

    it("shifts to the first step with a config edit and `pulumi up`, holds when the judge cannot read Datadog, and a second run resumes from the state file without another up", async function () {
        const stateFile = path.join(ps.workDir, ".release", "e2e-release.json");
        const lines: string[] = [];
        const plan = releasePlan("e2e-release", stackFileConfig(ps.workDir, "e2e-release"));
        // A short watch: what is tested is the walk on the engine, not the half hour.
        plan.observeMinutes = 0.05;
        const first = await walkRelease(
            plan,
            automationDriver(ps.stack, ps.workDir, stateFile, (l) => lines.push(l)),
        );
        assert.strictEqual(await weight(), "5");
        assert.deepStrictEqual(
            [first.outcome, first.steps[0].weight, first.steps[0].verdict?.verdict],
            ["held", 5, "not judged"],
        );
        // The e2e stack has no monitoring (no Datadog provider here), so the judge has nothing to read: it holds.
        assert.match(first.steps[0].verdict?.reason ?? "", /sets no monitoring/);
        const saved = JSON.parse(fs.readFileSync(stateFile, "utf8")) as ReleaseState;
        assert.deepStrictEqual(saved, first);
        const updates = (await ps.stack.history()).length;
        const second = await walkRelease(
            saved,
            automationDriver(ps.stack, ps.workDir, stateFile, (l) => lines.push(l)),
        );
        assert.strictEqual(second.outcome, "held");
        assert.strictEqual((await ps.stack.history()).length, updates, "the resumed run ran another update");
        assert.ok(
            lines.some((l) => l.includes("[1/4] Shift 5% of requests to the canary: resumed")),
            lines.join("\n"),
        );
        gateMeasure("releaseOnEngine", {
            firstRun: first.outcome,
            resumed: second.outcome,
            updatesBeforeResume: updates,
            updatesAfterResume: (await ps.stack.history()).length,
        });
    });
});
