// Checklist "Monitoring configured (Datadog)": the plan's alerts and rollback triggers as monitors, and what a downtime may mute.
import * as datadog from "@pulumi/datadog";
import * as k8s from "@pulumi/kubernetes";
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import {
    COMPONENT,
    DATADOG_LABEL,
    HPA_TAG,
    isPerVersionAlert,
    LABEL,
    MONITOR_TAG,
    NO_USERS_TAG,
    tagValue,
    VARIANT_KEYS,
} from "./contract";
import { labelValue } from "./rules";
import { ALERT_NAMES, AlertName, isBusinessMetricAlert, PLAN_ALERTS, PlanAlert } from "./planAlerts";
import { absent, k8sName } from "./resources";

/** The message with every `{{#is_alert}}…{{/is_alert}}` and `{{#is_recovery}}…{{/is_recovery}}` block removed. */
function outsideAlertAndRecoveryBlocks(message: string): string {
    return message.replace(/\{\{#(is_alert|is_recovery)\}\}[\s\S]*?\{\{\/\1\}\}/g, "");
}

/**
 * The autoscalers a monitor's query names with `horizontalpodautoscaler:<name>` or `horizontalpodautoscaler IN (…)`,
 * as patterns (a `*` is Datadog's wildcard).
 */
function watchedAutoscalers(query: string): RegExp[] {
    const names = [
        ...[...query.matchAll(new RegExp(`${HPA_TAG}:([^,}\\s]+)`, "g"))].map((x) => x[1]),
        ...[...query.matchAll(new RegExp(`${HPA_TAG} IN \\(([^)]*)\\)`, "g"))].flatMap((x) =>
            x[1].split(",").map((n) => n.trim()),
        ),
    ];
    return names.map((n) => new RegExp(`^${n.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`));
}

/** What Datadog sends on a transition: the contents of the message's `{{#block}}` blocks. */
function blocks(message: string, block: "is_alert" | "is_recovery"): string {
    return [...message.matchAll(new RegExp(`\\{\\{#${block}\\}\\}([\\s\\S]*?)\\{\\{/${block}\\}\\}`, "g"))]
        .map((x) => x[1])
        .join("\n");
}

export const monitorsForPlanAlerts: StackValidationPolicy = {
    name: "monitors-for-plan-alerts",
    description:
        'Checklist "Monitoring configured (Datadog)": a monitor for every alert of the plan, per version in flight where the plan judges a version, with a threshold no looser than the plan\'s, every critical alert and rollback trigger paging (except for a version no user reaches, which pages nobody), the pager named only inside alert and recovery blocks so that warnings never page, every incident it opens resolved by {{#is_recovery}} on any way back to OK, the autoscaler-at-maximum monitor watching exactly the autoscalers that can grow, and every backup and restore-drill CronJob watched.',
    configSchema: {
        properties: {
            // The plan's alerts this stack must have a monitor for: by default every alert of the myapp plan; a second
            // service names those of its own plan. A declared monitor is checked whether or not it is required.
            requiredAlerts: {
                type: "array",
                items: { type: "string", enum: [...ALERT_NAMES] },
                uniqueItems: true,
                default: [...ALERT_NAMES],
            },
            // The number a monitor may be no looser than, per alert; by default the plan's (PLAN_ALERTS).
            thresholds: {
                type: "object",
                properties: Object.fromEntries(ALERT_NAMES.map((a) => [a, { type: "number" }])),
                additionalProperties: false,
                default: {},
            },
            pagerHandlePrefix: { type: "string", default: "@pagerduty" },
            // A missing monitor is a violation, and the pack cannot tell a service with no payments or email from
            // monitors forgotten: only this stack's pack config can say the business-metric alerts do not apply.
            businessMetrics: { type: "boolean", default: true },
        },
    },
    validateStack: (args, report) => {
        const { requiredAlerts, thresholds, pagerHandlePrefix, businessMetrics } = args.getConfig<{
            requiredAlerts: AlertName[];
            thresholds: Partial<Record<AlertName, number>>;
            pagerHandlePrefix: string;
            businessMetrics: boolean;
        }>();
        const required = (alert: AlertName) =>
            requiredAlerts.includes(alert) && (businessMetrics || !isBusinessMetricAlert(alert));
        const monitors = args.resources.filter((r) => r.isType(datadog.Monitor));
        const tag = (m: PolicyResource, key: string): string | undefined => tagValue(m.props.tags, key);
        // Unified service tagging: the version tag Datadog gives a pod is its tags.datadoghq.com/version label, and
        // only that label's (app.kubernetes.io/version becomes kube_app_version, which no monitor queries).
        const deployments = args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment));
        for (const d of deployments.filter((x) =>
            absent(x.props, "spec", "template", "metadata", "labels", DATADOG_LABEL.version),
        )) {
            report(
                `Deployment ${k8sName(d) ?? d.name} has no ${DATADOG_LABEL.version} label on its pods: Datadog cannot tag its traffic with its version, so no monitor judges it`,
                d.urn,
            );
        }
        const versions = [
            ...new Set(
                deployments
                    .map((d) => d.props.spec?.template?.metadata?.labels?.[DATADOG_LABEL.version])
                    .filter((v) => v !== undefined),
            ),
        ];
        // An autoscaler with minReplicas = maxReplicas sits at its maximum from the start: watching it alerts for good.
        const hpas = args.resources
            .filter(
                (r) =>
                    r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler) &&
                    typeof k8sName(r) === "string" &&
                    typeof r.props.spec?.minReplicas === "number" &&
                    typeof r.props.spec?.maxReplicas === "number",
            )
            .map((r) => ({
                name: k8sName(r)!,
                min: r.props.spec.minReplicas as number,
                max: r.props.spec.maxReplicas as number,
            }));
        const atMax = monitors.filter(
            (m) => tag(m, MONITOR_TAG.planAlert) === "autoscalerAtMaxPct" && typeof m.props.query === "string",
        );
        for (const h of hpas) {
            const watchers = atMax.filter((m) => watchedAutoscalers(m.props.query).some((p) => p.test(h.name)));
            if (h.min < h.max && watchers.length === 0 && required("autoscalerAtMaxPct"))
                report(
                    `no autoscalerAtMaxPct monitor watches autoscaler ${h.name}, which can grow from ${h.min} to ${h.max}`,
                );
            for (const m of h.min < h.max ? [] : watchers) {
                report(
                    `monitor ${m.props.name ?? m.name} watches autoscaler ${h.name}, pinned at ${h.max} (minReplicas = maxReplicas): it alerts for good`,
                    m.urn,
                );
            }
        }
        for (const alert of ALERT_NAMES) {
            const plan: PlanAlert = PLAN_ALERTS[alert];
            const limit = thresholds[alert] ?? plan.plan;
            const found = monitors.filter((m) => tag(m, MONITOR_TAG.planAlert) === alert);
            if (found.length === 0) {
                // Without an autoscaler that can grow there is nothing to pin; the loop above reports a missing watcher.
                if (alert !== "autoscalerAtMaxPct" && required(alert))
                    report(`no monitor for the plan's alert ${alert} (${plan.label})`);
                continue;
            }
            if (isPerVersionAlert(alert)) {
                for (const v of versions) {
                    if (
                        !found.some(
                            (m) =>
                                tag(m, MONITOR_TAG.version) !== undefined &&
                                labelValue(tag(m, MONITOR_TAG.version)!) === v,
                        )
                    )
                        report(`no ${alert} monitor judges version ${v} on its own traffic`);
                }
            }
            // A guarded alert's threshold sits on its condition monitor; it is reported on the composite that notifies.
            for (const m of monitors.filter(
                (x) => tag(x, MONITOR_TAG.planAlert) === alert || tag(x, MONITOR_TAG.planAlertCondition) === alert,
            )) {
                const critical = m.props.monitorThresholds?.critical;
                if (critical === undefined) continue;
                const value = Number(critical);
                const looser = plan.bad === "above" ? value > limit : value < limit;
                const notifier =
                    tag(m, MONITOR_TAG.planAlert) === alert
                        ? m
                        : (found.find((f) => tag(f, MONITOR_TAG.version) === tag(m, MONITOR_TAG.version)) ?? m);
                if (looser)
                    report(
                        `monitor ${notifier.props.name ?? notifier.name} alerts at ${value}, looser than the plan's ${limit}`,
                        notifier.urn,
                    );
            }
            for (const m of found) {
                // Downtimes and the deployment plan tell rollback triggers, pages and versions apart by these tags.
                if (tag(m, MONITOR_TAG.severity) !== plan.severity) {
                    report(
                        `monitor ${m.props.name ?? m.name} is tagged ${MONITOR_TAG.planAlert}:${alert} but not ${MONITOR_TAG.severity}:${plan.severity}`,
                        m.urn,
                    );
                }
                if (isPerVersionAlert(alert) && VARIANT_KEYS.every((k) => tag(m, k) === undefined)) {
                    report(
                        `monitor ${m.props.name ?? m.name} judges one version in flight but has no ${VARIANT_KEYS.map((k) => `${k}:`).join(" or ")} tag`,
                        m.urn,
                    );
                }
                const message = m.props.message;
                if (typeof message !== "string") continue;
                const noUsers = (m.props.tags ?? []).includes(NO_USERS_TAG);
                const pagesOnAlert = blocks(message, "is_alert").includes(pagerHandlePrefix);
                if (plan.severity !== "warning" && !noUsers && !pagesOnAlert) {
                    report(
                        `monitor ${m.props.name ?? m.name} is a ${plan.severity} alert but pages nobody (${pagerHandlePrefix}…)`,
                        m.urn,
                    );
                }
                if (noUsers && pagesOnAlert)
                    report(
                        `monitor ${m.props.name ?? m.name} judges a version no user reaches (${NO_USERS_TAG}) but pages`,
                        m.urn,
                    );
                // An incident stays open until a recovery reaches the pager. {{#is_alert_recovery}} renders on ALERT -> OK
                // only, so ALERT -> WARN -> OK needs {{#is_recovery}}; a version that lost its users keeps it too.
                if (plan.severity !== "warning" && !blocks(message, "is_recovery").includes(pagerHandlePrefix)) {
                    report(
                        `monitor ${m.props.name ?? m.name} can page but does not name the pager in {{#is_recovery}}: an incident it opens stays open when it recovers through a warning`,
                        m.urn,
                    );
                }
                if (outsideAlertAndRecoveryBlocks(message).includes(pagerHandlePrefix)) {
                    report(
                        `monitor ${m.props.name ?? m.name} names the pager outside {{#is_alert}} and {{#is_recovery}}: its warnings would page`,
                        m.urn,
                    );
                }
            }
        }
        for (const m of monitors.filter(
            (x) => tag(x, MONITOR_TAG.planAlert) === undefined && tag(x, MONITOR_TAG.scheduledJob) === undefined,
        )) {
            if (typeof m.props.message === "string" && m.props.message.includes(pagerHandlePrefix))
                report(`monitor ${m.props.name ?? m.name} is not a plan alert but pages`, m.urn);
        }
        // A backup or drill that fails at 3 a.m. is found at the next restore unless a monitor watches its CronJob.
        const cronJobs = args.resources.filter(
            (r) =>
                r.isType(k8s.batch.v1.CronJob) &&
                [COMPONENT.backup, COMPONENT.restoreDrill].includes(r.props.metadata?.labels?.[LABEL.component]),
        );
        for (const c of cronJobs.filter((x) => typeof k8sName(x) === "string")) {
            if (!monitors.some((m) => tag(m, MONITOR_TAG.scheduledJob) === k8sName(c)))
                report(`no monitor watches CronJob ${k8sName(c)}: a failed run would go unnoticed`, c.urn);
        }
    },
};

export const downtimeNeverMutesRollbackTriggers: StackValidationPolicy = {
    name: "downtime-never-mutes-rollback-triggers",
    description:
        'Checklist "Monitoring configured": a deployment-window downtime mutes rollout noise only, never a rollback trigger, a critical page or a monitor that judges a version in flight (the plan checks those during the window).',
    validateStack: (args, report) => {
        const monitors = args.resources.filter((r) => r.isType(datadog.Monitor));
        // Condition and traffic monitors notify nobody, so muting them mutes nothing. A plan alert is live by what the
        // plan says of it, whatever tags it lacks: a rollback trigger or critical page, or an alert that judges a version.
        const live = (tags: unknown[]) => {
            const alert = tagValue(tags, MONITOR_TAG.planAlert);
            if (alert === undefined) return false;
            const severities = [
                tagValue(tags, MONITOR_TAG.severity),
                (PLAN_ALERTS as Record<string, PlanAlert | undefined>)[alert]?.severity,
            ];
            return (
                severities.some((s) => s === "rollback" || s === "critical") ||
                isPerVersionAlert(alert) ||
                VARIANT_KEYS.some((k) => tagValue(tags, k) !== undefined)
            );
        };
        for (const d of args.resources.filter((r) => r.isType(datadog.DowntimeSchedule))) {
            const identifier = d.props.monitorIdentifier;
            if (identifier === undefined) continue;
            if (identifier.monitorId !== undefined) {
                const target = monitors.find((m) => m.props.id === identifier.monitorId);
                if (target && live(target.props.tags ?? []))
                    report(`downtime ${d.name} mutes ${target.props.name}`, d.urn);
                continue;
            }
            const wanted: string[] = identifier.monitorTags ?? [];
            if (wanted.length === 0 || wanted.includes("*")) {
                report(`downtime ${d.name} mutes every monitor in its scope`, d.urn);
                continue;
            }
            for (const m of monitors) {
                const tags: string[] = m.props.tags ?? [];
                if (wanted.every((t) => tags.includes(t)) && live(tags))
                    report(`downtime ${d.name} mutes ${m.props.name ?? m.name}`, d.urn);
            }
        }
    },
};
