// The database scripts run the way production runs them: each as the role its Job uses, with the connection URL the
// program builds (from the Secret it declares), in the pod the program declares (non-root, read-only root, HOME on
// its volume, the same environment and command), with IRSA credentials from a fake STS, against a PostgreSQL server
// that takes only TLS (verify-full against 127.0.0.1) and s3rver. The server is set up as RDS leaves it: a
// non-superuser admin (CREATEROLE, CREATEDB) created the v1.2.2 tables, then the program's roles, grants and default
// privileges are applied as that admin with the SQL the PostgreSQL provider issues. `postgres` only starts the server
// and creates the admin.
import * as assert from "assert";
import { spawn } from "child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { loadMigrations } from "../lib/migrations";
import { ProgramRun } from "../lib/offline/types";
import { applyAsAdmin, clusterWide, declaredProgram } from "./support/declared";
import { declaredPod, PodResult, runPod } from "./support/pod";
import { makeCa, PostgresServer, TestCa } from "./support/postgres";
import { S3Server } from "./support/s3";
import { FakeSts } from "./support/sts";

const ROOT = path.join(__dirname, "..");
const MIGRATIONS = path.join(ROOT, "migrations");
const FIXTURES = path.join(__dirname, "fixtures");
const ADMIN = "rds_admin";
const ADMIN_PASSWORD = "rds-admin-password";
const APP_DB = "myapp";
const PREFIX = "postgres/myapp";
const RESTORE_KEY = `${PREFIX}/20990101T000000Z-pre-deploy-v1.2.3.dump`;
const LOADED = loadMigrations(MIGRATIONS);
const ALL = LOADED.map((m) => m.version);

/** A migrations ConfigMap's files: the given versions' up and down files, or files given as text. */
function migrationFiles(versions: string[], extra: Record<string, string> = {}): Record<string, string> {
    const files: Record<string, string> = {};
    for (const m of LOADED.filter((x) => versions.includes(x.version))) {
        files[`${m.version}.up.sql`] = m.up;
        files[`${m.version}.down.sql`] = m.down;
    }
    return { ...files, ...extra };
}

describe("database scripts as the program's roles, in the program's pods, on PostgreSQL (TLS) and S3", function () {
    this.timeout(300000);
    let ca: TestCa;
    let pg: PostgresServer;
    let s3: S3Server;
    let sts: FakeSts;
    let release: ProgramRun;
    let rollback: ProgramRun;

    const adminUrl = (db: string) => `postgresql://${ADMIN}:${ADMIN_PASSWORD}@127.0.0.1:${pg.port}/${db}?sslmode=verify-full&sslrootcert=${ca.caFile}`;
    /** SQL as the RDS admin: setting up and inspecting, never what a Job does. */
    const admin = (sql: string, db = APP_DB) => PostgresServer.psqlAt(adminUrl(db), sql);
    /** A login role's DATABASE_URL as the program builds it, with the CA mapped to this machine. */
    const urlOf = (kind: string) => {
        const secret = release.resources.find((r) => r.type.endsWith(":Secret") && (r.inputs as any).metadata.name === `myapp-db-${kind}`)!;
        return ((secret.inputs as any).stringData.DATABASE_URL as string).replace(/sslrootcert=[^&]+/, `sslrootcert=${ca.caFile}`);
    };
    const as = (kind: string, sql: string) => PostgresServer.psqlAt(urlOf(kind), sql);

    const endpoints = () => ({ AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ENDPOINT_URL_STS: sts.endpoint });
    const job = (run: ProgramRun, name: RegExp, files?: Record<string, Record<string, string>>): Promise<PodResult> =>
        runPod(run, declaredPod(run, "Job", name), { endpoints: endpoints(), webIdentityToken: `token:${name.source}`, files });
    const migrate = (files: Record<string, string>, run = release) => job(run, run === release ? /^myapp-migrate-(?!down-)/ : /^myapp-migrate-down-/, { migrations: files });
    /** Copies an object, as the test (s3rver's own key pair), not as a pod. */
    const copyObject = (from: string, to: string) =>
        new Promise<void>((resolve, reject) =>
            spawn("aws", ["s3", "cp", "--only-show-errors", `s3://${s3.bucket}/${from}`, `s3://${s3.bucket}/${to}`], { env: { ...process.env, ...s3.env() } }).on("close", (c) =>
                c === 0 ? resolve() : reject(new Error(`copying ${from} failed`)),
            ),
        );
    const ok = (r: PodResult) => assert.strictEqual(r.code, 0, `${r.stdout}\n${r.stderr}`);

    /** A fresh app database as the v1.2.2 deploy left it (the admin owns the tables), with the program's grants applied. */
    function freshAppDatabase(firstTime = false): void {
        admin(`DROP DATABASE IF EXISTS ${APP_DB}`, "postgres");
        admin(`CREATE DATABASE ${APP_DB}`, "postgres");
        admin(readFileSync(path.join(FIXTURES, "schema-v1.2.2.sql"), "utf8"));
        if (firstTime) applyAsAdmin(release, adminUrl, clusterWide);
        applyAsAdmin(release, adminUrl, (r) => !clusterWide(r));
        admin((release.outputs.database as any).ownershipHandoverSql);
    }

    before(async () => {
        ca = makeCa(mkdtempSync(path.join(tmpdir(), "ca-")));
        pg = await PostgresServer.start(ca);
        const sets = ["database.host=127.0.0.1", `database.port=${pg.port}`, `database.tls.caBundle=${ca.caFile}`];
        release = declaredProgram("production", sets);
        rollback = declaredProgram("production", [...sets, `database.restore.key=${RESTORE_KEY}`, "database.migration.run=down"]);
        const bucket = declaredPod(release, "CronJob", "myapp-db-backup").env.find(([k]) => k === "BACKUP_BUCKET")![1];
        s3 = await S3Server.start(bucket);
        sts = await FakeSts.start("S3RVER", "S3RVER");
        pg.superuser(`CREATE ROLE ${ADMIN} LOGIN PASSWORD '${ADMIN_PASSWORD}' CREATEROLE CREATEDB NOSUPERUSER`);
        freshAppDatabase(true);
    });
    after(async () => {
        pg?.stop();
        await s3?.stop();
        await sts?.stop();
    });

    describe("the RDS situation, applied from the program's declarations", () => {
        it("hands the admin's tables to the owner role; no login role is a superuser; only the declared roles reach the app database", () => {
            assert.strictEqual(
                pg.superuser("SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')", APP_DB),
                "myapp_owner",
            );
            assert.strictEqual(
                pg.superuser("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'myapp_%' AND (rolsuper OR rolcreaterole OR rolcreatedb)"),
                "",
            );
            assert.strictEqual(as("migrator", "SELECT current_user"), "myapp_owner", "the migrator acts as the owner from login");
            assert.throws(() => PostgresServer.psqlAt(urlOf("drill").replace("/myapp_restore_drill?", `/${APP_DB}?`), "SELECT 1"), /permission denied for database "myapp"/);
            assert.throws(() => as("app", "ALTER TABLE users ADD COLUMN x int"), /must be owner of table users/);
            assert.throws(() => as("backup", "DELETE FROM payments"), /permission denied for table payments/);
            assert.throws(
                () => PostgresServer.psqlAt(urlOf("app").replace(/sslrootcert=[^&]+/, "sslrootcert=/nonexistent"), "SELECT 1"),
                /root certificate file "\/nonexistent" does not exist/,
            );
        });
    });

    describe("the migration Job (migrate-sql.sh as the migrator)", () => {
        it("applies the expand phase to the admin-created tables once; the app and backup roles can use what it adds", async () => {
            freshAppDatabase();
            // The pod exactly as declared: its ConfigMap's items put the runner at /scripts and the SQL at /migrations.
            const first = await job(release, /^myapp-migrate-(?!down-)/);
            ok(first);
            assert.match(first.stdout, /migration: 4 applied/);
            assert.match((await migrate(migrationFiles(ALL.slice(0, 4)))).stdout, /migration: 0 applied/);
            assert.strictEqual(
                admin("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('idx_users_email_verified', 'idx_payments_stripe_id') AND i.indisvalid"),
                "2",
            );
            await new Promise<void>((resolve, reject) =>
                spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", urlOf("app"), "-f", path.join(FIXTURES, "queries-v1.2.2.sql")], { stdio: "ignore" }).on("close", (c) =>
                    c === 0 ? resolve() : reject(new Error(`v1.2.2 queries failed as the app role (${c})`)),
                ),
            );
            // A table a later migration creates is the owner's: default privileges give it to the app and backup roles.
            ok(
                await migrate(
                    migrationFiles(ALL.slice(0, 4), {
                        "005_audit.up.sql": "-- phase: expand\nCREATE TABLE audit (id bigserial PRIMARY KEY, note text);\n",
                        "005_audit.down.sql": "DROP TABLE audit;\n",
                    }),
                ),
            );
            assert.strictEqual(as("app", "INSERT INTO audit (note) VALUES ('x') RETURNING id"), "1");
            assert.strictEqual(as("backup", "SELECT count(*) FROM audit"), "1");
            assert.strictEqual(admin("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'audit'"), "myapp_owner");
        });

        it("fails loudly and records nothing when a migration fails", async () => {
            freshAppDatabase();
            const r = await migrate({
                "001_broken.up.sql": "-- phase: expand\nALTER TABLE users ADD COLUMN ok boolean;\nALTER TABLE nope ADD COLUMN x int;\n",
                "001_broken.down.sql": "SELECT 1;\n",
            });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /migration FAILED: 001_broken did not apply/);
            assert.strictEqual(admin("SELECT count(*) FROM schema_migrations"), "0");
            assert.strictEqual(admin("SELECT count(*) FROM information_schema.columns WHERE column_name = 'ok'"), "0");
        });

        it("rebuilds an INVALID index a failed CREATE INDEX CONCURRENTLY left, and records the file only once the index is valid", async () => {
            freshAppDatabase();
            const files = {
                "001_unique_email_lower.up.sql":
                    "-- phase: expand\n-- migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower ON users (lower(email));\n",
                "001_unique_email_lower.down.sql": "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS idx_users_email_lower;\n",
            };
            admin("INSERT INTO users (email) VALUES ('USER1@example.com')");
            const failed = await migrate(files);
            assert.notStrictEqual(failed.code, 0);
            assert.match(failed.stderr, /could not create unique index "idx_users_email_lower"/);
            assert.strictEqual(admin("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_users_email_lower'::regclass"), "f", "the failed build leaves an INVALID index");
            admin("DELETE FROM users WHERE email = 'USER1@example.com'");
            const retried = await migrate(files);
            ok(retried);
            assert.match(retried.stdout, /dropping INVALID index idx_users_email_lower left by an earlier attempt/);
            assert.strictEqual(admin("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_users_email_lower'::regclass"), "t");
            assert.strictEqual(admin("SELECT string_agg(version, ',') FROM schema_migrations"), "001_unique_email_lower");
        });

        it("serialises two runs started at once: the second finds the first one's work recorded", async () => {
            freshAppDatabase();
            admin("CREATE TABLE gate (id int); GRANT SELECT ON gate TO myapp_owner");
            const files = { "001_audit.up.sql": "-- phase: expand\nSELECT count(*) FROM gate;\nCREATE TABLE audit (id int);\n", "001_audit.down.sql": "DROP TABLE audit;\n" };
            // The admin holds the gate table, so the first run to reach the file waits there while the other starts.
            const holder = spawn("psql", ["-X", "-q", "-d", adminUrl(APP_DB)], { stdio: ["pipe", "ignore", "ignore"] });
            const holderClosed = new Promise((r) => holder.on("close", r));
            holder.stdin.write("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n");
            let settled = 0;
            let results: PodResult[];
            try {
                const runs = [migrate(files), migrate(files)].map((p) => p.finally(() => settled++));
                const waiting = () => Number(admin("SELECT count(*) FROM pg_locks WHERE NOT granted"));
                while (settled === 0 && waiting() < 2) await new Promise((r) => setTimeout(r, 100));
                holder.stdin.end("COMMIT;\n");
                results = await Promise.all(runs);
            } finally {
                holder.stdin.end();
                await holderClosed;
                admin("DROP TABLE gate");
            }
            results.forEach(ok);
            assert.deepStrictEqual(results.map((r) => /migration: (\d) applied/.exec(r.stdout)![1]).sort(), ["0", "1"]);
        });

        it("each down file returns the schema exactly as it was before its up file", async () => {
            freshAppDatabase();
            const schema = () =>
                admin(`SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
                   SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, column_default) AS x
                     FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                   UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
                   UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'schema_migrations') s`);
            for (let i = 0; i < ALL.length; i++) {
                const files = migrationFiles(ALL.slice(0, i + 1));
                const before = schema();
                ok(await migrate(files));
                if (LOADED[i].phase !== "backfill") assert.notStrictEqual(schema(), before, `${ALL[i]} changed nothing`);
                const down = await runPod(rollback, declaredPod(rollback, "Job", /^myapp-migrate-down-/), { endpoints: endpoints(), files: { migrations: files } });
                ok(down);
                assert.match(down.stdout, new RegExp(`rolling back ${ALL[i]}`));
                assert.strictEqual(schema(), before, `${ALL[i]}.down.sql did not restore the schema`);
                ok(await migrate(files));
            }
        });
    });

    describe("the backfill and the contract's rollback on a table that spans many batches", () => {
        const ROWS = 10_500;
        it(`backfills ${ROWS} users in committed batches, resumes after a crash, and the contract's down file handles NULLs`, async () => {
            freshAppDatabase();
            admin(`INSERT INTO users (email, is_verified) SELECT 'bulk' || g || '@example.com', g % 2 = 0 FROM generate_series(1, ${ROWS - 300}) g`);
            ok(await migrate(migrationFiles(ALL.slice(0, 4))));
            // A crash part-way: a trigger fails the batch holding id 5500; the batches before it stay committed.
            admin(`CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 5500 THEN RAISE EXCEPTION 'crash'; END IF; RETURN NEW; END $$;
                   CREATE TRIGGER crash BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION crash()`);
            const crashed = await migrate(migrationFiles(ALL.slice(0, 5)));
            assert.notStrictEqual(crashed.code, 0);
            assert.strictEqual(admin("SELECT count(*) FROM users WHERE email_verified IS NOT NULL"), "5000", "five batches of 1,000 committed before the crash");
            admin("DROP TRIGGER crash ON users; DROP FUNCTION crash()");
            const resumed = await migrate(migrationFiles(ALL.slice(0, 5)));
            ok(resumed);
            assert.match(resumed.stderr, /backfill: copied is_verified into 5500 rows in 11 batches of at most 1000 ids/);
            assert.strictEqual(admin("SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM is_verified"), "0");
            const verified = admin("SELECT count(*) FILTER (WHERE is_verified) FROM users");

            ok(await migrate(migrationFiles(ALL)));
            // Rows written after the contract with an explicit NULL, as the new code may.
            as("app", "UPDATE users SET email_verified = NULL WHERE id % 7 = 0");
            const nulls = Number(admin("SELECT count(*) FROM users WHERE email_verified IS NULL"));
            assert.strictEqual(nulls, Math.floor(ROWS / 7));
            const down = await migrate(migrationFiles(ALL), rollback);
            ok(down);
            assert.strictEqual(admin("SELECT count(*) FROM users WHERE is_verified IS NULL"), "0");
            assert.strictEqual(admin("SELECT count(*) FROM users WHERE is_verified IS DISTINCT FROM coalesce(email_verified, false)"), "0");
            assert.strictEqual(admin("SELECT is_nullable || ' ' || column_default FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'is_verified'"), "NO false");
            assert.ok(Number(verified) > 0);
        });
    });

    describe("backup, restore and drill Jobs (IRSA, HOME on the pod's volume)", () => {
        it("the old pod (no HOME, read-only root) cannot cache the IRSA credentials", async () => {
            const pod = declaredPod(release, "Job", /^myapp-predeploy-backup-/);
            const old = { ...pod, env: pod.env.filter(([k]) => k !== "HOME"), mounts: pod.mounts.filter((m) => m.name !== "home"), volumes: pod.volumes.filter((v) => v.name !== "home") };
            const r = await runPod(release, old, { endpoints: endpoints(), webIdentityToken: "token" });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /\[Errno 30\] Read-only file system: '\/\.aws'/);
        });

        it("refuses a restore whose pre-restore backup has not run", async () => {
            const r = await job(rollback, /^myapp-restore-/);
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /restore FAILED: no backup labelled pre-restore-[0-9a-f]{10} under s3:\/\/myapp-production-db-backups\/postgres\/myapp\//);
        });

        it("backs up as the backup role, restores once per key as the migrator over a damaged database, never twice", async () => {
            freshAppDatabase();
            ok(await migrate(migrationFiles(ALL.slice(0, 4))));
            const contents = () => admin("SELECT count(*) || ' ' || md5(string_agg(u::text, '|' ORDER BY u.id)) FROM users u");
            const intact = contents();
            const backup = await job(release, /^myapp-predeploy-backup-/);
            ok(backup);
            const key = /wrote s3:\/\/myapp-production-db-backups\/(\S+) \(\d+ bytes\)/.exec(backup.stdout)![1];
            assert.match(key, /^postgres\/myapp\/\d{8}T\d{6}Z-pre-deploy-v1\.2\.3\.dump$/);
            assert.ok(sts.calls.length > 0 && sts.calls.every((c) => c.roleArn === declaredPod(release, "Job", /^myapp-predeploy-backup-/).roleArn));
            assert.deepStrictEqual(readdirSync(path.join(backup.volumeDirs.home, ".aws", "cli", "cache")).length, 1, "the CLI cached the assumed role under HOME");

            // The dump the restore names: this backup, under the key the config names.
            await copyObject(key, RESTORE_KEY);
            as("app", "UPDATE users SET email = 'x' || id");
            assert.notStrictEqual(contents(), intact);
            const preRestore = await job(rollback, /^myapp-prerestore-backup-/);
            ok(preRestore);
            assert.match(preRestore.stdout, /Z-pre-restore-[0-9a-f]{10}\.dump/);
            const restore = await job(rollback, /^myapp-restore-/);
            ok(restore);
            assert.strictEqual(contents(), intact);
            assert.strictEqual(admin("SELECT key || ' ' || run FROM deploy_log.restores"), `${RESTORE_KEY} 1`);
            assert.strictEqual(
                admin("SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"),
                "myapp_owner",
            );
            assert.strictEqual(as("app", "SELECT count(*) > 0 FROM users"), "t", "the app role still reads the restored tables");

            as("app", "UPDATE users SET email = 'y' || id");
            const again = await job(rollback, /^myapp-restore-/);
            ok(again);
            assert.match(again.stdout, /was already restored at .*; nothing done/);
            assert.match(admin("SELECT min(email) FROM users"), /^y/, "the second run restored nothing");
        });

        it("takes the backup before a down migration, labelled for it", async () => {
            const r = await job(rollback, /^myapp-predown-backup-/);
            ok(r);
            assert.match(r.stdout, /postgres\/myapp\/\d{8}T\d{6}Z-pre-down-v1\.2\.3\.dump/);
        });

        it("drills the newest of more than 1,000 dumps as the drill role into its scratch database, then empties it", async () => {
            const older = Array.from({ length: 1_100 }, (_, i) => `${PREFIX}/2000${String(1 + (i % 12)).padStart(2, "0")}01T${String(i).padStart(6, "0")}Z-scheduled.dump`);
            await s3.seed(older, Buffer.from("not a dump"));
            const backup = await job(release, /^myapp-predeploy-backup-/);
            ok(backup);
            // The newest of all: later than every other key, the restore test's 2099 copy included.
            const key = `${PREFIX}/21000101T000000Z-scheduled.dump`;
            await copyObject(/wrote s3:\/\/\S+?\/(\S+) /.exec(backup.stdout)![1], key);
            const drill = await runPod(release, declaredPod(release, "CronJob", "myapp-db-restore-drill"), { endpoints: endpoints(), webIdentityToken: "token" });
            ok(drill);
            assert.match(drill.stdout, new RegExp(`fetched s3://myapp-production-db-backups/${key.replace(/\./g, "\\.")} `));
            assert.match(drill.stdout, /restore drill: restored 3 tables; check returned 't'/);
            assert.strictEqual(as("drill", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0", "the scratch copy is emptied");
            assert.strictEqual(pg.superuser("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'myapp_restore_drill'"), "myapp_drill");
        });
    });

    it("ships every script the ConfigMap carries", () => {
        assert.deepStrictEqual(readdirSync(path.join(ROOT, "scripts", "db")).sort(), ["backup.sh", "dump-lib.sh", "migrate-sql.sh", "restore-drill.sh", "restore.sh"]);
        assert.ok(existsSync(path.join(ROOT, "scripts", "db", "migrate-sql.sh")));
    });
});
