import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { appLabels } from "./kubernetes";

export type DatabaseRoleKind = "app" | "migrator" | "backup";

export interface RoleSpec {
    /** Role name in PostgreSQL. */
    name: string;
    /** Most connections the role may hold at once. */
    connectionLimit: number;
}

export interface DatabaseRolesArgs {
    /** Database server host. */
    host: string;
    /** Database server port. */
    port: number;
    /** The app's database. */
    database: string;
    /** Scratch database the restore drill restores into; owned by the migrator. */
    drillDatabase: string;
    /** libpq sslmode in the connection URLs. */
    sslmode: string;
    /** app: reads and writes data; migrator: owns and changes the schema; backup: reads everything, writes nothing. */
    roles: Record<DatabaseRoleKind, RoleSpec>;
    /** Kubernetes namespace for the connection Secrets. */
    namespace: string;
    /** App name, the prefix of the Secrets' names. */
    appName: string;
}

/**
 * Separate least-privilege PostgreSQL roles for the app, for migrations and for backups, each with a connection limit,
 * and one Kubernetes Secret per role holding its DATABASE_URL. Passwords are generated, held only as Pulumi secrets
 * (state, Secrets), and rotated with `pulumi up --replace <password URN>`.
 */
export class DatabaseRoles extends pulumi.ComponentResource {
    /** Name of the Secret holding each role's DATABASE_URL. */
    public readonly secretNames: Record<DatabaseRoleKind | "drill", string>;
    /** Each role's DATABASE_URL, as a secret. */
    public readonly urls: Record<DatabaseRoleKind, pulumi.Output<string>>;

    constructor(name: string, args: DatabaseRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("myapp:deploy:DatabaseRoles", name, {}, opts);
        const total = Object.values(args.roles).reduce((n, r) => n + r.connectionLimit, 0);
        for (const [kind, r] of Object.entries(args.roles)) {
            if (r.connectionLimit < 1) throw new pulumi.ResourceError(`the ${kind} role needs a connection limit of at least 1, got ${r.connectionLimit}`, this);
        }
        const opt = { parent: this };
        const db = args.database;

        const roles = {} as Record<DatabaseRoleKind, postgresql.Role>;
        const passwords = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        for (const kind of ["app", "migrator", "backup"] as const) {
            const r = args.roles[kind];
            // Letters and digits only, so the password sits in a connection URL without escaping.
            passwords[kind] = pulumi.secret(new random.RandomPassword(`${name}-${kind}-password`, { length: 32, special: false }, opt).result);
            roles[kind] = new postgresql.Role(
                `${name}-${kind}`,
                {
                    name: r.name,
                    login: true,
                    password: passwords[kind],
                    connectionLimit: r.connectionLimit,
                    // A backup must never wait behind nor hold up the app: it reads in one long snapshot, so no timeout.
                    statementTimeout: kind === "app" ? 30000 : 0,
                    idleInTransactionSessionTimeout: kind === "backup" ? 0 : 60000,
                },
                opt,
            );
        }
        const grant = (suffix: string, role: DatabaseRoleKind, objectType: string, privileges: string[], database = db) =>
            new postgresql.Grant(
                `${name}-${suffix}`,
                { database, role: roles[role].name, objectType, schema: objectType === "database" ? undefined : "public", privileges },
                opt,
            );
        const defaults = (suffix: string, role: DatabaseRoleKind, objectType: string, privileges: string[]) =>
            new postgresql.DefaultPrivileges(
                `${name}-${suffix}`,
                { database: db, role: roles[role].name, owner: roles.migrator.name, schema: "public", objectType, privileges },
                opt,
            );

        grant("migrator-database", "migrator", "database", ["CONNECT", "CREATE", "TEMPORARY"]);
        grant("migrator-schema", "migrator", "schema", ["CREATE", "USAGE"]);
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
        new postgresql.Database(`${name}-drill-database`, { name: args.drillDatabase, owner: roles.migrator.name, connectionLimit: 2 }, opt);

        const url = (kind: DatabaseRoleKind, database: string) =>
            pulumi.secret(
                pulumi.interpolate`postgresql://${args.roles[kind].name}:${passwords[kind]}@${args.host}:${args.port}/${database}?sslmode=${args.sslmode}`,
            );
        this.urls = { app: url("app", db), migrator: url("migrator", db), backup: url("backup", db) };
        const secretUrls: Record<DatabaseRoleKind | "drill", pulumi.Output<string>> = { ...this.urls, drill: url("migrator", args.drillDatabase) };

        this.secretNames = {} as Record<DatabaseRoleKind | "drill", string>;
        for (const kind of ["app", "migrator", "backup", "drill"] as const) {
            const secretName = `${args.appName}-db-${kind}`;
            this.secretNames[kind] = secretName;
            new k8s.core.v1.Secret(
                `${name}-${kind}-secret`,
                {
                    metadata: { name: secretName, namespace: args.namespace, labels: appLabels(args.appName, "database") },
                    type: "Opaque",
                    stringData: { DATABASE_URL: secretUrls[kind] },
                },
                { parent: this, dependsOn: [roles[kind === "drill" ? "migrator" : kind]] },
            );
        }
        this.registerOutputs({ totalConnectionLimit: total, secretNames: this.secretNames });
    }
}
