// The schedules of Kubernetes CronJobs: validity and the longest gap between two runs.
const CRON_FIELDS: [number, number, Record<string, number>?][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [
        1,
        12,
        Object.fromEntries(
            ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"].map((m, i) => [
                m,
                i + 1,
            ]),
        ),
    ],
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
 * 2024: 21600 for "0 *\/6 * * *", 604800 for "30 4 * * 0". With both day of month and day of week restricted, either
 * matches, as in the CronJob controller (README, Decisions: "Backups watched from the kubernetes_state core check").
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
