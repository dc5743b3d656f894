// The database scripts run the way production runs them: each as the role its Job uses, with the connection URL the
// program builds (from the Secret it declares), in the pod the program declares (non-root, read-only root, HOME on
// its volume, the same environment and command), with IRSA credentials from a fake STS, against a PostgreSQL server
// that takes only TLS (verify-full against 127.0.0.1) and s3rver. The server is set up as RDS leaves it: a
// non-superuser admin (CREATEROLE, CREATEDB) created the v1.2.2 schema (test/fixtures/schema-v1.2.2.sql: tables, an
// extension, a function, an enum, a partitioned table, a view, a materialized view, a second schema), then the
// program's roles, grants and default privileges are applied as that admin with the SQL the PostgreSQL provider
// issues, and the admin runs the handover SQL the program prints. `postgres` only starts the server.
import * as assert from "assert";
import { spawn } from "child_process";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { loadMigrations } from "../../../lib/migrations";
import { ProgramRun } from "../../../tools/offline/types";
import { ADMIN, APP_DB, DatabaseHarness, PREFIX } from "../../support/harness";
import { declaredPod, PodResult, runPod } from "../../support/pod";
import { PostgresServer } from "../../support/postgres";

const ROOT = path.join(__dirname, "..", "..", "..");
const FIXTURES = path.join(__dirname, "..", "..", "fixtures");
const RESTORE_KEY = `${PREFIX}/20990101T000000Z-pre-deploy-v1.2.3.dump`;
const LOADED = loadMigrations(path.join(ROOT, "migrations"));
const ALL = LOADED.map((m) => m.version);
const EXPAND = LOADED.filter((m) => m.phase === "expand").map((m) => m.version);
/** Every object the fixture's admin created, with its owner, as "kind name owner". */
const OWNERS = `SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
    SELECT format('%s %s %s', c.relkind, c.oid::regclass, pg_get_userbyid(c.relowner)) AS x FROM pg_class c
     WHERE c.relnamespace IN ('public'::regnamespace, 'billing'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL SELECT format('function %s %s', p.oid::regprocedure, pg_get_userbyid(p.proowner)) FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    UNION ALL SELECT format('type %s %s', t.oid::regtype, pg_get_userbyid(t.typowner)) FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'e'
    UNION ALL SELECT format('schema %s %s', nspname, pg_get_userbyid(nspowner)) FROM pg_namespace WHERE nspname = 'billing') s`;

/** A migrations ConfigMap's files: the given versions' up and down files, or files given as text. */
function migrationFiles(versions: string[], extra: Record<string, string> = {}): Record<string, string> {
    const files: Record<string, string> = {};
    for (const m of LOADED.filter((x) => versions.includes(x.version))) {
        files[`${m.version}.up.sql`] = m.up;
        files[`${m.version}.down.sql`] = m.down;
    }
    return { ...files, ...extra };
}

const ok = (r: PodResult) => assert.strictEqual(r.code, 0, `${r.stdout}\n${r.stderr}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("database scripts as the program's roles, in the program's pods, on PostgreSQL (TLS) and S3", function () {
    this.timeout(300000);
    let h: DatabaseHarness;
    let restoreRun: ProgramRun;
    let downRun: ProgramRun;
    let admin: DatabaseHarness["admin"];
    let as: DatabaseHarness["as"];

    const migrate = (files: Record<string, string>, run?: ProgramRun) =>
        h.pod(run ?? h.release, "Job", /^myapp-migrate-(?!down-)/, { migrations: files });
    const migrateDown = (files: Record<string, string>, run = downRun) =>
        h.pod(run, "Job", /^myapp-migrate-down-/, { migrations: files });

    before(async () => {
        h = await DatabaseHarness.start();
        admin = h.admin;
        as = h.as;
        restoreRun = h.program([`database.restore.key=${RESTORE_KEY}`]);
        // A down migration is run for a release that every serving track runs: the rollback to v1.2.2.
        const v122 = [
            "release.version=v1.2.2",
            "canary.canaryVersion=v1.2.2",
            "database.migration.run=down",
            "database.migration.downFor=v1.2.2",
        ];
        downRun = h.program(v122);
        h.freshAppDatabase();
    });
    after(async () => {
        await h?.stop();
    });

    describe("the RDS situation, applied from the program's declarations", () => {
        it("hands everything the admin created to the owner role: partitioned tables and partitions, views, materialized views, functions, types, the second schema", () => {
            assert.strictEqual(
                admin(OWNERS),
                [
                    "S billing.invoices_id_seq myapp_owner",
                    "S payments_id_seq myapp_owner",
                    "S users_id_seq myapp_owner",
                    "S events_id_seq myapp_owner",
                    "function email_domain(text) myapp_owner",
                    "m payment_totals myapp_owner",
                    "p events myapp_owner",
                    "r billing.invoices myapp_owner",
                    "r events_2026 myapp_owner",
                    "r events_default myapp_owner",
                    "r payments myapp_owner",
                    "r users myapp_owner",
                    "schema billing myapp_owner",
                    "type payment_method myapp_owner",
                    "v user_domains myapp_owner",
                ]
                    .sort()
                    .join("\n"),
            );
            // Extensions cannot change owner: pgcrypto stays the admin's, and restores never drop it.
            assert.strictEqual(
                admin("SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'pgcrypto'"),
                ADMIN,
            );
        });

        it("no login role is a superuser; only the declared roles reach the app database; PUBLIC creates nothing in public", () => {
            assert.strictEqual(
                h.pg.superuser(
                    "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'myapp_%' AND (rolsuper OR rolcreaterole OR rolcreatedb)",
                ),
                "",
            );
            assert.strictEqual(
                as("migrator", "SELECT current_user"),
                "myapp_owner",
                "the migrator acts as the owner from login",
            );
            assert.throws(
                () =>
                    PostgresServer.psqlAt(h.urlOf("drill").replace("/myapp_restore_drill?", `/${APP_DB}?`), "SELECT 1"),
                /permission denied for database "myapp"/,
            );
            assert.throws(() => as("app", "ALTER TABLE users ADD COLUMN x int"), /must be owner of table users/);
            assert.throws(() => as("backup", "DELETE FROM payments"), /permission denied for table payments/);
            assert.strictEqual(
                as("backup", "SELECT count(*) > 0 FROM billing.invoices"),
                "t",
                "the backup role reads the second schema",
            );
            assert.strictEqual(as("app", "SELECT count(*) > 0 FROM billing.invoices"), "t");
            // A cluster upgraded from PostgreSQL 14 or older still lets PUBLIC create in public; the program revokes it.
            h.pg.superuser("GRANT CREATE ON SCHEMA public TO PUBLIC", APP_DB);
            h.freshAppDatabase();
            h.pg.superuser(
                "CREATE ROLE stranger LOGIN PASSWORD 'stranger'; GRANT CONNECT ON DATABASE myapp TO stranger",
            );
            try {
                const stranger = h.adminUrl(APP_DB).replace(`${ADMIN}:rds-admin-password`, "stranger:stranger");
                assert.throws(
                    () => PostgresServer.psqlAt(stranger, "CREATE TABLE public.mine (x int)"),
                    /permission denied for schema public/,
                );
            } finally {
                h.pg.superuser("REVOKE CONNECT ON DATABASE myapp FROM stranger; DROP ROLE stranger");
            }
            assert.throws(
                () =>
                    PostgresServer.psqlAt(
                        h.urlOf("app").replace(/sslrootcert=[^&]+/, "sslrootcert=/nonexistent"),
                        "SELECT 1",
                    ),
                /root certificate file "\/nonexistent" does not exist/,
            );
        });
    });

    describe("the migration Job (migrate-sql.sh as the migrator)", () => {
        it("applies the expand phase to the admin-created schema once; the app and backup roles can use what it adds", async () => {
            h.freshAppDatabase();
            // The pod exactly as declared: its ConfigMap's items put the runner at /scripts and the SQL at /migrations.
            const first = await h.pod(h.release, "Job", /^myapp-migrate-(?!down-)/);
            ok(first);
            assert.match(first.stdout, /migration: 5 applied/);
            assert.match((await migrate(migrationFiles(EXPAND))).stdout, /migration: 0 applied/);
            assert.strictEqual(
                admin(
                    "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('idx_users_email_verified', 'idx_payments_stripe_id') AND i.indisvalid",
                ),
                "2",
            );
            await new Promise<void>((resolve, reject) =>
                spawn(
                    "psql",
                    [
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-d",
                        h.urlOf("app"),
                        "-f",
                        path.join(FIXTURES, "queries-v1.2.2.sql"),
                    ],
                    { stdio: "ignore" },
                ).on("close", (c) =>
                    c === 0 ? resolve() : reject(new Error(`v1.2.2 queries failed as the app role (${c})`)),
                ),
            );
            // A schema and a table a later migration creates are the owner's: default privileges give them to the app and backup roles.
            ok(
                await migrate(
                    migrationFiles(EXPAND, {
                        "006_audit.up.sql":
                            "-- phase: expand\n-- oldest-serving-version: v1.2.2\nCREATE SCHEMA audit;\nCREATE TABLE audit.log (id bigserial PRIMARY KEY, note text);\n",
                        "006_audit.down.sql": "-- returns-to-version: v1.2.2\nDROP SCHEMA audit CASCADE;\n",
                    }),
                ),
            );
            assert.strictEqual(as("app", "INSERT INTO audit.log (note) VALUES ('x') RETURNING id"), "1");
            assert.strictEqual(as("backup", "SELECT count(*) FROM audit.log"), "1");
            ok(await h.pod(h.release, "Job", /^myapp-predeploy-backup-/));
            // The app role's grants on every table of public reach schema_migrations; its trigger refuses them.
            assert.throws(
                () => as("app", "INSERT INTO schema_migrations (version) VALUES ('999_forged')"),
                /only the owner of schema_migrations writes it, not myapp_app/,
            );
            assert.throws(
                () => as("app", "DELETE FROM schema_migrations"),
                /only the owner of schema_migrations writes it/,
            );
        });

        it("stops before changing anything, naming the objects, when the admin has not handed them over", async () => {
            h.freshAppDatabase(false);
            const r = await migrate(migrationFiles(EXPAND));
            assert.notStrictEqual(r.code, 0);
            assert.match(
                r.stderr,
                /these objects do not belong to myapp_owner, so the migrator cannot change them: .*table users \(owner rds_admin\)/,
            );
            assert.match(r.stderr, /hand them over first: run the ownershipHandoverSql output as the admin/);
            assert.strictEqual(
                admin("SELECT count(*) FROM information_schema.columns WHERE column_name = 'email_verified'"),
                "0",
            );
        });

        it("fails loudly and records nothing when a migration fails", async () => {
            h.freshAppDatabase();
            const r = await migrate({
                "001_broken.up.sql":
                    "-- phase: expand\nALTER TABLE users ADD COLUMN ok boolean;\nALTER TABLE nope ADD COLUMN x int;\n",
                "001_broken.down.sql": "SELECT 1;\n",
            });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /migration FAILED: 001_broken did not apply/);
            assert.strictEqual(admin("SELECT count(*) FROM schema_migrations"), "0");
            assert.strictEqual(admin("SELECT count(*) FROM information_schema.columns WHERE column_name = 'ok'"), "0");
        });

        it("rebuilds an INVALID index a failed CREATE INDEX CONCURRENTLY left, and records the file only once the index is valid", async () => {
            h.freshAppDatabase();
            const files = {
                "001_unique_email_lower.up.sql":
                    "-- phase: expand\n-- migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower ON users (lower(email));\n",
                "001_unique_email_lower.down.sql":
                    "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS idx_users_email_lower;\n",
            };
            admin("INSERT INTO users (email) VALUES ('USER1@example.com')");
            const failed = await migrate(files);
            assert.notStrictEqual(failed.code, 0);
            assert.match(failed.stderr, /could not create unique index "idx_users_email_lower"/);
            assert.strictEqual(
                admin("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_users_email_lower'::regclass"),
                "f",
                "the failed build leaves an INVALID index",
            );
            admin("DELETE FROM users WHERE email = 'USER1@example.com'");
            const retried = await migrate(files);
            ok(retried);
            assert.match(retried.stdout, /dropping INVALID index idx_users_email_lower left by an earlier attempt/);
            assert.strictEqual(
                admin("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_users_email_lower'::regclass"),
                "t",
            );
            assert.strictEqual(
                admin("SELECT string_agg(version, ',') FROM schema_migrations"),
                "001_unique_email_lower",
            );
        });

        it("serialises two runs started at once: the second finds the first one's work recorded", async () => {
            h.freshAppDatabase();
            admin("SET ROLE myapp_owner; CREATE TABLE gate (id int)");
            const files = {
                "001_audit.up.sql": "-- phase: expand\nSELECT count(*) FROM gate;\nCREATE TABLE audit (id int);\n",
                "001_audit.down.sql": "DROP TABLE audit;\n",
            };
            // The admin holds the gate table, so the first run to reach the file waits there while the other starts.
            const holder = spawn("psql", ["-X", "-q", "-d", h.adminUrl(APP_DB)], {
                stdio: ["pipe", "ignore", "ignore"],
            });
            const holderClosed = new Promise((r) => holder.on("close", r));
            holder.stdin.write("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n");
            let settled = 0;
            let results: PodResult[];
            try {
                const runs = [migrate(files), migrate(files)].map((p) => p.finally(() => settled++));
                const waiting = () => Number(admin("SELECT count(*) FROM pg_locks WHERE NOT granted"));
                while (settled === 0 && waiting() < 2) await sleep(100);
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

        it("retries a lock it was not granted in time, with backoff, inside the Job", async () => {
            h.freshAppDatabase();
            // A long transaction that read users holds its snapshot: CREATE INDEX CONCURRENTLY waits for it past its 5 s lock_timeout.
            const holder = spawn("psql", ["-X", "-q", "-d", h.adminUrl(APP_DB)], {
                stdio: ["pipe", "ignore", "ignore"],
            });
            const holderClosed = new Promise((r) => holder.on("close", r));
            holder.stdin.write("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM users;\n");
            const run = migrate(migrationFiles(EXPAND));
            await sleep(9000);
            holder.stdin.end("COMMIT;\n");
            await holderClosed;
            const r = await run;
            ok(r);
            assert.match(r.stdout, /a lock was not granted in time in 001_users_email_verified; trying again in 5 s/);
            assert.match(
                r.stdout,
                /migration: 5 applied/,
                "the retry applied every file: the first attempt's transaction changed nothing",
            );
            assert.strictEqual(
                admin(
                    "SELECT count(*) FROM pg_index WHERE indexrelid = 'idx_users_email_verified'::regclass AND indisvalid",
                ),
                "1",
            );
        });

        it("does not overlap a running backup: the migration waits for the dump's lock, then runs", async () => {
            h.freshAppDatabase();
            // pg_dump waits behind the admin's lock on payments, holding the backup's share of the database-change lock.
            const holder = spawn("psql", ["-X", "-q", "-d", h.adminUrl(APP_DB)], {
                stdio: ["pipe", "ignore", "ignore"],
            });
            const holderClosed = new Promise((r) => holder.on("close", r));
            holder.stdin.write("BEGIN; LOCK TABLE billing.invoices IN ACCESS EXCLUSIVE MODE;\n");
            const backup = h.pod(h.release, "CronJob", "myapp-db-backup");
            while (
                admin(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock'",
                ) !== "1"
            )
                await sleep(100);
            const migration = migrate(migrationFiles(EXPAND));
            await sleep(4000);
            assert.strictEqual(
                admin("SELECT to_regclass('schema_migrations') IS NULL"),
                "t",
                "the migration has not started while the backup runs",
            );
            holder.stdin.end("COMMIT;\n");
            await holderClosed;
            ok(await backup);
            const r = await migration;
            ok(r);
            assert.match(r.stdout, /migration: 5 applied/);
            assert.doesNotMatch(
                r.stdout,
                /trying again/,
                "no statement timed out: the migration started after the dump",
            );
        });

        it("ends its session when its pod is killed: the statement stops and the next run gets the lock", async () => {
            h.freshAppDatabase();
            const files = {
                "001_slow.up.sql": "-- phase: expand\nSELECT pg_sleep(120);\n",
                "001_slow.down.sql": "SELECT 1;\n",
            };
            const killed = migrate(files);
            const sleeping = () =>
                h.pg.superuser(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%' AND usename = 'myapp_migrator'",
                    APP_DB,
                );
            while (sleeping() !== "1") await sleep(200);
            // The kubelet's SIGKILL at the deadline: psql dies, the server is not told.
            for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
                try {
                    if (
                        /(^|\/)psql$/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]) &&
                        readFileSync(`/proc/${pid}/environ`, "utf8").includes("PGUSER=myapp_migrator")
                    ) {
                        process.kill(Number(pid), "SIGKILL");
                    }
                } catch {
                    // A process that ended meanwhile.
                }
            }
            assert.notStrictEqual((await killed).code, 0);
            const gone = Date.now();
            while (sleeping() !== "0") {
                assert.ok(
                    Date.now() - gone < 60000,
                    "the orphaned statement still runs a minute after its client died",
                );
                await sleep(500);
            }
            const next = await migrate({
                "001_fast.up.sql": "-- phase: expand\nSELECT 1;\n",
                "001_fast.down.sql": "SELECT 1;\n",
            });
            ok(next);
            assert.match(next.stdout, /migration: 1 applied/);
        });

        it("puts no password in any process's arguments", async () => {
            h.freshAppDatabase();
            const password = /:([^:@/]+)@/.exec(h.urlOf("migrator"))![1];
            const files = {
                "001_slow.up.sql": "-- phase: expand\nSELECT pg_sleep(3);\n",
                "001_slow.down.sql": "SELECT 1;\n",
            };
            const run = migrate(files);
            const seen: string[] = [];
            let done = false;
            void run.finally(() => (done = true));
            while (!done) {
                for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
                    try {
                        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
                        if (argv.includes(password)) seen.push(argv.replace(/\0/g, " "));
                        if (/^(\S*\/)?(psql|pg_dump)\0/.test(argv)) seen.push("client seen");
                    } catch {
                        // A process that ended meanwhile.
                    }
                }
                await sleep(100);
            }
            ok(await run);
            assert.ok(seen.includes("client seen"), "the scan saw the migration's psql");
            assert.deepStrictEqual(
                seen.filter((s) => s !== "client seen"),
                [],
            );
        });

        it("each down file returns the schema exactly as it was before its up file", async () => {
            h.freshAppDatabase();
            const schema = () =>
                admin(`SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
                   SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, column_default) AS x
                     FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                   UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
                   UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'schema_migrations'
                   UNION ALL SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text <> 'schema_migrations'
                   UNION ALL SELECT format('function %s', p.oid::regprocedure) FROM pg_proc p WHERE pronamespace = 'public'::regnamespace AND proname <> 'schema_migrations_owner_only'
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')) s`);
            const downPod = declaredPod(downRun, "Job", /^myapp-migrate-down-/);
            for (let i = 0; i < ALL.length; i++) {
                const files = migrationFiles(ALL.slice(0, i + 1));
                const before = schema();
                ok(await migrate(files));
                if (LOADED[i].phase !== "backfill")
                    assert.notStrictEqual(schema(), before, `${ALL[i]} changed nothing`);
                // The down Job of a release whose newest file is ALL[i]; each round another attempt, as a down is bound to its attempt.
                const down = await runPod(
                    downRun,
                    {
                        ...downPod,
                        command: [...downPod.command.slice(0, 3), ALL[i]],
                        env: downPod.env.map(
                            ([k, v]) => [k, k === "MIGRATION_ATTEMPT" ? String(i + 1) : v] as [string, string],
                        ),
                    },
                    { endpoints: h.endpoints(), files: { migrations: files } },
                );
                ok(down);
                assert.match(down.stdout, new RegExp(`rolling back ${ALL[i]}`));
                assert.strictEqual(schema(), before, `${ALL[i]}.down.sql did not restore the schema`);
                ok(await migrate(files));
            }
        });
    });

    describe("a down migration is bound to the release and attempt it was run for", () => {
        it("rolls back the named file once; the same release's up does not re-apply it; a new attempt does", async () => {
            h.freshAppDatabase();
            const files = migrationFiles(EXPAND);
            ok(await migrate(files));
            const down = await migrateDown(files);
            ok(down);
            assert.match(down.stdout, /rolling back 005_users_email_verified_sync/);
            assert.match(down.stdout, /migration: 1 rolled back/);
            // The same Job again (a re-run by hand, a refresh): nothing more is rolled back.
            const again = await migrateDown(files);
            ok(again);
            assert.match(
                again.stdout,
                /005_users_email_verified_sync was rolled back by the down migration of this release already/,
            );
            assert.match(again.stdout, /migration: 0 rolled back/);
            assert.strictEqual(
                admin("SELECT max(version) FROM schema_migrations"),
                "004_payments_stripe_payment_intent_id_index",
            );
            // Clearing run: down brings back the up Job of the same release and attempt: it does not undo the down.
            const up = await migrate(
                files,
                h.program(["release.version=v1.2.2", "canary.canaryVersion=v1.2.2", "release.previousVersion=v1.2.1"]),
            );
            ok(up);
            assert.match(
                up.stdout,
                /005_users_email_verified_sync not applied: the down migration of release v1.2.2 \(attempt 1\) rolled back/,
            );
            assert.match(up.stdout, /migration: 0 applied/);
            const retried = await migrate(
                files,
                h.program([
                    "release.version=v1.2.2",
                    "canary.canaryVersion=v1.2.2",
                    "release.previousVersion=v1.2.1",
                    "database.migration.attempt=2",
                ]),
            );
            ok(retried);
            assert.match(retried.stdout, /migration: 1 applied/);
        });

        it("refuses a down whose file is not applied, or beneath a newer applied migration", async () => {
            h.freshAppDatabase();
            ok(await migrate(migrationFiles(EXPAND.slice(0, 3))));
            const notApplied = await migrateDown(migrationFiles(EXPAND));
            assert.notStrictEqual(notApplied.code, 0);
            assert.match(
                notApplied.stderr,
                /005_users_email_verified_sync is not applied, so there is nothing to roll back/,
            );
            ok(await migrate(migrationFiles(ALL.slice(0, 6))));
            const beneath = await migrateDown(migrationFiles(EXPAND));
            assert.notStrictEqual(beneath.code, 0);
            assert.match(
                beneath.stderr,
                /applied migrations newer than 005_users_email_verified_sync must be rolled back first: 006_users_email_verified_backfill/,
            );
            assert.strictEqual(
                admin("SELECT max(version) FROM schema_migrations"),
                "006_users_email_verified_backfill",
            );
        });
    });

    describe("the new column converges with what either version writes, until the contract", () => {
        it("a user who signs up on v1.2.3 and verifies through v1.2.2 ends verified after the backfill and the contract", async () => {
            h.freshAppDatabase();
            ok(await migrate(migrationFiles(EXPAND)));
            // v1.2.3 dual-writes; v1.2.2 writes is_verified only.
            as(
                "app",
                "INSERT INTO users (email, is_verified, email_verified) VALUES ('canary@example.com', false, false)",
            );
            as("app", "UPDATE users SET is_verified = true WHERE email = 'canary@example.com'");
            // And the other way round: v1.2.2 signs up, v1.2.3 unverifies.
            as("app", "INSERT INTO users (email, is_verified) VALUES ('stable@example.com', true)");
            as(
                "app",
                "UPDATE users SET is_verified = false, email_verified = false WHERE email = 'stable@example.com'",
            );
            const state = () =>
                admin(
                    "SELECT string_agg(email || ' ' || is_verified || ' ' || email_verified, ', ' ORDER BY email) FROM users WHERE email IN ('canary@example.com', 'stable@example.com')",
                );
            assert.strictEqual(state(), "canary@example.com true true, stable@example.com false false");
            ok(await migrate(migrationFiles(ALL.slice(0, 6))));
            assert.strictEqual(
                admin("SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM is_verified"),
                "0",
            );
            ok(await migrate(migrationFiles(ALL)));
            assert.strictEqual(admin("SELECT email_verified FROM users WHERE email = 'canary@example.com'"), "t");
        });
    });

    describe("the backfill and the contract's rollback on a table that spans many batches", () => {
        const ROWS = 10_500;
        it(`backfills ${ROWS} users in committed batches, resumes after a crash, and the contract's down file handles NULLs`, async () => {
            h.freshAppDatabase();
            admin(
                `INSERT INTO users (email, is_verified) SELECT 'bulk' || g || '@example.com', g % 2 = 0 FROM generate_series(1, ${ROWS - 300}) g`,
            );
            // Rows the trigger never saw: written before 005, by v1.2.2.
            ok(await migrate(migrationFiles(EXPAND.slice(0, 4))));
            ok(await migrate(migrationFiles(EXPAND)));
            // A crash part-way: a trigger fails the batch holding id 5500; the batches before it stay committed.
            admin(`SET ROLE myapp_owner; CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 5500 THEN RAISE EXCEPTION 'crash'; END IF; RETURN NEW; END $$;
                   CREATE TRIGGER crash BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION crash()`);
            const crashed = await migrate(migrationFiles(ALL.slice(0, 6)));
            assert.notStrictEqual(crashed.code, 0);
            assert.strictEqual(
                admin("SELECT count(*) FROM users WHERE email_verified IS NOT NULL"),
                "5000",
                "five batches of 1,000 committed before the crash",
            );
            admin("DROP TRIGGER crash ON users; DROP FUNCTION crash()");
            const resumed = await migrate(migrationFiles(ALL.slice(0, 6)));
            ok(resumed);
            assert.match(
                resumed.stderr,
                /backfill: copied is_verified into 5500 rows in 11 batches of at most 1000 ids/,
            );
            assert.strictEqual(
                admin("SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM is_verified"),
                "0",
            );
            const verified = admin("SELECT count(*) FILTER (WHERE is_verified) FROM users");

            const v124 = [
                "release.version=v1.2.4",
                "release.previousVersion=v1.2.3",
                "canary.stableVersion=v1.2.4",
                "canary.canaryVersion=v1.2.4",
            ];
            ok(await migrate(migrationFiles(ALL), h.program([...v124, "database.migration.phase=contract"])));
            // Rows written after the contract with an explicit NULL, as the new code may.
            as("app", "UPDATE users SET email_verified = NULL WHERE id % 7 = 0");
            const nulls = Number(admin("SELECT count(*) FROM users WHERE email_verified IS NULL"));
            assert.strictEqual(nulls, Math.floor(ROWS / 7));
            const down = await migrateDown(
                migrationFiles(ALL),
                h.program([
                    ...v124,
                    "database.migration.phase=contract",
                    "database.migration.run=down",
                    "database.migration.downFor=v1.2.4",
                ]),
            );
            ok(down);
            assert.strictEqual(admin("SELECT count(*) FROM users WHERE is_verified IS NULL"), "0");
            assert.strictEqual(
                admin("SELECT count(*) FROM users WHERE is_verified IS DISTINCT FROM coalesce(email_verified, false)"),
                "0",
            );
            assert.strictEqual(
                admin(
                    "SELECT is_nullable || ' ' || column_default FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'is_verified'",
                ),
                "NO false",
            );
            assert.ok(Number(verified) > 0);
        });
    });

    describe("backup, restore and drill Jobs (IRSA, HOME on the pod's volume)", () => {
        it("the old pod (no HOME, read-only root) cannot cache the IRSA credentials", async () => {
            const pod = declaredPod(h.release, "Job", /^myapp-predeploy-backup-/);
            const old = {
                ...pod,
                env: pod.env.filter(([k]) => k !== "HOME"),
                mounts: pod.mounts.filter((m) => m.name !== "home"),
                volumes: pod.volumes.filter((v) => v.name !== "home"),
            };
            const r = await runPod(h.release, old, { endpoints: h.endpoints(), webIdentityToken: "token" });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /\[Errno 30\] Read-only file system: '\/\.aws'/);
        });

        it("the drill fails on a dump whose objects the admin still owns, where the production restore would", async () => {
            h.freshAppDatabase(false);
            const backup = await h.pod(h.release, "Job", /^myapp-predeploy-backup-/);
            ok(backup);
            const drill = await h.pod(h.release, "CronJob", "myapp-db-restore-drill");
            assert.notStrictEqual(drill.code, 0);
            assert.match(
                drill.stderr,
                /restore drill FAILED: the production restore would fail: these objects belong to another role than myapp_owner, so it cannot drop them/,
            );
            assert.match(drill.stderr, /TABLE public events rds_admin/);
            assert.match(drill.stderr, /FUNCTION public email_domain\(text\) rds_admin/);
            assert.match(drill.stderr, /TYPE public payment_method rds_admin/);
        });

        it("backs up as the backup role; restores once per key as the migrator, with the app fenced out, over the real schema; never twice", async () => {
            h.freshAppDatabase();
            ok(await migrate(migrationFiles(EXPAND)));
            const contents = () =>
                admin(`SELECT count(*) || ' ' || md5(string_agg(u::text, '|' ORDER BY u.id)) || ' ' || (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM billing.invoices)
                          || ' ' || (SELECT sum(total_cents) FROM payment_totals) FROM users u`);
            const intact = contents();
            const backup = await h.pod(h.release, "Job", /^myapp-predeploy-backup-/);
            ok(backup);
            const key = /wrote s3:\/\/myapp-production-db-backups\/(\S+) \(\d+ bytes\)/.exec(backup.stdout)![1];
            assert.match(key, /^postgres\/myapp\/\d{8}T\d{6}Z-pre-deploy-v1\.2\.3\.dump$/);
            assert.ok(
                h.sts.calls.length > 0 &&
                    h.sts.calls.every((c) =>
                        c.roleArn.startsWith("arn:aws:mock:us-east-1:123456789012:myapp-db-backup"),
                    ),
            );
            assert.deepStrictEqual(
                readdirSync(path.join(backup.volumeDirs.home, ".aws", "cli", "cache")).length,
                1,
                "the CLI cached the assumed role under HOME",
            );

            await h.copyObject(key, RESTORE_KEY);
            as("app", "UPDATE users SET email = 'x' || id");
            as("app", "DELETE FROM billing.invoices WHERE id % 2 = 0");
            assert.notStrictEqual(contents(), intact);
            // A session of the app's, open when the restore starts: the fence ends it.
            const app = spawn("psql", ["-X", "-q", "-d", h.urlOf("app")], { stdio: ["pipe", "ignore", "pipe"] });
            let appErr = "";
            app.stderr.on("data", (d) => (appErr += d));
            const appClosed = new Promise((r) => app.on("close", r));
            app.stdin.write("SELECT 1;\n");
            while (h.pg.superuser("SELECT count(*) FROM pg_stat_activity WHERE usename = 'myapp_app'") !== "1")
                await sleep(100);
            const restore = await h.pod(restoreRun, "Job", /^myapp-restore-/);
            ok(restore);
            app.stdin.end("SELECT 2;\n");
            await appClosed;
            assert.match(appErr, /terminating connection due to administrator command|server closed the connection/);
            assert.match(restore.stdout, /restore: fenced: myapp_app cannot connect and has no session left/);
            assert.match(
                restore.stdout,
                /restore: wrote s3:\/\/myapp-production-db-backups\/postgres\/myapp\/\d{8}T\d{6}Z-pre-restore-[0-9a-f]{10}\.dump/,
            );
            assert.match(restore.stdout, /restore: reopened: myapp_app connects again, after \d+ s fenced/);
            assert.strictEqual(contents(), intact);
            assert.strictEqual(admin("SELECT key || ' ' || run FROM deploy_log.restores"), `${RESTORE_KEY} 1`);
            assert.doesNotMatch(admin(OWNERS), / rds_admin$/m, "everything the restore created is the owner's");
            assert.strictEqual(
                as("app", "SELECT count(*) > 0 FROM users"),
                "t",
                "the app role reads the restored tables",
            );
            assert.strictEqual(
                as("backup", "SELECT count(*) > 0 FROM billing.invoices"),
                "t",
                "the backup role reads the restored second schema",
            );

            as("app", "UPDATE users SET email = 'y' || id");
            const again = await h.pod(restoreRun, "Job", /^myapp-restore-/);
            ok(again);
            assert.match(again.stdout, /was already restored at .*; nothing done/);
            assert.match(admin("SELECT min(email) FROM users"), /^y/, "the second run restored nothing");
        });

        it("takes the backup before a down migration, labelled for it", async () => {
            const r = await h.pod(downRun, "Job", /^myapp-predown-backup-/);
            ok(r);
            assert.match(r.stdout, /postgres\/myapp\/\d{8}T\d{6}Z-pre-down-v1\.2\.2\.dump/);
        });

        it("drills the newest of more than 1,000 dumps as the drill role, restoring it twice, then empties the scratch database", async () => {
            h.freshAppDatabase();
            // The restore test's copy is dated 2099: a key from the future, which the drill refuses (next test).
            await h.deleteObject(RESTORE_KEY);
            const older = Array.from(
                { length: 1_100 },
                (_, i) =>
                    `${PREFIX}/2000${String(1 + (i % 12)).padStart(2, "0")}01T${String(i).padStart(6, "0")}Z-scheduled.dump`,
            );
            await h.s3.seed(older, Buffer.from("not a dump"));
            const backup = await h.pod(h.release, "Job", /^myapp-predeploy-backup-/);
            ok(backup);
            const newest = /wrote s3:\/\/\S+?\/(\S+) /.exec(backup.stdout)![1];
            const drill = await h.pod(h.release, "CronJob", "myapp-db-restore-drill");
            ok(drill);
            assert.match(
                drill.stdout,
                new RegExp(`fetched s3://myapp-production-db-backups/${newest.replace(/\./g, "\\.")} `),
            );
            assert.match(drill.stdout, /restore drill: restored \S+ twice \(6 tables\); check returned 't'/);
            assert.strictEqual(
                as("drill", "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'billing')"),
                "0",
                "the scratch copy is emptied",
            );
            assert.strictEqual(
                h.pg.superuser("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'myapp_restore_drill'"),
                "myapp_drill",
            );
        });

        it("the drill fails on a key dated in the future, which would pin 'newest' to one dump for ever, and on a stale newest dump", async () => {
            const future = `${PREFIX}/21000101T000000Z-scheduled.dump`;
            const backup = await h.pod(h.release, "Job", /^myapp-predeploy-backup-/);
            await h.copyObject(/wrote s3:\/\/\S+?\/(\S+) /.exec(backup.stdout)![1], future);
            const pinned = await h.pod(h.release, "CronJob", "myapp-db-restore-drill");
            assert.notStrictEqual(pinned.code, 0);
            assert.match(
                pinned.stderr,
                /restore drill FAILED: keys dated in the future, which sort after every real dump: postgres\/myapp\/21000101T000000Z-scheduled\.dump/,
            );
            await h.deleteObject(future);
            // A newest dump older than the allowed age: backups have stopped. (A second here stands for twice the schedule's gap.)
            await sleep(1100);
            const drill = declaredPod(h.release, "CronJob", "myapp-db-restore-drill");
            const stale = await runPod(
                h.release,
                {
                    ...drill,
                    env: drill.env.map(([k, v]) => [k, k === "DRILL_MAX_AGE_SECONDS" ? "0" : v] as [string, string]),
                },
                { endpoints: h.endpoints(), webIdentityToken: "token" },
            );
            assert.notStrictEqual(stale.code, 0);
            assert.match(
                stale.stderr,
                /restore drill FAILED: the newest dump, postgres\/myapp\/\d{8}T\d{6}Z-pre-deploy-v1\.2\.3\.dump, is \d+ s old, more than 0 s: backups have stopped/,
            );
        });
    });

    it("ships every script the ConfigMaps carry", () => {
        assert.deepStrictEqual(readdirSync(path.join(ROOT, "components", "database", "scripts")).sort(), [
            "backup.sh",
            "dump-lib.sh",
            "migrate-sql.sh",
            "pg-lib.sh",
            "restore-drill.sh",
            "restore.sh",
        ]);
    });
});
