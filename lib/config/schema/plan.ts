import { z } from "zod";
import { person } from "./fields";

/** The roles a release names, in the plan's order; each one a person's or a rotation's chat handle. */
export const PLAN_ROLES = [
    "deploymentLead",
    "rollbackOwner",
    "databaseLead",
    "monitoringLead",
    "communicationLead",
    "onCall",
    "backupOnCall",
    "engineeringManager",
    "productManager",
] as const;
export type PlanRole = (typeof PLAN_ROLES)[number];

const chatChannel = z.string().regex(/^#[a-z0-9][a-z0-9_-]{0,79}$/, 'must be a chat channel such as "#engineering"');
const planText = z
    .string()
    .trim()
    .min(3, "must be a sentence of at least 3 characters")
    .max(300, "must be at most 300 characters");
const link = z.url({ protocol: /^https$/, message: "must be an https URL" });

/**
 * What the deployment plan needs that nothing else in config holds: the release's summary, its people, channels and
 * sign-off. Every entry is optional: the plan prints a missing one as "not set"; the policy pack requires a
 * deployment lead and a rollback owner.
 */
export const planSchema = z.strictObject({
    summary: z
        .strictObject({ changes: z.array(planText).min(1).optional(), why: z.array(planText).min(1).optional() })
        .prefault({}),
    people: z
        .strictObject(
            Object.fromEntries(PLAN_ROLES.map((r) => [r, person.optional()])) as Record<
                PlanRole,
                z.ZodOptional<typeof person>
            >,
        )
        .prefault({}),
    channels: z
        .strictObject({
            team: chatChannel.optional(),
            warRoom: chatChannel.optional(),
            support: chatChannel.optional(),
            stakeholders: z.email("must be an email address").optional(),
        })
        .prefault({}),
    statusPage: link.optional(),
    pagerUrl: link.optional(),
    /** Roles whose sign-off the release needs, in order. */
    signOff: z.array(z.enum(PLAN_ROLES)).min(1).optional(),
    /** Criteria beyond the monitors' thresholds, the migration and the smoke tests, which the plan derives itself. */
    successCriteria: z.array(planText).min(1).optional(),
    /** Minutes to watch each traffic step before taking the next (the plan's "monitor for 30 minutes"). */
    observeMinutes: z.number().int().min(5).max(240).default(30),
});

export type PlanConfig = z.infer<typeof planSchema>;
