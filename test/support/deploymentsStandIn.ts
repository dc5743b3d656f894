// A stand-in for the Pulumi Deployments API on loopback, for the tests and the e2e suite. It serves
// `POST /api/stacks/{org}/{project}/{stack}/deployments`: it checks the token and the body against the published
// request type (pulumi/pulumi sdk/go/common/apitype/deployments.go at v3.248.0, CreateDeploymentRequest), answers
// as the service does (CreateDeploymentResponse), and hands each accepted deployment to `run`, one at a time in
// order of arrival, as the service queues the deployments of one stack.
import { createServer } from "http";
import { AddressInfo } from "net";
import { z } from "zod";

// The apitype's JSON names; a field the type lacks is refused, so that a misspelt key (Go's decoder would drop it)
// fails here instead of being ignored in production. SecretValue is a string or { secret: string }.
const secretValue = z.union([z.string(), z.strictObject({ secret: z.string() })]);
const pulumiOperation = z.enum(["update", "preview", "destroy", "refresh", "detect-drift", "remediate-drift"]);
const sourceContext = z.strictObject({
    git: z
        .strictObject({
            repoURL: z.string(),
            branch: z.string(),
            repoDir: z.string().optional(),
            commit: z.string().optional(),
            gitAuth: z.record(z.string(), z.unknown()).optional(),
        })
        .optional(),
});
const operationContext = z.strictObject({
    oidc: z.record(z.string(), z.unknown()).optional(),
    preRunCommands: z.array(z.string()).optional(),
    operation: pulumiOperation.optional(),
    environmentVariables: z.record(z.string(), secretValue).optional(),
    options: z
        .strictObject({
            skipInstallDependencies: z.boolean().optional(),
            skipIntermediateDeployments: z.boolean().optional(),
            shell: z.string().optional(),
            deleteAfterDestroy: z.boolean().optional(),
            remediateIfDriftDetected: z.boolean().optional(),
        })
        .optional(),
});
/** apitype.CreateDeploymentRequest. */
export const createDeploymentRequest = z.strictObject({
    operation: pulumiOperation,
    inheritSettings: z.boolean(),
    executorContext: z
        .strictObject({ workingDirectory: z.string().optional(), executorImage: z.unknown().optional() })
        .optional(),
    sourceContext: sourceContext.optional(),
    operationContext: operationContext.optional(),
    agentPoolID: z.string().optional(),
});
export type CreateDeploymentRequest = z.infer<typeof createDeploymentRequest>;

/** One deployment the stand-in accepted. */
export interface Deployment {
    id: string;
    stack: { organization: string; project: string; stack: string };
    request: CreateDeploymentRequest;
    /** Milliseconds since the epoch when the request arrived and when `run` finished. */
    receivedAt: number;
    finishedAt?: number;
    state: "queued" | "running" | "succeeded" | "failed";
    error?: string;
}

export interface DeploymentsStandIn {
    /** Base URL, as the webhook's URL starts: http://127.0.0.1:<port>. */
    url: string;
    /** The access token it accepts (`Authorization: token <token>`). */
    token: string;
    deployments: Deployment[];
    /** Requests refused, with why: a test expects none. */
    invalid: string[];
    /** Resolves once every deployment accepted so far has finished. */
    idle(): Promise<void>;
    close(): Promise<void>;
}

const DEPLOYMENTS_PATH = /^\/api\/stacks\/([^/]+)\/([^/]+)\/([^/]+)\/deployments$/;

/** Starts the stand-in on a free loopback port; `run` carries out one accepted deployment (it throws if it fails). */
export async function startDeploymentsStandIn(
    token: string,
    run: (d: Deployment) => Promise<void>,
): Promise<DeploymentsStandIn> {
    const deployments: Deployment[] = [];
    const invalid: string[] = [];
    let queue: Promise<void> = Promise.resolve();

    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const reply = (status: number, body: unknown) => {
                res.writeHead(status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(body));
            };
            const refuse = (status: number, why: string) => {
                invalid.push(`${req.method} ${req.url}: ${why}`);
                reply(status, { code: status, message: why });
            };
            const match = DEPLOYMENTS_PATH.exec(new URL(req.url ?? "/", "http://stand-in").pathname);
            if (req.method !== "POST" || !match) return refuse(404, "not found");
            if (req.headers.authorization !== `token ${token}`)
                return refuse(401, "unauthorized: Authorization must be `token <access token>`");
            if (!String(req.headers["content-type"]).startsWith("application/json"))
                return refuse(415, `content type ${req.headers["content-type"]}`);
            let parsed: unknown;
            try {
                parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
                return refuse(400, "body is not JSON");
            }
            const body = createDeploymentRequest.safeParse(parsed);
            if (!body.success)
                return refuse(
                    400,
                    `body is not a CreateDeploymentRequest: ${body.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
                );
            const [, organization, project, stack] = match.map(decodeURIComponent);
            const d: Deployment = {
                id: `deployment-${deployments.length + 1}`,
                stack: { organization, project, stack },
                request: body.data,
                receivedAt: Date.now(),
                state: "queued",
            };
            deployments.push(d);
            queue = queue.then(async () => {
                d.state = "running";
                try {
                    await run(d);
                    d.state = "succeeded";
                } catch (err) {
                    d.state = "failed";
                    d.error = (err as Error).message;
                }
                d.finishedAt = Date.now();
            });
            // apitype.CreateDeploymentResponse.
            reply(202, {
                id: d.id,
                consoleUrl: `https://app.pulumi.com/${organization}/${project}/${stack}/deployments/${d.id}`,
            });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        token,
        deployments,
        invalid,
        idle: async () => {
            for (let seen = -1; seen !== deployments.length;) {
                seen = deployments.length;
                await queue;
            }
        },
        close: () =>
            new Promise<void>((resolve, reject) => {
                server.closeAllConnections();
                server.close((err) => (err ? reject(err) : resolve()));
            }),
    };
}
