import * as assert from "assert";
import { spawnSync } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { readRawConfig, validateConfig } from "../../lib/config";
import { loadMigrations, migrationsForPhase, squawkReport } from "../../lib/migrations";
import { renderPlan } from "../../lib/plan/render";
import { CHECKLIST } from "../../lib/plan/checklist";
import { applyProjectConfig, readProject, toRunRequest } from "../../tools/offline/stackConfig";
import { CliResult, NOW, PROJECT, preview, ROOT, runStack, stackConfig, writeStackFile } from "../helpers";

/** Runs `npm run plan`'s script as a user would, in a child process, at NOW unless the arguments name a `--now`. */
function plan(args: string[], cwd = ROOT): CliResult {
    const at = args.includes("--now") ? [] : ["--now", NOW];
    const r = spawnSync(
        process.execPath,
        ["-r", path.join(cwd, "lib", "register.js"), path.join(cwd, "tools", "plan.ts"), ...args, ...at],
        { cwd, encoding: "utf8" },
    );
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function planOf(args: string[]): string {
    const r = plan(args);
    assert.strictEqual(r.code, 0, r.stderr);
    return r.stdout;
}

const TEMPLATE = readFileSync(path.join(ROOT, "docs", "deployment-plan-template.md"), "utf8");

/** Headings outside code blocks, without what the template leaves to fill in: "Code Quality (Completed by [Date])" → "Code Quality". */
function headings(markdown: string): string[] {
    let fenced = false;
    const out: string[] = [];
    for (const line of markdown.split("\n")) {
        if (line.startsWith("```")) fenced = !fenced;
        const m = /^(#{1,3}) (.*)$/.exec(line);
        if (!fenced && m) out.push(`${m[1]} ${m[2].replace(/ \(.*\)$/, "").replace(/:.*$/, "")}`);
    }
    return out;
}

/** The checklist lines, as the template writes them, in the document's order. */
function checklistLines(markdown: string): string[] {
    const section = markdown.slice(
        markdown.indexOf("## Pre-Deployment Checklist"),
        markdown.indexOf("## Database Migration Plan"),
    );
    return section
        .split("\n")
        .filter((l) => /^- \[[ x]\] /.test(l))
        .map((l) =>
            l
                .replace(/^- \[[ x]\] ([✓✗] )?/, "")
                .replace(/ — .*$/, "")
                .replace(/^\[ \] /, ""),
        );
}

/** The lines that differ between two documents of the same length, as [before, after]. */
function changedLines(a: string, b: string): [string, string][] {
    const x = a.split("\n");
    const y = b.split("\n");
    assert.strictEqual(x.length, y.length, "the documents have different lengths");
    return x.map((l, i): [string, string] => [l, y[i]]).filter(([l, r]) => l !== r);
}

/** The contents of every bash block, in order. */
function bashBlocks(markdown: string): string[] {
    return [...markdown.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe("the deployment plan (npm run plan)", () => {
    const docs: Record<string, string> = {};
    before(() => {
        for (const stack of ["production", "staging"]) docs[stack] = planOf(["--stack", stack]);
    });

    for (const stack of ["production", "staging"]) {
        it(`${stack}: every section and checklist line of the template, in its order`, () => {
            assert.deepStrictEqual(
                headings(docs[stack]).filter((h) => headings(TEMPLATE).includes(h)),
                headings(TEMPLATE),
                "a template heading is missing or out of order",
            );
            const template = TEMPLATE.slice(
                TEMPLATE.indexOf("## Pre-Deployment Checklist"),
                TEMPLATE.indexOf("## Database Migration Plan"),
            )
                .split("\n")
                .filter((l) => l.startsWith("- [ ] "))
                .map((l) => l.slice(6));
            assert.deepStrictEqual(checklistLines(docs[stack]), template);
            assert.deepStrictEqual(
                CHECKLIST.flatMap((s) => s.lines.map((l) => l.line)),
                template,
            );
        });
    }

    it("proves each checklist line with the policies policy/README.md maps to it", () => {
        const table = readFileSync(path.join(ROOT, "policy", "README.md"), "utf8");
        for (const line of CHECKLIST.flatMap((s) => s.lines)) {
            const row = table.split("\n").find((l) => l.startsWith(`| ${line.line} |`));
            assert.ok(row, `policy/README.md has no row for "${line.line}"`);
            assert.deepStrictEqual(
                [...row.split("|")[2].matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]),
                line.policies,
                line.line,
            );
        }
    });

    it("production: the numbers of config and of the declared resources", () => {
        const doc = docs.production;
        for (const line of [
            "**Deployment Window**: 2 hours (14:00 to 16:00 UTC, monitoring.deploymentWindow)",
            "**Expected Downtime**: none: stable keeps 6 replicas of v1.2.2 serving while the canary takes 5% of requests, and a rollback is a weight edit.",
            "**Risk Level**: Medium: 5 expand-phase migrations (phase expand): additive, each undone by its down file.",
            "**Estimated Duration**: 5 minutes (database.migration.estimatedMinutes); Job `myapp-migrate-expand-v1-2-3` is stopped after 2160 s",
            "- then Deployment `myapp-canary` (canary) runs v1.2.3 with 2 replicas (autoscaler 2 to 24)",
            "**Step 6: Shift 25% of requests to the canary** (T+95, 15:35 UTC)",
            "- Rollback trigger (now): error rate > 5% over 5 min, for each version in flight (track:stable v1.2.2, track:canary v1.2.3)",
            "- Database connections of the app role (% of its limit) > 90% over 5 min (role `myapp_app`, limit 150)",
            "| [production] myapp: Rollback trigger (now): error rate above 5% (track:canary) | 5 | — | 5 min | rollback | 1 | no |",
            "- [production] myapp: availability: 99.9% over 30d",
            "pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production",
            "  - squawk `prefer-text-field` (line 5): Changing the size of a `varchar` field requires an `ACCESS EXCLUSIVE` lock, that will prevent all reads and writes to the table. Allowed by database.migration.allow.",
        ]) {
            assert.ok(doc.split("\n").includes(line), `missing: ${line}`);
        }
    });

    it("a threshold edit changes the document in that threshold's places only", () => {
        const changed = changedLines(
            docs.production,
            planOf(["--stack", "production", "--set", "monitoring.thresholds.dbQueryMs=400"]),
        );
        assert.deepStrictEqual(changed, [
            ["- Mean database query time > 500 ms over 10 min", "- Mean database query time > 400 ms over 10 min"],
            [
                "| [production] myapp: Mean database query time above 500 ms | 500 | — | 10 min | warning | 3 | no |",
                "| [production] myapp: Mean database query time above 400 ms | 400 | — | 10 min | warning | 3 | no |",
            ],
        ]);
    });

    it("the migration estimate moves the Job deadline and every later step", () => {
        // Twice a 20-minute estimate (2400 s) outlasts the floor the files' longest statement_timeout sets (2160 s).
        const changed = changedLines(
            docs.production,
            planOf(["--stack", "production", "--set", "database.migration.estimatedMinutes=20"]),
        );
        const after = changed.map(([, b]) => b);
        assert.ok(
            after.includes(
                "**Estimated Duration**: 20 minutes (database.migration.estimatedMinutes); Job `myapp-migrate-expand-v1-2-3` is stopped after 2400 s",
            ),
            after.join("\n"),
        );
        assert.ok(
            after.includes("**Step 6: Shift 25% of requests to the canary** (T+110, 15:50 UTC)"),
            after.join("\n"),
        );
        assert.ok(after.includes("**Step 11: Mark deployment successful** (T+200, 17:20 UTC)"), after.join("\n"));
    });

    it("marks the checklist from the policy run: a violation is ✗ with its message, the other lines keep their marks", () => {
        const doc = planOf(["--stack", "production", "--set", "canary.canaryReplicas=1"]);
        const lines = doc.split("\n");
        const at = lines.indexOf("- [ ] ✗ Capacity planning reviewed");
        assert.ok(at > 0, doc);
        assert.strictEqual(
            lines[at + 1],
            "  - `replicas-survive-node-loss` (mandatory) on myapp-canary-deployment: Deployment myapp-canary runs 1 replica: the loss of one node takes it down",
        );
        assert.ok(lines.includes("- [x] ✓ Auto-scaling configured — proven by `hpa-on-every-deployment`"));
        assert.ok(
            lines.includes(
                "Policy run (as `npm run preview:offline -- --stack production`): 17 policies, 1 violation, 1 mandatory.",
            ),
        );
        assert.ok(
            docs.production
                .split("\n")
                .includes(
                    "- [ ] Capacity planning reviewed — human check: Monitoring Lead (@myapp-sre-oncall); the pack proves only that every container has probes and resources, every Deployment survives the loss of a node and capacity follows each traffic step (the review is people's): ✓ `container-probes-and-resources`, `replicas-survive-node-loss`, `capacity-follows-traffic`",
                ),
        );
    });

    it('prints a missing plan entry as "not set", and the policy asks for a deployment lead: advisory in staging, mandatory in production', () => {
        for (const [stack, level, previewCode] of [
            ["staging", "advisory", 0],
            ["production", "mandatory", 1],
        ] as const) {
            const config = stackConfig(stack);
            delete (config["myapp:plan"] as { people: Record<string, string> }).people.deploymentLead;
            const file = writeStackFile(config);
            const doc = planOf(["--stack", stack, "--config-file", file]).split("\n");
            assert.ok(doc.includes("| Deployment Lead | not set | Execute the deployment, make rollback decisions |"));
            assert.ok(
                doc.includes(
                    "- [ ] All tests passing (unit, integration, E2E) — human check: Deployment Lead (not set)",
                ),
            );
            const at = doc.indexOf("- [ ] ✗ Rollback plan documented (see below)");
            assert.strictEqual(
                doc[at + 1],
                `  - \`release-owners-assigned\` (${level}) on myapp-deployment-plan: no deployment lead is assigned: ConfigMap myapp-deployment-plan has no deployment-lead (set plan.people.deploymentLead)`,
            );
            assert.strictEqual(preview(["--stack", stack, "--config-file", file]).code, previewCode);
        }
        const staging = docs.staging.split("\n");
        for (const line of [
            "**Deployment Date**: not set",
            "- Changes (plan.summary.changes): not set",
            "| Communication Lead | not set | Update status page, notify stakeholders |",
            "**Status Page**: not set",
        ]) {
            assert.ok(staging.includes(line), `missing: ${line}`);
        }
    });

    it("every step carries the rollback for the state it leaves: staging's switch to green, production's promotion", () => {
        const rollbackAfter = (doc: string, step: string) => {
            const lines = doc.split("\n");
            const at = lines.findIndex((l) => l.startsWith(`**${step}`));
            return lines.slice(at).find((l) => l.startsWith("Rollback from here: "));
        };
        assert.strictEqual(
            rollbackAfter(docs.staging, "Step 5:"),
            "Rollback from here: none needed: the active color runs v1.2.2; v1.2.3 is only in preview",
        );
        assert.strictEqual(
            rollbackAfter(docs.staging, "Step 6: Switch the active color to green"),
            "Rollback from here: `pulumi config set --stack staging --path blueGreen.activeColor blue && pulumi config set --stack staging --path release.version v1.2.2 && pulumi up --stack staging`",
        );
        assert.strictEqual(
            rollbackAfter(docs.production, "Step 7: Shift 100%"),
            "Rollback from here: `pulumi config set --stack production --path canary.weight 0 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production`",
        );
        assert.strictEqual(
            rollbackAfter(docs.production, "Step 8: Promote v1.2.3 to stable"),
            "Rollback from here: `pulumi config set --stack production --path canary.stableVersion v1.2.2 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production`",
        );
        assert.strictEqual(
            rollbackAfter(docs.production, "Step 11: Mark deployment successful"),
            "Rollback from here: `pulumi config set --stack production --path canary.stableVersion v1.2.2 && pulumi config set --stack production --path release.version v1.2.2 && pulumi up --stack production`",
        );
        for (const doc of [docs.production, docs.staging]) {
            const steps = doc
                .slice(doc.indexOf("## Deployment Steps"), doc.indexOf("## Rollback Plan"))
                .split("\n**Step ")
                .slice(1);
            assert.ok(steps.length > 0 && steps.every((s) => s.includes("\nRollback from here: ")));
        }
    });

    it("claims no more than the policies prove: a scan, a CVE check and a migration test stay human checks", () => {
        const lines = docs.production.split("\n");
        for (const line of [
            "- [ ] Security scan passed (Snyk, OWASP ZAP) — human check: Deployment Lead (@myapp-release-lead); the pack proves only that images are pinned and from the allowed registries, pods are restricted and no secret is in plain text (the scan runs in the registry and CI): ✓ `images-pinned-and-allowed`, `restricted-pod-security`, `no-plaintext-secrets`",
            "- [ ] Dependencies updated (no critical CVEs) — human check: Deployment Lead (@myapp-release-lead); the pack proves only that images are pinned and from the allowed registries (the CVE scan is the registry's): ✓ `images-pinned-and-allowed`",
            "- [ ] Database migrations tested — human check: Database Lead (@myapp-dba-oncall); the pack proves only that the migration runs after the pre-deploy backup and before the new version (testing it is staging's): ✓ `migration-before-new-version`, `backup-before-migration`",
            "- [x] ✓ Auto-scaling configured — proven by `hpa-on-every-deployment`",
        ]) {
            assert.ok(lines.includes(line), `missing: ${line}`);
        }
        assert.ok(!lines.some((l) => /✓ (Security scan|Dependencies updated|Database migrations tested)/.test(l)));
    });

    it("budgets the pre-deploy backup by its Job's deadline before the migration, and brings the template's lost lines back", () => {
        const lines = docs.production.split("\n");
        for (const line of [
            "- Job `myapp-predeploy-backup-v1-2-3` dumps the database to s3://myapp-production-db-backups/postgres/myapp/<UTC timestamp>-pre-deploy-v1.2.3.dump, within 60 minutes (its deadline, which the timeline budgets)",
            "**T+65, 15:05 UTC**: #engineering (progress)",
            'git tag -a v1.2.3 -m "Release v1.2.3"',
            "git push origin v1.2.3",
            'gh release create v1.2.3 --title "v1.2.3" --notes-file RELEASE_NOTES.md',
            "curl -fsS https://api.example.com/health/ready",
            "- the smoke test passes against https://api.example.com, on v1.2.2",
            "Reason: <the rollback trigger that fired, or what was found>",
            "Impact: <who was affected, how, and for how long>",
            "Incident: <the incident's link in https://example.pagerduty.com/incidents>",
            "- Monitoring for the next 24 hours: Monitoring Lead (@myapp-sre-oncall)",
            "Monitoring: we are watching closely for the next 24 hours; report any issue to #engineering.",
        ]) {
            assert.ok(lines.includes(line), `missing: ${line}`);
        }
        assert.ok(
            docs.staging
                .split("\n")
                .includes(
                    "kubectl -n staging run myapp-smoke-after-rollback --rm -i --restart=Never --image=registry.example.com/myapp-smoke:v1.2.3 --env=SMOKE_URL=https://staging.example.com -- 'npm' 'run' 'test:smoke' '--' '--url=$(SMOKE_URL)'",
                ),
        );
    });

    it("refuses a plan entry that is not a handle, naming the key", () => {
        const r = plan(["--stack", "staging", "--set", "plan.people.onCall=jane"]);
        assert.strictEqual(r.code, 2);
        assert.match(
            r.stderr,
            /myapp:plan\.people\.onCall = "jane": must be a chat handle such as "@myapp-release-lead" or an email address/,
        );
    });

    it("the runbook holds the plan's commands in the same order, with the checks and without the explanations", () => {
        const runbook = planOf(["--stack", "production", "--runbook"]);
        const steps = docs.production.slice(
            docs.production.indexOf("## Deployment Steps"),
            docs.production.indexOf("## Monitoring & Alerting"),
        );
        assert.deepStrictEqual(bashBlocks(runbook), bashBlocks(steps));
        assert.ok(!runbook.includes("What the engine changes"));
        assert.ok(
            runbook
                .split("\n")
                .includes(
                    "- `kubectl -n production get job myapp-predeploy-backup-v1-2-3 myapp-migrate-expand-v1-2-3` shows each Complete (`pulumi up` waits for them and stops on a failure)",
                ),
        );
        assert.strictEqual(runbook.split("\n")[0], "# Runbook: myapp v1.2.3 to production");
    });

    it("the program's readme output is the same document, with output references and the checklist left to the policy run", () => {
        for (const stack of ["production", "staging"]) {
            const run = runStack(stack);
            const request = toRunRequest(
                PROJECT,
                stack,
                applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), stack, stackConfig(stack)),
            );
            const cfg = validateConfig(
                PROJECT,
                stack,
                readRawConfig({ name: PROJECT, get: (k: string) => request.config[`${PROJECT}:${k}`] }),
            );
            const m = cfg.database!.migration;
            const migrationRun = cfg.database!.migrationRun;
            assert.strictEqual(migrationRun.kind, "sql");
            const sqlDir = migrationRun.kind === "sql" ? migrationRun.sqlDir : "";
            const dir = path.join(ROOT, sqlDir);
            const all = loadMigrations(dir);
            const selected = migrationsForPhase(all, m.phase);
            const migrations = { sqlDir, all, selected, findings: squawkReport(dir, selected, m.allow) };
            assert.strictEqual(
                run.outputs.readme,
                renderPlan({
                    stack,
                    cfg,
                    resources: run.resources.filter((r) => !r.read),
                    migrations,
                    outputRefs: true,
                    now: new Date(NOW),
                }),
            );
        }
        const readme = String(runStack("production").outputs.readme).split("\n");
        assert.ok(readme.includes("${outputs.rollback}"));
        assert.ok(
            readme.includes(
                "- [ ] Auto-scaling configured — checked by `hpa-on-every-deployment` on every preview with the policy pack (result: `npm run plan -- --stack production`)",
            ),
        );
    });

    it("works as a new user runs it: npm run plan in a copy of the repository, writing --out", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "myapp-clone-"));
        const files = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
            cwd: ROOT,
            encoding: "utf8",
        })
            .stdout.split("\n")
            .filter(Boolean);
        for (const f of files) {
            mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
            cpSync(path.join(ROOT, f), path.join(dir, f));
        }
        // What `npm ci` installs from the committed lock file.
        symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
        const out = path.join(dir, "plan-production.md");
        const r = spawnSync("npm", ["run", "-s", "plan", "--", "--stack", "production", "--out", out, "--now", NOW], {
            cwd: dir,
            encoding: "utf8",
        });
        assert.strictEqual(r.status, 0, r.stderr);
        // The program runs offline, without Datadog credentials: the release gate says it did not look.
        assert.strictEqual(
            r.stderr.trim(),
            [
                "warning: [runtime] release gate: not evaluated (no Datadog credentials: datadog:apiKey and datadog:appKey, or DD_API_KEY and DD_APP_KEY): a raise of traffic in this run is not checked",
                `Wrote the deployment plan of production to ${out}`,
            ].join("\n"),
        );
        assert.strictEqual(readFileSync(out, "utf8"), docs.production);
    });
});
