import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Kube } from "./kube";

/** A control plane on loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with fake nodes. */
export interface Cluster {
    /** The admin kubeconfig (client certificate in group system:masters). */
    kubeconfig: string;
    kube: Kube;
    /** Seconds from the first process start until the fake nodes were Ready. */
    startSeconds: number;
    /** The API server's /version gitVersion. */
    kubernetesVersion: string;
    stop(): Promise<void>;
}

const STAGES = path.join(__dirname, "..", "kwok", "stages.yaml");
/** The nodes where pods start at once. */
export const NODES = ["kwok-node-0", "kwok-node-1", "kwok-node-2"];
/**
 * Where pods start slowly (e2e/kwok/stages.yaml, e2e-pod-ready-slow). Created cordoned, so only a spec that cordons
 * the other nodes (the operation sequences, while "pod startup takes time") places pods on it.
 */
export const SLOW_NODE = "kwok-node-slow";
/** What each kwok node offers the scheduler. */
const NODE_RESOURCES = { cpu: "1000", memory: "16Ti", pods: "5000", "ephemeral-storage": "1Ti" };

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
        srv.on("error", reject);
    });
}

function openssl(dir: string, ...args: string[]) {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA, the API server's serving certificate, an admin client certificate and the service-account key pair. */
function makeCerts(dir: string) {
    openssl(
        dir,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=e2e-ca",
    );
    fs.writeFileSync(
        path.join(dir, "server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
    );
    fs.writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    const leaf = (name: string, subj: string, ext: string) => {
        openssl(
            dir,
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            `${name}.key`,
            "-out",
            `${name}.csr`,
            "-subj",
            subj,
        );
        openssl(
            dir,
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            `${name}.crt`,
            "-days",
            "2",
            "-extfile",
            ext,
        );
    };
    leaf("server", "/CN=kube-apiserver", "server.ext");
    // system:masters passes RBAC for everything; the components share this identity to keep the harness small.
    leaf("admin", "/O=system:masters/CN=e2e-admin", "client.ext");
    openssl(dir, "genrsa", "-out", "sa.key", "2048");
    openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

function writeKubeconfig(dir: string, server: string): string {
    const b64 = (f: string) => fs.readFileSync(path.join(dir, f)).toString("base64");
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(
        file,
        [
            "apiVersion: v1",
            "kind: Config",
            "current-context: e2e",
            "clusters:",
            "- name: e2e",
            "  cluster:",
            `    server: ${server}`,
            `    certificate-authority-data: ${b64("ca.crt")}`,
            "users:",
            "- name: admin",
            "  user:",
            `    client-certificate-data: ${b64("admin.crt")}`,
            `    client-key-data: ${b64("admin.key")}`,
            "contexts:",
            "- name: e2e",
            "  context:",
            "    cluster: e2e",
            "    user: admin",
            "",
        ].join("\n"),
        { mode: 0o600 },
    );
    return file;
}

async function waitFor<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined>,
    procs: Proc[],
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: Error | undefined;
    while (Date.now() < deadline) {
        const dead = procs.find((p) => p.child.exitCode !== null);
        if (dead)
            throw new Error(
                `${dead.name} exited with ${dead.child.exitCode} while waiting for ${what}; log: ${dead.log}\n${tail(dead.log)}`,
            );
        try {
            const v = await probe();
            if (v !== undefined) return v;
        } catch (e) {
            last = e as Error;
        }
        await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

function tail(file: string): string {
    try {
        return fs.readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
    } catch {
        return "";
    }
}

interface Proc {
    name: string;
    child: ChildProcess;
    log: string;
}

/**
 * Starts the control plane from the binaries on PATH. Everything it starts is stopped by `stop()`, and by itself if
 * start-up fails half way.
 */
export async function startCluster(opts: { log?: (msg: string) => void } = {}): Promise<Cluster> {
    const log = opts.log ?? ((m: string) => process.stderr.write(`[e2e cluster] ${m}\n`));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "myapp-e2e-cluster-"));
    const procs: Proc[] = [];
    const start = (name: string, cmd: string, args: string[]) => {
        const logFile = path.join(dir, `${name}.log`);
        const fd = fs.openSync(logFile, "a");
        const child = spawn(cmd, args, { cwd: dir, stdio: ["ignore", fd, fd] });
        fs.closeSync(fd);
        procs.push({ name, child, log: logFile });
    };
    const stop = async () => {
        for (const p of [...procs].reverse()) {
            if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
            const exited = new Promise((r) => p.child.once("exit", r));
            p.child.kill("SIGTERM");
            const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
            await exited;
            clearTimeout(timer);
        }
        if (!process.env.E2E_KEEP_CLUSTER_DIR) fs.rmSync(dir, { recursive: true, force: true });
    };
    const t0 = Date.now();
    try {
        makeCerts(dir);
        const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
        start("etcd", "etcd", [
            "--name=e2e",
            `--data-dir=${path.join(dir, "etcd")}`,
            `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
            `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
            `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
            // A throw-away store: durability buys nothing and fsyncs cost seconds per run on a shared disk.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]);
        const pki = (f: string) => path.join(dir, f);
        start("kube-apiserver", "kube-apiserver", [
            `--etcd-servers=http://127.0.0.1:${etcdClient}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--tls-cert-file=${pki("server.crt")}`,
            `--tls-private-key-file=${pki("server.key")}`,
            `--client-ca-file=${pki("ca.crt")}`,
            `--service-account-key-file=${pki("sa.pub")}`,
            `--service-account-signing-key-file=${pki("sa.key")}`,
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--service-cluster-ip-range=10.96.0.0/16",
            // The built-in endpoint reconciler rejects a loopback address for the kubernetes Service; nothing here needs it.
            "--endpoint-reconciler-type=none",
        ]);
        const server = `https://127.0.0.1:${apiPort}`;
        const kubeconfig = writeKubeconfig(dir, server);
        const kube = new Kube(kubeconfig);
        await waitFor(
            "kube-apiserver /readyz",
            120_000,
            async () => ((await kube.request("GET", "/readyz")).status === 200 ? true : undefined),
            procs,
        );
        const kcfg = `--kubeconfig=${kubeconfig}`;
        start("kube-controller-manager", "kube-controller-manager", [
            kcfg,
            "--leader-elect=false",
            "--secure-port=0",
            "--controllers=*",
            `--service-account-private-key-file=${pki("sa.key")}`,
            `--root-ca-file=${pki("ca.crt")}`,
            "--use-service-account-credentials=false",
            "--cluster-name=e2e",
        ]);
        start("kube-scheduler", "kube-scheduler", [kcfg, "--leader-elect=false", "--secure-port=0"]);
        start("kwok", "kwok", [
            kcfg,
            `--config=${STAGES}`,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            "--cidr=10.0.0.1/24",
            "--node-ip=10.0.0.1",
        ]);
        for (const name of [...NODES, SLOW_NODE]) {
            await kube.ensure("/api/v1/nodes", {
                apiVersion: "v1",
                kind: "Node",
                metadata: {
                    name,
                    annotations: { "kwok.x-k8s.io/node": "fake" },
                    labels: { "kubernetes.io/hostname": name, type: "kwok" },
                },
                spec: { unschedulable: name === SLOW_NODE },
                // Far more than a real node: every spec's stacks stay up, and a sequence's traffic decisions grow tracks to
                // their autoscaler maximum (24 pods at 500m), which filled 3 × 32 CPUs and left pods Pending. Scheduling is
                // not under test. Ephemeral storage stays 1Ti: a stuck Job's spec asks more, so its pod is never placed.
                status: { allocatable: NODE_RESOURCES, capacity: NODE_RESOURCES },
            });
        }
        await waitFor(
            "kwok nodes Ready",
            120_000,
            async () => {
                const nodes = await kube.list("/api/v1/nodes");
                const ready = nodes.filter((n) =>
                    n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
                );
                return ready.length === NODES.length + 1 ? true : undefined;
            },
            procs,
        );
        await waitFor(
            "the default ServiceAccount",
            60_000,
            async () =>
                (await kube.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200
                    ? true
                    : undefined,
            procs,
        );
        const version = (await kube.get("/version")).gitVersion as string;
        const startSeconds = (Date.now() - t0) / 1000;
        log(
            `Kubernetes ${version} on ${server}, ${NODES.length + 1} kwok nodes Ready in ${startSeconds.toFixed(1)}s (logs in ${dir})`,
        );
        const ingress = startIngressStatus(kube, log);
        return {
            kubeconfig,
            kube,
            startSeconds,
            kubernetesVersion: version,
            stop: async () => {
                ingress.stop();
                await stop();
            },
        };
    } catch (e) {
        log(`start-up failed; logs in ${dir}`);
        process.env.E2E_KEEP_CLUSTER_DIR ??= "1";
        await stop();
        throw e;
    }
}

/**
 * Plays the ingress controllers' one part the provider waits for: an Ingress is ready once
 * `status.loadBalancer.ingress` is set (pulumi/pulumi-kubernetes provider/pkg/await/ingress.go). Nothing here routes
 * traffic. An Ingress of class alb gets a host name, as the AWS Load Balancer Controller publishes its ALB's DNS name
 * (kubernetes-sigs/aws-load-balancer-controller controllers/ingress/group_controller.go, updateIngressStatus: `Hostname: lbDNS`); every other
 * Ingress gets 127.0.0.1, as ingress-nginx publishes an address. Gateway API routes are not awaited by the provider
 * unless `pulumi.com/waitFor` asks, so they get nothing.
 */
/** The DNS name the harness publishes for an ALB Ingress, in the controller's k8s-<namespace>-<name>-<id> form. */
export function albHostname(namespace: string, name: string): string {
    return `k8s-${namespace}-${name}-e2e.us-east-1.elb.amazonaws.com`;
}

function startIngressStatus(kube: Kube, log: (m: string) => void): { stop(): void } {
    let stopped = false;
    const loop = async () => {
        while (!stopped) {
            try {
                for (const ing of await kube.list("/apis/networking.k8s.io/v1/ingresses")) {
                    if (ing.status?.loadBalancer?.ingress?.length) continue;
                    const { namespace, name } = ing.metadata;
                    const address =
                        ing.spec?.ingressClassName === "alb"
                            ? { hostname: albHostname(namespace, name) }
                            : { ip: "127.0.0.1" };
                    await kube.mergePatch(
                        `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses/${name}/status`,
                        { status: { loadBalancer: { ingress: [address] } } },
                    );
                }
            } catch (e) {
                if (!stopped) log(`ingress status: ${String(e)}`);
            }
            await new Promise((r) => setTimeout(r, 500));
        }
    };
    void loop();
    return {
        stop: () => {
            stopped = true;
        },
    };
}
