import * as fs from "fs";
import * as YAML from "yaml";
import { namespace as createNamespace, stackFile } from "./engine";
import { Kube } from "./kube";
import { projectStack, ProjectStack } from "./stack";

/**
 * The README's "Bringing existing resources" edits, for stacks whose database Job chain runs end to end with only the
 * Kubernetes provider: the AWS, Datadog, PostgreSQL and random providers cannot be built here.
 */
export const EXISTING = {
    secrets: {
        app: "myapp-db-app-url",
        migrator: "myapp-db-migrator-url",
        backup: "myapp-db-backup-url",
        drill: "myapp-db-drill-url",
    },
    bucket: "myapp-e2e-existing-backups",
    roleArn: "arn:aws:iam::123456789012:role/myapp-e2e-db-backup",
    /** The roles a restore fences the app out with: the user's, as the Secrets are. */
    fence: { appRole: "myapp_app", connectRole: "myapp_app_connect" },
} as const;

/** Applies the documented edits to a stack file's `config` (in place) and moves the release into `namespace`. */
export function withExistingResources(config: Record<string, any>, namespace: string): void {
    delete config["myapp:monitoring"];
    const db = config["myapp:database"];
    const b = config["myapp:backup"];
    delete db.roles;
    delete db.maxConnections;
    delete db.rds;
    db.existingSecrets = { ...EXISTING.secrets };
    db.fence = { ...EXISTING.fence };
    delete b.bucketName;
    delete b.objectLock;
    b.existingBucket = { name: EXISTING.bucket };
    b.oidc = { roleArn: EXISTING.roleArn };
    config["myapp:release"].namespace = namespace;
}

/** The namespace with its default ServiceAccount, and the four DATABASE_URL Secrets. */
export async function prepareNamespace(k: Kube, namespace: string): Promise<void> {
    await createNamespace(k, namespace);
    for (const [role, name] of Object.entries(EXISTING.secrets)) {
        const database = role === "drill" ? "myapp_restore_drill" : "myapp";
        await k.ensure(`/api/v1/namespaces/${namespace}/secrets`, {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name, namespace },
            type: "Opaque",
            stringData: {
                DATABASE_URL: `postgresql://myapp_${role}:e2e-only@db.${namespace}.svc:5432/${database}?sslmode=verify-full&sslrootcert=/etc/myapp/db-ca/ca.pem`,
            },
        });
    }
}

/**
 * A stack of the program from a committed stack file with the existing-resource edits, deploying into its own
 * namespace (so specs do not share objects), with the namespace and Secrets made first, as the README asks.
 */
export async function existingResourceStack(
    k: Kube,
    opts: { base: "production" | "staging"; name: string; namespace: string },
): Promise<ProjectStack> {
    await prepareNamespace(k, opts.namespace);
    const ps = await projectStack({ base: opts.base, name: opts.name });
    const file = stackFile(ps);
    // createOrSelectStack has added the passphrase's salt to the file: keep it.
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    withExistingResources(doc.config, opts.namespace);
    fs.writeFileSync(file, YAML.stringify(doc));
    ps.config = doc.config;
    return ps;
}
