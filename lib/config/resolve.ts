import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import * as path from "path";
import { z } from "zod";
import { ServingTrack } from "../migrations";
import { ConfigError, formatPath, refused } from "./errors";
import { appSecretsSchema, KEYS, SEPARATE_KEYS } from "./schema";
import {
    AutoRollbackConfig,
    BackupRoleConfig,
    CanaryConfig,
    DatabaseAccessConfig,
    DumpBucketConfig,
    MigrationRunConfig,
    ParsedBackup,
    ParsedCanary,
    ParsedConfig,
    ParsedDatabase,
    ProgramConfig,
} from "./types";

/** The repository root: config paths (sqlDir, tls.caBundle) are relative to it. */
export const PROJECT_ROOT = path.join(__dirname, "..", "..");

// The exactly-one-of pairs, resolved once crossFieldProblems has made sure exactly one is set; the raw keys are gone
// from the result, so nothing downstream reads them.
function resolvedDatabase({
    roles: _roles,
    existingSecrets: _existing,
    migration,
    ...db
}: ParsedDatabase): NonNullable<ProgramConfig["database"]> {
    const { sqlDir: _sqlDir, command: _command, downCommand: _down, ...steps } = migration;
    return {
        ...db,
        access: databaseAccess({ roles: _roles, existingSecrets: _existing }),
        migration: steps,
        migrationRun: migrationRun(migration),
    };
}

function resolvedBackup({
    bucketName: _name,
    existingBucket: _existing,
    oidc,
    ...b
}: ParsedBackup): NonNullable<ProgramConfig["backup"]> {
    return { ...b, bucket: dumpBucket({ bucketName: _name, existingBucket: _existing }), role: backupRole(oidc) };
}
function databaseAccess(db: Pick<ParsedDatabase, "roles" | "existingSecrets">): DatabaseAccessConfig {
    if (db.existingSecrets) return { kind: "existing", secrets: db.existingSecrets };
    if (db.roles) return { kind: "roles", roles: db.roles };
    throw new Error("database without roles or existingSecrets passed validation");
}

function migrationRun(m: ParsedDatabase["migration"]): MigrationRunConfig {
    if (m.sqlDir !== undefined) return { kind: "sql", sqlDir: m.sqlDir };
    if (m.command !== undefined) return { kind: "command", command: m.command, downCommand: m.downCommand };
    throw new Error("database.migration without sqlDir or command passed validation");
}

function dumpBucket(b: Pick<ParsedBackup, "bucketName" | "existingBucket">): DumpBucketConfig {
    if (b.existingBucket) return { kind: "existing", ...b.existingBucket };
    if (b.bucketName) return { kind: "declared", name: b.bucketName };
    throw new Error("backup without bucketName or existingBucket passed validation");
}

function backupRole(o: ParsedBackup["oidc"]): BackupRoleConfig {
    if (o.roleArn) return { kind: "existing", arn: o.roleArn };
    if (o.providerArn && o.issuerUrl) return { kind: "oidc", providerArn: o.providerArn, issuerUrl: o.issuerUrl };
    throw new Error("backup.oidc without roleArn or providerArn and issuerUrl passed validation");
}

/** The canary section with its router's settings; crossFieldProblems has made sure they are there. */
function withRouting({ router, gateway, alb, ...tracks }: ParsedCanary): CanaryConfig {
    if (router === "gateway-api" && gateway) return { ...tracks, router, gateway };
    if (router === "alb" && alb) return { ...tracks, router, alb };
    if (router === "nginx" || router === "pod-ratio") return { ...tracks, router };
    throw new Error(`canary.router ${router} without its settings passed validation`);
}

export function datadogTags(c: Pick<ParsedConfig, "monitoring" | "release">, stack: string): ProgramConfig["datadog"] {
    return { env: c.monitoring?.env ?? stack, service: c.monitoring?.service ?? c.release.appName };
}

export function resolved(
    { strategy, blueGreen, canary, rolling, monitoring, database, backup, autoRollback, ...rest }: ParsedConfig,
    stack: string,
): ProgramConfig {
    const datadog = datadogTags({ monitoring, release: rest.release }, stack);
    const { pulumiAccessToken: _token, ...autoRollbackSettings } = autoRollback ?? {};
    const common = {
        ...rest,
        datadog,
        autoRollback: autoRollback && (autoRollbackSettings as AutoRollbackConfig),
        monitoring: monitoring && {
            ...monitoring,
            hostScope: monitoring.hostScope ?? `kube_cluster_name:${monitoring.kubeClusterName}`,
        },
        database: database && resolvedDatabase(database),
        backup: backup && resolvedBackup(backup),
    };
    if (strategy === "blue-green" && blueGreen) return { ...common, strategy, blueGreen };
    if (strategy === "canary" && canary) return { ...common, strategy, canary: withRouting(canary) };
    if (strategy === "rolling") return { ...common, strategy, rolling };
    throw new Error(`strategy ${strategy} without its section passed validation`);
}

/**
 * The tracks that serve traffic while the release's migration runs, with their versions and the keys that set them:
 * a canary's stable and canary tracks (the canary serves testers even at weight 0), each blue/green color (the
 * preview color too, unless previewReplicas is 0: then it runs no pod), and for rolling the release's version and
 * release.previousVersion, whose pods serve until the rollout, which waits for the migration, replaces them.
 */
export function servingTracks(cfg: ProgramConfig): ServingTrack[] {
    if (cfg.strategy === "canary") {
        return [
            { track: "stable", key: "canary.stableVersion", version: cfg.canary.stableVersion },
            { track: "canary", key: "canary.canaryVersion", version: cfg.canary.canaryVersion },
        ];
    }
    if (cfg.strategy === "blue-green") {
        const bg = cfg.blueGreen;
        return (["blue", "green"] as const)
            .filter((color) => color === bg.activeColor || bg.previewReplicas > 0)
            .map((color) => ({
                track: color,
                key: `blueGreen.${color}Version`,
                version: color === "blue" ? bg.blueVersion : bg.greenVersion,
            }));
    }
    const r = cfg.release;
    return [
        { track: "rolling", key: "release.version", version: r.version },
        ...(r.previousVersion && r.previousVersion !== r.version
            ? [{ track: "previous", key: "release.previousVersion", version: r.previousVersion }]
            : []),
    ];
}

const STRATEGY_SECTIONS = { "blue-green": "blueGreen", canary: "canary", rolling: "rolling" } as const;

/**
 * The raw config without the sections of the strategies the stack does not run (left from a change of strategy, or
 * copied from another stack): the program never reads them, so their fields are not demanded. Each is named in a
 * warning. The separately read keys go too.
 */
export function ownStrategySections(
    project: string,
    raw: Record<string, unknown>,
    warn: (message: string) => void,
): Record<string, unknown> {
    const own = { ...raw };
    for (const key of SEPARATE_KEYS) delete own[key];
    const strategy = raw.strategy;
    if (typeof strategy !== "string" || !Object.hasOwn(STRATEGY_SECTIONS, strategy)) return own;
    for (const [other, section] of Object.entries(STRATEGY_SECTIONS)) {
        if (other === strategy || own[section] === undefined) continue;
        delete own[section];
        warn(
            `${project}:${section} is ignored: strategy is "${strategy}", which reads ${project}:${STRATEGY_SECTIONS[strategy as keyof typeof STRATEGY_SECTIONS]} only`,
        );
    }
    return own;
}

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)$/;

/**
 * `pulumi config set --path` writes true and false as booleans, integers as numbers and everything else as strings,
 * decimals included (README: Decisions). So wherever the schema wants a number, a string holding a decimal is read
 * as that number: every number field, present or future, takes what the CLI writes. Other strings stay, for the field
 * to refuse.
 */
export function numbersAsWritten(schema: z.core.$ZodType, value: unknown): unknown {
    const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    const inner = (key: string) => def[key] as z.core.$ZodType;
    const isMap = (v: unknown): v is Record<string, unknown> =>
        v !== null && typeof v === "object" && !Array.isArray(v);
    switch (def.type) {
        case "number":
            return typeof value === "string" && DECIMAL.test(value) ? Number(value) : value;
        case "optional":
        case "nullable":
        case "default":
        case "prefault":
        case "readonly":
            return numbersAsWritten(inner("innerType"), value);
        case "pipe": {
            // A preprocess is a transform piped into the schema that reads its result; a .transform() follows its schema.
            const [from, to] = [inner("in"), inner("out")];
            return numbersAsWritten(from._zod.def.type === "transform" ? to : from, value);
        }
        case "array":
            return Array.isArray(value) ? value.map((v) => numbersAsWritten(inner("element"), v)) : value;
        case "record":
            return isMap(value)
                ? Object.fromEntries(
                      Object.entries(value).map(([k, v]) => [k, numbersAsWritten(inner("valueType"), v)]),
                  )
                : value;
        case "object": {
            const shape = def.shape as Record<string, z.core.$ZodType>;
            return isMap(value)
                ? Object.fromEntries(
                      Object.entries(value).map(([k, v]) => [
                          k,
                          Object.hasOwn(shape, k) ? numbersAsWritten(shape[k], v) : v,
                      ]),
                  )
                : value;
        }
        default:
            return value;
    }
}

/**
 * Reads every program key from stack config, failing on malformed JSON with the key's name. `config` is a
 * pulumi.Config, or anything that reads keys the way it does (the plan command reads a stack file). `stackKeys`, the
 * stack's fully qualified keys (pulumi.runtime.allConfig), brings in the namespace's unknown keys for
 * validateConfig to refuse: a mistyped section would otherwise be read as one left out.
 */
export function readRawConfig(
    config: { name: string; get(key: string): string | undefined },
    stackKeys: string[] = [],
): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const known: readonly string[] = [...KEYS, ...SEPARATE_KEYS];
    const unknown = stackKeys.flatMap((k) =>
        k.startsWith(`${config.name}:`) && !known.includes(k.slice(config.name.length + 1))
            ? [k.slice(config.name.length + 1)]
            : [],
    );
    for (const key of unknown) raw[key] = config.get(key);
    for (const key of KEYS) {
        const text = config.get(key);
        if (text === undefined) continue;
        let value: unknown;
        try {
            value = key === "strategy" ? text : JSON.parse(text);
        } catch {
            throw new ConfigError(`Invalid stack configuration: ${config.name}:${key} = ${text}: must be an object`);
        }
        // Pulumi.yaml defaults optional sections to {}: an empty section is one the stack does not use.
        const empty =
            typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
        if (!empty) raw[key] = value;
    }
    return raw;
}

/** Whether the CLI passed a key as secret: the SDK's own check (runtime/config.js, marked internal, so untyped). */
const isConfigSecret = (key: string): boolean =>
    (runtimeConfig as unknown as { isConfigSecret(k: string): boolean }).isConfigSecret(key);

/**
 * Reads `autoRollback.pulumiAccessToken` as a Pulumi secret; undefined when unset. A token stored in plain text is
 * refused: the CLI marks a key secret only when it was set with --secret.
 */
export function readAutoRollbackToken(config: pulumi.Config): pulumi.Output<string> | undefined {
    const text = config.get("autoRollback");
    if (text === undefined) return undefined;
    const token = (JSON.parse(text) as { pulumiAccessToken?: unknown }).pulumiAccessToken;
    if (typeof token !== "string") return undefined;
    if (!isConfigSecret(`${config.name}:autoRollback`)) {
        throw refused([
            `  ${config.name}:autoRollback.pulumiAccessToken: must be set with \`pulumi config set --secret --path autoRollback.pulumiAccessToken\`, not in plain text`,
        ]);
    }
    return pulumi.secret(token);
}

/**
 * Reads `appSecrets`, the app's secret environment, as a Pulumi secret. Errors name the offending keys but never
 * print a value.
 */
export function readAppSecrets(config: pulumi.Config): pulumi.Output<Record<string, string>> | undefined {
    const text = config.get("appSecrets");
    if (text === undefined) return undefined;
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        throw new ConfigError(
            `Invalid stack configuration: ${config.name}:appSecrets must be an object set with --secret`,
        );
    }
    const result = appSecretsSchema.safeParse(parsed);
    if (!result.success) {
        const keys = result.error.issues.map((i) => formatPath(config.name, ["appSecrets", ...i.path])).join(", ");
        throw new ConfigError(
            `Invalid stack configuration: ${keys}: must be a map of environment variable names to string values`,
        );
    }
    // No keys is no stringData at all: the API server drops an empty stringData, so the provider would see a diff,
    // and replace the Secret, on every run (pulumi/pulumi-kubernetes#3538).
    return Object.keys(result.data).length > 0 ? pulumi.secret(result.data) : undefined;
}
