import * as assert from "assert";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { readRawConfig, validateConfig } from "../../lib/config";
import { imageRef, isPinnedVersion, splitImageRef } from "../../policy/rules";
import { rollbackCommand } from "../../lib/rollback";
import { applySet, parsePath, parsePathValue, StackConfig, toRunRequest } from "../../tools/offline/stackConfig";
import { parseCommandArgs, UsageError } from "../../tools/offline/cli";
import { main as planMain } from "../../tools/plan";
import {
    at,
    configErrorFor,
    find,
    rejectsConfig,
    preview,
    programConfig,
    PROJECT,
    runConfig,
    stackConfig,
} from "../helpers";

describe("stack config validation", () => {
    it("accepts both stack files as committed", () => {
        const production = validateConfig(PROJECT, "production", programConfig("production"));
        assert.strictEqual(production.strategy, "canary");
        assert.deepStrictEqual(production.strategy === "canary" && production.canary.steps, [5, 25, 100]);
        assert.strictEqual("rolling" in production, false, "only the strategy's own section");
        const staging = validateConfig(PROJECT, "staging", programConfig("staging"));
        assert.strictEqual(staging.strategy === "blue-green" && staging.blueGreen.activeColor, "blue");
    });

    it("reads the `restore: {}` that `pulumi config rm --path database.restore.key` leaves as no restore", () => {
        const raw = programConfig("production");
        (raw.database as Record<string, unknown>).restore = {};
        assert.strictEqual(validateConfig(PROJECT, "production", raw).database?.restore, undefined);
    });

    const cases: [string, string, string[], string][] = [
        [
            "a weight above 100",
            "production",
            ["canary.weight=150"],
            "myapp:canary.weight = 150: must be a whole number from 0 to 100",
        ],
        [
            "a rollout that cannot progress (0 and 0%)",
            "production",
            ["strategy=rolling", "rolling.maxSurge=0", "rolling.maxUnavailable=0%"],
            'myapp:rolling.maxUnavailable = "0%": cannot be 0 when rolling.maxSurge is 0: the rollout could never progress',
        ],
        [
            "a scratch size that is not bytes",
            "production",
            ["backup.scratchSize=500m"],
            'myapp:backup.scratchSize = "500m": must be a byte quantity such as "20Gi"',
        ],
        [
            "a weight outside the steps",
            "production",
            ["canary.weight=10"],
            "myapp:canary.weight = 10: must be 0 or one of the declared steps [5, 25, 100]",
        ],
        [
            "steps out of order",
            "production",
            ["canary.steps[1]=3"],
            "myapp:canary.steps = [5,3,100]: must be strictly increasing",
        ],
        [
            "an unknown color",
            "staging",
            ["blueGreen.activeColor=purple"],
            'myapp:blueGreen.activeColor = "purple": Invalid option: expected one of "blue"|"green"',
        ],
        [
            "version latest",
            "production",
            ["release.version=latest"],
            'myapp:release.version = "latest": must be a pinned tag',
        ],
        [
            "an empty tag",
            "production",
            ["canary.canaryVersion="],
            'myapp:canary.canaryVersion = "": must be a pinned tag',
        ],
        [
            "a missing image",
            "production",
            ["release.image="],
            'myapp:release.image = "": must be an image repository without a tag or digest',
        ],
        [
            "an image carrying a tag",
            "production",
            ["release.image=registry.example.com/myapp:v1"],
            'myapp:release.image = "registry.example.com/myapp:v1": must be an image repository without a tag',
        ],
        [
            "an unknown router",
            "production",
            ["canary.router=istio"],
            'myapp:canary.router = "istio": Invalid option: expected one of "nginx"|"gateway-api"|"alb"|"pod-ratio"',
        ],
        [
            "an unknown strategy",
            "production",
            ["strategy=recreate"],
            'myapp:strategy = "recreate": Invalid option: expected one of "blue-green"|"canary"|"rolling"',
        ],
        [
            "a missing strategy section",
            "production",
            ["strategy=blue-green"],
            'myapp:blueGreen = (not set): is required when strategy is "blue-green"',
        ],
        [
            "a release version no track runs",
            "production",
            ["release.version=v9.9.9"],
            'myapp:release.version = "v9.9.9": must be the stable (v1.2.2) or canary (v1.2.3) version',
        ],
        [
            "a gateway router with no gateway",
            "production",
            ["canary.router=gateway-api"],
            'myapp:canary.gateway = (not set): is required when canary.router is "gateway-api"',
        ],
        [
            "a weight the pod ratio cannot express",
            "production",
            ["canary.router=pod-ratio"],
            "myapp:canary.weight = 5: cannot be expressed with 6 replicas by the pod-ratio router",
        ],
        [
            "weight 100 with the pod-ratio router",
            "production",
            ["canary.router=pod-ratio", "canary.weight=100"],
            "myapp:canary.weight = 100: cannot be 100 with the pod-ratio router",
        ],
        [
            "a pod-ratio step the pod count cannot carry, although the current weight can",
            "production",
            ["canary.router=pod-ratio", "release.replicas=8", "canary.weight=25"],
            "myapp:canary.steps = [5,25,100]: cannot all be expressed with 8 replicas by the pod-ratio router (5)",
        ],
        [
            "a new version set on the active color, which would reach users untested",
            "staging",
            ["blueGreen.blueVersion=v1.2.4"],
            'myapp:blueGreen.blueVersion = "v1.2.4": is the active color\'s version, neither release.version (v1.2.3) nor release.previousVersion (v1.2.2)',
        ],
        [
            "the released version set on the active color while the preview color does not keep the previous one",
            "staging",
            ["blueGreen.blueVersion=v1.2.4", "release.version=v1.2.4"],
            'myapp:blueGreen.blueVersion = "v1.2.4": is release.version on the active color, so the preview color must keep release.previousVersion (v1.2.2)',
        ],
        [
            "an ALB drain that ends before the target group has drained the pod",
            "production",
            ["canary.router=alb", "canary.alb.certificateArn=arn:aws:acm:us-east-1:123456789012:certificate/x"],
            "myapp:release.drainSeconds = 10: must exceed canary.alb.deregistrationDelaySeconds (30) with the ALB router",
        ],
        [
            "a smoke-test attempt below 1",
            "staging",
            ["blueGreen.smokeTest.attempt=0"],
            "myapp:blueGreen.smokeTest.attempt = 0: Too small",
        ],
        ["a single replica", "production", ["release.replicas=1"], "myapp:release.replicas = 1: must be at least 2"],
        [
            "maxReplicas below replicas",
            "production",
            ["release.maxReplicas=4"],
            "myapp:release.maxReplicas = 4: must be at least release.replicas (6)",
        ],
        [
            "a bad quantity",
            "production",
            ["release.resources.limits.memory=lots"],
            'myapp:release.resources.limits.memory = "lots": must be a Kubernetes quantity',
        ],
        ["an unknown field", "production", ["canary.wieght=25"], 'myapp:canary: Unrecognized key: "wieght"'],
        [
            "a time zone the time zone database does not know",
            "production",
            ["monitoring.deploymentWindow.timezone=Europe/Pariss"],
            'myapp:monitoring.deploymentWindow.timezone = "Europe/Pariss": must be an IANA time zone such as "UTC" or "Europe/Paris"',
        ],
        [
            "a previousVersion other than what stable runs while the canary is not promoted",
            "production",
            ["release.previousVersion=v1.2.1"],
            'myapp:release.previousVersion = "v1.2.1": must be canary.stableVersion (v1.2.2) while the canary (v1.2.3) is not promoted: a rollback returns traffic to what stable runs',
        ],
        [
            "a pinned smoke-test image",
            "staging",
            ["blueGreen.smokeTest.image=registry.example.com/smoke"],
            'myapp:blueGreen.smokeTest.image = "registry.example.com/smoke": must be repository:tag',
        ],
        [
            "a gate override without a reason",
            "production",
            ["release.gate.override.approver=@myapp-release-lead"],
            "myapp:release.gate.override.reason = (not set): is required: say why the gate's refusal is overridden",
        ],
        [
            "a gate override with a word for a reason",
            "production",
            ["release.gate.override.reason=urgent"],
            'myapp:release.gate.override.reason = "urgent": must give a reason of at least 10 characters',
        ],
        [
            "a gate override approved by no handle",
            "production",
            ["release.gate.override.reason=the fix is in v1.2.3", "release.gate.override.approver=bob"],
            'myapp:release.gate.override.approver = "bob": must be a chat handle',
        ],
        [
            "resuming latest",
            "production",
            ["release.gate.resume=latest"],
            'myapp:release.gate.resume = "latest": must be a pinned tag',
        ],
        [
            "a gate scope beside monitoring",
            "production",
            ["release.gate.scope.span=web.request"],
            'myapp:release.gate.scope = {"span":"web.request","minRequests":100,"excludeResources":["get_/health/*"]}: must be left out with monitoring: the gate reads monitoring.span and monitoring.trafficGuard',
        ],
    ];
    for (const [what, stack, sets, expected] of cases) {
        it(`rejects ${what}, naming the key`, () => {
            const message = rejectsConfig(stack, sets, expected);
            assert.ok(message.startsWith("Invalid stack configuration (nothing was declared):\n"), message);
        });
    }

    it("lists every problem at once", () => {
        const message = configErrorFor("production", ["canary.weight=150", "release.version=latest"]);
        assert.strictEqual(message.split("\n").length, 3);
    });

    it("stops the real program with exit code 2 before it declares anything", () => {
        const r = preview(["--stack", "staging", "--set", "blueGreen.activeColor=purple", "--json"]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(r.stdout, "");
        assert.match(r.stderr, /myapp:blueGreen\.activeColor = "purple"/);
    });

    describe("a stack file that cannot be used stops with exit 2, naming the file (and line), with no stack trace", () => {
        const cases: [string, () => string[], string][] = [
            [
                "an unknown stack",
                () => ["--stack", "nosuch"],
                'no stack "nosuch": Pulumi.nosuch.yaml does not exist (stacks here: production, staging)\n',
            ],
            [
                "an unreadable --config-file",
                () => ["--stack", "production", "--config-file", "/nonexistent/Pulumi.x.yaml"],
                "stack file /nonexistent/Pulumi.x.yaml cannot be read: ENOENT\n",
            ],
            [
                "malformed YAML",
                () => {
                    const file = path.join(mkdtempSync(path.join(tmpdir(), "myapp-bad-")), "Pulumi.bad.yaml");
                    writeFileSync(file, "config:\n  myapp:strategy: canary\n  myapp:release: [oops\n");
                    return ["--stack", "production", "--config-file", file];
                },
                ":4:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 4, column 1:\n",
            ],
            [
                "a config that is not a map",
                () => {
                    const file = path.join(mkdtempSync(path.join(tmpdir(), "myapp-bad-")), "Pulumi.bad.yaml");
                    writeFileSync(file, "config:\n  - myapp:strategy\n");
                    return ["--stack", "production", "--config-file", file];
                },
                '/Pulumi.bad.yaml: "config" must be a map of keys to values\n',
            ],
        ];
        for (const [what, args, message] of cases) {
            it(what, () => {
                const r = preview(args());
                assert.strictEqual(r.code, 2, r.stderr);
                assert.strictEqual(r.stdout, "");
                assert.ok(r.stderr.endsWith(message), r.stderr);
                assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
            });
        }
    });
});

describe("config read the way pulumi config set --path writes it", () => {
    /** Every number in a stack's config, by its path under the project's namespace. */
    function numbersOf(value: unknown, at: string): string[] {
        if (typeof value === "number") return [at];
        if (Array.isArray(value)) return value.flatMap((v, i) => numbersOf(v, `${at}[${i}]`));
        if (value && typeof value === "object")
            return Object.entries(value).flatMap(([k, v]) => numbersOf(v, at ? `${at}.${k}` : k));
        return [];
    }

    for (const stack of ["production", "staging"]) {
        it(`${stack}: every number field takes its value as a string, which the CLI writes for a decimal, and reads the same config`, () => {
            const raw = programConfig(stack);
            const paths = numbersOf(raw, "");
            assert.ok(paths.includes("release.replicas") && paths.includes("database.port"), paths.join(", "));
            const asText = structuredClone(raw);
            for (const at of paths) {
                const [head, ...rest] = parsePath(at);
                const parent = rest
                    .slice(0, -1)
                    .reduce<Record<string | number, unknown>>(
                        (o, k) => o[k] as Record<string | number, unknown>,
                        asText[head] as Record<string | number, unknown>,
                    );
                parent[rest[rest.length - 1]] = String(parent[rest[rest.length - 1]]);
            }
            assert.deepStrictEqual(validateConfig(PROJECT, stack, asText), validateConfig(PROJECT, stack, raw));
        });
    }

    it("reads the decimals `--path` stores as strings as the numbers they hold", () => {
        const sets = [
            "monitoring.slo.availabilityTarget=99.95",
            "monitoring.thresholds.errorRatePct=0.7",
            "judge.metrics.errorRatePct.effectSize.allowedIncrease=1.5",
        ];
        assert.deepStrictEqual(
            sets.map((s) => applySet({}, PROJECT, s)).map((c) => JSON.stringify(Object.values(c)[0])),
            [
                '{"slo":{"availabilityTarget":"99.95"}}',
                '{"thresholds":{"errorRatePct":"0.7"}}',
                '{"metrics":{"errorRatePct":{"effectSize":{"allowedIncrease":"1.5"}}}}',
            ],
        );
        const cfg = validateConfig(PROJECT, "production", programConfig("production", sets));
        assert.deepStrictEqual(
            [
                cfg.monitoring?.slo.availabilityTarget,
                cfg.monitoring?.thresholds.errorRatePct,
                cfg.judge.metrics.errorRatePct?.effectSize?.allowedIncrease,
            ],
            [99.95, 0.7, 1.5],
        );
    });

    it("refuses text where a number belongs, and a decimal where a whole number does, naming the key, the value and what is allowed", () => {
        assert.strictEqual(
            configErrorFor("production", [
                "release.replicas=six",
                "monitoring.slo.latencyTarget=99,5",
                "release.maxReplicas=24.5",
            ]),
            [
                "Invalid stack configuration (nothing was declared):",
                '  myapp:release.replicas = "six": must be a number such as 25 or 0.7',
                "  myapp:release.maxReplicas = 24.5: must be a whole number",
                '  myapp:monitoring.slo.latencyTarget = "99,5": must be a number such as 25 or 0.7',
            ].join("\n"),
        );
    });

    it("names a list written as text and how to write it, an item per index", () => {
        assert.strictEqual(
            configErrorFor("production", ["database.schemas=public,billing"]),
            'Invalid stack configuration (nothing was declared):\n  myapp:database.schemas = "public,billing": must be a list, not text: set each item by its index, as pulumi config set --path writes lists (database.schemas[0], database.schemas[1], …)',
        );
    });

    it("refuses a key of the project's namespace the program does not read, with the closest one it does", () => {
        const config = stackConfig("staging", ["monitorng.span=web.request", "canarry.weight=5", "zzz=1"]);
        const flat = toRunRequest(PROJECT, "staging", config).config;
        const raw = readRawConfig({ name: PROJECT, get: (k) => flat[`${PROJECT}:${k}`] }, Object.keys(flat));
        const reads =
            "(it reads strategy, release, blueGreen, canary, rolling, monitoring, database, backup, plan, judge, autoRollback, appSecrets)";
        assert.throws(
            () => validateConfig(PROJECT, "staging", raw),
            (err: Error) =>
                err.message ===
                [
                    "Invalid stack configuration (nothing was declared):",
                    `  myapp:monitorng: is not a key of this program: did you mean monitoring? ${reads}`,
                    `  myapp:canarry: is not a key of this program: did you mean canary? ${reads}`,
                    `  myapp:zzz: is not a key of this program ${reads}`,
                ].join("\n"),
        );
        // Without the stack's keys (a caller that reads only the program's own) nothing unknown is read.
        assert.deepStrictEqual(
            Object.keys(readRawConfig({ name: PROJECT, get: (k) => flat[`${PROJECT}:${k}`] })),
            Object.keys(programConfig("staging")),
        );
    });
});

describe("a mistyped section under the real program", () => {
    it("stops it with exit 2 before it declares anything, where it used to pass with the section left out", () => {
        const r = preview(["--stack", "staging", "--set", "monitorng.span=web.request", "--json"]);
        assert.strictEqual(r.code, 2, r.stderr);
        assert.strictEqual(r.stdout, "");
        assert.strictEqual(
            r.stderr,
            "Invalid stack configuration (nothing was declared):\n  myapp:monitorng: is not a key of this program: did you mean monitoring? (it reads strategy, release, blueGreen, canary, rolling, monitoring, database, backup, plan, judge, autoRollback, appSecrets)\n",
        );
    });
});

describe("a section of another strategy", () => {
    it("is ignored with a warning naming it, and its fields are not demanded", () => {
        const warnings: string[] = [];
        const cfg = validateConfig(
            PROJECT,
            "production",
            programConfig("production", ["blueGreen.activeColor=green"]),
            (m) => warnings.push(m),
        );
        assert.deepStrictEqual(warnings, [
            'myapp:blueGreen is ignored: strategy is "canary", which reads myapp:canary only',
        ]);
        assert.deepStrictEqual([cfg.strategy, "blueGreen" in cfg], ["canary", false]);
        const staging: string[] = [];
        validateConfig(PROJECT, "staging", programConfig("staging", ["canary.weight=25", "rolling.maxSurge=1"]), (m) =>
            staging.push(m),
        );
        assert.deepStrictEqual(staging, [
            'myapp:canary is ignored: strategy is "blue-green", which reads myapp:blueGreen only',
            'myapp:rolling is ignored: strategy is "blue-green", which reads myapp:blueGreen only',
        ]);
    });

    it("is named by the real program as a warning, which then declares the release", () => {
        const r = preview(["--stack", "production", "--set", "blueGreen.activeColor=green", "--json"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.ok(
            r.stderr.includes(
                'warning: [runtime] myapp:blueGreen is ignored: strategy is "canary", which reads myapp:canary only\n',
            ),
            r.stderr,
        );
    });
});

describe("old names, from before argo-rollouts' words", () => {
    /** Staging's config with blueGreen.previewReplicas left out and `blueGreen` extended by `old`. */
    const stagingWith = (old: Record<string, unknown>): StackConfig => {
        const config = stackConfig("staging");
        const { previewReplicas: _, ...bg } = config["myapp:blueGreen"] as Record<string, unknown>;
        return { ...config, "myapp:blueGreen": { ...bg, ...old } };
    };
    const raw = (config: StackConfig) =>
        Object.fromEntries(
            Object.entries(config).flatMap(([k, v]) => (k.startsWith("myapp:") ? [[k.slice("myapp:".length), v]] : [])),
        );

    it("blueGreen.standbyReplicas is read as blueGreen.previewReplicas, with a one-line warning", () => {
        const warnings: string[] = [];
        const old = validateConfig(PROJECT, "staging", raw(stagingWith({ standbyReplicas: 1 })), (m) =>
            warnings.push(m),
        );
        assert.deepStrictEqual(
            old,
            validateConfig(PROJECT, "staging", programConfig("staging", ["blueGreen.previewReplicas=1"])),
        );
        assert.strictEqual(old.strategy === "blue-green" && old.blueGreen.previewReplicas, 1);
        assert.deepStrictEqual(warnings, [
            "myapp:blueGreen.standbyReplicas is deprecated, read as its new name myapp:blueGreen.previewReplicas: rename it with `pulumi config rm --path blueGreen.standbyReplicas && pulumi config set --path blueGreen.previewReplicas 1`",
        ]);
    });

    it("blueGreen.standbyReplicas declares the same resources and outputs as blueGreen.previewReplicas", () => {
        const old = runConfig("staging", stagingWith({ standbyReplicas: 1 }));
        const renamed = runConfig("staging", stackConfig("staging", ["blueGreen.previewReplicas=1"]));
        assert.strictEqual(at(find(old, ":HorizontalPodAutoscaler", "myapp-green-hpa"), "spec.minReplicas"), 1);
        assert.deepStrictEqual(old.resources, renamed.resources);
        assert.deepStrictEqual(old.outputs, renamed.outputs);
    });

    it("both names of the key are refused, naming both and the one to keep", () => {
        assert.strictEqual(
            configErrorFor("staging", ["blueGreen.standbyReplicas=1"]),
            "Invalid stack configuration (nothing was declared):\n  myapp:blueGreen.standbyReplicas = 1: is the old name of blueGreen.previewReplicas, which is set too (2): keep blueGreen.previewReplicas and remove this one (pulumi config rm --path blueGreen.standbyReplicas)",
        );
    });

    it("a bad value under the old name is refused under that name; neither name is refused as a missing previewReplicas", () => {
        assert.throws(() => validateConfig(PROJECT, "staging", raw(stagingWith({ standbyReplicas: -1 }))), {
            message:
                "Invalid stack configuration (nothing was declared):\n  myapp:blueGreen.standbyReplicas = -1: Too small: expected number to be >=0",
        });
        assert.throws(() => validateConfig(PROJECT, "staging", raw(stagingWith({}))), {
            message:
                "Invalid stack configuration (nothing was declared):\n  myapp:blueGreen.previewReplicas = (not set): is required: the replicas kept warm for the preview color, 0 to scale it down",
        });
    });

    it("an old key holding something the schema refuses gets the refusal under its name and no rename to copy", () => {
        const warnings: string[] = [];
        assert.throws(
            () =>
                validateConfig(PROJECT, "staging", raw(stagingWith({ standbyReplicas: { count: 1 } })), (m) =>
                    warnings.push(m),
                ),
            {
                message:
                    'Invalid stack configuration (nothing was declared):\n  myapp:blueGreen.standbyReplicas = {"count":1}: Invalid input: expected number, received object',
            },
        );
        assert.deepStrictEqual(warnings, []);
    });

    it("canary.router replicas declares the same resources and outputs as pod-ratio", () => {
        const old = runConfig(
            "production",
            stackConfig("production", ["canary.router=replicas", "release.replicas=20"]),
        );
        const renamed = runConfig(
            "production",
            stackConfig("production", ["canary.router=pod-ratio", "release.replicas=20"]),
        );
        // The pod ratio: one Service over both tracks, whose minimums split the 20 pods by the weight (5%).
        assert.deepStrictEqual(at(find(old, ":Service", "myapp-live"), "spec.selector"), {
            "app.kubernetes.io/name": "myapp",
        });
        assert.deepStrictEqual(
            [
                at(find(old, ":HorizontalPodAutoscaler", "myapp-stable-hpa"), "spec.minReplicas"),
                at(find(old, ":HorizontalPodAutoscaler", "myapp-canary-hpa"), "spec.minReplicas"),
            ],
            [19, 1],
        );
        assert.deepStrictEqual(old.resources, renamed.resources);
        assert.deepStrictEqual(old.outputs, renamed.outputs);
    });
});

describe("release.previousVersion", () => {
    const accepted = (stack: string, sets: string[]) =>
        validateConfig(PROJECT, stack, programConfig(stack, sets)).release.previousVersion;
    it("is what stable runs while the canary is not promoted, at any weight", () => {
        assert.strictEqual(accepted("production", []), "v1.2.2");
        assert.strictEqual(
            configErrorFor("production", ["canary.weight=0", "release.previousVersion=v1.2.1"]),
            'Invalid stack configuration (nothing was declared):\n  myapp:release.previousVersion = "v1.2.1": must be canary.stableVersion (v1.2.2) while the canary (v1.2.3) is not promoted: a rollback returns traffic to what stable runs',
        );
    });
    it("is free once stable runs the canary's version (promoted, or no canary in flight), and in a rollback's config", () => {
        assert.strictEqual(accepted("production", ["canary.stableVersion=v1.2.3", "canary.weight=0"]), "v1.2.2");
        assert.strictEqual(
            accepted("production", [
                "canary.canaryVersion=v1.2.2",
                "release.version=v1.2.2",
                "release.previousVersion=v1.2.1",
            ]),
            "v1.2.1",
        );
        assert.strictEqual(accepted("production", ["canary.weight=0", "release.version=v1.2.2"]), "v1.2.2");
    });
    it("blue/green: the active color's version until the switch, the preview color's after it (the active color rule)", () => {
        assert.strictEqual(accepted("staging", []), "v1.2.2");
        assert.ok(
            configErrorFor("staging", ["release.previousVersion=v1.2.1"]).includes(
                '  myapp:blueGreen.blueVersion = "v1.2.2": is the active color\'s version, neither release.version (v1.2.3) nor release.previousVersion (v1.2.1)',
            ),
        );
    });
});

describe("the offline commands' command line", () => {
    const usage = (argv: string[]) => {
        try {
            parseCommandArgs(argv, {});
        } catch (err) {
            assert.ok(err instanceof UsageError, String(err));
            return err.message;
        }
        throw new Error(`${argv.join(" ")} was accepted`);
    };
    it("names `--set KEY VALUE` as a usage mistake and gives the one-argument form", () => {
        assert.strictEqual(
            usage(["--stack", "production", "--set", "canary.weight", "25"]),
            '--set takes KEY=VALUE as one argument, got "canary.weight": write --set canary.weight=25',
        );
        assert.strictEqual(
            usage(["--stack", "production", "--set=canary.weight", "25"]),
            '--set takes KEY=VALUE as one argument, got "canary.weight": write --set canary.weight=25',
        );
        assert.strictEqual(
            usage(["--stack", "production", "--set", "novalue"]),
            '--set takes KEY=VALUE as one argument, got "novalue": write --set novalue=<value>',
        );
    });
    it("makes every mistake util.parseArgs finds a usage mistake", () => {
        assert.strictEqual(usage(["--stack", "production", "--bogus"]), "Unknown option '--bogus'");
        assert.strictEqual(
            usage(["--stack", "production", "stray"]),
            "Unexpected argument 'stray'. This command does not take positional arguments",
        );
    });
    it("is the plan command's too", async () => {
        await assert.rejects(
            planMain(["--stack", "production", "--set", "canary.weight", "25"]),
            (err: Error) =>
                err instanceof UsageError && err.message.startsWith("--set takes KEY=VALUE as one argument"),
        );
    });
    it("gives a whole list set on a list key the edits by index, as pulumi config set --path writes lists", () => {
        const config = stackConfig("production");
        assert.throws(() => applySet(config, PROJECT, "canary.steps=[5,25,100]"), {
            message:
                "--set canary.steps=[5,25,100]: canary.steps is a list, and --set writes one value, as pulumi config set --path does; set each item by its index: --set canary.steps[0]=5 --set canary.steps[1]=25 --set canary.steps[2]=100",
        });
        assert.throws(() => applySet(config, PROJECT, "plan.signOff=[deploymentLead, rollbackOwner]"), {
            message:
                "--set plan.signOff=[deploymentLead, rollbackOwner]: plan.signOff is a list, and --set writes one value, as pulumi config set --path does; set each item by its index: --set plan.signOff[0]=deploymentLead --set plan.signOff[1]=rollbackOwner",
        });
        assert.deepStrictEqual(
            (applySet(config, PROJECT, "canary.steps[1]=20")["myapp:canary"] as { steps: number[] }).steps,
            [5, 20, 100],
        );
    });
});

describe("image versions", () => {
    it("accepts tags and digests, never latest", () => {
        const digest = "sha256:" + "0".repeat(64);
        for (const ok of ["v1.2.3", "1.2", "v1.2.3-rc.1", digest, `v1.2.3@${digest}`])
            assert.strictEqual(isPinnedVersion(ok), true, ok);
        for (const bad of ["latest", "LATEST", "", "v1@sha256:abc", "-v1", "v1 2", `latest@${digest}`])
            assert.strictEqual(isPinnedVersion(bad), false, bad);
        assert.strictEqual(imageRef("r.example.com/app", "v1"), "r.example.com/app:v1");
        assert.strictEqual(imageRef("r.example.com/app", digest), `r.example.com/app@${digest}`);
        assert.deepStrictEqual(splitImageRef("r.example.com:5000/app:v1"), {
            repository: "r.example.com:5000/app",
            version: "v1",
        });
        assert.deepStrictEqual(splitImageRef(`app@${digest}`), { repository: "app", version: digest });
        assert.strictEqual(splitImageRef("r.example.com:5000/app"), undefined);
    });
});

describe("pulumi config set --path semantics", () => {
    it("parses paths and values as the CLI does", () => {
        assert.deepStrictEqual(parsePath('a.b[0]["c.d"].e'), ["a", "b", 0, "c.d", "e"]);
        assert.throws(() => parsePath("a..b"), /invalid config path "a..b"/);
        assert.strictEqual(parsePathValue("25"), 25);
        assert.strictEqual(parsePathValue("true"), true);
        assert.strictEqual(parsePathValue("2.5"), "2.5");
        assert.strictEqual(parsePathValue("v1.2.3"), "v1.2.3");
    });

    it("edits nested values and leaves the rest", () => {
        const c = applySet({ "myapp:canary": { weight: 5, steps: [5, 25] } }, "myapp", "canary.steps[2]=100");
        assert.deepStrictEqual(c, { "myapp:canary": { weight: 5, steps: [5, 25, 100] } });
        assert.deepStrictEqual(applySet({}, "myapp", "strategy=25"), { "myapp:strategy": "25" });
        assert.deepStrictEqual(applySet({}, "myapp", "kubernetes:context=prod"), { "kubernetes:context": "prod" });
    });

    it("hands encrypted values to the program as secrets, never their ciphertext", () => {
        const req = toRunRequest("myapp", "s", {
            "myapp:appSecrets": { SENTRY_DSN: { secure: "v1:abc" } },
            "myapp:strategy": "canary",
        });
        assert.deepStrictEqual(req.config, {
            "myapp:appSecrets": '{"SENTRY_DSN":"offline-secret(myapp:appSecrets.SENTRY_DSN)"}',
            "myapp:strategy": "canary",
        });
        assert.deepStrictEqual(req.secretKeys, ["myapp:appSecrets"]);
    });
});

describe("rollback command", () => {
    const cfg = (stack: string, sets: string[] = []) => validateConfig(PROJECT, stack, programConfig(stack, sets));
    // Each also makes the release bring the version it returns to, so that no release Job runs or is waited for.
    it("canary with traffic: weight back to 0, the release back to stable's version", () => {
        assert.strictEqual(
            rollbackCommand("production", cfg("production")),
            "pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
        );
    });
    it("promoted canary: stable back to the previous version", () => {
        assert.strictEqual(
            rollbackCommand("production", cfg("production", ["canary.stableVersion=v1.2.3", "canary.weight=0"])),
            "pulumi config set --stack production --path canary.stableVersion v1.2.2 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
        );
    });
    it("blue/green: back to the other color once the new version is active", () => {
        assert.strictEqual(
            rollbackCommand("staging", cfg("staging")),
            "none needed: the active color runs v1.2.2; v1.2.3 is only in preview",
        );
        assert.strictEqual(
            rollbackCommand("staging", cfg("staging", ["blueGreen.activeColor=green"])),
            "pulumi config set --stack staging --path blueGreen.activeColor blue && pulumi config set --stack staging --path release.version v1.2.2 && pulumi up --stack staging",
        );
        assert.strictEqual(
            rollbackCommand("staging", cfg("staging", ["blueGreen.activeColor=blue", "release.version=v1.2.2"])),
            "none needed: the active color runs the previous version v1.2.2",
        );
    });
    it("a restore the config still asks for is dropped, so that a failed or stuck restore cannot hold the traffic back", () => {
        assert.strictEqual(
            rollbackCommand(
                "production",
                cfg("production", ["database.restore.key=postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump"]),
            ),
            "pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi config rm --stack production --path database.restore && pulumi up --stack production",
        );
    });
    it("rolling: the previous version", () => {
        assert.strictEqual(
            rollbackCommand("production", cfg("production", ["strategy=rolling"])),
            "pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
        );
    });
});
