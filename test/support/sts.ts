import { createServer, IncomingMessage, Server, ServerResponse } from "http";

/** One AssumeRoleWithWebIdentity call as the fake STS received it. */
export interface WebIdentityCall {
    roleArn: string;
    token: string;
}

/**
 * A tiny STS on loopback that answers AssumeRoleWithWebIdentity, the call the AWS CLI makes under IRSA (the pod has
 * AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE), with s3rver's key pair as the temporary credentials. The CLI then
 * caches them under $HOME/.aws/cli/cache, as it does in a pod.
 */
export class FakeSts {
    public readonly calls: WebIdentityCall[] = [];

    private constructor(
        private readonly server: Server,
        public readonly endpoint: string,
    ) {}

    static async start(accessKeyId: string, secretAccessKey: string): Promise<FakeSts> {
        const server = createServer((req: IncomingMessage, res: ServerResponse) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                const form = new URLSearchParams(body);
                if (form.get("Action") !== "AssumeRoleWithWebIdentity") {
                    res.writeHead(400).end(`unsupported action ${form.get("Action")}`);
                    return;
                }
                sts.calls.push({ roleArn: form.get("RoleArn") ?? "", token: form.get("WebIdentityToken") ?? "" });
                const expiration = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
                res.writeHead(200, { "content-type": "text/xml" }).end(
                    `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>` +
                        `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${secretAccessKey}</SecretAccessKey>` +
                        `<SessionToken>fake-session-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
                        `<SubjectFromWebIdentityToken>system:serviceaccount:test</SubjectFromWebIdentityToken>` +
                        `<AssumedRoleUser><Arn>${form.get("RoleArn")}/session</Arn><AssumedRoleId>AROATEST:session</AssumedRoleId></AssumedRoleUser>` +
                        `</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
                );
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const sts = new FakeSts(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
        return sts;
    }

    stop(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}
