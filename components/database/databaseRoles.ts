import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { appLabels } from "../kubernetes/objects";
import { COMPONENT, ENV } from "../../policy/contract";
import { LibraryComponent } from "../componentType";

/** Roles that log in, each with a Secret holding its DATABASE_URL. */
export type DatabaseRoleKind = "app" | "migrator" | "backup" | "drill";
export const LOGIN_ROLES: DatabaseRoleKind[] = ["app", "migrator", "backup", "drill"];

/** Where pods that connect find the server's CA bundle unless `caMountPath` names another directory. */
export const DEFAULT_DATABASE_CA_DIR = "/etc/db-ca";
const CA_FILE = "ca.pem";

export interface RoleSpec {
    /** Role name in PostgreSQL. */
    name: string;
    /** Most connections the role may hold at once. */
    connectionLimit: number;
}

export interface DatabaseRolesArgs {
    /** Database server host, e.g. an RDS instance's `address`. */
    host: pulumi.Input<string>;
    /** Database server port, e.g. an RDS instance's `port`. */
    port: pulumi.Input<number>;
    /** The app's database. */
    database: string;
    /** Scratch database the restore drill restores into; owned by the drill role. */
    drillDatabase: string;
    /** libpq sslmode in the connection URLs. */
    sslmode: string;
    /** PEM bundle of the server's CA; required with verify-ca and verify-full. */
    caBundle?: string;
    /** Directory pods mount the CA bundle in, as ca.pem, which every URL names as sslrootcert; default /etc/db-ca. */
    caMountPath?: string;
    /**
     * owner: owns the schema objects, never logs in; app: reads and writes data; migrator: acts as the owner;
     * backup: reads everything, writes nothing; drill: owns only the scratch database.
     */
    roles: {
        /** The NOLOGIN role that owns the schema objects. */
        owner: {
            /** Role name in PostgreSQL. */
            name: string;
        };
    } & Record<DatabaseRoleKind, RoleSpec>;
    /** Kubernetes namespace for the connection Secrets. */
    namespace: string;
    /** App name, the prefix of the Secrets' names. */
    appName: string;
    /**
     * The schemas the app's objects live in: the app and backup roles get their grants there, the owner may create
     * there, and the handover SQL moves what the admin owns there. Schemas a migration creates later are covered by
     * default privileges (the owner's new schemas, tables and sequences, in any schema).
     */
    schemas: string[];
}

/**
 * How a restore shuts the app out: the app's login role reaches the database only through membership in
 * `connectRole`, which holds CONNECT; the migrator may revoke and grant that membership (ADMIN OPTION) and end the
 * app role's sessions (it is a member of the app role).
 */
export interface DatabaseFence {
    /** The app's login role. */
    appRole: string;
    /** The NOLOGIN role that holds CONNECT on the database for it. */
    connectRole: string;
}

/** The NOLOGIN role through which the app role `app` holds CONNECT on the database. */
export function connectRoleName(app: string): string {
    return `${app}_connect`;
}

/** A volume and the mount that puts it in a container. */
export interface PodVolume {
    /** The pod's volume. */
    volume: k8s.types.input.core.v1.Volume;
    /** Where the container mounts it. */
    mount: k8s.types.input.core.v1.VolumeMount;
}

/**
 * What a pod needs to connect as each login role. A Secret's name is an Output that carries the Secret, so a pod
 * spec built from it depends on the Secret.
 */
export interface DatabaseAccess {
    /** Each login role's Secret (key DATABASE_URL), by name. */
    secretNames: Record<DatabaseRoleKind, pulumi.Output<string>>;
    /**
     * Each login role's Secret as a plain name and the resource to wait for: a Deployment naming the Secret's Output
     * would be replaced with it (README, Decisions: "Secrets are referred to by name").
     */
    secretRefs: Record<
        DatabaseRoleKind,
        {
            /** The Secret's name. */
            name: string;
            /** The Secret, for `dependsOn`. */
            resource: pulumi.Resource;
        }
    >;
    /** A fingerprint of each role's URL: a pod-template annotation that rolls pods when it changes. */
    checksums: Record<DatabaseRoleKind, pulumi.Output<string>>;
    /** The CA bundle for pods that connect, when the URLs verify the server. */
    caVolume?: PodVolume;
    /** The role that owns the schema, for MIGRATION_OWNER_ROLE; undefined when the roles are not the program's. */
    ownerRole?: string;
    /** How a restore fences the app out; undefined when the roles are not the program's and config names none. */
    fence?: DatabaseFence;
}

/** A short, non-secret fingerprint of a secret value: it changes when the value does and reveals nothing of it. */
export function fingerprint(value: pulumi.Output<string>): pulumi.Output<string> {
    return pulumi.unsecret(value.apply((v) => createHash("sha256").update(v).digest("hex").slice(0, 16)));
}

/**
 * A ConfigMap with the server's CA bundle, and the volume that mounts it in directory `mountPath` as ca.pem, where
 * the connection URLs' sslrootcert points.
 */
export function databaseCaVolume(
    name: string,
    appName: string,
    namespace: string,
    caBundle: string,
    mountPath: string,
    opts: pulumi.CustomResourceOptions,
): PodVolume {
    const ca = new k8s.core.v1.ConfigMap(
        name,
        {
            metadata: { name: `${appName}-db-ca`, namespace, labels: appLabels(appName, COMPONENT.database) },
            data: { [CA_FILE]: caBundle },
        },
        opts,
    );
    return {
        volume: { name: "db-ca", configMap: { name: ca.metadata.name } },
        mount: { name: "db-ca", mountPath, readOnly: true },
    };
}

/** What pg_identify_object calls an object the handover moves, and the ALTER that moves it. */
const HANDED_OVER: Record<string, string> = {
    schema: "SCHEMA",
    table: "TABLE",
    view: "VIEW",
    "materialized view": "MATERIALIZED VIEW",
    sequence: "SEQUENCE",
    "foreign table": "FOREIGN TABLE",
    function: "FUNCTION",
    procedure: "PROCEDURE",
    aggregate: "AGGREGATE",
    type: "TYPE",
    collation: "COLLATION",
    conversion: "CONVERSION",
    "statistics object": "STATISTICS",
    "text search configuration": "TEXT SEARCH CONFIGURATION",
    "text search dictionary": "TEXT SEARCH DICTIONARY",
};

/**
 * The SQL the admin runs once to hand what it created in the app's schemas (and those schemas, except public) to the
 * owner role, so that the migrator (a member of the owner) can alter them and a restore can drop and recreate them.
 * It walks the admin's ownership records (pg_shdepend), which cover every kind of object: partitioned tables and
 * their partitions, views, materialized views, functions, procedures, aggregates, enum and other types, domains,
 * sequences. What follows something else is left to follow it: sequences a column owns, a table's row type, array
 * types, and the members of an extension. Extensions themselves cannot change owner (ALTER EXTENSION has no OWNER
 * TO): they stay the admin's, and restores create them if missing and never drop them.
 */
export function ownershipHandoverSql(owner: string, schemas: string[] = ["public"]): string {
    const list = schemas.map((s) => `'${s}'`).join(", ");
    const kinds = Object.entries(HANDED_OVER)
        .map(([type, keyword]) => `('${type}', '${keyword}')`)
        .join(", ");
    return [
        `-- Run once as the admin that created the objects (on RDS, the master user), e.g. psql "$ADMIN_URL" -f -`,
        `GRANT "${owner}" TO CURRENT_USER;`,
        `DO $$`,
        `DECLARE r record;`,
        `BEGIN`,
        `  FOR r IN`,
        `    SELECT CASE WHEN t.typtype = 'd' THEN 'DOMAIN' ELSE k.keyword END AS keyword, o.identity`,
        `      FROM pg_shdepend s`,
        `      CROSS JOIN LATERAL pg_identify_object(s.classid, s.objid, 0) o`,
        `      JOIN (VALUES ${kinds}) AS k (type, keyword) ON k.type = o.type`,
        `      LEFT JOIN pg_type t ON s.classid = 'pg_type'::regclass AND t.oid = s.objid`,
        `     WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        `       AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = CURRENT_USER::regrole AND s.deptype = 'o'`,
        `       AND (o.schema IN (${list}) OR (o.type = 'schema' AND o.identity IN (${list}) AND o.identity <> 'public'))`,
        `       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = s.classid AND d.objid = s.objid AND d.deptype = 'e')`,
        `       AND NOT (o.type = 'sequence' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = s.objid`,
        `                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))`,
        `       AND NOT (t.oid IS NOT NULL AND (t.typcategory = 'A' OR (t.typrelid <> 0 AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) <> 'c')))`,
        `     ORDER BY o.type <> 'schema'`,
        `  LOOP`,
        `    EXECUTE format('ALTER %s %s OWNER TO %I', r.keyword, r.identity, '${owner}');`,
        `  END LOOP;`,
        `END $$;`,
    ].join("\n");
}

/**
 * Least-privilege PostgreSQL roles and one Kubernetes Secret per login role holding its DATABASE_URL. A NOLOGIN owner
 * owns the schema and the migrator acts as it; the app connects through a role a restore can revoke (`fence`);
 * passwords go through write-only fields and stay secrets in state (README, Decisions: "Schema ownership",
 * "The restore's fence", "Passwords in state").
 */
export class DatabaseRoles extends LibraryComponent implements DatabaseAccess {
    /** Each login role's Secret (key DATABASE_URL); depend on it to run after the role and its grants exist. */
    public readonly secrets: Record<DatabaseRoleKind, k8s.core.v1.Secret>;
    /** The Secrets' names, carrying the Secrets as dependencies. */
    public readonly secretNames: Record<DatabaseRoleKind, pulumi.Output<string>>;
    public readonly secretRefs: Record<DatabaseRoleKind, { name: string; resource: pulumi.Resource }>;
    /** A fingerprint of each Secret's URL: a pod-template annotation that rolls pods when a password changes. */
    public readonly checksums: Record<DatabaseRoleKind, pulumi.Output<string>>;
    /** The owner role's name, for MIGRATION_OWNER_ROLE. */
    public readonly ownerRole: string;
    /** How a restore fences the app out. */
    public readonly fence: DatabaseFence;
    /** The CA bundle for pods that connect, when the URLs verify the server. */
    public readonly caVolume?: PodVolume;
    /** SQL the admin runs once to hand existing objects to the owner role. */
    public readonly ownershipHandoverSql: string;

    constructor(name: string, args: DatabaseRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("DatabaseRoles", name, opts);
        const verifies = verifiesServer(args.sslmode);
        if (verifies && !args.caBundle) throw new pulumi.ResourceError(`sslmode ${args.sslmode} needs caBundle`, this);
        const connectName = connectRoleName(args.roles.app.name);
        if (connectName.length > 63)
            throw new pulumi.ResourceError(
                `roles.app.name is too long for its connect role ${connectName} (63 characters at most)`,
                this,
            );
        if (!args.schemas.includes("public")) throw new pulumi.ResourceError("schemas must include public", this);
        const opt = { parent: this };
        const db = args.database;
        const owner = args.roles.owner.name;
        this.ownerRole = owner;
        this.fence = { appRole: args.roles.app.name, connectRole: connectName };
        this.ownershipHandoverSql = ownershipHandoverSql(owner, args.schemas);

        const ownerRole = new postgresql.Role(`${name}-owner`, { name: owner, login: false }, opt);
        const connectRole = new postgresql.Role(`${name}-connect`, { name: connectName, login: false }, opt);
        const roles = {} as Record<DatabaseRoleKind, postgresql.Role>;
        const passwords = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        for (const kind of LOGIN_ROLES) {
            const r = args.roles[kind];
            // Letters and digits only, so the password sits in a connection URL without escaping.
            passwords[kind] = pulumi.secret(
                new random.RandomPassword(`${name}-${kind}-password`, { length: 32, special: false }, opt).result,
            );
            roles[kind] = new postgresql.Role(
                `${name}-${kind}`,
                {
                    name: r.name,
                    login: true,
                    passwordWo: passwords[kind],
                    passwordWoVersion: fingerprint(passwords[kind]),
                    connectionLimit: r.connectionLimit,
                    assumeRole: kind === "migrator" ? ownerRole.name : undefined,
                    // A backup must never wait behind nor hold up the app: it reads in one long snapshot, so no timeout.
                    statementTimeout: kind === "app" ? 30000 : 0,
                    idleInTransactionSessionTimeout: kind === "backup" ? 0 : 60000,
                },
                opt,
            );
        }
        const after: Record<DatabaseRoleKind, pulumi.Resource[]> = {
            app: [roles.app],
            migrator: [roles.migrator],
            backup: [roles.backup],
            drill: [roles.drill],
        };
        // The public schema keeps its first grants' names; another schema's carry its name.
        const named = (suffix: string, schema: string) => (schema === "public" ? suffix : `${suffix}-${schema}`);
        const grant = (
            suffix: string,
            role: DatabaseRoleKind | "owner" | "connect",
            objectType: string,
            privileges: string[],
            schema?: string,
        ) => {
            const grantee =
                role === "owner" ? ownerRole.name : role === "connect" ? connectRole.name : roles[role].name;
            const g = new postgresql.Grant(
                `${name}-${suffix}`,
                { database: db, role: grantee, objectType, schema, privileges },
                opt,
            );
            // The migrator acts as the owner, so it needs the owner's grants before it starts; the app connects through the connect role.
            after[role === "owner" ? "migrator" : role === "connect" ? "app" : role].push(g);
        };
        const member = (suffix: string, kind: DatabaseRoleKind, of: postgresql.Role, withAdminOption = false) =>
            after[kind].push(
                new postgresql.GrantRole(
                    `${name}-${suffix}`,
                    { role: roles[kind].name, grantRole: of.name, withAdminOption },
                    opt,
                ),
            );
        const defaults = (suffix: string, role: DatabaseRoleKind, objectType: string, privileges: string[]) =>
            after[role].push(
                new postgresql.DefaultPrivileges(
                    `${name}-${suffix}`,
                    { database: db, role: roles[role].name, owner: ownerRole.name, objectType, privileges },
                    opt,
                ),
            );

        // Only the roles granted CONNECT below reach the app's database: not the drill role, not any role created later.
        const noPublicConnect = new postgresql.Grant(
            `${name}-public-database`,
            { database: db, role: "public", objectType: "database", privileges: [] },
            opt,
        );
        after.app.push(
            new postgresql.Grant(
                `${name}-public-schema`,
                { database: db, role: "public", objectType: "schema", schema: "public", privileges: ["USAGE"] },
                opt,
            ),
        );
        grant("owner-database", "owner", "database", ["CREATE", "TEMPORARY"]);
        member("migrator-owner", "migrator", ownerRole);
        grant("migrator-database", "migrator", "database", ["CONNECT", "TEMPORARY"]);
        grant("connect-database", "connect", "database", ["CONNECT"]);
        member("app-connect", "app", connectRole);
        member("migrator-connect", "migrator", connectRole, true);
        member("migrator-app", "migrator", roles.app);
        grant("backup-database", "backup", "database", ["CONNECT"]);
        for (const schema of args.schemas) {
            grant(named("owner-schema", schema), "owner", "schema", ["CREATE", "USAGE"], schema);
            grant(named("app-schema", schema), "app", "schema", ["USAGE"], schema);
            grant(named("app-tables", schema), "app", "table", ["SELECT", "INSERT", "UPDATE", "DELETE"], schema);
            grant(named("app-sequences", schema), "app", "sequence", ["SELECT", "USAGE", "UPDATE"], schema);
            grant(named("backup-schema", schema), "backup", "schema", ["USAGE"], schema);
            grant(named("backup-tables", schema), "backup", "table", ["SELECT"], schema);
            grant(named("backup-sequences", schema), "backup", "sequence", ["SELECT"], schema);
        }
        defaults("app-default-schemas", "app", "schema", ["USAGE"]);
        defaults("app-default-tables", "app", "table", ["SELECT", "INSERT", "UPDATE", "DELETE"]);
        defaults("app-default-sequences", "app", "sequence", ["SELECT", "USAGE", "UPDATE"]);
        defaults("backup-default-schemas", "backup", "schema", ["USAGE"]);
        defaults("backup-default-tables", "backup", "table", ["SELECT"]);
        defaults("backup-default-sequences", "backup", "sequence", ["SELECT"]);
        after.drill.push(
            new postgresql.Database(
                `${name}-drill-database`,
                { name: args.drillDatabase, owner: roles.drill.name, connectionLimit: 2 },
                opt,
            ),
        );
        for (const kind of LOGIN_ROLES) after[kind].push(noPublicConnect);

        let tls = "";
        if (verifies && args.caBundle) {
            const caDir = args.caMountPath ?? DEFAULT_DATABASE_CA_DIR;
            this.caVolume = databaseCaVolume(`${name}-ca`, args.appName, args.namespace, args.caBundle, caDir, opt);
            tls = `&sslrootcert=${caDir}/${CA_FILE}`;
        }
        const url = (kind: DatabaseRoleKind) =>
            pulumi.secret(
                pulumi.interpolate`postgresql://${args.roles[kind].name}:${passwords[kind]}@${args.host}:${args.port}/${kind === "drill" ? args.drillDatabase : db}?sslmode=${args.sslmode}${tls}`,
            );

        this.secrets = {} as Record<DatabaseRoleKind, k8s.core.v1.Secret>;
        this.secretRefs = {} as Record<DatabaseRoleKind, { name: string; resource: pulumi.Resource }>;
        this.checksums = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        for (const kind of LOGIN_ROLES) {
            const databaseUrl = url(kind);
            const secretName = `${args.appName}-db-${kind}`;
            this.checksums[kind] = fingerprint(databaseUrl);
            this.secrets[kind] = new k8s.core.v1.Secret(
                `${name}-${kind}-secret`,
                {
                    metadata: {
                        name: secretName,
                        namespace: args.namespace,
                        labels: appLabels(args.appName, COMPONENT.database),
                    },
                    type: "Opaque",
                    stringData: { [ENV.databaseUrl]: databaseUrl },
                },
                { parent: this, dependsOn: after[kind] },
            );
            this.secretRefs[kind] = { name: secretName, resource: this.secrets[kind] };
        }
        this.secretNames = Object.fromEntries(LOGIN_ROLES.map((k) => [k, this.secrets[k].metadata.name])) as Record<
            DatabaseRoleKind,
            pulumi.Output<string>
        >;
        this.registerOutputs({ ownerRole: owner, fence: this.fence, ownershipHandoverSql: this.ownershipHandoverSql });
    }
}

/** libpq modes that check the server's certificate, and so need the CA bundle it chains to. */
export function verifiesServer(sslmode: string): boolean {
    return sslmode === "verify-ca" || sslmode === "verify-full";
}
