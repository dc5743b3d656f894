import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { kube } from "./lib/engine";
import { measure } from "./lib/report";
import { projectStack } from "./lib/stack";

// the CLI's own config commands work on the committed files. The real `pulumi` CLI edits a
// copy of Pulumi.yaml and Pulumi.production.yaml on a local file backend; the offline preview then reads the file the
// CLI wrote, and an engine preview shows that Pulumi.yaml's declarations (the `default: {}` of optional sections)
// are accepted for a stack that leaves those sections out.
const REPO = path.resolve(__dirname, "..");

describe("pulumi config set --path on the committed stack files", function () {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    const pulumi = (...args: string[]) =>
        execFileSync("pulumi", args, { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

    before(function () {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "myapp-e2e-cli-"));
        for (const f of ["Pulumi.yaml", "Pulumi.production.yaml"])
            fs.copyFileSync(path.join(REPO, f), path.join(dir, f));
        fs.mkdirSync(path.join(dir, "state"));
        env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase",
        };
        pulumi("stack", "init", "production", "--secrets-provider", "passphrase");
    });

    after(function () {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("the README's edits (a weight, a nested value, a new map key, a list index, decimals, a secret) land in the stack file, and `config get --path` reads them back", function () {
        pulumi("config", "set", "--path", "canary.weight", "25");
        pulumi("config", "set", "--path", "monitoring.thresholds.errorRatePct", "0.7");
        pulumi("config", "set", "--path", "monitoring.slo.availabilityTarget", "99.95");
        pulumi("config", "set", "--path", "release.resources.limits.cpu", "2");
        pulumi("config", "set", "--path", "release.env.FEATURE_EMAIL_VERIFICATION", "on");
        pulumi("config", "set", "--path", "plan.successCriteria[2]", "Checkout p95 under 2 s for 30 minutes");
        pulumi("config", "set", "--path", "database.migration.attempt", "2");
        pulumi("config", "set", "--secret", "--path", "appSecrets.SENTRY_DSN", "https://e2e@sentry.example.com/1");

        assert.strictEqual(pulumi("config", "get", "--path", "canary.weight"), "25");
        assert.strictEqual(pulumi("config", "get", "--path", "release.resources.limits.cpu"), "2");
        assert.strictEqual(
            pulumi("config", "get", "--path", "plan.successCriteria[2]"),
            "Checkout p95 under 2 s for 30 minutes",
        );
        assert.strictEqual(
            pulumi("config", "get", "--path", "appSecrets.SENTRY_DSN"),
            "https://e2e@sentry.example.com/1",
        );

        const written = YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.production.yaml"), "utf8")).config;
        const committed = YAML.parse(fs.readFileSync(path.join(REPO, "Pulumi.production.yaml"), "utf8")).config;
        // Numbers stay numbers and a quoted quantity stays a string, as the schema (lib/config/) wants them.
        assert.strictEqual(written["myapp:canary"].weight, 25);
        assert.strictEqual(written["myapp:release"].resources.limits.cpu, "2");
        assert.strictEqual(written["myapp:database"].migration.attempt, 2);
        // A decimal is written as a string ("integers are treated as numbers. All other values are treated as strings").
        assert.strictEqual(written["myapp:monitoring"].thresholds.errorRatePct, "0.7");
        assert.strictEqual(written["myapp:monitoring"].slo.availabilityTarget, "99.95");
        assert.deepStrictEqual(written["myapp:plan"].successCriteria, [
            ...committed["myapp:plan"].successCriteria,
            "Checkout p95 under 2 s for 30 minutes",
        ]);
        assert.deepStrictEqual(Object.keys(written["myapp:appSecrets"].SENTRY_DSN), ["secure"]);
        // Nothing else moved.
        for (const section of ["myapp:strategy", "myapp:backup"])
            assert.deepStrictEqual(written[section], committed[section]);
        const monitoring = committed["myapp:monitoring"];
        assert.deepStrictEqual(written["myapp:monitoring"], {
            ...monitoring,
            thresholds: { errorRatePct: "0.7" },
            slo: { ...monitoring.slo, availabilityTarget: "99.95" },
        });
    });

    it("the program accepts the file the CLI wrote: the offline preview with --config-file exits 0 and declares the edits", function () {
        const r = spawnSync(
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(REPO, "tools", "preview-offline.ts"),
                "--stack",
                "production",
                "--config-file",
                path.join(dir, "Pulumi.production.yaml"),
                "--json",
            ],
            { cwd: REPO, encoding: "utf8" },
        );
        assert.strictEqual(r.status, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        const byName = (n: string) => out.resources.find((x: any) => x.name === n);
        assert.strictEqual(
            byName("myapp-canary-ingress").inputs.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"],
            "25",
        );
        const container = byName("myapp-canary-deployment").inputs.spec.template.spec.containers[0];
        assert.strictEqual(container.resources.limits.cpu, "2");
        assert.ok(container.env.some((e: any) => e.name === "FEATURE_EMAIL_VERIFICATION" && e.value === "on"));
        assert.ok(byName("myapp-release-db-migrate-expand-v1-2-3-a2"), "attempt 2 names the migration");
        // The decimals the CLI wrote as strings are read as the numbers they hold.
        assert.ok(
            byName("myapp-monitoring-error-rate-pct-canary-condition").inputs.query.endsWith(" * 100 > 0.7"),
            byName("myapp-monitoring-error-rate-pct-canary-condition").inputs.query,
        );
        assert.deepStrictEqual(byName("myapp-monitoring-availability-slo").inputs.thresholds, [
            { target: 99.95, timeframe: "30d" },
        ]);
        assert.strictEqual(
            out.outputs.rollback,
            "pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
        );
    });
});

describe("Pulumi.yaml's config declarations under the engine", function () {
    it("a stack that leaves the optional sections out previews: the CLI gives the program their `default: {}`", async function () {
        const k = kube();
        const NS = "e2e-cli-defaults";
        await k.ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        // Only the Kubernetes provider runs here, so the sections needing the others go too (as in deploy.e2e.ts).
        const ps = await projectStack({
            base: "production",
            name: "e2e-cli-defaults",
            drop: ["database", "backup", "monitoring", "plan"],
            set: { "release.namespace": NS },
        });
        const file = YAML.parse(fs.readFileSync(path.join(ps.workDir, "Pulumi.e2e-cli-defaults.yaml"), "utf8")).config;
        const optional = ["blueGreen", "rolling", "monitoring", "database", "backup", "appSecrets", "plan"];
        for (const s of optional) assert.strictEqual(file[`myapp:${s}`], undefined, `${s} is in the stack file`);
        // What the CLI resolves for the stack: the declared defaults fill every optional section.
        const all = await ps.stack.getAllConfig();
        for (const s of optional)
            assert.strictEqual(all[`myapp:${s}`]?.value, "{}", `myapp:${s} = ${JSON.stringify(all[`myapp:${s}`])}`);
        let log = "";
        const res = await ps.stack
            .preview({
                onOutput: (s) => {
                    log += s;
                },
            })
            .catch((e) => {
                throw new Error(`${e}\n${log.slice(-3000)}`);
            });
        measure("cli.previewWithDeclaredDefaults", res.changeSummary);
        // The 12 Kubernetes objects, 2 capacity steps and 3 components the offline preview lists for this config, and
        // the stack. The tracks' Deployments are not read: their ids are unknown until they exist.
        assert.deepStrictEqual(res.changeSummary, { create: 18 });
    });
});
