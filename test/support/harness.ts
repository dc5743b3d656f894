import { spawn } from "child_process";
import { mkdtempSync, readFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { ProgramRun } from "../../tools/offline/types";
import { applyAsAdmin, clusterWide, declaredProgram } from "./declared";
import { declaredPod, PodResult, runPod } from "./pod";
import { makeCa, PostgresServer, TestCa } from "./postgres";
import { S3Server } from "./s3";
import { FakeSts } from "./sts";

export const ADMIN = "rds_admin";
const ADMIN_PASSWORD = "rds-admin-password";
export const APP_DB = "myapp";
export const PREFIX = "postgres/myapp";
const FIXTURES = path.join(__dirname, "..", "fixtures");

/**
 * The production stack's database as RDS leaves it, on this machine: a TLS-only PostgreSQL server whose admin is a
 * non-superuser (CREATEROLE, CREATEDB), s3rver for the bucket and a fake STS for IRSA. The program runs under mocks
 * with the stack's config plus the server's address, and its Jobs' pods run as declared (support/pod.ts).
 */
export class DatabaseHarness {
    private constructor(
        public readonly ca: TestCa,
        public readonly pg: PostgresServer,
        public readonly s3: S3Server,
        public readonly sts: FakeSts,
        /** The committed production stack, pointed at this server, with the fixture's second schema. */
        public readonly release: ProgramRun,
        private readonly base: string[],
    ) {}

    static async start(): Promise<DatabaseHarness> {
        const ca = makeCa(mkdtempSync(path.join(tmpdir(), "ca-")));
        const pg = await PostgresServer.start(ca);
        const base = [
            "database.host=127.0.0.1",
            `database.port=${pg.port}`,
            `database.tls.caBundle=${ca.caFile}`,
            "database.schemas[0]=public",
            "database.schemas[1]=billing",
        ];
        const release = declaredProgram("production", base);
        const bucket = declaredPod(release, "CronJob", "myapp-db-backup").env.find(([k]) => k === "BACKUP_BUCKET")![1];
        const s3 = await S3Server.start(bucket);
        const sts = await FakeSts.start("S3RVER", "S3RVER");
        pg.superuser(`CREATE ROLE ${ADMIN} LOGIN PASSWORD '${ADMIN_PASSWORD}' CREATEROLE CREATEDB NOSUPERUSER`);
        const h = new DatabaseHarness(ca, pg, s3, sts, release, base);
        applyAsAdmin(release, h.adminUrl, clusterWide);
        return h;
    }

    /** The program with more config edits, on the same server. */
    program(sets: string[]): ProgramRun {
        return declaredProgram("production", [...this.base, ...sets]);
    }

    adminUrl = (db: string) =>
        `postgresql://${ADMIN}:${ADMIN_PASSWORD}@127.0.0.1:${this.pg.port}/${db}?sslmode=verify-full&sslrootcert=${this.ca.caFile}`;

    /** SQL as the RDS admin: setting up and inspecting, never what a Job does. */
    admin = (sql: string, db = APP_DB) => PostgresServer.psqlAt(this.adminUrl(db), sql);

    /** A login role's DATABASE_URL as the program builds it, with the CA mapped to this machine. */
    urlOf = (kind: string, run = this.release) => {
        const secret = run.resources.find(
            (r) => r.type.endsWith(":Secret") && (r.inputs as any).metadata.name === `myapp-db-${kind}`,
        )!;
        return ((secret.inputs as any).stringData.DATABASE_URL as string).replace(
            /sslrootcert=[^&]+/,
            `sslrootcert=${this.ca.caFile}`,
        );
    };

    /** SQL as a login role, with the URL its Secret holds. */
    as = (kind: string, sql: string) => PostgresServer.psqlAt(this.urlOf(kind), sql);

    endpoints = () => ({ AWS_ENDPOINT_URL_S3: this.s3.endpoint, AWS_ENDPOINT_URL_STS: this.sts.endpoint });

    /** Runs the pod of the Job or CronJob whose name matches, as declared, with IRSA through the fake STS. */
    pod(
        run: ProgramRun,
        kind: "Job" | "CronJob",
        name: RegExp | string,
        files?: Record<string, Record<string, string>>,
    ): Promise<PodResult> {
        return runPod(run, declaredPod(run, kind, name), {
            endpoints: this.endpoints(),
            webIdentityToken: `token:${String(name)}`,
            files,
        });
    }

    /**
     * A fresh app database as the v1.2.2 deploy left it (the admin created every object), with the program's
     * per-database grants applied and, unless `handover` is false, the handover SQL it prints run by the admin.
     */
    freshAppDatabase(handover = true): void {
        this.pg.superuser(`DROP DATABASE IF EXISTS ${APP_DB} WITH (FORCE)`);
        this.admin(`CREATE DATABASE ${APP_DB}`, "postgres");
        this.admin(readFileSync(path.join(FIXTURES, "schema-v1.2.2.sql"), "utf8"));
        applyAsAdmin(this.release, this.adminUrl, (r) => !clusterWide(r));
        if (handover) this.admin((this.release.outputs.database as any).ownershipHandoverSql);
    }

    /** Copies an object, as the test (s3rver's own key pair), not as a pod. */
    copyObject = (from: string, to: string) =>
        new Promise<void>((resolve, reject) =>
            spawn(
                "aws",
                ["s3", "cp", "--only-show-errors", `s3://${this.s3.bucket}/${from}`, `s3://${this.s3.bucket}/${to}`],
                { env: { ...process.env, ...this.s3.env() } },
            ).on("close", (c) => (c === 0 ? resolve() : reject(new Error(`copying ${from} failed`)))),
        );

    /** Deletes an object, as the test (no pod identity may delete). */
    deleteObject = (key: string) =>
        new Promise<void>((resolve, reject) =>
            spawn("aws", ["s3", "rm", "--only-show-errors", `s3://${this.s3.bucket}/${key}`], {
                env: { ...process.env, ...this.s3.env() },
            }).on("close", (c) => (c === 0 ? resolve() : reject(new Error(`deleting ${key} failed`)))),
        );

    /** Restores a dump from the bucket into a scratch database as the admin, for a test to look into. */
    async restoreForInspection(key: string, db: string): Promise<void> {
        const file = path.join(mkdtempSync(path.join(tmpdir(), "dump-")), "x.dump");
        await new Promise<void>((resolve, reject) =>
            spawn("aws", ["s3", "cp", "--only-show-errors", `s3://${this.s3.bucket}/${key}`, file], {
                env: { ...process.env, ...this.s3.env() },
            }).on("close", (c) => (c === 0 ? resolve() : reject(new Error(`downloading ${key} failed`)))),
        );
        this.pg.superuser(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        this.admin(`CREATE DATABASE ${db}`, "postgres");
        await new Promise<void>((resolve, reject) =>
            spawn("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "-d", this.adminUrl(db), file], {
                stdio: "inherit",
            }).on("close", (c) => (c === 0 ? resolve() : reject(new Error(`restoring ${key} failed`)))),
        );
    }

    async stop(): Promise<void> {
        this.pg?.stop();
        await this.s3?.stop();
        await this.sts?.stop();
    }
}
