import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { LocalWorkspace, LocalWorkspaceOptions, Stack } from "@pulumi/pulumi/automation";

const REPO = path.resolve(__dirname, "..", "..");
/**
 * The checkout whose program the stacks run: this repo, or E2E_PROGRAM_DIR (another worktree, e.g. a branch with
 * fixes), with this repo's harness and node_modules. The offline preview runs from there too.
 */
export const PROGRAM_ROOT = process.env.E2E_PROGRAM_DIR ? path.resolve(process.env.E2E_PROGRAM_DIR) : REPO;
/** What the program needs to run, copied so that stack files and state never land in the checkout. */
// program: the release function index.ts calls; components: the library, with the shell scripts the backup and
// migration pods run; certs: the database CA bundle (database.tls.caBundle); docs: the plan template the readme output is rendered from.
const PROGRAM_FILES = [
    "Pulumi.yaml",
    "package.json",
    "tsconfig.json",
    "index.ts",
    "program",
    "lib",
    "components",
    "migrations",
    "policy",
    "certs",
    "docs",
];

/**
 * How the engine runs the program. "local" is production's way: the CLI starts pulumi-language-nodejs, which runs
 * index.ts. The module proxy refuses github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, so when that
 * binary is not on PATH the program runs "inline": the Automation API serves the language runtime from this process
 * (@pulumi/pulumi automation/server.ts) and passes `--client` to the same CLI; engine, provider and cluster are the same.
 */
export function programMode(): "local" | "inline" {
    const dirs = (process.env.PATH ?? "").split(path.delimiter);
    return dirs.some((d) => d && fs.existsSync(path.join(d, "pulumi-language-nodejs"))) ? "local" : "inline";
}

/** Every stack's program copy and file backend live under one dir per process, removed by `removeStackDirs`. */
let stacksRoot: string | undefined;

export function removeStackDirs(): void {
    if (stacksRoot) fs.rmSync(stacksRoot, { recursive: true, force: true });
    stacksRoot = undefined;
}

export interface ProjectStackOptions {
    /** The committed stack file the stack starts from, e.g. "production" for Pulumi.production.yaml. */
    base: string;
    /** Stack name; also names the temp dirs. */
    name: string;
    /** Top-level sections (without the "myapp:" prefix) removed from the committed file. */
    drop?: string[];
    /** Values set with `pulumi config set --path` after the stack is created. */
    set?: Record<string, string>;
}

export interface ProjectStack {
    stack: Stack;
    /** The program copy the engine runs (Pulumi.yaml, index.ts, ...), with the stack's Pulumi.<name>.yaml. */
    workDir: string;
    mode: "local" | "inline";
    /** The stack file as written, for assertions about what config the engine got. */
    config: Record<string, unknown>;
}

/**
 * A stack of this repo's program on a local file backend with a passphrase secrets provider, from a committed stack
 * file with the documented changes applied.
 */
export async function projectStack(opts: ProjectStackOptions): Promise<ProjectStack> {
    stacksRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), "myapp-e2e-stacks-"));
    const root = fs.mkdtempSync(path.join(stacksRoot, `${opts.name}-`));
    const workDir = path.join(root, "project");
    const backend = path.join(root, "state");
    fs.mkdirSync(backend, { recursive: true });
    for (const f of PROGRAM_FILES) {
        const src = path.join(PROGRAM_ROOT, f);
        if (fs.existsSync(src))
            fs.cpSync(src, path.join(workDir, f), {
                recursive: true,
                filter: (s) => !s.includes(`${path.sep}node_modules`),
            });
    }
    // One module instance for the program and this process (the Automation API's inline runtime needs that).
    fs.symlinkSync(fs.realpathSync(path.join(REPO, "node_modules")), path.join(workDir, "node_modules"));
    const policyModules = path.join(REPO, "policy", "node_modules");
    if (fs.existsSync(policyModules))
        fs.symlinkSync(fs.realpathSync(policyModules), path.join(workDir, "policy", "node_modules"));

    const committed = YAML.parse(fs.readFileSync(path.join(PROGRAM_ROOT, `Pulumi.${opts.base}.yaml`), "utf8"));
    for (const section of opts.drop ?? []) delete committed.config[`myapp:${section}`];
    fs.writeFileSync(path.join(workDir, `Pulumi.${opts.name}.yaml`), YAML.stringify(committed));

    const wsOpts: LocalWorkspaceOptions = {
        workDir,
        secretsProvider: "passphrase",
        envVars: {
            PULUMI_BACKEND_URL: `file://${backend}`,
            PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "e2e-only-passphrase",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        },
    };
    const mode = programMode();
    const stack =
        mode === "local"
            ? await LocalWorkspace.createOrSelectStack({ stackName: opts.name, workDir }, wsOpts)
            : await LocalWorkspace.createOrSelectStack(
                  { stackName: opts.name, projectName: "myapp", program: inlineProgram(workDir) },
                  wsOpts,
              );
    for (const [key, value] of Object.entries(opts.set ?? {})) await stack.setConfig(key, { value }, true);
    return { stack, workDir, mode, config: committed.config };
}

/**
 * Another checkout of the same stack, as Pulumi Deployments makes one for each deployment: a copy of the program
 * directory with the stack file as it is now, on the same backend and secrets provider. Config edits made in it
 * stay in it, as a deployment's pre-run commands stay in the deployment's clone.
 */
export async function checkoutOf(ps: ProjectStack, label: string): Promise<ProjectStack> {
    const workDir = path.join(
        fs.mkdtempSync(path.join(path.dirname(path.dirname(ps.workDir)), `${ps.stack.name}-${label}-`)),
        "project",
    );
    // Symlinks (node_modules) stay symlinks: one module instance for every checkout and this process.
    fs.cpSync(ps.workDir, workDir, { recursive: true, verbatimSymlinks: true });
    const ws = ps.stack.workspace as LocalWorkspace;
    const wsOpts: LocalWorkspaceOptions = { workDir, secretsProvider: "passphrase", envVars: { ...ws.envVars } };
    const stack =
        ps.mode === "local"
            ? await LocalWorkspace.selectStack({ stackName: ps.stack.name, workDir }, wsOpts)
            : await LocalWorkspace.selectStack(
                  { stackName: ps.stack.name, projectName: "myapp", program: inlineProgram(workDir) },
                  wsOpts,
              );
    return { stack, workDir, mode: ps.mode, config: ps.config };
}

/** Runs the copy's index.ts in this process, afresh for each update, as pulumi-language-nodejs runs it in a new node. */
function inlineProgram(workDir: string) {
    return async () => {
        for (const key of Object.keys(require.cache)) if (key.startsWith(workDir + path.sep)) delete require.cache[key];
        const cwd = process.cwd();
        process.chdir(workDir);
        try {
            // As pulumi/pulumi sdk/nodejs/cmd/run/run.ts: an exported function is called and its result awaited.
            const mod = await import(path.join(workDir, "index.ts"));
            const main = mod.default ?? mod;
            return { ...(await (typeof main === "function" ? main() : main)) };
        } finally {
            process.chdir(cwd);
        }
    };
}
