// The scripts the backup, restore and migration Jobs run, run for real: against a PostgreSQL server and an
// S3-compatible server (s3rver) that these tests start on loopback.
import * as assert from "assert";
import { execFile } from "child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { promisify } from "util";
import { loadMigrations, migrationsForPhase } from "../lib/migrations";
import { PostgresServer } from "./support/postgres";
import { S3Server } from "./support/s3";

const run = promisify(execFile);
const ROOT = path.join(__dirname, "..");
const SCRIPTS = path.join(ROOT, "scripts", "db");
const MIGRATIONS = path.join(ROOT, "migrations");
const FIXTURES = path.join(__dirname, "fixtures");
const PREFIX = "postgres/myapp";

interface ScriptResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs a script with extra environment; never throws, so tests can assert on failures. */
async function script(name: string, env: Record<string, string>, args: string[] = []): Promise<ScriptResult> {
    try {
        const { stdout, stderr } = await run("/bin/sh", [path.join(SCRIPTS, name), ...args], { env: { ...process.env, ...env } });
        return { code: 0, stdout, stderr };
    } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
}

/** A folder holding the given migrations' up and down files, as the release's ConfigMap would. */
function migrationsDir(versions: string[]): string {
    const dir = mkdtempSync(path.join(tmpdir(), "migrations-"));
    for (const v of versions) for (const d of ["up", "down"]) copyFileSync(path.join(MIGRATIONS, `${v}.${d}.sql`), path.join(dir, `${v}.${d}.sql`));
    return dir;
}

const LOADED = loadMigrations(MIGRATIONS);
const ALL = LOADED.map((m) => m.version);

describe("database scripts against real PostgreSQL and S3", function () {
    this.timeout(120000);
    let pg: PostgresServer;
    let s3: S3Server;
    let dbCount = 0;

    /** A fresh database holding the v1.2.2 schema and data. */
    function freshDatabase(): string {
        const name = `myapp_${++dbCount}`;
        pg.createDatabase(name);
        pg.psql(readFileSync(path.join(FIXTURES, "schema-v1.2.2.sql"), "utf8"), name);
        return name;
    }

    /** Columns, indexes and constraints of the public schema, bookkeeping table aside. */
    function schemaOf(db: string): string {
        return pg.psql(
            `SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
               SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type || coalesce('(' || character_maximum_length || ')', ''), is_nullable, column_default) AS x
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
               UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
               UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'schema_migrations'
             ) s`,
            db,
        );
    }

    /** Row count and an md5 over every row, per table. */
    function contentsOf(db: string): Record<string, string> {
        const out: Record<string, string> = {};
        for (const table of ["users", "payments"]) {
            out[table] = pg.psql(`SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM ${table} t`, db);
        }
        return out;
    }

    const migrate = (db: string, dir: string, args: string[] = ["up"]) => script("migrate-sql.sh", { DATABASE_URL: pg.url(db), MIGRATIONS_DIR: dir }, args);
    const s3env = () => ({ ...s3.env(), BACKUP_PREFIX: PREFIX });

    before(async () => {
        pg = await PostgresServer.start();
        s3 = await S3Server.start("myapp-backups");
    });
    after(async () => {
        pg?.stop();
        await s3?.stop();
    });

    describe("migrate-sql.sh and the plan's migrations", () => {
        it("applies the expand phase once, and the old version's queries still work", async () => {
            const db = freshDatabase();
            const expand = migrationsForPhase(loadMigrations(MIGRATIONS), "expand").map((m) => m.version);
            assert.deepStrictEqual(expand, ALL.slice(0, 4));
            const dir = migrationsDir(expand);
            const first = await migrate(db, dir);
            assert.strictEqual(first.code, 0, first.stderr);
            assert.match(first.stdout, /migration: 4 applied/);
            assert.strictEqual(pg.psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", db), expand.join(","));
            assert.match((await migrate(db, dir)).stdout, /migration: 0 applied/);
            assert.strictEqual(pg.psql("SELECT count(*) FROM pg_indexes WHERE indexname IN ('idx_users_email_verified', 'idx_payments_stripe_id')", db), "2");
            assert.strictEqual(pg.psql("SELECT count(*) FROM pg_index WHERE NOT indisvalid", db), "0");

            await run("psql", ["--no-psqlrc", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url(db), "-f", path.join(FIXTURES, "queries-v1.2.2.sql")]);
            assert.strictEqual(pg.psql("SELECT count(*) FROM users WHERE email_verified IS NOT NULL", db), "0", "expand must not stamp values on existing rows");
        });

        it("backfills email_verified from is_verified, then contracts to the plan's final schema", async () => {
            const db = freshDatabase();
            const before = pg.psql("SELECT count(*) FILTER (WHERE is_verified) FROM users", db);
            assert.strictEqual((await migrate(db, migrationsDir(ALL.slice(0, 5)))).code, 0);
            assert.strictEqual(pg.psql("SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM is_verified", db), "0");
            assert.strictEqual(pg.psql("SELECT count(*) FILTER (WHERE email_verified) FROM users", db), before);
            const contract = await migrate(db, migrationsDir(ALL));
            assert.strictEqual(contract.code, 0, contract.stderr);
            assert.strictEqual(pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'is_verified'", db), "0");
            assert.strictEqual(pg.psql("SELECT column_default FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email_verified'", db), "false");
            assert.strictEqual(pg.psql("SELECT count(*) FILTER (WHERE email_verified) FROM users", db), before);
        });

        it("each down script returns the schema exactly as it was before its up script", async () => {
            const db = freshDatabase();
            for (let i = 0; i < ALL.length; i++) {
                const dir = migrationsDir(ALL.slice(0, i + 1));
                const before = schemaOf(db);
                assert.strictEqual((await migrate(db, dir)).code, 0, ALL[i]);
                // A backfill moves data, not schema.
                if (LOADED[i].phase !== "backfill") assert.notStrictEqual(schemaOf(db), before, `${ALL[i]} changed nothing`);
                const down = await migrate(db, dir, ["down", "1"]);
                assert.strictEqual(down.code, 0, down.stderr);
                assert.match(down.stdout, new RegExp(`rolling back ${ALL[i]}`));
                assert.strictEqual(schemaOf(db), before, `${ALL[i]}.down.sql did not restore the schema`);
                assert.strictEqual((await migrate(db, dir)).code, 0, `${ALL[i]} did not re-apply`);
            }
        });

        it("fails loudly and records nothing when a migration fails", async () => {
            const db = freshDatabase();
            const dir = migrationsDir([]);
            writeFileSync(path.join(dir, "001_broken.up.sql"), "-- phase: expand\nALTER TABLE users ADD COLUMN ok boolean;\nALTER TABLE nope ADD COLUMN x int;\n");
            writeFileSync(path.join(dir, "001_broken.down.sql"), "SELECT 1;\n");
            const r = await migrate(db, dir);
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /migration FAILED: 001_broken did not apply/);
            assert.strictEqual(pg.psql("SELECT count(*) FROM schema_migrations", db), "0");
            assert.strictEqual(pg.psql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'ok'", db), "0", "the transaction was not rolled back");
        });
    });

    describe("backup.sh, restore.sh and restore-drill.sh", () => {
        it("round-trips a database through S3 without losing a row", async () => {
            const source = freshDatabase();
            assert.strictEqual((await migrate(source, migrationsDir(ALL.slice(0, 4)))).code, 0);
            const backup = await script("backup.sh", { ...s3env(), DATABASE_URL: pg.url(source), BACKUP_LABEL: "pre-deploy-v1.2.3" });
            assert.strictEqual(backup.code, 0, backup.stderr);
            const key = /wrote s3:\/\/myapp-backups\/(\S+) \(\d+ bytes\)/.exec(backup.stdout)![1];
            assert.match(key, /^postgres\/myapp\/\d{8}T\d{6}Z-pre-deploy-v1\.2\.3\.dump$/);

            const target = `restored_${dbCount}`;
            pg.createDatabase(target);
            const restore = await script("restore.sh", { ...s3env(), DATABASE_URL: pg.url(target), RESTORE_KEY: key });
            assert.strictEqual(restore.code, 0, restore.stderr);
            assert.deepStrictEqual(contentsOf(target), contentsOf(source));
            assert.strictEqual(schemaOf(target), schemaOf(source));
            assert.strictEqual(pg.psql("SELECT count(*) FROM schema_migrations", target), "4");
        });

        it("restores over a damaged database, putting back what a bad change destroyed", async () => {
            const db = freshDatabase();
            const intact = contentsOf(db);
            const backup = await script("backup.sh", { ...s3env(), DATABASE_URL: pg.url(db), BACKUP_LABEL: "scheduled" });
            const key = /wrote s3:\/\/myapp-backups\/(\S+) /.exec(backup.stdout)![1];
            pg.psql("DELETE FROM payments WHERE status = 'failed'; UPDATE users SET email = 'x' || id", db);
            assert.notDeepStrictEqual(contentsOf(db), intact);
            const restore = await script("restore.sh", { ...s3env(), DATABASE_URL: pg.url(db), RESTORE_KEY: key });
            assert.strictEqual(restore.code, 0, restore.stderr);
            assert.deepStrictEqual(contentsOf(db), intact);
        });

        it("drills the newest dump into a scratch database and checks it", async () => {
            const db = freshDatabase();
            await script("backup.sh", { ...s3env(), DATABASE_URL: pg.url(db), BACKUP_LABEL: "drill-source" });
            pg.createDatabase("drill_ok");
            const drill = await script("restore-drill.sh", { ...s3env(), DRILL_DATABASE_URL: pg.url("drill_ok"), DRILL_CHECK_SQL: "SELECT count(*) > 0 FROM users" });
            assert.strictEqual(drill.code, 0, drill.stderr);
            assert.match(drill.stdout, /fetched s3:\/\/myapp-backups\/postgres\/myapp\/\d{8}T\d{6}Z-drill-source\.dump/);
            assert.match(drill.stdout, /restore drill: restored 2 tables; check returned 't'/);
            pg.createDatabase("drill_check");
            const failing = await script("restore-drill.sh", { ...s3env(), DRILL_DATABASE_URL: pg.url("drill_check"), DRILL_CHECK_SQL: "SELECT count(*) FROM users WHERE email = 'nobody'" });
            assert.notStrictEqual(failing.code, 0);
            assert.match(failing.stderr, /restore drill FAILED: check query returned '0'/);
        });

        it("fails a restore that names a missing object, saying which", async () => {
            const r = await script("restore.sh", { ...s3env(), DATABASE_URL: pg.url("postgres"), RESTORE_KEY: `${PREFIX}/20200101T000000Z-nope.dump` });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /restore FAILED: cannot download s3:\/\/myapp-backups\/postgres\/myapp\/20200101T000000Z-nope\.dump/);
        });

        it("fails the drill when there is no dump, or the dump is empty", async () => {
            pg.createDatabase("drill_empty");
            const none = await script("restore-drill.sh", { ...s3env(), BACKUP_PREFIX: "postgres/other", DRILL_DATABASE_URL: pg.url("drill_empty") });
            assert.notStrictEqual(none.code, 0);
            assert.match(none.stderr, /restore drill FAILED: no dump found under s3:\/\/myapp-backups\/postgres\/other\//);
            const empty = path.join(mkdtempSync(path.join(tmpdir(), "empty-")), "empty.dump");
            writeFileSync(empty, "");
            await run("aws", ["--endpoint-url", s3.endpoint, "s3", "cp", "--only-show-errors", empty, "s3://myapp-backups/postgres/empty/20990101T000000Z-x.dump"], {
                env: { ...process.env, ...s3.env() },
            });
            const r = await script("restore-drill.sh", { ...s3env(), BACKUP_PREFIX: "postgres/empty", DRILL_DATABASE_URL: pg.url("drill_empty") });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /restore drill FAILED: s3:\/\/myapp-backups\/postgres\/empty\/20990101T000000Z-x\.dump is empty/);
        });

        it("fails a backup loudly when the dump or the upload fails", async () => {
            const noDb = await script("backup.sh", { ...s3env(), DATABASE_URL: pg.url("does_not_exist") });
            assert.notStrictEqual(noDb.code, 0);
            assert.match(noDb.stderr, /backup FAILED: pg_dump exited with 1/);
            const db = freshDatabase();
            const noBucket = await script("backup.sh", { ...s3env(), BACKUP_BUCKET: "no-such-bucket", DATABASE_URL: pg.url(db) });
            assert.notStrictEqual(noBucket.code, 0);
            assert.match(noBucket.stderr, /backup FAILED: upload to s3:\/\/no-such-bucket\/postgres\/myapp\/\d{8}T\d{6}Z-scheduled\.dump failed/);
        });
    });

    it("ships every script the ConfigMap carries", () => {
        assert.deepStrictEqual(readdirSync(SCRIPTS).sort(), ["backup.sh", "dump-lib.sh", "migrate-sql.sh", "restore-drill.sh", "restore.sh"]);
    });
});
