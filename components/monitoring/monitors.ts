import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import {
    MONITOR_TAG,
    MUTE_IN_DEPLOYMENT_WINDOW,
    NO_USERS_TAG,
    NOTIFIES_NOBODY_TAG,
    tag,
    TRAFFIC_GUARD_TAG,
} from "../../policy/contract";
import { MonitorSpec, specTags, TrafficGuard } from "./alerts";
import {
    alertMessage,
    commonTags as serviceTags,
    comparatorOf,
    guardMessage,
    guardTitle,
    monitorSubject,
    monitorTitle,
    num,
} from "./messages";
import type { ReleaseMonitoringArgs } from "./releaseMonitoring";

/**
 * On missing data a traffic guard reads zero, "too few", and a condition resolves, so a gone version's composites
 * resolve (README, Decisions: "Traffic guards alert on too little traffic").
 */
const GUARD_ON_MISSING_DATA = "default";
const CONDITION_ON_MISSING_DATA = "resolve";

/**
 * The monitors of `specs`, by resource name suffix: for a guarded spec its condition (notifying nobody), its traffic
 * guards and the composite that notifies; for the others one query alert that notifies.
 */
export function declareMonitors(
    parent: pulumi.Resource,
    name: string,
    args: ReleaseMonitoringArgs,
    specs: MonitorSpec[],
): Record<string, datadog.Monitor> {
    const monitors: Record<string, datadog.Monitor> = {};
    const commonTags = serviceTags(args.service, args.env);
    // Last, so that a version gaining or losing its users changes one tag of its monitors, not the order of all.
    const usersTag = (spec: MonitorSpec) => (spec.perVersion?.noUsers !== undefined ? [NO_USERS_TAG] : []);

    // One guard per counter, window and version (or service-wide): "alert" means too little to judge.
    const traffic: Record<string, datadog.Monitor> = {};
    const trafficMonitor = (spec: MonitorSpec, g: TrafficGuard): datadog.Monitor => {
        const v = spec.perVersion;
        const key = `${g.min === 1 ? "no" : "low"}-${g.counter}-${g.window.replace("last_", "")}${v ? `-${v.variantValue}` : ""}`;
        traffic[key] ??= new datadog.Monitor(
            `${name}-${key}`,
            {
                name: guardTitle(args.env, args.service, g, v),
                type: "query alert",
                query: `sum(${g.window}):${g.count} < ${g.min}`,
                message: guardMessage(g, v),
                monitorThresholds: { critical: String(g.min) },
                priority: "5",
                tags: [...commonTags, ...specTags(spec), TRAFFIC_GUARD_TAG, NOTIFIES_NOBODY_TAG, ...usersTag(spec)],
                onMissingData: GUARD_ON_MISSING_DATA,
                requireFullWindow: false,
            },
            { parent },
        );
        return traffic[key];
    };

    /** What each spec's monitors are called and carry. */
    const described = specs.map((spec) => {
        const { a } = spec;
        // Recover a margin away from the threshold, so that a value hovering on it does not flap.
        const recovery = a.bad === "above" ? a.critical * 0.8 : a.critical + (100 - a.critical) * 0.2;
        const op = comparatorOf(spec.query(a.critical));
        const thresholds = {
            critical: num(a.critical),
            warning: a.warning !== undefined ? num(a.warning) : undefined,
            criticalRecovery: num(recovery),
        };
        return { spec, op, title: monitorTitle(args.env, args.service, spec, op), thresholds };
    });
    // The condition (a ratio or a p95) of each guarded alert notifies nobody: its composite does.
    const conditions = new Map<MonitorSpec, datadog.Monitor>();
    for (const { spec, title, thresholds } of described.filter((d) => d.spec.guard)) {
        const condition = new datadog.Monitor(
            `${name}-${spec.suffix}-condition`,
            {
                name: `${title}: condition`,
                type: "query alert",
                query: spec.query(spec.a.critical),
                message: `Condition of "${title}", which notifies. Notifies nobody itself.`,
                monitorThresholds: thresholds,
                priority: "5",
                tags: [
                    ...commonTags,
                    ...specTags(spec),
                    tag(MONITOR_TAG.severity, spec.a.severity),
                    tag(MONITOR_TAG.planAlertCondition, spec.alert),
                    NOTIFIES_NOBODY_TAG,
                    ...usersTag(spec),
                ],
                onMissingData: CONDITION_ON_MISSING_DATA,
                requireFullWindow: false,
            },
            { parent },
        );
        conditions.set(spec, condition);
        monitors[`${spec.suffix}-condition`] = condition;
    }
    /** The conditions of the same version's alerts this one defers to. */
    const higherTiers = (spec: MonitorSpec): datadog.Monitor[] =>
        (spec.a.defersTo ?? []).flatMap((alert) => {
            const higher = specs.find((x) => x.alert === alert && x.perVersion === spec.perVersion);
            const condition = higher && conditions.get(higher);
            return condition ? [condition] : [];
        });

    for (const { spec, op, title, thresholds } of described) {
        const { a } = spec;
        const tags = [
            ...commonTags,
            ...specTags(spec),
            tag(MONITOR_TAG.severity, a.severity),
            tag(MONITOR_TAG.planAlert, spec.alert),
            ...(a.rolloutNoise ? [MUTE_IN_DEPLOYMENT_WINDOW] : []),
            ...usersTag(spec),
        ];
        const common = {
            priority: String(args.priorities[a.severity]),
            // Missing data is not a breach: a quiet canary must not page or trigger a rollback.
            notifyNoData: false,
            includeTags: true,
            // Reminders only for what pages; a version without users pages nobody and needs none.
            renotifyInterval: a.severity === "warning" || spec.perVersion?.noUsers !== undefined ? 0 : 30,
        };
        const who = monitorSubject(args.env, args.service, spec);
        const message = alertMessage(args.notify, spec, {
            value: !spec.guard,
            who,
            critical: a.critical,
            warning: a.warning,
            op,
        });
        const condition = conditions.get(spec);
        const opts = { parent, dependsOn: args.handlesFrom };
        if (!spec.guard || !condition) {
            const props = {
                name: title,
                type: "query alert",
                query: spec.query(a.critical),
                message,
                monitorThresholds: thresholds,
                tags,
                requireFullWindow: false,
                ...common,
            };
            monitors[spec.suffix] = new datadog.Monitor(`${name}-${spec.suffix}`, props, opts);
            continue;
        }
        // The composite alerts (or warns) only while the condition does, its guard does not report too little
        // traffic and no higher tier of the same version alerts (README, Decisions: "One page per incident, no
        // warning on a rollback trigger").
        const guards = [spec.guard, ...(spec.gone && spec.gone.window !== spec.guard.window ? [spec.gone] : [])].map(
            (g) => trafficMonitor(spec, g).id,
        );
        const deferred = higherTiers(spec).map((c) => c.id);
        const query = pulumi
            .all([condition.id, ...guards, ...deferred])
            .apply(([c, ...rest]) => [c, ...rest.map((id) => `!${id}`)].join(" && "));
        monitors[spec.suffix] = new datadog.Monitor(
            `${name}-${spec.suffix}`,
            { name: title, type: "composite", query, message, tags, ...common },
            opts,
        );
    }
    return { ...monitors, ...traffic };
}
