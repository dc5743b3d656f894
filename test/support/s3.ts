import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Object = require("s3rver/lib/models/object");

/** An S3-compatible server (s3rver) on loopback, with one bucket; s3rver accepts the key pair S3RVER/S3RVER. */
export class S3Server {
    private constructor(
        private readonly server: { close(): Promise<void>; store: { putObject(o: unknown): Promise<unknown> } },
        private readonly dir: string,
        public readonly endpoint: string,
        public readonly bucket: string,
    ) {}

    static async start(bucket: string): Promise<S3Server> {
        const dir = mkdtempSync(path.join(tmpdir(), "s3-"));
        const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
        const { port } = await server.run();
        return new S3Server(server, dir, `http://127.0.0.1:${port}`, bucket);
    }

    /** Writes objects straight into s3rver's store, without a request each: for listings of thousands of keys. */
    async seed(keys: string[], content: Buffer): Promise<void> {
        for (let i = 0; i < keys.length; i += 200) {
            await Promise.all(keys.slice(i, i + 200).map((key) => this.server.store.putObject(new S3Object(this.bucket, key, content, { "content-type": "application/octet-stream" }))));
        }
    }

    /** Environment for the AWS CLI to reach this server with its own key pair (test set-up, not a pod's identity). */
    env(): Record<string, string> {
        return { AWS_ENDPOINT_URL: this.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1" };
    }

    async stop(): Promise<void> {
        await this.server.close();
        rmSync(this.dir, { recursive: true, force: true });
    }
}
