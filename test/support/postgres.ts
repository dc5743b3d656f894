import { execFileSync, spawnSync } from "child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "fs";
import { createServer } from "net";
import { tmpdir } from "os";
import * as path from "path";

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as { port: number }).port;
            srv.close(() => resolve(port));
        });
        srv.on("error", reject);
    });
}

/** A throwaway PostgreSQL server on loopback, started from the Debian packages' binaries. */
export class PostgresServer {
    private constructor(
        private readonly dir: string,
        private readonly bin: string,
        public readonly port: number,
    ) {}

    /** postgresql://postgres@127.0.0.1:<port>/<db> */
    url(db = "postgres"): string {
        return `postgresql://postgres@127.0.0.1:${this.port}/${db}`;
    }

    // PostgreSQL refuses to run as root; as root, run it as the packages' postgres user.
    private static asOwner(bin: string, args: string[]): void {
        const [cmd, argv] = process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
        const r = spawnSync(cmd, argv, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${path.basename(bin)} failed: ${r.stderr || r.stdout}`);
    }

    static async start(): Promise<PostgresServer> {
        const versions = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").sort((a, b) => Number(a) - Number(b)) : [];
        const bin = versions.map((v) => `/usr/lib/postgresql/${v}/bin`).filter((b) => existsSync(path.join(b, "initdb"))).pop();
        if (!bin) throw new Error("no PostgreSQL server binaries: run scripts/test-prereqs.sh");
        const dir = mkdtempSync(path.join(tmpdir(), "pg-"));
        chmodSync(dir, 0o700);
        if (process.getuid?.() === 0) {
            const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
            const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
            chownSync(dir, uid, gid);
        }
        const port = await freePort();
        PostgresServer.asOwner(path.join(bin, "initdb"), ["-D", path.join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        PostgresServer.asOwner(path.join(bin, "pg_ctl"), [
            "-D",
            path.join(dir, "data"),
            "-l",
            path.join(dir, "log"),
            "-o",
            `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
            "-w",
            "start",
        ]);
        return new PostgresServer(dir, bin, port);
    }

    /** Runs SQL with psql and returns its unaligned, tuples-only output. */
    psql(sql: string, db = "postgres"): string {
        return execFileSync("psql", ["--no-psqlrc", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", this.url(db), "-c", sql], { encoding: "utf8" }).trim();
    }

    /** Creates an empty database. */
    createDatabase(name: string): void {
        this.psql(`CREATE DATABASE ${name}`);
    }

    stop(): void {
        PostgresServer.asOwner(path.join(this.bin, "pg_ctl"), ["-D", path.join(this.dir, "data"), "-m", "immediate", "stop"]);
        rmSync(this.dir, { recursive: true, force: true });
    }
}
