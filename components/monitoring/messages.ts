import { AlertSpec, MonitorSpec, TrafficGuard, VersionInFlight } from "./alerts";

/** errorRatePct → error-rate-pct, for resource names. */
export function kebab(name: string): string {
    return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

export function round(x: number): number {
    return Number(x.toPrecision(4));
}

/** A threshold as Datadog stores it, matching the number written in the query. */
export function num(x: number): string {
    return String(round(x));
}

/** "Error rate above 1%": the alert's label, the comparison its query makes and the threshold. */
export function alertTitle(a: AlertSpec, threshold: number, op: Comparator): string {
    const side = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" }[op];
    return `${a.label} ${side} ${num(threshold)}${a.unit === "%" ? "%" : ` ${a.unit}`}`;
}

export type Comparator = ">" | ">=" | "<" | "<=";

/** The comparison a query makes: Datadog query alerts end in `<op> <threshold>`. */
export function comparatorOf(query: string): Comparator {
    const op = /\s(>=|<=|>|<)\s\S+$/.exec(query)?.[1];
    if (op === undefined) throw new Error(`a monitor query without a comparison: ${query}`);
    return op as Comparator;
}

/**
 * A monitor's message. The pager is in the alert block of what pages, so warnings reach chat alone, and in the
 * `{{#is_recovery}}` block of every monitor that can page (README, Decisions: "The pager's recovery"). A version
 * without users alerts chat alone, with what `rollback` says of it.
 */
export function alertMessage(
    notify: { pager: string[]; chat: string[] },
    spec: MonitorSpec,
    o: { value: boolean; who: string; critical: number; warning?: number; op: Comparator },
): string {
    const { a } = spec;
    const chat = notify.chat.join(" ");
    const paging = [...notify.pager, ...notify.chat].join(" ");
    const pages = a.severity !== "warning";
    const noUsers = spec.perVersion?.noUsers;
    const automatic =
        a.severity === "rollback" && noUsers === undefined ? spec.perVersion?.autoRollbackHandle : undefined;
    const alertHandles = [pages && noUsers === undefined ? paging : chat, ...(automatic ? [automatic] : [])].join(" ");
    const recoveryHandles = pages ? paging : chat;
    const value = o.value ? `: {{value}} ${a.unit}` : "";
    const action =
        noUsers !== undefined
            ? `No rollback needed: ${noUsers}. It serves no users, so nobody is paged.`
            : !spec.rollback
              ? "This version is the one a rollback returns to, so rolling back will not help: follow the incident runbook."
              : a.severity === "rollback"
                ? automatic
                    ? `Rolling back automatically (a Pulumi Deployments update of the stack); if it has not happened, roll back now: ${spec.rollback}`
                    : `Roll back now: ${spec.rollback}`
                : a.severity === "critical"
                  ? `The on-call engineer is paged. If it started with the release, roll back: ${spec.rollback}`
                  : `Watch the deployment dashboard; if it worsens, roll back: ${spec.rollback}`;
    const w = o.warning;
    return [
        `{{#is_alert}}${alertTitle(a, o.critical, o.op)} for ${o.who}${value}.`,
        action,
        `${alertHandles}{{/is_alert}}`,
        ...(w !== undefined
            ? [
                  `{{#is_warning}}${alertTitle(a, w, o.op)} for ${o.who}${value}. Nearing the critical ${num(o.critical)}. ${chat}{{/is_warning}}`,
              ]
            : []),
        `{{#is_recovery}}Recovered: ${a.label} for ${o.who} is back within ${num(w ?? o.critical)} ${a.unit}. ${recoveryHandles}{{/is_recovery}}`,
    ].join("\n");
}

/** A traffic guard's name: what it counts too few of, for which version, in which window. */
export function guardTitle(env: string, service: string, g: TrafficGuard, v?: VersionInFlight): string {
    const of = v ? ` of ${v.variantKey}:${v.variantValue}` : "";
    return `[${env}] ${service}: ${g.min === 1 ? "no" : `fewer than ${g.min}`} ${g.counter}${of} in ${g.window.replace("last_", "")}`;
}

/** A traffic guard's message: it notifies nobody, and says why its alert state is not an incident. */
export function guardMessage(g: TrafficGuard, v?: VersionInFlight): string {
    const whose = v
        ? ` of the ${v.variantKey}:${v.variantValue} monitors`
        : ` of the service-wide ${g.counter} monitors`;
    const window = g.window.replace("last_", "");
    return `Traffic guard${whose}: "alert" means fewer than ${g.min} ${g.counter} in ${window}, too few to judge, so those monitors stay quiet. Notifies nobody.`;
}

/** A notifying monitor's name: "[prod] shop: Error rate above 1% (track:canary)". */
export function monitorTitle(env: string, service: string, spec: MonitorSpec, op: Comparator): string {
    return `[${env}] ${service}: ${alertTitle(spec.a, spec.a.critical, op)}${spec.perVersion ? ` (${spec.variantTag})` : ""}`;
}

/** Who a message is about: the service in its env, and the variant and version a per-version monitor judges. */
export function monitorSubject(env: string, service: string, spec: MonitorSpec): string {
    return `${service} in ${env}${spec.perVersion ? ` (${spec.variantTag}, ${spec.versionTag})` : ""}`;
}

/** The tags on every monitor and SLO of the service. */
export const commonTags = (service: string, env: string): string[] => [
    `service:${service}`,
    `env:${env}`,
    "managed-by:pulumi",
];
