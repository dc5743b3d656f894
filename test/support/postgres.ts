import { execFileSync, spawnSync } from "child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
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

/** A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made with openssl. */
export interface TestCa {
    /** The CA certificate (PEM): what a client verifies the server against. */
    caFile: string;
    certFile: string;
    keyFile: string;
}

export function makeCa(dir: string): TestCa {
    const f = (n: string) => path.join(dir, n);
    const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test database CA",
        "-keyout",
        f("ca.key"),
        "-out",
        f("ca.pem"),
    );
    ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        f("server.key"),
        "-out",
        f("server.csr"),
    );
    writeFileSync(f("san.ext"), "subjectAltName = IP:127.0.0.1, DNS:localhost\n");
    ssl(
        "x509",
        "-req",
        "-in",
        f("server.csr"),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f("san.ext"),
        "-out",
        f("server.crt"),
    );
    return { caFile: f("ca.pem"), certFile: f("server.crt"), keyFile: f("server.key") };
}

/**
 * A throwaway PostgreSQL server from the Debian packages' binaries. Over TCP (loopback) it takes TLS connections only
 * and checks passwords (scram-sha-256), as a managed server does; the superuser `postgres` connects through the Unix
 * socket only, for setting the server up.
 */
export class PostgresServer {
    private constructor(
        private readonly dir: string,
        private readonly bin: string,
        public readonly port: number,
    ) {}

    // PostgreSQL refuses to run as root; as root, run it as the packages' postgres user.
    private static asOwner(bin: string, args: string[]): void {
        const [cmd, argv] =
            process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
        const r = spawnSync(cmd, argv, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${path.basename(bin)} failed: ${r.stderr || r.stdout}`);
    }

    static async start(tls: TestCa): Promise<PostgresServer> {
        const versions = existsSync("/usr/lib/postgresql")
            ? readdirSync("/usr/lib/postgresql").sort((a, b) => Number(a) - Number(b))
            : [];
        const bin = versions
            .map((v) => `/usr/lib/postgresql/${v}/bin`)
            .filter((b) => existsSync(path.join(b, "initdb")))
            .pop();
        if (!bin) throw new Error("no PostgreSQL server binaries: run scripts/test-prereqs.sh");
        const dir = mkdtempSync(path.join(tmpdir(), "pg-"));
        chmodSync(dir, 0o700);
        const data = path.join(dir, "data");
        const port = await freePort();
        for (const [from, to] of [
            [tls.certFile, "server.crt"],
            [tls.keyFile, "server.key"],
        ]) {
            execFileSync("cp", [from, path.join(dir, to)]);
            chmodSync(path.join(dir, to), 0o600);
        }
        if (process.getuid?.() === 0) {
            const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
            const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
            for (const f of [dir, path.join(dir, "server.crt"), path.join(dir, "server.key")]) chownSync(f, uid, gid);
        }
        PostgresServer.asOwner(path.join(bin, "initdb"), [
            "-D",
            data,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=reject",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        const hba = [
            "local all postgres trust",
            "hostssl all all 127.0.0.1/32 scram-sha-256",
            "hostnossl all all 127.0.0.1/32 reject",
            "",
        ].join("\n");
        writeFileSync(path.join(dir, "pg_hba.conf"), hba);
        if (process.getuid?.() === 0) execFileSync("chown", ["postgres:postgres", path.join(dir, "pg_hba.conf")]);
        const options = [
            `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
            `-c ssl=on -c ssl_cert_file=${dir}/server.crt -c ssl_key_file=${dir}/server.key -c hba_file=${dir}/pg_hba.conf`,
        ].join(" ");
        PostgresServer.asOwner(path.join(bin, "pg_ctl"), [
            "-D",
            data,
            "-l",
            path.join(dir, "log"),
            "-o",
            options,
            "-w",
            "start",
        ]);
        return new PostgresServer(dir, bin, port);
    }

    /** The superuser's connection through the Unix socket: for setting the server up, never for what the program does. */
    superuserUrl(db = "postgres"): string {
        return `postgresql:///${db}?host=${encodeURIComponent(this.dir)}&port=${this.port}&user=postgres`;
    }

    /** Runs SQL with psql at a URL and returns its unaligned, tuples-only output. */
    static psqlAt(url: string, sql: string, env: Record<string, string> = {}, singleTransaction = false): string {
        return execFileSync(
            "psql",
            [
                "--no-psqlrc",
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                ...(singleTransaction ? ["-1"] : []),
                "-d",
                url,
                "-f",
                "-",
            ],
            {
                input: sql,
                encoding: "utf8",
                env: { ...process.env, ...env },
            },
        ).trim();
    }

    /** Runs SQL as the superuser. */
    superuser(sql: string, db = "postgres"): string {
        return PostgresServer.psqlAt(this.superuserUrl(db), sql);
    }

    stop(): void {
        PostgresServer.asOwner(path.join(this.bin, "pg_ctl"), [
            "-D",
            path.join(this.dir, "data"),
            "-m",
            "immediate",
            "stop",
        ]);
        rmSync(this.dir, { recursive: true, force: true });
    }
}
