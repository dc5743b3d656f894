import { z } from "zod";
import { backupSchema, databaseSchema } from "./database";
import { envName } from "./fields";
import { autoRollbackSchema, judgeSchema } from "./judge";
import { resolvedMonitoringSchema } from "./monitoring";
import { planSchema } from "./plan";
import { blueGreenSchema, canarySchema, releaseSchema, rollingSchema, strategies } from "./release";

const sections = z.strictObject({
    strategy: z.enum(strategies),
    release: releaseSchema,
    blueGreen: blueGreenSchema.optional(),
    canary: canarySchema.optional(),
    rolling: rollingSchema.default(rollingSchema.parse({})),
    monitoring: resolvedMonitoringSchema.optional(),
    database: databaseSchema.optional(),
    backup: backupSchema.optional(),
    plan: planSchema.prefault({}),
    judge: judgeSchema.prefault({}),
    autoRollback: autoRollbackSchema.optional(),
});

/** The program's keys in the project's namespace, in the order errors list them. */
export const KEYS = Object.keys(sections.shape) as (keyof typeof sections.shape)[];

/** The whole stack config; every key is checked on its own here, the rules between keys are in ../rules. */
export const programSchema = sections
    // Defaults that depend on another key are resolved here, once, so nothing downstream resolves them again.
    .transform((c) => ({
        ...c,
        canary: c.canary && { ...c.canary, canaryMaxReplicas: c.canary.canaryMaxReplicas ?? c.release.maxReplicas },
    }));

/** Keys of the project's namespace that the program reads apart from KEYS: the app's secrets (readAppSecrets). */
export const SEPARATE_KEYS = ["appSecrets"] as const;

export const appSecretsSchema = z.record(envName, z.string(), {
    message: "must be a map of environment variable names to values",
});
