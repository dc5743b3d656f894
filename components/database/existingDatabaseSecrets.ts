import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    DatabaseAccess,
    databaseCaVolume,
    DatabaseFence,
    DEFAULT_DATABASE_CA_DIR,
    DatabaseRoleKind,
    fingerprint,
    LOGIN_ROLES,
    PodVolume,
} from "./databaseRoles";
import { ENV } from "../../policy/contract";
import { LibraryComponent } from "../componentType";

export interface ExistingDatabaseSecretsArgs {
    /** App name, the prefix of the CA bundle ConfigMap. */
    appName: string;
    /** Namespace the Secrets are in, which is the pods' namespace. */
    namespace: string;
    /** Name of each login role's Secret, made outside this program, with its URL under the key DATABASE_URL. */
    names: Record<DatabaseRoleKind, string>;
    /** PEM bundle of the server's CA, mounted where the URLs' sslrootcert may point; none when the URLs do not verify the server. */
    caBundle?: string;
    /** Directory pods mount the CA bundle in, as ca.pem, for URLs whose sslrootcert names it; default /etc/db-ca. */
    caMountPath?: string;
    /** The app's login role and the role it holds CONNECT through, for a restore to fence the app out. */
    fence?: DatabaseFence;
}

/**
 * Database access through Secrets the user made, for a database whose roles this program does not manage. Each is
 * read, so a missing one stops `pulumi preview` (README, Decisions: "Secrets the user made are read").
 */
export class ExistingDatabaseSecrets extends LibraryComponent implements DatabaseAccess {
    public readonly secretNames: Record<DatabaseRoleKind, pulumi.Output<string>>;
    public readonly secretRefs: Record<DatabaseRoleKind, { name: string; resource: pulumi.Resource }>;
    public readonly checksums: Record<DatabaseRoleKind, pulumi.Output<string>>;
    public readonly caVolume?: PodVolume;
    public readonly fence?: DatabaseFence;

    constructor(name: string, args: ExistingDatabaseSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ExistingDatabaseSecrets", name, opts);
        this.secretNames = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        this.checksums = {} as Record<DatabaseRoleKind, pulumi.Output<string>>;
        this.secretRefs = {} as Record<DatabaseRoleKind, { name: string; resource: pulumi.Resource }>;
        this.fence = args.fence;
        for (const kind of LOGIN_ROLES) {
            const secret = k8s.core.v1.Secret.get(`${name}-${kind}`, `${args.namespace}/${args.names[kind]}`, {
                parent: this,
            });
            this.secretRefs[kind] = { name: args.names[kind], resource: secret };
            // The configured name, known once the read has found the Secret.
            this.secretNames[kind] = secret.id.apply(() => args.names[kind]);
            this.checksums[kind] = fingerprint(secret.data.apply((d) => d?.[ENV.databaseUrl] ?? ""));
        }
        if (args.caBundle)
            this.caVolume = databaseCaVolume(
                `${name}-ca`,
                args.appName,
                args.namespace,
                args.caBundle,
                args.caMountPath ?? DEFAULT_DATABASE_CA_DIR,
                { parent: this },
            );
        this.registerOutputs({ secretNames: this.secretNames });
    }
}
