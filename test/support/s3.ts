import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

/** An S3-compatible server (s3rver) on loopback, with one bucket; s3rver accepts the key pair S3RVER/S3RVER. */
export class S3Server {
    private constructor(
        private readonly server: { close(): Promise<void> },
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

    /** Environment for the AWS CLI to reach this server. */
    env(): Record<string, string> {
        return { AWS_ENDPOINT_URL: this.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1", BACKUP_BUCKET: this.bucket };
    }

    async stop(): Promise<void> {
        await this.server.close();
        rmSync(this.dir, { recursive: true, force: true });
    }
}
