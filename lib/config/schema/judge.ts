import { z } from "zod";
import { JUDGE_GROUPS, JUDGE_METRIC_NAMES } from "../../judge/judge";
import { version } from "./fields";

const percentage = z
    .number({ message: "must be a number from 0 to 100" })
    .min(0, "must be a number from 0 to 100")
    .max(100, "must be a number from 0 to 100");
const effect = z.number({ message: "must be a positive number" }).positive("must be a positive number");

/** A judged metric's settings, as Kayenta's analysisConfigurations.canary names them; each left out keeps its default. */
const judgeMetricSchema = z.strictObject({
    direction: z.enum(["increase", "decrease", "either"]).optional(),
    critical: z.boolean().optional(),
    mustHaveData: z.boolean().optional(),
    muted: z.boolean().optional(),
    nanStrategy: z.enum(["remove", "replace"]).optional(),
    outliers: z.strictObject({ strategy: z.enum(["keep", "remove"]).optional(), factor: effect.optional() }).optional(),
    effectSize: z
        .strictObject({
            measure: z.enum(["meanRatio", "cles"]).optional(),
            allowedIncrease: effect.optional(),
            allowedDecrease: effect.optional(),
            criticalIncrease: effect.optional(),
            criticalDecrease: effect.optional(),
        })
        .optional(),
});

/** The canary judge (lib/judge): the verdict's thresholds, the groups' weights and each metric's settings. */
export const judgeSchema = z.strictObject({
    /** Pass at or above `pass`; Marginal at or above `marginal`; Fail below. */
    thresholds: z.strictObject({ pass: percentage.default(95), marginal: percentage.default(75) }).prefault({}),
    /** Percent per group (errors, latency, payments); groups without a weight share what remains of 100. */
    groupWeights: z.partialRecord(z.enum(JUDGE_GROUPS), percentage).default({}),
    metrics: z.partialRecord(z.enum(JUDGE_METRIC_NAMES), judgeMetricSchema).default({}),
    /** Seconds between two points of a series read from Datadog. */
    stepSeconds: z.number().int().min(10, "must be at least 10").max(3600, "must be at most 3600").default(60),
});

/**
 * Automatic rollback (components/autoRollback.ts): the rollback triggers notify a Datadog webhook that creates a
 * Pulumi Deployments update of this stack with the rollback's config edits. The section being set also makes the
 * program read the automatic-rollback mark (lib/gate/mark.ts), so `enabled: false` turns the webhook off but keeps
 * the versions it halted halted.
 */
export const autoRollbackSchema = z.strictObject({
    enabled: z.boolean().default(true),
    /** The Pulumi Cloud API the webhook calls. */
    apiUrl: z
        .url({ protocol: /^https?$/, message: "must be the Pulumi Cloud API's URL, such as https://api.pulumi.com" })
        .default("https://api.pulumi.com"),
    /** Where Pulumi Deployments fetches the program: the repository and branch the stack deploys from. */
    source: z
        .strictObject({
            repoUrl: z.url({
                protocol: /^https$/,
                message: "must be the https URL of the repository, such as https://github.com/acme/myapp-deploy.git",
            }),
            branch: z.string().regex(/^[A-Za-z0-9._/-]+$/, "must be a git branch name such as main"),
            repoDir: z
                .string()
                .regex(/^[A-Za-z0-9._/-]+$/, "must be a directory of the repository, such as deploy")
                .optional(),
        })
        .optional(),
    /** The Pulumi access token the webhook authenticates with; set with `--secret`. */
    pulumiAccessToken: z.string({ message: "must be a string set with `pulumi config set --secret`" }).optional(),
    /** Set only by the automatic rollback's own deployment: the version it takes traffic from, which the mark records. */
    halt: version.optional(),
});
