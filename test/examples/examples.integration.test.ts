import * as assert from "assert";
import { execFile } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { promisify } from "util";
import { all, at, find, ROOT } from "../helpers";
import { runProject } from "../../tools/offline/run";
import { readEditedStack, toRunRequest } from "../../tools/offline/stackConfig";
import { DeclaredResource, ProgramError } from "../../tools/offline/types";

const run = promisify(execFile);
const EXAMPLES = ["catalog-api", "orders-api"];
const PACKAGE = "@myapp/release-components";

/** What `npm run preview:offline -- --json` prints. */
interface PreviewJson {
    stack: string;
    resources: DeclaredResource[];
    outputs: Record<string, unknown>;
    policy: { violations: { policy: string; message: string }[] };
}

/** npm's options for an install that reaches no registry and runs no script. */
const NPM_OFFLINE = ["--offline", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund"];

/** The version of a package installed in this project. */
function installedVersion(name: string): string {
    return (
        JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }
    ).version;
}

/**
 * A lockfile for a folder that depends on `dependencies` and otherwise holds this project's installed tree, so that
 * npm checks a package's peers against the versions installed here, from the lockfile and not the registry.
 */
function lockfileOf(name: string): string {
    const { packages } = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
        packages: Record<string, unknown>;
    };
    const kept = Object.entries(packages).filter(([at]) => at !== "");
    return JSON.stringify({
        name,
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name, dependencies: {} }, ...Object.fromEntries(kept) },
    });
}

/** A package.json's dependencies and devDependencies. */
function dependenciesOf(dir: string): Record<string, string> {
    const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
    };
    return { ...manifest.dependencies, ...manifest.devDependencies };
}

/**
 * The examples as another team has them: the library's tarball (`npm pack`, which builds it) installed with npm
 * into a folder outside this project, and the other packages they name (the Pulumi SDKs, TypeScript) linked from
 * this project's node_modules, at the versions it pins, since the tests reach no registry.
 */
describe("examples: services built on the installed library", function () {
    this.timeout(120_000);
    let dir: string;
    let packed: { filename: string; size: number; files: { path: string }[] };
    let installWarnings: string;
    const previews: Record<string, PreviewJson> = {};
    let typeErrors: string;
    let ordersPlan: string;

    before(async () => {
        dir = mkdtempSync(path.join(tmpdir(), "myapp-examples-"));
        const pack = await run("npm", ["pack", "--json", "--pack-destination", dir], {
            cwd: path.join(ROOT, "components"),
        });
        [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as (typeof packed)[];
        writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "examples", private: true }));
        // npm checks the package's peers against this project's versions (the lockfile) and, --omit=peer, writes none
        // of them: they are linked afterwards, since npm removes from node_modules what it did not install.
        writeFileSync(path.join(dir, "package-lock.json"), lockfileOf("examples"));
        const install = await run("npm", ["install", ...NPM_OFFLINE, "--omit=peer", path.join(dir, packed.filename)], {
            cwd: dir,
        });
        installWarnings = install.stderr;
        const rootPins = dependenciesOf(ROOT);
        for (const example of EXAMPLES) {
            cpSync(path.join(ROOT, "examples", example), path.join(dir, example), { recursive: true });
            for (const [name, version] of Object.entries(dependenciesOf(path.join(ROOT, "examples", example)))) {
                if (name === PACKAGE) {
                    assert.strictEqual(
                        version,
                        `file:../../components/${packed.filename}`,
                        `${example} installs the tarball npm pack writes`,
                    );
                    continue;
                }
                assert.strictEqual(version, rootPins[name], `${example} pins ${name} as this project does`);
                const link = path.join(dir, "node_modules", name);
                rmSync(link, { recursive: true, force: true });
                mkdirSync(path.dirname(link), { recursive: true });
                symlinkSync(path.join(ROOT, "node_modules", name), link);
            }
        }
        // The type check and the previews run side by side: each is mostly loading the SDKs' declarations or code.
        const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
        const typecheck = run("node", [tsc, "-b", ...EXAMPLES.map((e) => path.join(dir, e))], { cwd: dir }).then(
            ({ stdout }) => stdout,
            (err: { stdout: string }) => err.stdout,
        );
        const tool = (file: string, example: string, ...args: string[]) =>
            run(
                "node",
                [
                    "-r",
                    path.join(ROOT, "lib", "register.js"),
                    path.join(ROOT, "tools", file),
                    "--stack",
                    "production",
                    "--project-dir",
                    path.join(dir, example),
                    ...args,
                ],
                {
                    cwd: ROOT,
                    maxBuffer: 64 << 20,
                },
            );
        await Promise.all([
            ...EXAMPLES.map(async (example) => {
                previews[example] = JSON.parse(
                    (await tool("preview-offline.ts", example, "--json")).stdout,
                ) as PreviewJson;
            }),
            tool("plan.ts", "orders-api").then(({ stdout }) => (ordersPlan = stdout)),
        ]);
        typeErrors = await typecheck;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("packs compiled JavaScript, declarations and the database scripts, and no TypeScript sources", () => {
        const files = packed.files.map((f) => f.path);
        assert.ok(
            files.includes("dist/components/index.js") && files.includes("dist/components/index.d.ts"),
            files.join(" "),
        );
        assert.deepStrictEqual(
            files.filter((f) => f.startsWith("dist/components/database/scripts/")).sort(),
            ["backup.sh", "dump-lib.sh", "migrate-sql.sh", "pg-lib.sh", "restore-drill.sh", "restore.sh"].map(
                (f) => `dist/components/database/scripts/${f}`,
            ),
        );
        assert.deepStrictEqual(
            files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
            [],
        );
        // Installed, the package resolves to what it packed, through its exports (it has no main).
        assert.strictEqual(
            require.resolve(PACKAGE, { paths: [dir] }),
            path.join(dir, "node_modules", PACKAGE, "dist", "components", "index.js"),
        );
    });

    it("takes the Pulumi SDKs as peers in caret ranges from this project's versions, which npm installs without --legacy-peer-deps", () => {
        const manifest = JSON.parse(readFileSync(path.join(dir, "node_modules", PACKAGE, "package.json"), "utf8")) as {
            peerDependencies: Record<string, string>;
        };
        const sdks = [
            "@pulumi/aws",
            "@pulumi/datadog",
            "@pulumi/kubernetes",
            "@pulumi/postgresql",
            "@pulumi/pulumi",
            "@pulumi/pulumiservice",
            "@pulumi/random",
        ];
        assert.deepStrictEqual(
            manifest.peerDependencies,
            Object.fromEntries(sdks.map((name) => [name, `^${installedVersion(name)}`])),
        );
        const rootPins = dependenciesOf(ROOT);
        assert.deepStrictEqual(
            sdks.map((name) => rootPins[name]),
            sdks.map(installedVersion),
        );
        assert.doesNotMatch(installWarnings, /ERESOLVE/);
    });

    it("type-checks each example against the installed package's declarations", () => {
        assert.strictEqual(typeErrors, "");
    });

    it("catalog-api: a rolling release of its own version and host, with its own alerts, and no policy violation under its pack config", () => {
        const p = previews["catalog-api"];
        assert.deepStrictEqual(p.outputs, {
            version: "v4.1.0",
            url: "https://catalog.example.com",
            rollback:
                "pulumi config set --stack production --path service.version v4.0.3 && pulumi up --stack production",
        });
        const d = find(p, ":Deployment", "catalog-api-app-deployment");
        assert.deepStrictEqual(at(d, "spec.strategy"), {
            type: "RollingUpdate",
            rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
        });
        assert.strictEqual(at(d, "spec.template.spec.containers")[0].image, "registry.example.com/catalog-api:v4.1.0");
        const alertOf = (m: DeclaredResource) =>
            (at(m, "tags") as string[]).find((t) => t.startsWith("plan-alert:"))?.slice("plan-alert:".length);
        assert.deepStrictEqual(
            all(p, ":Monitor")
                .map(alertOf)
                .filter((a) => a !== undefined),
            [
                "errorRatePct",
                "p95LatencySeconds",
                "rollbackNowErrorRatePct",
                "rollbackNowP95Seconds",
                "cpuPct",
                "memoryPct",
                "autoscalerAtMaxPct",
            ],
        );
        assert.deepStrictEqual(p.policy.violations, []);
    });

    it("orders-api: the canary takes its weight through ingress-nginx, both tracks wait for the migration, which waits for a backup", () => {
        const p = previews["orders-api"];
        assert.deepStrictEqual(p.outputs, {
            stableVersion: "v2.3.0",
            canaryVersion: "v2.4.0",
            canaryWeight: 10,
            url: "https://orders.example.com",
            rollback:
                "pulumi config set --stack production --path service.canaryWeight 0 && pulumi up --stack production",
        });
        assert.strictEqual(
            at(find(p, ":Ingress", "orders-api-canary-ingress"), "metadata.annotations")[
                "nginx.ingress.kubernetes.io/canary-weight"
            ],
            "10",
        );
        assert.deepStrictEqual(
            ["stable", "canary"].map(
                (t) =>
                    at(find(p, ":Deployment", `orders-api-${t}-deployment`), "spec.template.spec.containers")[0].image,
            ),
            ["registry.example.com/orders-api:v2.3.0", "registry.example.com/orders-api:v2.4.0"],
        );
        const migration = find(p, ":Job", "orders-api-release-db-migrate-expand-v2-4-0");
        assert.deepStrictEqual(at(migration, "spec.template.spec.containers")[0].command, [
            "/bin/sh",
            "/scripts/migrate-sql.sh",
            "up",
        ]);
        assert.deepStrictEqual(migration.dependsOn, [
            "orders-api-release-db-predeploy-backup-v2-4-0",
            "orders-api-db-roles-migrator-secret",
            "orders-api-release-db-migrations",
        ]);
        // The migration's runner is the script the package ships, its SQL the example's own file.
        const files = at(find(p, ":ConfigMap", "orders-api-release-db-migrations"), "data") as Record<string, string>;
        assert.strictEqual(
            files["migrate-sql.sh"],
            readFileSync(path.join(ROOT, "components", "database", "scripts", "migrate-sql.sh"), "utf8"),
        );
        assert.strictEqual(
            files["001_orders_add_note.up.sql"],
            readFileSync(path.join(ROOT, "examples", "orders-api", "migrations", "001_orders_add_note.up.sql"), "utf8"),
        );
        for (const track of ["stable", "canary"]) {
            assert.ok(
                find(p, ":Deployment", `orders-api-${track}-deployment`).dependsOn.includes(
                    "orders-api-release-db-migrate-expand-v2-4-0",
                ),
                track,
            );
        }
        assert.deepStrictEqual(
            all(p, ":CronJob").map((c) => [c.name, at(c, "spec.schedule")]),
            [
                ["orders-api-db-backup-backup", "0 */6 * * *"],
                ["orders-api-db-backup-restore-drill", "30 4 * * 0"],
            ],
        );
        assert.deepStrictEqual(p.policy.violations, []);
    });

    it("orders-api's plan lists what it declares, its release Jobs and schedules, the checklist the pack proves, and its rollback", () => {
        const section = (title: string) => ordersPlan.split("\n## ").find((x) => x.startsWith(title)) ?? "";
        assert.strictEqual(
            section("What `pulumi up` declares"),
            [
                "What `pulumi up` declares",
                "",
                ...[
                    "`release:index:DatabaseRoles` `orders-api-db-roles`: 38 resources",
                    "`release:index:BackupBucket` `orders-api-backups`: 9 resources",
                    "`release:index:BackupSchedule` `orders-api-db-backup`: 12 resources",
                    "`release:index:ReleaseDatabaseJobs` `orders-api-release-db`: 3 resources",
                    "`kubernetes:core/v1:ConfigMap` `orders-api-deployment-plan`",
                    "`release:index:CanaryDeployment` `orders-api`: 12 resources",
                    "`release:index:ReleaseMonitoring` `orders-api-monitoring`: 26 resources",
                    "`release:index:ScheduledJobMonitoring` `orders-api-scheduled-jobs`: 3 resources",
                ].map((l) => `- ${l}`),
                "",
                "Jobs the release runs, each awaited before what depends on it:",
                "",
                "- `orders-api-predeploy-backup-v2-4-0` (predeploy-backup)",
                "- `orders-api-migrate-expand-v2-4-0` (migration)",
                "",
                "Scheduled jobs (UTC):",
                "",
                "- `orders-api-db-backup`: `0 */6 * * *`",
                "- `orders-api-db-restore-drill`: `30 4 * * 0`",
                "",
                "A canary weight edit changes Ingress orders-api-canary and the tracks' capacity steps; no pod restarts.",
                "",
            ].join("\n"),
        );
        const checklist = section("Pre-Deployment Checklist");
        assert.ok(checklist.includes("Policy run: 16 policies, 0 violations, 0 mandatory."), checklist);
        assert.ok(
            checklist.includes(
                "- [x] ✓ Database backup scheduled — proven by `database-backup-scheduled`, `backup-bucket-hardened`, `backup-before-migration`",
            ),
            checklist,
        );
        assert.ok(
            section("Stack outputs").includes(
                "- rollback: `pulumi config set --stack production --path service.canaryWeight 0 && pulumi up --stack production`",
            ),
        );
    });
});

describe("--project-dir: another project's program under the offline preview's mocks", () => {
    let dir: string;
    before(() => {
        // Inside the checkout, so that the program finds @pulumi/pulumi in its node_modules.
        mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
        dir = mkdtempSync(path.join(ROOT, ".cache", "project-"));
        writeFileSync(path.join(dir, "Pulumi.yaml"), "name: queue\nmain: program.ts\nruntime: nodejs\n");
        writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  queue:region: eu-west-1\n");
        writeFileSync(
            path.join(dir, "program.ts"),
            'import * as pulumi from "@pulumi/pulumi";\nexport const region = new pulumi.Config().require("region");\nnew pulumi.ComponentResource("queue:index:Queue", "jobs");\n',
        );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** The dev stack's run, with one key of its config left out. */
    const runIn = (without?: string) => {
        const { project, main, edited } = readEditedStack(dir, "dev", undefined, []);
        const config = Object.fromEntries(Object.entries(edited).filter(([key]) => key !== without));
        return runProject(toRunRequest(project, "dev", config), dir, main);
    };

    it("runs Pulumi.yaml's main, declaring afresh on each run, with a module's exports as the outputs", async () => {
        for (let i = 0; i < 2; i++) {
            const run = await runIn();
            assert.deepStrictEqual(
                run.resources.map((r) => [r.type, r.name]),
                [["queue:index:Queue", "jobs"]],
            );
            assert.deepStrictEqual(run.outputs, { region: "eu-west-1" });
        }
    });

    it("stops with exit code 2 and the message alone when the program refuses its config", async () => {
        const err = await runIn("queue:region").then(
            () => assert.fail("the run went through"),
            (e: ProgramError) => e,
        );
        assert.deepStrictEqual(
            [err.exitCode, err.message],
            [
                2,
                "Missing required configuration variable 'queue:region'\n\tplease set a value using the command `pulumi config set queue:region <value>`",
            ],
        );
    });
});
