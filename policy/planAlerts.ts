import type { Severity } from "./contract";

/**
 * The plan's alerts and rollback triggers ("Monitoring & Alerting" and "Rollback Triggers"): each threshold with the
 * plan's number, which side of it is bad, and how loud a breach is. Config may tighten a threshold freely; loosening
 * one in production needs a written reason. The policy pack checks monitors against the same table. Two entries are
 * not numbers of the plan but what its numbers depend on: a version's own payment failure rate as a rollback trigger
 * (the plan's 5%), and the autoscaler pinned at its maximum, after which CPU over the limit is all that is left.
 */
export type { Severity };

export interface PlanAlert {
    /** The plan's number. */
    plan: number;
    /** "above": a value over the threshold is bad; "below": a value under it is. */
    bad: "above" | "below";
    /** rollback: page and say roll back; critical: page; warning: chat only. */
    severity: Severity;
    /** Noise while pods roll (new pods warm up, the autoscaler reacts, migrations scan tables): muted in the deployment window. */
    rolloutNoise?: boolean;
    /** Percentages cannot exceed 100. */
    percent: boolean;
    /** What is measured, as the plan names it. */
    label: string;
    /** Unit the threshold is written in. */
    unit: string;
}

export const PLAN_ALERTS = {
    errorRatePct: { plan: 1, bad: "above", severity: "critical", percent: true, label: "Error rate", unit: "%" },
    p95LatencySeconds: {
        plan: 2,
        bad: "above",
        severity: "warning",
        percent: false,
        label: "p95 response time",
        unit: "s",
    },
    rollbackNowErrorRatePct: {
        plan: 5,
        bad: "above",
        severity: "rollback",
        percent: true,
        label: "Rollback trigger (now): error rate",
        unit: "%",
    },
    rollbackNowP95Seconds: {
        plan: 5,
        bad: "above",
        severity: "rollback",
        percent: false,
        label: "Rollback trigger (now): p95 response time",
        unit: "s",
    },
    rollbackSustainedErrorRatePct: {
        plan: 2,
        bad: "above",
        severity: "rollback",
        percent: true,
        label: "Rollback trigger (15 minutes): error rate",
        unit: "%",
    },
    rollbackSustainedP95Seconds: {
        plan: 3,
        bad: "above",
        severity: "rollback",
        percent: false,
        label: "Rollback trigger (15 minutes): p95 response time",
        unit: "s",
    },
    paymentFailurePct: {
        plan: 5,
        bad: "above",
        severity: "critical",
        percent: true,
        label: "Payment failure rate",
        unit: "%",
    },
    paymentSuccessPct: {
        plan: 95,
        bad: "below",
        severity: "critical",
        percent: true,
        label: "Payment success rate",
        unit: "%",
    },
    emailDeliveryPct: {
        plan: 98,
        bad: "below",
        severity: "warning",
        percent: true,
        label: "Email delivery rate",
        unit: "%",
    },
    dbQueryMs: {
        plan: 500,
        bad: "above",
        severity: "warning",
        percent: false,
        label: "Mean database query time",
        unit: "ms",
    },
    dbConnectionsPct: {
        plan: 90,
        bad: "above",
        severity: "critical",
        percent: true,
        label: "Database connections of the app role (% of its limit)",
        unit: "%",
    },
    cacheHitPct: {
        plan: 80,
        bad: "below",
        severity: "warning",
        rolloutNoise: true,
        percent: true,
        label: "Database cache hit rate",
        unit: "%",
    },
    cpuPct: {
        plan: 80,
        bad: "above",
        severity: "warning",
        rolloutNoise: true,
        percent: true,
        label: "CPU (% of limit)",
        unit: "%",
    },
    memoryPct: {
        plan: 90,
        bad: "above",
        severity: "warning",
        rolloutNoise: true,
        percent: true,
        label: "Memory working set (% of limit)",
        unit: "%",
    },
    diskIoPct: {
        plan: 80,
        bad: "above",
        severity: "warning",
        rolloutNoise: true,
        percent: true,
        label: "Disk I/O utilisation",
        unit: "%",
    },
    versionPaymentFailurePct: {
        plan: 5,
        bad: "above",
        severity: "rollback",
        percent: true,
        label: "Rollback trigger: payment failure rate",
        unit: "%",
    },
    autoscalerAtMaxPct: {
        plan: 100,
        bad: "above",
        severity: "warning",
        rolloutNoise: true,
        percent: true,
        label: "Autoscaler replicas (% of its maximum)",
        unit: "%",
    },
} satisfies Record<string, PlanAlert>;

export type AlertName = keyof typeof PLAN_ALERTS;
export const ALERT_NAMES = Object.keys(PLAN_ALERTS) as AlertName[];

/** The alerts on the app's own business metrics (payments, email): a service without those metrics has none of them. */
export const BUSINESS_METRIC_ALERTS = [
    "paymentFailurePct",
    "paymentSuccessPct",
    "emailDeliveryPct",
    "versionPaymentFailurePct",
] as const satisfies readonly AlertName[];
export const isBusinessMetricAlert = (alert: AlertName): boolean =>
    (BUSINESS_METRIC_ALERTS as readonly AlertName[]).includes(alert);

/** True when `threshold` lets through values the plan's number would alert on. */
export function isLooser(name: AlertName, threshold: number): boolean {
    const a: PlanAlert = PLAN_ALERTS[name];
    return a.bad === "above" ? threshold > a.plan : threshold < a.plan;
}

/**
 * The plan's escalation for one version: each tier defers to the tiers above it, and pages (or warns) only while
 * none of them alerts, so a canary at 6% errors pages "roll back now" once instead of once per tier. A tier others
 * defer to has no warning threshold: Datadog's composite `!` reads WARN like ALERT, and a warning would silence the
 * tiers below it in its own warning band. The lower tier is the warning of the one above.
 */
export const DEFERS_TO: Partial<Record<AlertName, AlertName[]>> = {
    errorRatePct: ["rollbackNowErrorRatePct", "rollbackSustainedErrorRatePct"],
    rollbackSustainedErrorRatePct: ["rollbackNowErrorRatePct"],
    p95LatencySeconds: ["rollbackNowP95Seconds", "rollbackSustainedP95Seconds"],
    rollbackSustainedP95Seconds: ["rollbackNowP95Seconds"],
};

/** The alerts another tier defers to: they may have no warning threshold. */
export const DEFERRED_TO: readonly AlertName[] = [...new Set(Object.values(DEFERS_TO).flat())];
