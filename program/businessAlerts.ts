// myapp's own alerts on its business metrics (payments, email): custom alerts of ReleaseMonitoring, written here
// because the metrics and what counts as enough payments to judge are the app's, not the library's.
import { AlertSpec } from "../components/monitoring";
import { ProgramConfig } from "../lib/config";
import { BUSINESS_METRIC_ALERTS } from "../policy/planAlerts";

type BusinessMetricAlert = (typeof BUSINESS_METRIC_ALERTS)[number];
type Monitoring = NonNullable<ProgramConfig["monitoring"]>;

/**
 * What each business-metric alert measures, from `monitoring.metrics` (count metrics). A payment ratio over a handful
 * of payments says nothing (one failure in 8 at 3 a.m. is 12.5%): per version and service-wide, it needs
 * `trafficGuard.minPayments` payments in its window.
 */
export function businessAlertQueries(
    metrics: NonNullable<Monitoring["metrics"]>,
    minPayments: number,
): Record<BusinessMetricAlert, Pick<AlertSpec, "query" | "perVersion" | "guard">> {
    const payments = { counter: "payments", metric: metrics.paymentTotal, min: minPayments };
    return {
        versionPaymentFailurePct: {
            perVersion: true,
            query: {
                ratio: { numerator: metrics.paymentFailed, denominator: metrics.paymentTotal },
                window: "last_5m",
            },
            guard: payments,
        },
        paymentFailurePct: {
            query: {
                ratio: { numerator: metrics.paymentFailed, denominator: metrics.paymentTotal },
                window: "last_5m",
            },
            guard: payments,
        },
        paymentSuccessPct: {
            query: {
                ratio: { numerator: metrics.paymentSucceeded, denominator: metrics.paymentTotal },
                window: "last_15m",
            },
            guard: payments,
        },
        emailDeliveryPct: {
            query: { ratio: { numerator: metrics.emailDelivered, denominator: metrics.emailSent }, window: "last_30m" },
        },
    };
}
