// The rules more than one layer applies: the config layer turns a broken one into an error naming the stack key,
// the components into an error naming the resource. Each is written once, here, or, when the policy pack applies it
// too, in policy/rules.ts: the pack is published from its own folder and can import nothing outside it.
export { imageRef, isPinnedVersion, labelValue, splitImageRef } from "../policy/rules";

const CRON_FIELDS: [number, number, Record<string, number>?][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12, Object.fromEntries(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"].map((m, i) => [m, i + 1]))],
    [0, 7, Object.fromEntries(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"].map((d, i) => [d, i]))],
];

/**
 * True for a schedule in the dialect of Kubernetes CronJobs: five fields of numbers, names, ranges, steps and lists,
 * or a macro such as @daily. Written here because general cron libraries accept forms (seconds, L, #) that the
 * CronJob controller rejects.
 */
export function isKubernetesCron(expr: string): boolean {
    if (/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(expr)) return true;
    const fields = expr.trim().split(/\s+/);
    if (fields.length !== 5) return false;
    return fields.every((field, i) => {
        const [lo, hi, names] = CRON_FIELDS[i];
        const value = (s: string) => names?.[s.toUpperCase()] ?? (/^\d+$/.test(s) ? Number(s) : NaN);
        return field.split(",").every((item) => {
            const m = /^(?:\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
            if (!m) return false;
            if (m[3] !== undefined && Number(m[3]) < 1) return false;
            if (m[1] === undefined) return true;
            const from = value(m[1]);
            const to = m[2] === undefined ? from : value(m[2]);
            return from >= lo && to <= hi && from <= to;
        });
    });
}

const CRON_MACROS: Record<string, string> = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
};

/** The values one field of a valid schedule (isKubernetesCron) allows; day of week 7 is Sunday, 0. */
function cronValues(field: string, i: number): Set<number> {
    const [lo, hi, names] = CRON_FIELDS[i];
    const value = (s: string) => names?.[s.toUpperCase()] ?? Number(s);
    const out = new Set<number>();
    for (const item of field.split(",")) {
        const m = /^(?:\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
        if (!m) throw new Error(`not a valid schedule field: ${field}`);
        const from = m[1] === undefined ? lo : value(m[1]);
        const to = m[1] === undefined ? hi : m[2] === undefined ? (m[3] === undefined ? from : hi) : value(m[2]);
        for (let v = from; v <= to; v += Number(m[3] ?? 1)) out.add(i === 4 && v === 7 ? 0 : v);
    }
    return out;
}

/**
 * The longest time, in seconds, between two runs of a valid CronJob schedule (UTC), over the eight years from
 * 2024: 21600 for "0 *\/6 * * *", 604800 for "30 4 * * 0". Day of month and day of week restrict together only when
 * both are restricted, and then either matches (the cron semantics the CronJob controller uses, robfig/cron).
 */
export function cronLongestGapSeconds(expr: string): number {
    const fields = (CRON_MACROS[expr] ?? expr).trim().split(/\s+/);
    const [minutes, hours, days, months, weekdays] = fields.map((f, i) => cronValues(f, i));
    const dayStar = fields[2].startsWith("*");
    const weekdayStar = fields[4].startsWith("*");
    let last: number | undefined;
    let longest = 0;
    const start = Date.UTC(2024, 0, 1);
    for (let day = 0; day < 8 * 366; day++) {
        const d = new Date(start + day * 86_400_000);
        if (!months.has(d.getUTCMonth() + 1)) continue;
        const byDay = days.has(d.getUTCDate());
        const byWeekday = weekdays.has(d.getUTCDay());
        if (!(dayStar || weekdayStar ? byDay && byWeekday : byDay || byWeekday)) continue;
        for (const h of [...hours].sort((a, b) => a - b)) {
            for (const m of [...minutes].sort((a, b) => a - b)) {
                const t = d.getTime() + (h * 60 + m) * 60_000;
                if (last !== undefined) longest = Math.max(longest, t - last);
                last = t;
            }
        }
    }
    return longest / 1000;
}

/** The migrations a down run of `steps` rolls back, newest first: the newest of the versions a release ships. */
export function migrationsToRollBack(versions: string[], steps: number): string[] {
    return [...versions].sort().reverse().slice(0, steps);
}

/** An S3 key prefix as the backup identity's policy scopes it: segments without leading or trailing slash. */
export function isS3Prefix(prefix: string): boolean {
    return /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/.test(prefix);
}

/** Days after which a dump moves to STANDARD_IA, then GLACIER, then expires; and an optional object lock. */
export interface DumpLifecycle {
    infrequentAccessAfterDays: number;
    glacierAfterDays: number;
    retentionDays: number;
    objectLockDays?: number;
}

/**
 * What S3 refuses in a dump lifecycle, by the setting at fault: STANDARD_IA no sooner than 30 days, GLACIER at least
 * 30 days after that (an object stays in STANDARD_IA at least 30 days), expiry after GLACIER, and a lock shorter
 * than the retention.
 */
export function lifecycleProblems(l: DumpLifecycle): Partial<Record<keyof DumpLifecycle, string>> {
    const problems: Partial<Record<keyof DumpLifecycle, string>> = {};
    if (l.infrequentAccessAfterDays < 30) problems.infrequentAccessAfterDays = "must be at least 30: S3 moves nothing to STANDARD_IA sooner";
    if (!(l.glacierAfterDays >= l.infrequentAccessAfterDays + 30 && l.retentionDays > l.glacierAfterDays)) {
        problems.glacierAfterDays = `must be at least 30 days after infrequentAccessAfterDays (${l.infrequentAccessAfterDays}) and before retentionDays (${l.retentionDays})`;
    }
    if (l.objectLockDays !== undefined && l.objectLockDays >= l.retentionDays) problems.objectLockDays = `must be shorter than retentionDays (${l.retentionDays})`;
    return problems;
}

/** A traffic weight: a whole percentage. */
export function isWeight(weight: number): boolean {
    return Number.isInteger(weight) && weight >= 0 && weight <= 100;
}

/**
 * Replicas of each track when the weight is the share of the pods (the replicas router), or undefined when
 * `total` pods cannot carry that share exactly.
 */
export function replicaSplit(total: number, weight: number): { stable: number; canary: number } | undefined {
    const canary = (total * weight) / 100;
    return Number.isInteger(canary) ? { stable: total - canary, canary } : undefined;
}

/** An AWS Backup schedule: `cron(...)` with six fields. */
export function isAwsCron(expr: string): boolean {
    return /^cron\(\S+( \S+){5}\)$/.test(expr);
}

/** libpq modes that check the server's certificate, and so need the CA bundle it chains to. */
export function verifiesServer(sslmode: string): boolean {
    return sslmode === "verify-ca" || sslmode === "verify-full";
}

const BYTE_UNITS: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** The bytes of a Kubernetes byte quantity such as "20Gi" or "512M", or undefined for anything else ("500m" is a CPU quantity). */
export function bytesOf(quantity: string): number | undefined {
    const m = /^([0-9]+(?:\.[0-9]+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity);
    return m ? Number(m[1]) * BYTE_UNITS[m[2] ?? ""] : undefined;
}

/**
 * Whether a rolling update can progress: maxSurge and maxUnavailable may not both be zero, as a count or a
 * percentage (kubernetes/kubernetes pkg/apis/apps/validation ValidateRollingUpdateDeployment refuses it).
 */
export function rolloutCanProgress(maxSurge: number | string, maxUnavailable: number | string): boolean {
    const zero = (v: number | string) => Number.parseInt(String(v), 10) === 0;
    return !(zero(maxSurge) && zero(maxUnavailable));
}

/** Whether a warning threshold sits on the quiet side of the critical one, as Datadog requires of a monitor. */
export function warningBeforeCritical(bad: "above" | "below", warning: number, critical: number): boolean {
    return bad === "above" ? warning < critical : warning > critical;
}
