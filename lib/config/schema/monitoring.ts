import { z } from "zod";
import { ALERT_NAMES, AlertName, PLAN_ALERTS } from "../../../policy/planAlerts";

// The monitors, SLOs and dashboard the program declares in Datadog (components' ReleaseMonitoring).

const handle = z
    .string()
    .regex(
        /^@[A-Za-z0-9][A-Za-z0-9_.+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$/,
        'must be a Datadog notification handle such as "@pagerduty-myapp", "@slack-engineering" or "@oncall@example.com"',
    );
const metricName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.]*$/, "must be a Datadog metric name such as payment.failed");
const tagScope = z
    .string()
    .regex(
        /^[A-Za-z][A-Za-z0-9_.:/-]*(,[A-Za-z][A-Za-z0-9_.:/-]*)*$/,
        'must be comma-separated Datadog tags such as "env:production,db:myapp"',
    );
const priority = z.number().int().min(1, "must be a priority from 1 to 5").max(5, "must be a priority from 1 to 5");
const threshold = z.number({ message: "must be a positive number" }).positive("must be a positive number");
const perAlert = <T extends z.ZodType>(schema: T) =>
    z.strictObject(
        Object.fromEntries(ALERT_NAMES.map((n) => [n, schema.optional()])) as Record<AlertName, z.ZodOptional<T>>,
    );
/** An IANA time zone as the runtime's time zone database knows it, so a mistyped one is refused offline too. */
const timeZone = z.string().refine(
    (tz) => {
        try {
            new Intl.DateTimeFormat("en-US", { timeZone: tz });
            return true;
        } catch {
            return false;
        }
    },
    { message: 'must be an IANA time zone such as "UTC" or "Europe/Paris"' },
);
/**
 * A one-time downtime's start or end. The Datadog provider accepts only `YYYY-MM-DDTHH:MM:SSZ`
 * (DataDog/terraform-provider-datadog datadog/fwprovider/resource_datadog_downtime_schedule.go:
 * TimeFormatValidator("2006-01-02T15:04:05Z")), so an offset is converted to UTC here and fractions of a second refused.
 */
const downtimeTime = z.iso
    .datetime({
        offset: true,
        precision: 0,
        message:
            "must be an ISO 8601 date-time in whole seconds such as 2026-11-27T14:00:00Z or 2026-11-27T15:00:00+01:00",
    })
    .transform((t) => new Date(t).toISOString().replace(".000Z", "Z"));

const monitoringSchema = z.strictObject({
    /** APM service name; defaults to release.appName. */
    service: z
        .string()
        .regex(/^[a-z][a-z0-9_.-]*$/, "must be a Datadog service name")
        .optional(),
    /** Datadog env tag; defaults to the stack name. */
    env: z
        .string()
        .regex(/^[a-z][a-z0-9_.-]*$/, "must be a Datadog env tag value")
        .optional(),
    /**
     * The operation name of the spans the app's tracer opens for inbound requests: every per-version monitor, both
     * SLOs and the dashboard count and time it. No default: each tracer names it differently (README: span names per
     * tracer), and the outbound name of one is the inbound name of none.
     */
    span: z
        .string({
            message:
                "is required: the span name the app's tracer gives inbound HTTP requests, such as web.request for dd-trace-js (README: span names per tracer)",
        })
        .regex(/^[a-z0-9_.-]+$/, "must be an APM span name such as web.request"),
    /** The kube_cluster_name tag the Datadog agent puts on this cluster's metrics (DD_CLUSTER_NAME). */
    kubeClusterName: z
        .string({
            message:
                "is required: the kube_cluster_name tag the Datadog agent gives this cluster's metrics (its DD_CLUSTER_NAME)",
        })
        .regex(
            /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
            "must be a cluster name as the Datadog agent tags it (lower-case letters, digits, dots and dashes)",
        ),
    notify: z.strictObject({
        pager: z.array(handle).min(1, "must name at least one handle"),
        chat: z.array(handle).min(1, "must name at least one handle"),
    }),
    priorities: z
        .strictObject({ rollback: priority.default(1), critical: priority.default(2), warning: priority.default(3) })
        .default({ rollback: 1, critical: 2, warning: 3 }),
    thresholds: perAlert(threshold).default({}),
    warnings: perAlert(threshold).default({}),
    looserThresholdReasons: z
        .partialRecord(z.enum(ALERT_NAMES), z.string().min(10, "must give a reason of at least 10 characters"))
        .default({}),
    /** The app's business metrics; without them, no payment or email alert is declared. */
    metrics: z
        .strictObject({
            paymentTotal: metricName,
            paymentFailed: metricName,
            paymentSucceeded: metricName,
            emailSent: metricName,
            emailDelivered: metricName,
        })
        .optional(),
    databaseScope: tagScope,
    hostScope: tagScope.optional(),
    slo: z
        .strictObject({
            availabilityTarget: z.number().min(90).max(99.999).default(99.9),
            latencyTarget: z.number().min(90).max(99.999).default(99),
            timeframe: z.enum(["7d", "30d", "90d"]).default("30d"),
        })
        .default({ availabilityTarget: 99.9, latencyTarget: 99, timeframe: "30d" }),
    /** Start and end in UTC; timezone only sets how Datadog displays them. */
    deploymentWindow: z
        .strictObject({ start: downtimeTime, end: downtimeTime, timezone: timeZone.default("UTC") })
        .optional(),
    /**
     * What a per-version ratio monitor needs before it may alert: requests (and payments) in its window, and the
     * resources that are not user traffic (Datadog's resource_name tag value, wildcards allowed).
     */
    trafficGuard: z
        .strictObject({
            minRequests: z.number().int().min(1, "must be at least 1").default(100),
            minPayments: z.number().int().min(1, "must be at least 1").default(20),
            excludeResources: z
                .array(
                    z
                        .string()
                        .regex(
                            /^[a-z0-9_./*-]+$/,
                            'must be a Datadog resource_name tag value such as "get_/health/*" (lower case, * as wildcard)',
                        ),
                )
                .default(["get_/health/*"]),
        })
        .default({ minRequests: 100, minPayments: 20, excludeResources: ["get_/health/*"] }),
});

// Every alert's thresholds, resolved once: the plan's number unless set. Warnings only where config sets them; one on
// a tier the others defer to is kept, for monitoringProblems to refuse.
export const resolvedMonitoringSchema = monitoringSchema.transform((m) => {
    const thresholds = Object.fromEntries(
        ALERT_NAMES.map((n) => [n, m.thresholds[n] ?? PLAN_ALERTS[n].plan]),
    ) as Record<AlertName, number>;
    return { ...m, thresholds, warnings: m.warnings };
});
