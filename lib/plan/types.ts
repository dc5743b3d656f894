import type { EnforcementLevel } from "@pulumi/policy";
import { ProgramConfig } from "../config";
import { LintFinding, SqlMigration } from "../migrations";

/** A declared resource as the plan reads it: its type, Pulumi name and inputs. */
export interface PlanResource {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

/** The SQL migrations of the stack's folder and what squawk said of the ones this release applies. */
export interface PlanMigrations {
    /** database.migration.sqlDir as config writes it. */
    sqlDir: string;
    /** Every migration of the folder, for the expand/contract overview. */
    all: SqlMigration[];
    /** The ones of the configured phase and before: what this release applies. */
    selected: SqlMigration[];
    /** Every squawk finding on the selected up files, tolerated ones included. */
    findings: LintFinding[];
}

/** The policy run of the offline preview. */
export interface PlanPolicyRun {
    /** Enforcement level of each policy of the pack under the stack's policy config. */
    levels: Record<string, EnforcementLevel>;
    violations: PolicyViolation[];
}

/** Everything the plan is rendered from. */
export interface PlanInput {
    stack: string;
    /** The validated stack config. */
    cfg: ProgramConfig;
    /** The resources the program declares (only the types in PLAN_TYPES matter). */
    resources: PlanResource[];
    migrations?: PlanMigrations;
    /** The policy results; absent in the program's `readme` output, which cannot see them. */
    policy?: PlanPolicyRun;
    /** Write values the stack's outputs hold as the console's `${outputs.…}` references (the Stack README). */
    outputRefs: boolean;
    /** The time of the run: whether the deployment window has ended by then. */
    now: Date;
}

/** A policy finding, as the offline preview reports it (tools/offline/policy.ts). */
export interface PolicyViolation {
    policy: string;
    level: EnforcementLevel;
    message: string;
    /** Pulumi name of the resource at fault, or null for a stack-wide finding. */
    resource: string | null;
}
