import { ChildProcess, spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const FilesystemStore = require("s3rver/lib/stores/filesystem");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Object = require("s3rver/lib/models/object");

// s3rver encrypts ListObjectsV2 continuation tokens with DES (lib/controllers/bucket.js, generateContinuationToken),
// which OpenSSL 3 only has in its legacy provider: without it every listing longer than one page fails with
// InternalError. So the server runs in a Node process of its own with that provider.
const SERVER = `
const S3rver = require("s3rver");
const [dir, bucket] = process.argv.slice(1);
new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
    .run().then(({ port }) => process.stdout.write(port + "\\n"));
`;

/** An S3-compatible server (s3rver) on loopback, with one bucket; s3rver accepts the key pair S3RVER/S3RVER. */
export class S3Server {
    private constructor(
        private readonly child: ChildProcess,
        private readonly dir: string,
        public readonly endpoint: string,
        public readonly bucket: string,
    ) {}

    static async start(bucket: string): Promise<S3Server> {
        const dir = mkdtempSync(path.join(tmpdir(), "s3-"));
        const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", SERVER, dir, bucket], {
            cwd: path.join(__dirname, "..", ".."),
            stdio: ["ignore", "pipe", "inherit"],
        });
        const port = await new Promise<number>((resolve, reject) => {
            child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
            child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
        });
        return new S3Server(child, dir, `http://127.0.0.1:${port}`, bucket);
    }

    /** Writes objects into s3rver's on-disk store directly, without a request each: for listings of thousands of keys. */
    async seed(keys: string[], content: Buffer): Promise<void> {
        const store = new FilesystemStore(this.dir);
        for (let i = 0; i < keys.length; i += 200) {
            await Promise.all(
                keys
                    .slice(i, i + 200)
                    .map((key) =>
                        store.putObject(
                            new S3Object(this.bucket, key, content, { "content-type": "application/octet-stream" }),
                        ),
                    ),
            );
        }
    }

    /** Environment for the AWS CLI to reach this server with its own key pair (test set-up, not a pod's identity). */
    env(): Record<string, string> {
        return {
            AWS_ENDPOINT_URL: this.endpoint,
            AWS_ACCESS_KEY_ID: "S3RVER",
            AWS_SECRET_ACCESS_KEY: "S3RVER",
            AWS_DEFAULT_REGION: "us-east-1",
        };
    }

    async stop(): Promise<void> {
        const exited = new Promise((r) => this.child.once("exit", r));
        this.child.kill();
        await exited;
        rmSync(this.dir, { recursive: true, force: true });
    }
}
