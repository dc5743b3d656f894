import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { appLabels } from "./kubernetes";
import { COMPONENT, ENV } from "../policy/contract";
import { LibraryComponent } from "./componentType";
import { verifiesServer } from "./rules";

/** Roles that log in, each with a Secret holding its DATABASE_URL. */
export type DatabaseRoleKind = "app" | "migrator" | "backup" | "drill";
export const LOGIN_ROLES: DatabaseRoleKind[] = ["app", "migrator", "backup", "drill"];

/** Where pods that connect find the server's CA bundle; every URL names it as sslrootcert. */
export const DATABASE_CA_DIR = "/etc/myapp/db-ca";
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
    /**
     * owner: owns the schema objects, never logs in; app: reads and writes data; migrator: acts as the owner;
     * backup: reads everything, writes nothing; drill: owns only the scratch database.
     */
    roles: { owner: { name: string } } & Record<DatabaseRoleKind, RoleSpec>;
    /** Kubernetes namespace for the connection Secrets. */
    namespace: string;
    /** App name, the prefix of the Secrets' names. */
    appName: string;
}

/** A volume and the mount that puts it in a container. */
export interface PodVolume {
    volume: k8s.types.input.core.v1.Volume;
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
     * Each login role's Secret as a plain name and the resource to wait for. A Deployment refers to it by this name,
     * not by the Output: a Secret whose data changes is replaced, deleted first since its name is fixed, and the engine
     * then replaces every resource an input of which flows from it (pulumi/pulumi step_generator.go,
     * calculateDependentReplacements), which for a Deployment means deleting it and all its pods.
     */
    secretRefs: Record<DatabaseRoleKind, { name: string; resource: pulumi.Resource }>;
    /** A fingerprint of each role's URL: a pod-template annotation that rolls pods when it changes. */
    checksums: Record<DatabaseRoleKind, pulumi.Output<string>>;
    /** The CA bundle for pods that connect, when the URLs verify the server. */
    caVolume?: PodVolume;
    /** The role that owns the schema, for MIGRATION_OWNER_ROLE; undefined when the roles are not the program's. */
    ownerRole?: string;
}

/** A short, non-secret fingerprint of a secret value: it changes when the value does and reveals nothing of it. */
export function fingerprint(value: pulumi.Output<string>): pulumi.Output<string> {
    return pulumi.unsecret(value.apply((v) => createHash("sha256").update(v).digest("hex").slice(0, 16)));
}

/**
 * A ConfigMap with the server's CA bundle, and the volume that mounts it at DATABASE_CA_DIR/ca.pem, where the
 * connection URLs' sslrootcert points.
 */
export function databaseCaVolume(name: string, appName: string, namespace: string, caBundle: string, opts: pulumi.CustomResourceOptions): PodVolume {
    const ca = new k8s.core.v1.ConfigMap(name, { metadata: { name: `${appName}-db-ca`, namespace, labels: appLabels(appName, COMPONENT.database) }, data: { [CA_FILE]: caBundle } }, opts);
    return {
        volume: { name: "db-ca", configMap: { name: ca.metadata.name } },
        mount: { name: "db-ca", mountPath: DATABASE_CA_DIR, readOnly: true },
    };
}

/**
 * The SQL the admin runs once to hand the tables, views and sequences it created to the owner role, so that the
 * migrator (a member of the owner) can ALTER them, index them and restore over them. Sequences a table owns (serial,
 * identity) follow their table: ALTER SEQUENCE OWNER refuses them.
 */
export function ownershipHandoverSql(owner: string, schema = "public"): string {
    return [
        `-- Run once as the admin that created the tables (on RDS, the master user), e.g. psql "$ADMIN_URL" -f -`,
        `GRANT "${owner}" TO CURRENT_USER;`,
        `DO $$`,
        `DECLARE r record;`,
        `BEGIN`,
        `  FOR r IN`,
        `    SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`,
        `    WHERE n.nspname = '${schema}' AND c.relowner = CURRENT_USER::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')`,
        `      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))`,
        `  LOOP`,
        `    EXECUTE format('ALTER %s %I.%I OWNER TO %I',`,
        `      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,`,
        `      '${schema}', r.relname, '${owner}');`,
        `  END LOOP;`,
        `END $$;`,
    ].join("\n");
}

/**
 * Least-privilege PostgreSQL roles and one Kubernetes Secret per login role holding its DATABASE_URL.
 *
 * Ownership: a NOLOGIN owner role owns the schema objects. The migrator is a member and switches to it at login
 * (`assumeRole`, which cyrilgdn/terraform-provider-postgresql issues as ALTER ROLE … SET ROLE, setAssumeRole in
 * postgresql/resource_postgresql_role.go), so whatever it creates or restores belongs to the owner and it can ALTER,
 * index and drop what the owner owns; PostgreSQL requires ownership, or membership in the owning role, for all three.
 * Default privileges are declared FOR ROLE owner, so the app and backup roles get every table a migration creates.
 * Tables an earlier deploy left owned by the admin are handed over once with `ownershipHandoverSql`.
 *
 * Passwords are generated and sent with the provider's write-only fields (passwordWo), so the Role's state holds no
 * password; passwordWoVersion is the password's fingerprint, so replacing the RandomPassword (`pulumi up --replace
 * <password URN>`) sets the new one. The Secrets carry a fingerprint of their URL for pod templates to roll on.
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
    /** The CA bundle for pods that connect, when the URLs verify the server. */
    public readonly caVolume?: PodVolume;
    /** SQL the admin runs once to hand existing tables to the owner role. */
    public readonly ownershipHandoverSql: string;

    constructor(name: string, args: DatabaseRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("DatabaseRoles", name, opts);
        const verifies = verifiesServer(args.sslmode);
        if (verifies && !args.caBundle) throw new pulumi.ResourceError(`sslmode ${args.sslmode} needs caBundle`, this);
        const opt = { parent: this };
        const db = args.database;
        const owner = args.roles.owner.name;
        this.ownerRole = owner;
        this.ownershipHandoverSql = ownershipHandoverSql(owner);

        const ownerRole = new postgresql.Role(`${name}-owner`, { name: owner, login: false }, opt);
        const roles = {} as Record<DatabaseRoleKind, postgresql.Role>;
        const passwords = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        for (const kind of LOGIN_ROLES) {
            const r = args.roles[kind];
            // Letters and digits only, so the password sits in a connection URL without escaping.
            passwords[kind] = pulumi.secret(new random.RandomPassword(`${name}-${kind}-password`, { length: 32, special: false }, opt).result);
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
        const after: Record<DatabaseRoleKind, pulumi.Resource[]> = { app: [roles.app], migrator: [roles.migrator], backup: [roles.backup], drill: [roles.drill] };
        const grant = (suffix: string, role: DatabaseRoleKind | "owner", objectType: string, privileges: string[]) => {
            const g = new postgresql.Grant(
                `${name}-${suffix}`,
                {
                    database: db,
                    role: role === "owner" ? ownerRole.name : roles[role].name,
                    objectType,
                    schema: objectType === "database" ? undefined : "public",
                    privileges,
                },
                opt,
            );
            // The migrator acts as the owner, so it needs the owner's grants before it starts.
            after[role === "owner" ? "migrator" : role].push(g);
        };
        const defaults = (suffix: string, role: DatabaseRoleKind, objectType: string, privileges: string[]) =>
            after[role].push(
                new postgresql.DefaultPrivileges(`${name}-${suffix}`, { database: db, role: roles[role].name, owner: ownerRole.name, schema: "public", objectType, privileges }, opt),
            );

        // Only the roles granted CONNECT below reach the app's database: not the drill role, not any role created later.
        const noPublicConnect = new postgresql.Grant(`${name}-public-database`, { database: db, role: "public", objectType: "database", privileges: [] }, opt);
        grant("owner-database", "owner", "database", ["CREATE", "TEMPORARY"]);
        grant("owner-schema", "owner", "schema", ["CREATE", "USAGE"]);
        after.migrator.push(new postgresql.GrantRole(`${name}-migrator-owner`, { role: roles.migrator.name, grantRole: ownerRole.name }, opt));
        grant("migrator-database", "migrator", "database", ["CONNECT", "TEMPORARY"]);
        grant("app-database", "app", "database", ["CONNECT"]);
        grant("app-schema", "app", "schema", ["USAGE"]);
        grant("app-tables", "app", "table", ["SELECT", "INSERT", "UPDATE", "DELETE"]);
        grant("app-sequences", "app", "sequence", ["SELECT", "USAGE", "UPDATE"]);
        defaults("app-default-tables", "app", "table", ["SELECT", "INSERT", "UPDATE", "DELETE"]);
        defaults("app-default-sequences", "app", "sequence", ["SELECT", "USAGE", "UPDATE"]);
        grant("backup-database", "backup", "database", ["CONNECT"]);
        grant("backup-schema", "backup", "schema", ["USAGE"]);
        grant("backup-tables", "backup", "table", ["SELECT"]);
        grant("backup-sequences", "backup", "sequence", ["SELECT"]);
        defaults("backup-default-tables", "backup", "table", ["SELECT"]);
        defaults("backup-default-sequences", "backup", "sequence", ["SELECT"]);
        after.drill.push(new postgresql.Database(`${name}-drill-database`, { name: args.drillDatabase, owner: roles.drill.name, connectionLimit: 2 }, opt));
        for (const kind of LOGIN_ROLES) after[kind].push(noPublicConnect);

        let tls = "";
        if (verifies && args.caBundle) {
            this.caVolume = databaseCaVolume(`${name}-ca`, args.appName, args.namespace, args.caBundle, opt);
            tls = `&sslrootcert=${DATABASE_CA_DIR}/${CA_FILE}`;
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
                    metadata: { name: secretName, namespace: args.namespace, labels: appLabels(args.appName, COMPONENT.database) },
                    type: "Opaque",
                    stringData: { [ENV.databaseUrl]: databaseUrl },
                },
                { parent: this, dependsOn: after[kind] },
            );
            this.secretRefs[kind] = { name: secretName, resource: this.secrets[kind] };
        }
        this.secretNames = Object.fromEntries(LOGIN_ROLES.map((k) => [k, this.secrets[k].metadata.name])) as Record<DatabaseRoleKind, pulumi.Output<string>>;
        this.registerOutputs({ ownerRole: owner, ownershipHandoverSql: this.ownershipHandoverSql });
    }
}
