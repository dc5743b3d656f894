import * as path from "path";
import { applyProjectConfig, readProject, toRunRequest } from "../../tools/offline/stackConfig";
import { DeclaredResource, ProgramRun } from "../../tools/offline/types";
import { PROJECT, ROOT, stackConfig } from "../helpers";
import { PostgresServer } from "./postgres";
import { runProgramSync } from "./programThread";

const psql = (url: string, sql: string, singleTransaction = false) =>
    PostgresServer.psqlAt(url, sql, {}, singleTransaction);

/**
 * Runs the program under mocks with a stack's config and edits, recording secrets in the clear: the connection URLs in
 * the Secrets and the passwords of the roles are then exactly what the program builds.
 */
export function declaredProgram(stack: string, sets: string[]): ProgramRun {
    const config = applyProjectConfig(readProject(path.join(ROOT, "Pulumi.yaml")), stack, stackConfig(stack, sets));
    return runProgramSync({ ...toRunRequest(PROJECT, stack, config), revealSecrets: true });
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const PLURAL: Record<string, string> = {
    table: "TABLES",
    sequence: "SEQUENCES",
    function: "FUNCTIONS",
    type: "TYPES",
    schema: "SCHEMAS",
};

/**
 * A statement block that runs `body` with `roles` granted to the connected admin for its duration, as the provider's
 * withRolesGranted does (cyrilgdn/terraform-provider-postgresql postgresql/helpers.go): a non-superuser admin (RDS)
 * must be a member of an object's owner to grant on it or to set default privileges for it. Roles it is already a
 * member of are left alone. pg_database_owner cannot take explicit members; the database's owner (here the admin)
 * is one implicitly.
 */
function withRolesGranted(roles: string[], body: string[]): string[] {
    const grants = roles.filter((r) => r && r !== "pg_database_owner");
    const sql = (verb: "GRANT" | "REVOKE") =>
        grants.map(
            (r) =>
                `DO $$ BEGIN IF ${verb === "GRANT" ? "NOT " : ""}pg_has_role(current_user, ${literal(r)}, 'MEMBER') AND current_user <> ${literal(r)} ${verb === "REVOKE" ? `AND EXISTS (SELECT 1 FROM granted_by_test WHERE role = ${literal(r)})` : ""} THEN EXECUTE ${literal(`${verb} ${ident(r)} ${verb === "GRANT" ? "TO" : "FROM"} `)} || quote_ident(current_user); ${verb === "GRANT" ? `INSERT INTO granted_by_test VALUES (${literal(r)});` : ""} END IF; END $$;`,
        );
    if (grants.length === 0) return body;
    return [
        "CREATE TEMP TABLE granted_by_test (role text);",
        ...sql("GRANT"),
        ...body,
        ...sql("REVOKE"),
        "DROP TABLE granted_by_test;",
    ];
}

/** The owners the provider grants itself before a grant on a schema's objects: their owners and the schema's (getRolesToGrantForSchema). */
const SCHEMA_OWNERS = (schema: string) =>
    `SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = ${literal(schema)}::regnamespace UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ${literal(schema)}`;

/**
 * The SQL cyrilgdn/terraform-provider-postgresql issues to create one declared resource (postgresql/
 * resource_postgresql_role.go createRole + setRoleSettings, _grant_role.go, _grant.go createGrantQuery and
 * createRevokeQuery, _default_privileges.go, _database.go createDatabase), and the database it connects to for it.
 */
function providerSql(
    r: DeclaredResource,
    adminUrl: (db: string) => string,
): { db: string; statements: string[]; transaction: boolean } {
    const i = r.inputs as Record<string, any>;
    switch (r.type) {
        case "postgresql:index/role:Role": {
            const password = i.password ?? i.passwordWo;
            const options = [
                i.superuser ? "SUPERUSER" : "NOSUPERUSER",
                i.createDatabase ? "CREATEDB" : "NOCREATEDB",
                i.createRole ? "CREATEROLE" : "NOCREATEROLE",
                i.inherit === false ? "NOINHERIT" : "INHERIT",
                i.login ? "LOGIN" : "NOLOGIN",
                i.replication ? "REPLICATION" : "NOREPLICATION",
                `CONNECTION LIMIT ${i.connectionLimit ?? -1}`,
                ...(password ? [`ENCRYPTED PASSWORD ${literal(password)}`] : []),
            ];
            const settings = [
                ["statement_timeout", i.statementTimeout],
                ["idle_in_transaction_session_timeout", i.idleInTransactionSessionTimeout],
                ["role", i.assumeRole],
            ]
                .filter(([, v]) => v !== undefined && v !== "")
                .map(([k, v]) => `ALTER ROLE ${ident(i.name)} SET ${k} TO ${typeof v === "number" ? v : literal(v)};`);
            const member = (i.roles ?? []).map((g: string) => `GRANT ${ident(g)} TO ${ident(i.name)};`);
            return {
                db: "postgres",
                statements: [`CREATE ROLE ${ident(i.name)} WITH ${options.join(" ")};`, ...settings, ...member],
                transaction: true,
            };
        }
        case "postgresql:index/grantRole:GrantRole":
            return {
                db: "postgres",
                statements: [
                    `GRANT ${ident(i.grantRole)} TO ${ident(i.role)}${i.withAdminOption ? " WITH ADMIN OPTION" : ""};`,
                ],
                transaction: true,
            };
        case "postgresql:index/database:Database": {
            const body = [
                `CREATE DATABASE ${ident(i.name)} OWNER ${ident(i.owner)} CONNECTION LIMIT ${i.connectionLimit ?? -1};`,
            ];
            // CREATE DATABASE runs outside a transaction; the temporary membership is granted and revoked around it.
            return {
                db: "postgres",
                statements: [
                    `GRANT ${ident(i.owner)} TO CURRENT_USER;`,
                    ...body,
                    `REVOKE ${ident(i.owner)} FROM CURRENT_USER;`,
                ],
                transaction: false,
            };
        }
        case "postgresql:index/grant:Grant": {
            const role = i.role === "public" ? "PUBLIC" : ident(i.role);
            const type = String(i.objectType).toUpperCase();
            const target =
                type === "DATABASE"
                    ? `DATABASE ${ident(i.database)}`
                    : type === "SCHEMA"
                      ? `SCHEMA ${ident(i.schema)}`
                      : i.objects?.length
                        ? `${type} ${i.objects.map((o: string) => `${ident(i.schema)}.${ident(o)}`).join(", ")}`
                        : `ALL ${type}S IN SCHEMA ${ident(i.schema)}`;
            const body = [
                `REVOKE ALL PRIVILEGES ON ${target} FROM ${role};`,
                ...(i.privileges.length
                    ? [
                          `GRANT ${i.privileges.join(",")} ON ${target} TO ${role}${i.withGrantOption ? " WITH GRANT OPTION" : ""};`,
                      ]
                    : []),
            ];
            if (type === "DATABASE") return { db: i.database, statements: body, transaction: true };
            const owners = psql(adminUrl(i.database), SCHEMA_OWNERS(i.schema)).split("\n").filter(Boolean);
            return { db: i.database, statements: withRolesGranted(owners, body), transaction: true };
        }
        case "postgresql:index/defaultPrivileges:DefaultPrivileges": {
            const scope = `FOR ROLE ${ident(i.owner)}${i.schema ? ` IN SCHEMA ${ident(i.schema)}` : ""}`;
            const on = PLURAL[i.objectType];
            const body = [
                `ALTER DEFAULT PRIVILEGES ${scope} REVOKE ALL ON ${on} FROM ${ident(i.role)};`,
                ...(i.privileges.length
                    ? [
                          `ALTER DEFAULT PRIVILEGES ${scope} GRANT ${i.privileges.join(",")} ON ${on} TO ${ident(i.role)};`,
                      ]
                    : []),
            ];
            return { db: i.database, statements: withRolesGranted([i.owner], body), transaction: true };
        }
        default:
            throw new Error(
                `${r.type} ${r.name}: the test does not know how the PostgreSQL provider applies it; add its SQL to test/support/declared.ts`,
            );
    }
}

/** Every declared PostgreSQL resource, in the order the engine would create them (dependencies first). */
export function postgresResources(run: ProgramRun): DeclaredResource[] {
    const pg = run.resources.filter((r) => r.type.startsWith("postgresql:"));
    const byUrn = new Map(pg.map((r) => [r.urn, r]));
    const done = new Set<string>();
    const out: DeclaredResource[] = [];
    const visit = (r: DeclaredResource) => {
        if (done.has(r.urn)) return;
        done.add(r.urn);
        for (const d of r.dependencies) if (byUrn.has(d)) visit(byUrn.get(d)!);
        out.push(r);
    };
    pg.forEach(visit);
    return out;
}

/**
 * Applies declared PostgreSQL resources as the admin (a non-superuser with CREATEROLE and CREATEDB, as RDS's master
 * user), issuing what the provider would. `only` picks which: the cluster-wide ones (roles, memberships, databases)
 * once per server, the per-database ones (grants, default privileges) again for each fresh copy of a database.
 */
export function applyAsAdmin(
    run: ProgramRun,
    adminUrl: (db: string) => string,
    only: (r: DeclaredResource) => boolean,
): string[] {
    const applied: string[] = [];
    for (const r of postgresResources(run).filter(only)) {
        const { db, statements, transaction } = providerSql(r, adminUrl);
        psql(adminUrl(db), statements.join("\n"), transaction);
        applied.push(`${r.type.split(":").pop()} ${r.name}`);
    }
    return applied;
}

/** Roles, memberships and databases: created once per server. */
export const clusterWide = (r: DeclaredResource) => /:(Role|GrantRole|Database)$/.test(r.type);
