import * as assert from "assert";
import { mkdtempSync, readdirSync, readFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import * as YAML from "yaml";
import { validateManifest } from "../../../tools/offline/render";
import { ProgramRun } from "../../../tools/offline/types";
import { runProgramSync as runProgram } from "../../support/programThread";
import { applyProjectConfig, readProject, toRunRequest } from "../../../tools/offline/stackConfig";
import { NOW, preview, PROJECT, ROOT, stackConfig, writeStackFile } from "../../helpers";

function previewJson(args: string[]): ProgramRun & { diff?: unknown } {
    const r = preview([...args, "--json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
}

describe("the stacks through index.ts", () => {
    const runs: Record<string, ProgramRun> = {};
    const dirs: Record<string, string> = {};
    before(() => {
        for (const stack of ["production", "staging"]) {
            dirs[stack] = mkdtempSync(path.join(tmpdir(), `render-${stack}-`));
            runs[stack] = previewJson(["--stack", stack, "--render-dir", dirs[stack]]);
        }
    });

    for (const stack of ["production", "staging"]) {
        it(`${stack}: every Kubernetes object passes schema validation and is rendered`, () => {
            const dir = dirs[stack];
            const run = runs[stack];
            // Reads of live objects and patches of objects made elsewhere are not whole objects to render.
            const kubeObjects = run.resources.filter(
                (r) => r.type.startsWith("kubernetes:") && !r.read && !r.type.endsWith("Patch"),
            );
            const files = readdirSync(dir).sort();
            assert.strictEqual(files.length, kubeObjects.length);
            for (const file of files) {
                const manifest = YAML.parse(readFileSync(path.join(dir, file), "utf8"));
                validateManifest(manifest);
                assert.strictEqual(
                    file,
                    `${manifest.metadata.namespace}.${manifest.kind.toLowerCase()}.${manifest.metadata.name}.yaml`,
                );
            }
        });
    }

    it("production: a 5% ingress-nginx canary of v1.2.3 beside stable v1.2.2", () => {
        const run = runs.production;
        assert.deepStrictEqual(
            run.resources
                .filter(
                    (r) =>
                        r.parent === "myapp" ||
                        r.parent?.startsWith("myapp-stable") ||
                        r.parent?.startsWith("myapp-canary") ||
                        r.name === "myapp" ||
                        r.name === "myapp-env",
                )
                .map((r) => `${r.type} ${r.name} <- ${r.parent}`),
            [
                "kubernetes:core/v1:Secret myapp-env <- null",
                "release:index:CanaryDeployment myapp <- null",
                "release:index:AppWorkload myapp-stable <- myapp",
                "kubernetes:apps/v1:Deployment myapp-stable-deployment <- myapp-stable",
                "kubernetes:apps/v1:Deployment myapp-stable-live <- myapp-stable",
                "kubernetes:policy/v1:PodDisruptionBudget myapp-stable-pdb <- myapp-stable",
                "release:index:AppWorkload myapp-canary <- myapp",
                "kubernetes:apps/v1:Deployment myapp-canary-deployment <- myapp-canary",
                "kubernetes:apps/v1:Deployment myapp-canary-live <- myapp-canary",
                "kubernetes:policy/v1:PodDisruptionBudget myapp-canary-pdb <- myapp-canary",
                // The autoscalers' minimums and the capacity steps come from both tracks' live reads.
                "kubernetes:autoscaling/v2:HorizontalPodAutoscaler myapp-stable-hpa <- myapp-stable",
                "kubernetes:apps/v1:DeploymentPatch myapp-stable-capacity-w5 <- myapp-stable",
                "kubernetes:autoscaling/v2:HorizontalPodAutoscaler myapp-canary-hpa <- myapp-canary",
                "kubernetes:apps/v1:DeploymentPatch myapp-canary-capacity-w5 <- myapp-canary",
                "kubernetes:core/v1:Service myapp-live <- myapp",
                "kubernetes:core/v1:Service myapp-canary-svc <- myapp",
                "kubernetes:networking.k8s.io/v1:Ingress myapp-ingress <- myapp",
                "kubernetes:networking.k8s.io/v1:Ingress myapp-canary-ingress <- myapp",
            ],
        );
        const { readme, database, ...outputs } = run.outputs as Record<string, any>;
        assert.match(String(readme), /^# Deployment Plan: myapp v1\.2\.3 \(production\)\n/);
        assert.strictEqual(
            database.retryFailedJob,
            "pulumi config set --stack production --path database.migration.attempt 2 && pulumi up --stack production",
        );
        assert.deepStrictEqual(outputs, {
            strategy: "canary",
            versions: { stable: "v1.2.2", canary: "v1.2.3" },
            traffic: { canaryWeight: 5, steps: "5,25,100" },
            urls: { public: "https://api.example.com" },
            rollback:
                "pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
            gate: {
                outcome: "not evaluated",
                message:
                    "release gate: not evaluated (no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY): a raise of traffic in this run is not checked",
                traffic: { shares: { "v1.2.2": 95, "v1.2.3": 5 } },
            },
        });
    });

    it("staging: blue/green with blue active on v1.2.2 and green previewing v1.2.3", () => {
        const run = runs.staging;
        const { readme, database, ...outputs } = run.outputs as Record<string, any>;
        assert.match(String(readme), /^# Deployment Plan: myapp v1\.2\.3 \(staging\)\n/);
        assert.strictEqual(
            database.retryFailedJob,
            "pulumi config set --stack staging --path database.migration.attempt 2 && pulumi up --stack staging",
        );
        assert.deepStrictEqual(outputs, {
            strategy: "blue-green",
            versions: { blue: "v1.2.2", green: "v1.2.3" },
            traffic: {
                activeColor: "blue",
                activeVersion: "v1.2.2",
                retrySmokeTest:
                    "pulumi config set --stack staging --path blueGreen.smokeTest.attempt 2 && pulumi up --stack staging",
            },
            urls: { public: "https://staging.example.com", preview: "https://preview.staging.example.com" },
            rollback: "none needed: the active color runs v1.2.2; v1.2.3 is only in preview",
            // Offline, without Datadog credentials: the gate says it did not look, and records the shares only.
            gate: {
                outcome: "not evaluated",
                message:
                    "release gate: not evaluated (no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY): a raise of traffic in this run is not checked",
                traffic: { shares: { "v1.2.2": 100 } },
            },
        });
        const jobs = run.resources
            .filter((r) => r.type === "kubernetes:batch/v1:Job")
            .map((r: any) => r.inputs.metadata.name);
        assert.deepStrictEqual(jobs, [
            "myapp-predeploy-backup-v1-2-3",
            "myapp-migrate-expand-v1-2-3",
            "myapp-smoke-blue-v1-2-2",
            "myapp-smoke-green-v1-2-3",
        ]);
    });

    it("keeps secret config out of every input and output", () => {
        const config = stackConfig("production");
        config["myapp:appSecrets"] = { SENTRY_DSN: { secure: "v1:c2VudHJ5" }, STRIPE_KEY: { secure: "v1:c3RyaXBl" } };
        const run = runProgram({
            ...toRunRequest(
                PROJECT,
                "production",
                applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), "production", config),
            ),
            now: NOW,
        });
        assert.ok(
            !JSON.stringify(run).includes("offline-secret("),
            "a secret value reached the declared resources in plain text",
        );
        assert.strictEqual(run.resources.find((x) => x.name === "myapp-env")!.inputs.stringData, "[secret]");
    });

    it("declares the app's Secret without stringData when appSecrets is unset, so a re-run plans no change", () => {
        // The API server drops an empty stringData; declaring {} made every preview replace the Secret and, through
        // its name, the Deployments (pulumi/pulumi-kubernetes#3538; seen on the engine by the e2e suite).
        const secret = runs.production.resources.find((x) => x.name === "myapp-env")!;
        assert.ok(!("stringData" in secret.inputs), JSON.stringify(secret.inputs));
    });

    it("prints the tree a reviewer reads", () => {
        const r = preview(["--stack", "production"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const lines = r.stdout.split("\n");
        assert.strictEqual(lines[0], "myapp-production (147 resources, 10 components)");
        assert.ok(lines.includes("├─ release:index:CanaryDeployment  myapp"), r.stdout);
        assert.ok(
            lines.includes(
                "│  └─ kubernetes:networking.k8s.io/v1:Ingress  myapp-canary-ingress  name=myapp-canary  canary-weight=5  host=api.example.com  after=myapp-stable,myapp-canary,myapp-stable-capacity-w5,myapp-canary-capacity-w5",
            ),
            r.stdout,
        );
        assert.ok(
            lines.includes(
                "│  │  └─ kubernetes:apps/v1:DeploymentPatch  myapp-canary-capacity-w5  name=myapp-canary  ready=2  share=5  after=myapp-canary-hpa",
            ),
            r.stdout,
        );
        assert.ok(lines.includes("│  │  ├─ kubernetes:apps/v1:Deployment  myapp-canary-live  read"), r.stdout);
        assert.ok(
            lines.includes(
                "  rollback: pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
            ),
            r.stdout,
        );
    });

    it("applies Pulumi.yaml's defaults, and stops like the CLI when a stack misses a key that has none", () => {
        const config = stackConfig("production");
        delete config["myapp:release"];
        const r = preview(["--stack", "production", "--config-file", writeStackFile(config)]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(r.stderr.trim(), "Stack 'production' is missing configuration value 'release'");
        const project = readProject(path.join(ROOT, "Pulumi.yaml"));
        const merged = applyProjectConfig(project, "production", stackConfig("production"));
        assert.deepStrictEqual(
            [merged["myapp:blueGreen"], merged["myapp:rolling"], merged["myapp:appSecrets"]],
            [{}, {}, {}],
        );
    });

    it("answers a usage mistake with exit 2 (not 1, a policy violation's), the form to write and the syntax", () => {
        const r = preview(["--stack", "production", "--set", "canary.weight", "25"]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(r.stdout, "");
        assert.ok(
            r.stderr.startsWith(
                '--set takes KEY=VALUE as one argument, got "canary.weight": write --set canary.weight=25\n\nusage: npm run preview:offline -- --stack <name>',
            ),
            r.stderr,
        );
    });

    it("answers a --policy-config that names no file with exit 2, the flag and the path, instead of the pack's defaults", () => {
        const r = preview(["--stack", "production", "--policy-config", "policy/config/prod.json"]);
        assert.strictEqual(r.code, 2);
        assert.strictEqual(r.stdout, "");
        assert.ok(
            r.stderr.startsWith(
                `--policy-config names no file: ${path.join(ROOT, "policy", "config", "prod.json")}\n\nusage: npm run preview:offline`,
            ),
            r.stderr,
        );
    });

    it("rejects a manifest that breaks the Kubernetes schema, naming the object", () => {
        const broken = {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "broken" },
            spec: {
                selector: { matchLabels: { a: "b" } },
                template: { spec: { containers: [{ name: "c", image: "i:1", ports: [{ containerPort: "80" }] }] } },
            },
        };
        assert.throws(
            () => validateManifest(broken),
            /Deployment broken does not match the apps\/v1 schema: .*containerPort must be integer/,
        );
    });
});
