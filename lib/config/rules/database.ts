import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { lifecycleProblems, verifiesServer } from "../../../components/database";
import { Problem, SKIP } from "../errors";
import { PROJECT_ROOT } from "../resolve";
import { ParsedBackup, ParsedConfig, ParsedDatabase } from "../types";

/** The rules between the database and backup sections' keys. */
export function databaseProblems(c: ParsedConfig): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const db = c.database;
    const b = c.backup;
    if (db && !b)
        issue(
            ["backup"],
            undefined,
            "is required with database: a release must back the database up before it migrates",
        );
    if (b && !db) issue(["database"], undefined, "is required with backup");
    if (b) {
        if (b.retentionDays < b.minimumRetentionDays) {
            issue(
                ["backup", "retentionDays"],
                b.retentionDays,
                `must be at least backup.minimumRetentionDays (${b.minimumRetentionDays})`,
            );
        }
        problems.push(...existingBackupProblems(b, db));
    }
    // Storage classes and the lock are settings of a bucket the program creates; an existing bucket keeps its own.
    if (b && !b.existingBucket) {
        const lifecycle = lifecycleProblems({ ...b, objectLockDays: b.objectLock?.days });
        for (const [key, message] of Object.entries(lifecycle)) {
            const at = key === "objectLockDays" ? ["backup", "objectLock", "days"] : ["backup", key];
            issue(at, key === "objectLockDays" ? b.objectLock?.days : b[key as "glacierAfterDays"], message);
        }
    }
    if (!db) return problems;
    const m = db.migration;
    if ((m.sqlDir === undefined) === (m.command === undefined)) {
        issue(
            ["database", "migration"],
            undefined,
            "must set exactly one of sqlDir (SQL files run with psql) and command (run in the release image)",
        );
    }
    if (m.run === "down" && m.command !== undefined && m.downCommand === undefined) {
        issue(["database", "migration", "downCommand"], undefined, 'is required when database.migration.run is "down"');
    }
    problems.push(...downMigrationProblems(c, db));
    problems.push(...databaseAccessProblems(db));
    const r = db.roles;
    if (r && db.maxConnections !== undefined) {
        const limits = [r.app, r.migrator, r.backup, r.drill].reduce((n, r) => n + r.connectionLimit, 0);
        if (limits > db.maxConnections - 3) {
            issue(
                ["database", "roles"],
                limits,
                `connection limits add up to more than maxConnections (${db.maxConnections}) less the 3 reserved for superusers`,
            );
        }
    }
    if (verifiesServer(db.sslmode) && !db.tls) {
        issue(
            ["database", "tls", "caBundle"],
            undefined,
            `is required with sslmode ${db.sslmode}: the CA bundle (PEM) the server's certificate is checked against`,
        );
    }
    if (db.tls) {
        const file = path.resolve(PROJECT_ROOT, db.tls.caBundle);
        if (!existsSync(file))
            issue(["database", "tls", "caBundle"], db.tls.caBundle, `names no file (looked for ${file})`);
        else if (!readFileSync(file, "utf8").includes("-----BEGIN CERTIFICATE-----"))
            issue(["database", "tls", "caBundle"], db.tls.caBundle, "holds no PEM certificate");
    }
    if (db.toolsPgDumpMajorVersion < db.serverMajorVersion) {
        issue(
            ["database", "toolsPgDumpMajorVersion"],
            db.toolsPgDumpMajorVersion,
            `must be at least database.serverMajorVersion (${db.serverMajorVersion}): pg_dump refuses a server newer than itself; use a tools image built for PostgreSQL ${db.serverMajorVersion}`,
        );
    }
    if (db.rds) {
        const arnKind = db.rds.arn.split(":")[5];
        const wanted = db.rds.kind === "instance" ? "db" : "cluster";
        if (arnKind !== wanted) {
            issue(
                ["database", "rds", "arn"],
                db.rds.arn,
                `must be a :${wanted}: ARN for rds.kind "${db.rds.kind}", got a :${arnKind}: ARN`,
            );
        }
        // RDS names cluster endpoints <cluster>.cluster-<id>.<region>.rds.amazonaws.com (and cluster-ro- for readers).
        if (db.rds.kind === "instance" && /\.cluster-(ro-)?[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/.test(db.host)) {
            issue(
                ["database", "rds", "kind"],
                db.rds.kind,
                `must be "aurora-cluster" or "multi-az-cluster": database.host ${db.host} is a cluster endpoint`,
            );
        }
    }
    if (b && db.restore && !(db.restore.key.startsWith(`${b.prefix}/`) && db.restore.key.endsWith(".dump"))) {
        issue(
            ["database", "restore", "key"],
            db.restore.key,
            `must name a dump under backup.prefix, like ${b.prefix}/20261127T140000Z-pre-deploy-v1.2.3.dump`,
        );
    }
    return problems;
}

/**
 * A down migration is bound to the release it was run for: `run: down` needs `downFor` set to release.version, so
 * that a `run: down` left in config refuses the next release instead of rolling back one more migration.
 */
function downMigrationProblems(c: ParsedConfig, db: ParsedDatabase): Problem[] {
    const problems: Problem[] = [];
    const m = db.migration;
    const clear =
        "pulumi config rm --path database.migration.run && pulumi config rm --path database.migration.downFor";
    if (m.run === "down") {
        if (m.downFor === undefined) {
            problems.push({
                path: ["database", "migration", "downFor"],
                input: undefined,
                message: `is required with database.migration.run down: set it to release.version (${c.release.version}), the release this down migration is for`,
            });
        } else if (m.downFor !== c.release.version) {
            problems.push({
                path: ["database", "migration", "downFor"],
                input: m.downFor,
                message: `is not release.version (${c.release.version}): this down migration was run for ${m.downFor}, and a new release does not run it again; clear it with ${clear}`,
            });
        }
        if (db.restore) {
            problems.push({
                path: ["database", "migration", "run"],
                input: m.run,
                message:
                    "cannot be down together with database.restore.key: the restore puts back the dump's schema, and the down migration would then undo a migration of the dump's release",
            });
        }
    } else if (m.downFor !== undefined) {
        problems.push({
            path: ["database", "migration", "downFor"],
            input: m.downFor,
            message: "must be left out unless database.migration.run is down",
        });
    }
    return problems;
}

/** The program creates the roles and their Secrets, or reads Secrets the user made: one or the other. */
function databaseAccessProblems(db: ParsedDatabase): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const s = db.existingSecrets;
    if (!s) {
        if (!db.roles)
            issue(
                ["database", "roles"],
                undefined,
                "is required unless database.existingSecrets names Secrets made outside this program",
            );
        if (db.maxConnections === undefined)
            issue(
                ["database", "maxConnections"],
                undefined,
                "is required with database.roles: the roles' connection limits must fit in it",
            );
        if (db.fence)
            issue(
                ["database", "fence"],
                SKIP,
                "must be left out with database.roles: the program makes the app's connect role itself",
            );
        if (db.roles && db.roles.app.name.length > 55)
            issue(
                ["database", "roles", "app", "name"],
                db.roles.app.name,
                "must be at most 55 characters: the program names its connect role <name>_connect",
            );
        return problems;
    }
    if (db.restore && !db.fence) {
        issue(
            ["database", "fence"],
            undefined,
            "is required with database.existingSecrets and database.restore.key: a restore shuts the app out first, so name the app's login role (appRole) and the role it holds CONNECT through (connectRole)",
        );
    }
    const without =
        "must be left out with database.existingSecrets: the program creates no roles, the Secrets' URLs decide who connects";
    if (db.roles) issue(["database", "roles"], SKIP, without);
    if (db.maxConnections !== undefined) issue(["database", "maxConnections"], db.maxConnections, without);
    // The drill restores over whatever DRILL_DATABASE_URL names: never the app's own database.
    const shared = (["app", "migrator", "backup"] as const).filter((k) => s[k] === s.drill);
    if (shared.length > 0) {
        issue(
            ["database", "existingSecrets", "drill"],
            s.drill,
            `must differ from ${shared.map((k) => `existingSecrets.${k}`).join(" and ")}: the restore drill restores over the database its URL names`,
        );
    }
    return problems;
}

/** The program creates the bucket and the backup role, or uses ones made outside it. */
function existingBackupProblems(b: ParsedBackup, db: ParsedDatabase | undefined): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: PropertyKey[], input: unknown, message: string) => problems.push({ path, input, message });
    const existing = b.existingBucket;
    if ((b.bucketName === undefined) === (existing === undefined)) {
        issue(
            ["backup", "bucketName"],
            b.bucketName,
            "must be set, or else backup.existingBucket, but not both: the program creates the bucket named bucketName, or uses existingBucket",
        );
    }
    if (existing && b.objectLock)
        issue(
            ["backup", "objectLock"],
            SKIP,
            "must be left out with backup.existingBucket: object lock is a setting of the existing bucket",
        );
    const o = b.oidc;
    if (o.roleArn !== undefined) {
        for (const key of ["providerArn", "issuerUrl"] as const) {
            if (o[key] !== undefined)
                issue(
                    ["backup", "oidc", key],
                    o[key],
                    "must be left out with backup.oidc.roleArn: the existing role's trust policy is its own",
                );
        }
    } else {
        for (const key of ["providerArn", "issuerUrl"] as const) {
            if (o[key] === undefined)
                issue(
                    ["backup", "oidc", key],
                    undefined,
                    "is required unless backup.oidc.roleArn names an existing IAM role for the backup ServiceAccount",
                );
        }
    }
    if (existing && existing.kmsKeyArn === undefined) {
        if (o.roleArn === undefined) {
            issue(
                ["backup", "existingBucket", "kmsKeyArn"],
                undefined,
                "is required when the program creates the backup role (no backup.oidc.roleArn): the role may use only the bucket's key",
            );
        } else if (db?.rds) {
            issue(
                ["backup", "existingBucket", "kmsKeyArn"],
                undefined,
                "is required with database.rds: the RDS backup vault is encrypted with the bucket's key",
            );
        }
    }
    return problems;
}
