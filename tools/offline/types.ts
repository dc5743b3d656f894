/** One resource the program declared, as the offline preview records it. */
export interface DeclaredResource {
    /** Pulumi type token, e.g. kubernetes:apps/v1:Deployment. */
    type: string;
    /** Pulumi resource name. */
    name: string;
    /** The URN the engine gives it: the stack, the project, its parents' types and its own, and its name. */
    urn: string;
    /** Name of the parent component, or null at the top. */
    parent: string | null;
    /** URN of the parent component, or null at the top: a name may be shared by resources of different types. */
    parentUrn: string | null;
    /** Names of the resources it explicitly depends on. */
    dependsOn: string[];
    /** URNs of every resource it depends on: dependsOn and the resources whose outputs feed its inputs. */
    dependencies: string[];
    /** Paths of `ignoreChanges`: inputs the provider keeps at their live value after creation. */
    ignoreChanges: string[];
    /** False for component resources. */
    custom: boolean;
    /** True for a read of an existing object (`Resource.get`): it declares nothing, and no policy sees it. */
    read?: boolean;
    /** Its `aliases` option, when it has one: the URNs it had before, which the engine matches instead of replacing. */
    aliases?: AliasSpec[];
    /** Its `replaceOnChanges` option, when it has one: input paths whose change replaces it. */
    replaceOnChanges?: string[];
    /** Its `deleteBeforeReplace` option, when set. */
    deleteBeforeReplace?: true;
    /** Inputs as sent to the provider, with secret values replaced by "[secret]". */
    inputs: Record<string, unknown>;
    /** Where `inputs` hold "[secret]", a digest of each value: the diff sees a secret change without its value. */
    secrets?: SecretDigest[];
}

export interface SecretDigest {
    path: (string | number)[];
    /** The first 16 hex digits of the SHA-256 of the value's JSON. */
    digest: string;
}

/**
 * One alias as the SDK sends it to the engine, its inputs resolved: a whole URN, or the parts of the old URN that
 * differ (the parent as a URN; noParent for a resource that sat at the top), each missing part the resource's own.
 */
export interface AliasSpec {
    urn?: string;
    name?: string;
    type?: string;
    parent?: string;
    noParent?: true;
    project?: string;
    stack?: string;
}

/** What one run of the program under mocks produced. */
export interface ProgramRun {
    stack: string;
    resources: DeclaredResource[];
    /** Stack outputs, with secret values replaced by "[secret]". */
    outputs: Record<string, unknown>;
}

/** What one run of the program is given. */
export interface RunRequest {
    project: string;
    /** The stack's organization; the file backend's "organization" when absent. */
    organization?: string;
    stack: string;
    /** Fully qualified config keys (project:key) to JSON-or-string values, as the CLI passes them. */
    config: Record<string, string>;
    /** Keys whose values are secrets. */
    secretKeys: string[];
    /** Record secret values in the clear instead of "[secret]": only for tests that use what the program built. */
    revealSecrets?: boolean;
    /**
     * What a read (`Resource.get`) finds, by the id it reads: the offline `--diff` assumes the cluster runs what the
     * config without the edits declares (liveStateOf). Without it, a read finds nothing, as when no cluster exists.
     */
    live?: Record<string, Record<string, unknown>>;
    /** The time the run takes as now (ISO 8601), as `--now` gives it; the clock's when absent. */
    now?: string;
}

export const SECRET_MASK = "[secret]";

/** The program stopped: exit code 2 for invalid config, 1 for anything else, with what it printed. */
export class ProgramError extends Error {
    constructor(
        message: string,
        public readonly exitCode: number,
        /** Resources registered before the program stopped, not counting the root Stack. */
        public readonly declaredBeforeFailure: number,
    ) {
        super(message);
        this.name = "ProgramError";
    }
}
