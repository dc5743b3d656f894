import * as assert from "assert";
import * as path from "path";
import { v1 } from "@datadog/datadog-api-client";
import { haltedVersions, previousHalted } from "../../lib/gate/mark";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { applyProjectConfig, readProject, StackConfig, toRunRequest } from "../../tools/offline/stackConfig";
import { ProgramError, ProgramRun, RunRequest } from "../../tools/offline/types";
import { PACK_ENFORCEMENT, policies } from "../../policy/policies";
import { all, at, configErrorFor, find, NOW, PROJECT, ROOT, runConfig, stackConfig } from "../helpers";
import { DeclaredWebhook, startDatadogStandIn } from "../support/datadogStandIn";
import { createDeploymentRequest, Deployment, startDeploymentsStandIn } from "../support/deploymentsStandIn";
import { runProgramSync } from "../support/programThread";

const SELF = "organization/myapp/production";
const SOURCE = [
    "autoRollback.source.repoUrl=https://github.com/acme/myapp-deploy.git",
    "autoRollback.source.branch=main",
];
const TOKEN = "pul-0123456789abcdef";
const WEBHOOK = "datadog:index/webhook:Webhook";

/** Production with automatic rollback, its token set with --secret (as the CLI stores it: `secure`). */
function withAutomation(sets: string[] = []): StackConfig {
    const c = stackConfig("production", [...SOURCE, ...sets]);
    (c["myapp:autoRollback"] as Record<string, unknown>).pulumiAccessToken = { secure: "v1:ciphertext" };
    return c;
}

/** A run of the program under mocks; `reveal` keeps secret values in the clear, with the token the CLI would decrypt. */
function run(config: StackConfig, o: { previous?: unknown; reveal?: boolean } = {}): ProgramRun {
    const request: RunRequest = {
        ...toRunRequest(
            PROJECT,
            "production",
            applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), "production", config),
        ),
        now: NOW,
        live: o.previous === undefined ? undefined : { [SELF]: { outputs: { autoRollback: o.previous } } },
    };
    if (o.reveal) {
        request.revealSecrets = true;
        request.config["myapp:autoRollback"] = request.config["myapp:autoRollback"].replace(
            "offline-secret(myapp:autoRollback.pulumiAccessToken)",
            TOKEN,
        );
    }
    return runProgramSync(request);
}

const webhookOf = (r: ProgramRun) =>
    find(r, ":Webhook", "myapp-auto-rollback-webhook").inputs as unknown as DeclaredWebhook;
const messageOf = (r: ProgramRun, name: string) =>
    at(find(r, ":Monitor", `myapp-monitoring-${name}`), "message") as string;

describe("automatic rollback: what the program declares", function () {
    it("a canary at 25: a Datadog webhook that creates a Deployments update of this stack, running the printed rollback's edits and the mark", () => {
        const r = run(withAutomation(["canary.weight=25"]));
        const hook = webhookOf(r);
        assert.strictEqual(hook.name, "myapp-production-auto-rollback");
        assert.strictEqual(hook.url, `https://api.pulumi.com/api/stacks/${SELF}/deployments`);
        assert.strictEqual(hook.encodeAs, "json");
        const body = createDeploymentRequest.parse(JSON.parse(hook.payload!));
        assert.deepStrictEqual(body, {
            operation: "update",
            inheritSettings: true,
            operationContext: {
                preRunCommands: [
                    "pulumi config set --stack production --path canary.weight 0",
                    "pulumi config set --stack production --path release.version v1.2.2",
                    "pulumi config set --stack production --path autoRollback.halt v1.2.3",
                ],
                environmentVariables: {
                    AUTO_ROLLBACK_ALERT_ID: "$ALERT_ID",
                    AUTO_ROLLBACK_ALERT_TRANSITION: "$ALERT_TRANSITION",
                },
            },
        });
        // Every edit `pulumi stack output rollback` prints, in its order, before the mark.
        const printed = (r.outputs.rollback as string).split(" && ").slice(0, -1);
        assert.deepStrictEqual(body.operationContext?.preRunCommands?.slice(0, -1), printed);
    });

    it("the restore a rollback drops is dropped by the automatic one too", () => {
        const r = run(withAutomation(["canary.weight=25", "database.restore.key=postgres/myapp/2026-11-27.dump"]));
        const commands = createDeploymentRequest.parse(JSON.parse(webhookOf(r).payload!)).operationContext!
            .preRunCommands!;
        assert.ok(
            commands.includes("pulumi config rm --stack production --path database.restore"),
            commands.join("\n"),
        );
        assert.deepStrictEqual(commands.slice(0, -1), (r.outputs.rollback as string).split(" && ").slice(0, -1));
    });

    it("the token is a secret: masked in the webhook's headers and in no output, and sent as `Authorization: token …` when decrypted", () => {
        const masked = run(withAutomation(["canary.weight=25"]));
        assert.strictEqual(webhookOf(masked).customHeaders, "[secret]");
        assert.ok(!JSON.stringify(masked.outputs).includes("offline-secret"));
        assert.ok(!JSON.stringify(masked.resources.filter((r) => r.type !== WEBHOOK)).includes("offline-secret"));
        const revealed = run(withAutomation(["canary.weight=25"]), { reveal: true });
        assert.deepStrictEqual(JSON.parse(webhookOf(revealed).customHeaders!), {
            Authorization: `token ${TOKEN}`,
            Accept: "application/vnd.pulumi+8",
            "Content-Type": "application/json",
        });
    });

    it("declares the stack's deployment settings (the repository Deployments runs), and the webhook after them", () => {
        const r = run(withAutomation(["canary.weight=25", "autoRollback.source.repoDir=deploy"]));
        const settings = find(r, ":DeploymentSettings", "myapp-auto-rollback-deployment-settings");
        assert.strictEqual(settings.parent, "myapp-auto-rollback");
        assert.deepStrictEqual(settings.inputs, {
            organization: "organization",
            project: "myapp",
            stack: "production",
            sourceContext: {
                git: { repoUrl: "https://github.com/acme/myapp-deploy.git", branch: "main", repoDir: "deploy" },
            },
        });
        assert.deepStrictEqual(find(r, ":Webhook", "myapp-auto-rollback-webhook").dependsOn, [
            "myapp-auto-rollback-deployment-settings",
        ]);
    });

    it("the canary's rollback triggers notify the webhook in their alert block only; its other monitors and stable's triggers do not", () => {
        const r = run(withAutomation(["canary.weight=25"]));
        for (const trigger of [
            "rollback-now-error-rate-pct",
            "rollback-now-p95-seconds",
            "rollback-sustained-error-rate-pct",
            "rollback-sustained-p95-seconds",
        ]) {
            const message = messageOf(r, `${trigger}-canary`);
            assert.match(
                message,
                /\{\{#is_alert\}\}[^]*@webhook-myapp-production-auto-rollback\{\{\/is_alert\}\}/,
                trigger,
            );
            assert.strictEqual(message.match(/@webhook-/g)?.length, 1, trigger);
            assert.ok(!messageOf(r, `${trigger}-stable`).includes("@webhook-"), `${trigger}-stable`);
            // Declared after the webhook exists: Datadog checks the handles a monitor notifies.
            assert.ok(
                find(r, ":Monitor", `myapp-monitoring-${trigger}-canary`).dependsOn.includes("myapp-auto-rollback"),
            );
        }
        assert.ok(!messageOf(r, "error-rate-pct-canary").includes("@webhook-"));
        assert.match(messageOf(r, "rollback-now-error-rate-pct-canary"), /Rolling back automatically/);
    });

    it("with nothing to roll back (canary at weight 0, stable on the previous version) there is no webhook and no monitor calls one", () => {
        const r = run(withAutomation(["canary.weight=0"]));
        assert.deepStrictEqual(all(r, ":Webhook"), []);
        assert.strictEqual(all(r, ":DeploymentSettings").length, 1);
        assert.ok(all(r, ":Monitor").every((m) => !(at(m, "message") as string).includes("@webhook-")));
    });

    it("enabled: false declares neither settings nor webhook, and still reads the mark", () => {
        const r = run(withAutomation(["canary.weight=0", "autoRollback.enabled=false"]), {
            previous: { halted: ["v1.2.3"] },
        });
        assert.deepStrictEqual([all(r, ":Webhook"), all(r, ":DeploymentSettings")], [[], []]);
        assert.deepStrictEqual(r.outputs.autoRollback, { halted: ["v1.2.3"] });
    });

    it("passes the production policy pack with the automatic rollback declared", async () => {
        const violations = await runPolicies(
            run(withAutomation(["canary.weight=25"])),
            policies,
            readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")),
            PACK_ENFORCEMENT,
        );
        assert.deepStrictEqual(violations, []);
    });
});

describe("automatic rollback: config", function () {
    const refused: [string, string[], string][] = [
        [
            "an enabled automatic rollback without a source",
            ["autoRollback.enabled=true"],
            "myapp:autoRollback.source = (not set): is required when autoRollback.enabled",
        ],
        [
            "an enabled automatic rollback without a token",
            SOURCE,
            "myapp:autoRollback.pulumiAccessToken = (not set): is required when autoRollback.enabled: set it with `pulumi config set --secret --path autoRollback.pulumiAccessToken`",
        ],
        [
            "a repository URL that is not https",
            ["autoRollback.source.repoUrl=git@github.com:acme/x.git", "autoRollback.source.branch=main"],
            'myapp:autoRollback.source.repoUrl = "git@github.com:acme/x.git"',
        ],
        [
            "a halt that is not a pinned version",
            ["autoRollback.enabled=false", "autoRollback.halt=latest"],
            'myapp:autoRollback.halt = "latest": must be a pinned tag',
        ],
        [
            "an unknown key",
            ["autoRollback.enabled=false", "autoRollback.webhook=x"],
            'myapp:autoRollback: Unrecognized key: "webhook"',
        ],
    ];
    for (const [what, sets, message] of refused)
        it(`refuses ${what}`, () =>
            assert.ok(configErrorFor("production", sets).includes(message), configErrorFor("production", sets)));

    it("refuses an enabled automatic rollback without monitoring: its triggers are the monitors", () => {
        const c = withAutomation();
        delete c["myapp:monitoring"];
        assert.throws(
            () => run(c),
            (e: ProgramError) =>
                e.exitCode === 2 &&
                e.message.includes(
                    "myapp:autoRollback.enabled = true: needs monitoring: the rollback triggers are its monitors",
                ),
        );
    });

    it("never prints the token, even when it is refused", () => {
        const message = configErrorFor("production", [...SOURCE, "autoRollback.pulumiAccessToken=12345678"]);
        assert.ok(message.includes("myapp:autoRollback.pulumiAccessToken: must be a string"), message);
        assert.ok(!message.includes("12345678"), message);
    });

    it("refuses a token stored in plain text, before anything is declared", () => {
        assert.throws(
            () => run(stackConfig("production", [...SOURCE, `autoRollback.pulumiAccessToken=${TOKEN}`])),
            (e: ProgramError) =>
                e.exitCode === 2 &&
                e.declaredBeforeFailure === 0 &&
                e.message.includes(
                    "myapp:autoRollback.pulumiAccessToken: must be set with `pulumi config set --secret",
                ) &&
                !e.message.includes(TOKEN),
        );
    });
});

describe("the automatic-rollback mark", function () {
    it("keeps the previous run's halted versions, adds the one this run halts, and drops the one a person resumes", () => {
        assert.deepStrictEqual(haltedVersions({ previous: [] }), []);
        assert.deepStrictEqual(haltedVersions({ previous: ["v1.2.3"] }), ["v1.2.3"]);
        assert.deepStrictEqual(haltedVersions({ previous: ["v1.2.3"], halt: "v1.2.4" }), ["v1.2.3", "v1.2.4"]);
        assert.deepStrictEqual(haltedVersions({ previous: ["v1.2.3"], halt: "v1.2.3" }), ["v1.2.3"]);
        assert.deepStrictEqual(haltedVersions({ previous: ["v1.2.3", "v1.2.4"], resume: "v1.2.3" }), ["v1.2.4"]);
        assert.deepStrictEqual(haltedVersions({ previous: ["v1.2.3"], resume: "v9" }), ["v1.2.3"]);
    });

    it("reads a stack's previous output, and refuses one that is not { halted: [versions] }", () => {
        assert.deepStrictEqual(previousHalted(undefined), []);
        assert.deepStrictEqual(previousHalted({ halted: ["v1.2.3"] }), ["v1.2.3"]);
        assert.throws(
            () => previousHalted({ halted: "v1.2.3" }),
            /the previous autoRollback output is not \{ halted: \[versions\] \}/,
        );
    });

    it("the deployment's run (config with autoRollback.halt) writes the mark into the stack's outputs", () => {
        const r = run(withAutomation(["canary.weight=0", "release.version=v1.2.2", "autoRollback.halt=v1.2.3"]), {
            previous: { halted: [] },
        });
        assert.deepStrictEqual(r.outputs.autoRollback, { halted: ["v1.2.3"] });
    });

    it("the next git-driven run (no halt in config) carries it forward from the stack's own previous outputs, read before anything is declared", () => {
        const r = run(withAutomation(["canary.weight=0"]), { previous: { halted: ["v1.2.3"] } });
        assert.deepStrictEqual(r.outputs.autoRollback, { halted: ["v1.2.3"] });
        const reads = r.resources.filter((x) => x.type === "pulumi:pulumi:StackReference");
        assert.deepStrictEqual(
            reads.map((x) => [x.name, x.inputs.name, x.read]),
            [
                ["myapp-rollback-mark", SELF, true],
                ["myapp-gate-last-up", SELF, true],
            ],
        );
        assert.deepStrictEqual(r.resources.slice(0, 2), reads);
    });

    it("the next git-driven run that raises the halted version's traffic again is refused by the gate until release.gate.resume names it", () => {
        assert.throws(
            () => run(withAutomation(["canary.weight=25"]), { previous: { halted: ["v1.2.3"] } }),
            /v1\.2\.3 was halted by an automatic rollback: raising its traffic again takes release\.gate\.resume = "v1\.2\.3"/,
        );
        const resumed = run(withAutomation(["canary.weight=25", "release.gate.resume=v1.2.3"]), {
            previous: { halted: ["v1.2.3"] },
        });
        assert.deepStrictEqual(resumed.outputs.autoRollback, { halted: [] });
    });

    it("a stack without the autoRollback section reads no mark and outputs none", () => {
        const r = runConfig("production", stackConfig("production", ["canary.weight=25"]));
        assert.deepStrictEqual(
            r.resources.filter((x) => x.type === "pulumi:pulumi:StackReference"),
            [],
        );
        assert.strictEqual(r.outputs.autoRollback, undefined);
    });
});

describe("the webhook path on loopback: Datadog's alert reaches the Deployments API as a valid request", function () {
    this.timeout(60_000);

    it("a trigger in ALERT sends the declared payload with Datadog's variables and the token; the stand-in accepts it as a CreateDeploymentRequest", async () => {
        const received: Deployment[] = [];
        const deployments = await startDeploymentsStandIn(TOKEN, (d) => Promise.resolve(void received.push(d)));
        const dd = await startDatadogStandIn();
        try {
            const c = withAutomation(["canary.weight=25", `autoRollback.apiUrl=${deployments.url}`]);
            const r = run(c, { reveal: true });
            dd.webhooks.push(webhookOf(r));
            const trigger = find(r, ":Monitor", "myapp-monitoring-rollback-now-error-rate-pct-canary");
            const monitor = Object.assign(new v1.Monitor(), {
                id: 4242,
                name: at(trigger, "name"),
                message: at(trigger, "message"),
                tags: at(trigger, "tags"),
            });
            const deliveries = await dd.alert(monitor);
            await deployments.idle();
            assert.deepStrictEqual(
                deliveries.map((d) => [d.webhook, d.status]),
                [["myapp-production-auto-rollback", 202]],
            );
            assert.deepStrictEqual(deployments.invalid, []);
            assert.deepStrictEqual(
                received.map((d) => [
                    d.stack,
                    d.request.operationContext?.environmentVariables,
                    d.request.operationContext?.preRunCommands?.at(-1),
                ]),
                [
                    [
                        { organization: "organization", project: "myapp", stack: "production" },
                        { AUTO_ROLLBACK_ALERT_ID: "4242", AUTO_ROLLBACK_ALERT_TRANSITION: "Triggered" },
                        "pulumi config set --stack production --path autoRollback.halt v1.2.3",
                    ],
                ],
            );
        } finally {
            await dd.close();
            await deployments.close();
        }
    });

    it("the Deployments stand-in refuses a wrong token and a field the published type lacks", async () => {
        const deployments = await startDeploymentsStandIn(TOKEN, () => Promise.resolve());
        try {
            const post = (token: string, body: unknown) =>
                fetch(`${deployments.url}/api/stacks/o/p/s/deployments`, {
                    method: "POST",
                    headers: { Authorization: `token ${token}`, "Content-Type": "application/json" },
                    body: JSON.stringify(body),
                });
            assert.strictEqual((await post("wrong", { operation: "update", inheritSettings: true })).status, 401);
            assert.strictEqual(
                (
                    await post(TOKEN, {
                        operation: "update",
                        inheritSettings: true,
                        operationContext: { PreRunCommands: ["x"] },
                    })
                ).status,
                400,
            );
            assert.strictEqual((await post(TOKEN, { operation: "up", inheritSettings: true })).status, 400);
            assert.strictEqual(deployments.deployments.length, 0);
            assert.strictEqual(deployments.invalid.length, 3);
        } finally {
            await deployments.close();
        }
    });
});
