import { execFileSync, spawn } from "child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { ProgramRun } from "../../tools/offline/types";

/** A container of a Job or CronJob as the program declares it, with its Secret references resolved. */
export interface DeclaredPod {
    command: string[];
    /** The container's environment in order, secretKeyRef values read from the Secret the program declares. */
    env: [string, string][];
    mounts: { name: string; mountPath: string }[];
    volumes: Record<string, unknown>[];
    runAsUser: number;
    runAsGroup: number;
    /** The IAM role IRSA binds the pod's ServiceAccount to (its eks.amazonaws.com/role-arn annotation). */
    roleArn?: string;
}

function declaredObject(run: ProgramRun, kind: string, name: string | RegExp): Record<string, any> {
    const matches = (n: string) => (typeof name === "string" ? n === name : name.test(n));
    const r = run.resources.find((x) => x.type.endsWith(`:${kind}`) && matches((x.inputs as any).metadata?.name ?? ""));
    if (!r) throw new Error(`the program declares no ${kind} named ${name}`);
    return r.inputs as Record<string, any>;
}

/** The pod of the Job or CronJob whose metadata.name is (or matches) `name`, as the program declares it. */
export function declaredPod(run: ProgramRun, kind: "Job" | "CronJob", name: string | RegExp): DeclaredPod {
    const obj = declaredObject(run, kind, name);
    const template = kind === "Job" ? obj.spec.template : obj.spec.jobTemplate.spec.template;
    const spec = template.spec;
    const c = spec.containers[0];
    const env: [string, string][] = (c.env ?? []).map((e: any) => {
        if (e.value !== undefined) return [e.name, String(e.value)];
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) throw new Error(`${name}: env ${e.name} has neither a value nor a secretKeyRef`);
        const secret = declaredObject(run, "Secret", ref.name);
        const value =
            secret.stringData?.[ref.key] ??
            (secret.data?.[ref.key] !== undefined ? Buffer.from(secret.data[ref.key], "base64").toString() : undefined);
        if (value === undefined) throw new Error(`${name}: Secret ${ref.name} has no key ${ref.key}`);
        return [e.name, value];
    });
    const sa = spec.serviceAccountName ? declaredObject(run, "ServiceAccount", spec.serviceAccountName) : undefined;
    const security = { ...spec.securityContext, ...c.securityContext };
    if (!security.runAsNonRoot) throw new Error(`${name}: the pod may run as root`);
    return {
        command: c.command,
        env,
        mounts: c.volumeMounts ?? [],
        volumes: spec.volumes ?? [],
        // restricted pods without runAsUser take the image's user; nobody stands in for it.
        runAsUser: security.runAsUser ?? 65534,
        runAsGroup: security.runAsGroup ?? security.runAsUser ?? 65534,
        roleArn: sa?.metadata?.annotations?.["eks.amazonaws.com/role-arn"],
    };
}

export interface PodResult {
    code: number;
    stdout: string;
    stderr: string;
    /** Host folder of each volume, by volume name. */
    volumeDirs: Record<string, string>;
}

export interface PodRunOptions {
    /** Variables a test adds: only endpoints of the loopback stand-ins for AWS (AWS_ENDPOINT_URL_S3, _STS). */
    endpoints: Record<string, string>;
    /** The web identity token the EKS pod identity webhook would project. */
    webIdentityToken?: string;
    /** Files of a ConfigMap volume by volume name, in place of the declared data: another release's migrations. */
    files?: Record<string, Record<string, string>>;
}

// The AWS CLI and the PostgreSQL client tools of this machine stand in for the tools image.
let awsBin: string | undefined;
function awsBinary(): string {
    awsBin ??= execFileSync("sh", ["-c", "pyenv which aws 2>/dev/null || command -v aws"], { encoding: "utf8" }).trim();
    return awsBin;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs a declared pod's command on this machine the way the kubelet would start it, as far as a process can:
 * - as the pod's non-root user, with no capabilities and no_new_privs;
 * - with exactly the container's environment (plus the PATH of the tools, the variables the EKS pod identity webhook
 *   injects for IRSA, and the test's endpoints), and HOME left to the runtime's "/" when the pod sets none;
 * - in a private mount namespace whose root filesystem is read-only (readOnlyRootFilesystem), with each volume a
 *   folder of its own: ConfigMaps and Secrets as the program declares their data, emptyDirs writable. The volumes'
 *   mount paths are mapped to those folders in the command and the environment; /tmp stays writable.
 */
export function runPod(run: ProgramRun, pod: DeclaredPod, options: PodRunOptions): Promise<PodResult> {
    if (process.getuid?.() !== 0)
        throw new Error("running a pod needs root, to enter a mount namespace and drop to the pod's user");
    const root = mkdtempSync(path.join(tmpdir(), "pod-"));
    chmodSync(root, 0o755);
    const volumeDirs: Record<string, string> = {};
    for (const v of pod.volumes as any[]) {
        const dir = path.join(root, v.name);
        mkdirSync(dir);
        volumeDirs[v.name] = dir;
        const source =
            options.files?.[v.name] ??
            (v.configMap
                ? declaredObject(run, "ConfigMap", v.configMap.name).data
                : v.secret
                  ? declaredObject(run, "Secret", v.secret.secretName).stringData
                  : undefined);
        if (source) {
            const projected = v.configMap ?? v.secret;
            const mode = projected.defaultMode ?? 0o644;
            // With `items`, the kubelet projects only the listed keys, each at its path (a test's own files replace the whole volume).
            const items: { key: string; path: string }[] | undefined = options.files?.[v.name]
                ? undefined
                : projected.items;
            const entries = items
                ? items.map((i): [string, string] => [i.path, (source as Record<string, string>)[i.key]])
                : Object.entries(source as Record<string, string>);
            for (const [file, content] of entries) {
                if (content === undefined) throw new Error(`volume ${v.name}: no key for ${file}`);
                writeFileSync(path.join(dir, file), content);
                chmodSync(path.join(dir, file), mode);
            }
            chmodSync(dir, 0o755);
        } else if (v.emptyDir) {
            chmodSync(dir, 0o777);
        } else {
            throw new Error(`volume ${v.name}: only configMap, secret and emptyDir volumes are reproduced`);
        }
    }
    const mapped: [string, string][] = pod.mounts
        .filter((m) => m.mountPath !== "/tmp")
        .map((m) => [m.mountPath, volumeDirs[m.name]]);
    const extra: [string, string][] = [];
    if (pod.roleArn && options.webIdentityToken !== undefined) {
        // amazon-eks-pod-identity-webhook (pkg/handler/handler.go) projects the token and sets these variables.
        const tokenDir = path.join(root, "aws-iam-token");
        mkdirSync(tokenDir);
        writeFileSync(path.join(tokenDir, "token"), options.webIdentityToken);
        chmodSync(tokenDir, 0o755);
        chmodSync(path.join(tokenDir, "token"), 0o644);
        extra.push(
            ["AWS_ROLE_ARN", pod.roleArn],
            ["AWS_WEB_IDENTITY_TOKEN_FILE", path.join(tokenDir, "token")],
            ["AWS_STS_REGIONAL_ENDPOINTS", "regional"],
        );
    }
    const remap = (s: string) =>
        mapped.reduce(
            (acc, [from, to]) =>
                acc
                    .split(from + "/")
                    .join(to + "/")
                    .replace(new RegExp(`^${from}$`), to),
            s,
        );
    const env: [string, string][] = [
        ["PATH", `${path.dirname(awsBinary())}:/usr/local/bin:/usr/bin:/bin`],
        ...(pod.env.some(([k]) => k === "HOME") ? [] : ([["HOME", "/"]] as [string, string][])),
        ...pod.env.map(([k, v]) => [k, remap(v)] as [string, string]),
        ...extra,
        ...Object.entries(options.endpoints),
    ];
    const command = pod.command.map(remap);
    const setup = ["set -e", "mount --make-rprivate /", "mount --bind /tmp /tmp"];
    if (awsBinary().startsWith("/root/")) {
        // The tools live under root's home, which only root may enter: lend them through a mount of their own.
        const top = awsBinary().split("/").slice(0, 3).join("/");
        const stage = path.join(root, "tools");
        mkdirSync(stage);
        setup.push(
            `mount --bind ${shq(top)} ${shq(stage)}`,
            "mount -t tmpfs -o mode=755 tmpfs /root",
            `mkdir -p ${shq(top)}`,
            `mount --bind ${shq(stage)} ${shq(top)}`,
        );
    }
    setup.push(
        "mount -o remount,bind,ro /",
        `exec setpriv --reuid=${pod.runAsUser} --regid=${pod.runAsGroup} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- ${command.map(shq).join(" ")}`,
    );
    return new Promise((resolve, reject) => {
        // The pod's environment reaches the command as the kubelet passes it, through the environment: never in
        // arguments, which every process may read.
        const child = spawn("unshare", ["--mount", "--", "sh", "-c", setup.join("\n")], {
            cwd: "/",
            env: Object.fromEntries(env),
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr, volumeDirs }));
    });
}
