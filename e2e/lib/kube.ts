import * as fs from "fs";
import * as https from "https";
import * as YAML from "yaml";

/** A minimal Kubernetes API client over HTTPS with the kubeconfig's client certificate or token: enough to read and patch what the specs check, without kubectl. */
export class Kube {
    private readonly agent: https.Agent;
    private readonly headers: Record<string, string> = {};
    readonly server: URL;

    constructor(kubeconfigPath: string) {
        const kc = YAML.parse(fs.readFileSync(kubeconfigPath, "utf8"));
        const ctx = kc.contexts.find((c: any) => c.name === kc["current-context"]).context;
        const cluster = kc.clusters.find((c: any) => c.name === ctx.cluster).cluster;
        const user = kc.users.find((u: any) => u.name === ctx.user).user;
        const pem = (data?: string, file?: string) =>
            data ? Buffer.from(data, "base64") : file ? fs.readFileSync(file) : undefined;
        this.server = new URL(cluster.server);
        this.agent = new https.Agent({
            ca: pem(cluster["certificate-authority-data"], cluster["certificate-authority"]),
            cert: pem(user["client-certificate-data"], user["client-certificate"]),
            key: pem(user["client-key-data"], user["client-key"]),
            rejectUnauthorized: !cluster["insecure-skip-tls-verify"],
            keepAlive: true,
        });
        if (user.token) this.headers.Authorization = `Bearer ${user.token}`;
    }

    request(
        method: string,
        path: string,
        body?: unknown,
        contentType = "application/json",
    ): Promise<{ status: number; body: any }> {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        return new Promise((resolve, reject) => {
            const req = https.request(
                new URL(path, this.server),
                {
                    method,
                    agent: this.agent,
                    headers: {
                        ...this.headers,
                        Accept: "application/json",
                        ...(payload ? { "Content-Type": contentType } : {}),
                    },
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c) => chunks.push(c));
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString("utf8");
                        let parsed: any = text;
                        try {
                            parsed = JSON.parse(text);
                        } catch {
                            /* plain text, e.g. /healthz */
                        }
                        resolve({ status: res.statusCode ?? 0, body: parsed });
                    });
                },
            );
            req.on("error", reject);
            if (payload) req.write(payload);
            req.end();
        });
    }

    /** GET that throws on any status but 200, naming the path and the API server's message. */
    async get(path: string): Promise<any> {
        const res = await this.request("GET", path);
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body?.message ?? res.body}`);
        return res.body;
    }

    async list(path: string): Promise<any[]> {
        return (await this.get(path)).items;
    }

    /** Creates the object unless it exists (409 is success). */
    async ensure(path: string, obj: unknown): Promise<void> {
        const res = await this.request("POST", path, obj);
        if (res.status !== 201 && res.status !== 409)
            throw new Error(`POST ${path}: ${res.status} ${res.body?.message ?? res.body}`);
    }

    async mergePatch(path: string, patch: unknown): Promise<any> {
        const res = await this.request("PATCH", path, patch, "application/merge-patch+json");
        if (res.status !== 200) throw new Error(`PATCH ${path}: ${res.status} ${res.body?.message ?? res.body}`);
        return res.body;
    }

    /**
     * Streams the API server's watch events for a collection (`?watch=1`) to `onEvent` until the returned function is
     * called. Each event's object carries the resourceVersion the store gave that change.
     */
    watch(path: string, onEvent: (e: { type: string; object: any }) => void): () => void {
        const sep = path.includes("?") ? "&" : "?";
        let buffered = "";
        const req = https.request(
            new URL(`${path}${sep}watch=1`, this.server),
            { method: "GET", agent: this.agent, headers: { ...this.headers, Accept: "application/json" } },
            (res) => {
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => {
                    buffered += chunk;
                    let nl: number;
                    while ((nl = buffered.indexOf("\n")) >= 0) {
                        const line = buffered.slice(0, nl).trim();
                        buffered = buffered.slice(nl + 1);
                        if (line) onEvent(JSON.parse(line));
                    }
                });
            },
        );
        req.on("error", () => {
            /* the caller's stop() aborts the stream */
        });
        req.end();
        return () => req.destroy();
    }
}
