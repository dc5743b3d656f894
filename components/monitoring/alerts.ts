import { PerVersionAlert, Severity, VariantKey } from "../../policy/contract";

/** A version in flight and what distinguishes its pods: track stable/canary or color blue/green. */
export interface VersionInFlight {
    /** Image version. */
    version: string;
    /** Tag key that tells it apart: the pods' variant label, "track" or "color". */
    variantKey: VariantKey;
    /** Tag value: stable, canary, blue or green. */
    variantValue: string;
    /** The command that takes traffic off this version, quoted in its monitors' messages; none for the version a rollback returns to. */
    rollbackCommand?: string;
    /**
     * Set for a version no user reaches (the color behind the preview host, a canary at weight 0): why, as
     * `pulumi stack output rollback` words that state. Its monitors then tell chat and never page, advise no rollback,
     * and their plumbing is tagged `users:none` for the runbook's go/no-go check to leave out.
     */
    noUsers?: string;
    /**
     * A handle that rolls back without a person, such as `@webhook-myapp-production-auto-rollback`
     * (AutoRollback.handle): this version's rollback triggers notify it when they alert, unless it has no users.
     */
    autoRollbackHandle?: string;
}

/** The per-version alerts whose queries the library writes: the contract's, but for the app's own payment metric. */
export const BUILT_IN_PER_VERSION_ALERTS = [
    "errorRatePct",
    "p95LatencySeconds",
    "rollbackNowErrorRatePct",
    "rollbackNowP95Seconds",
    "rollbackSustainedErrorRatePct",
    "rollbackSustainedP95Seconds",
] as const satisfies readonly PerVersionAlert[];

/** The service-wide alerts whose queries the library writes. */
export const BUILT_IN_SERVICE_ALERTS = [
    "dbQueryMs",
    "dbConnectionsPct",
    "cacheHitPct",
    "cpuPct",
    "memoryPct",
    "diskIoPct",
    "autoscalerAtMaxPct",
] as const;

/**
 * An alert the library knows how to query. Its name, like any alert's, is the `plan-alert` tag value the policy pack
 * and the deployment plan read.
 */
export type BuiltInAlert = (typeof BUILT_IN_PER_VERSION_ALERTS)[number] | (typeof BUILT_IN_SERVICE_ALERTS)[number];

export const isBuiltInAlert = (name: string): name is BuiltInAlert =>
    (BUILT_IN_PER_VERSION_ALERTS as readonly string[]).includes(name) ||
    (BUILT_IN_SERVICE_ALERTS as readonly string[]).includes(name);

/**
 * What a custom alert measures, in Datadog's monitor query syntax without the final comparison, which the library
 * appends from `bad` and the threshold. `$scope` stands for the alert's tag scope: `service:…,env:…`, and
 * `,version:…` on a per-version alert.
 */
export type AlertQuery =
    /** A query written out, such as `avg(last_10m):avg:queue.depth{$scope}`. */
    | {
          /** The whole query, with `$scope` where the tag scope goes, and no comparison. */
          query: string;
      }
    /** A percentage of two count metrics: `sum(window):sum:numerator{$scope}.as_count() / sum:denominator{…}.as_count() * 100`. */
    | {
          /** The two count metrics. */
          ratio: {
              /** The metric counted, e.g. "orders.failed". */
              numerator: string;
              /** The metric it is a percentage of, e.g. "orders.placed". */
              denominator: string;
          };
          /** Datadog's evaluation window, e.g. "last_10m". */
          window: string;
      }
    /** One metric: `timeAggregation(window):spaceAggregation:metric{$scope}`. */
    | {
          /** The metric's name. */
          metric: string;
          /** How the window's points are combined. */
          timeAggregation: "avg" | "sum" | "min" | "max";
          /** How the scope's series are combined; avg when left out. */
          spaceAggregation?: "avg" | "sum" | "min" | "max";
          /** Datadog's evaluation window, e.g. "last_10m". */
          window: string;
      };

/** How much a custom alert must count in its window before it may alert, like the per-version request guard. */
export interface CustomTrafficGuard {
    /** What is counted, as the guard's name and message say it, e.g. "payments". */
    counter: string;
    /** Count metric, summed over the alert's scope with `.as_count()`. */
    metric: string;
    /** The least count that makes the alert's value worth judging. */
    min: number;
    /** Window of the count, such as "last_5m"; by default the query's. */
    window?: string;
}

/** One alert to declare: its thresholds, how it reads and how it notifies. */
export interface AlertSpec {
    /** Critical threshold, in `unit`. */
    critical: number;
    /** Warning threshold, on the quiet side of `critical`; without it the alert has no warning tier. */
    warning?: number;
    /** "above": a value over the threshold is bad; "below": a value under it is. */
    bad: "above" | "below";
    /** rollback: page and say roll back; critical: page; warning: chat only. */
    severity: Severity;
    /** Noise while pods roll (warm-up, the autoscaler reacting): muted in the deployment window. */
    rolloutNoise?: boolean;
    /** What is measured, as titles and messages name it, e.g. "Error rate". */
    label: string;
    /** Unit the thresholds are written in: "%" or a unit such as "s" or "ms". */
    unit: string;
    /**
     * Per-version alerts of the same version this one defers to: it alerts only while none of them does, so one
     * incident pages once, from its highest tier. Those alerts may have no warning threshold.
     */
    defersTo?: string[];
    /**
     * What a custom alert measures: required for a name that is not a BuiltInAlert, refused for one that is (the
     * library writes those queries itself).
     */
    query?: AlertQuery;
    /** A custom alert judged per version in flight, on that version's own scope; by default service-wide. */
    perVersion?: boolean;
    /**
     * A custom alert's traffic guard. A per-version alert without one needs `trafficGuard.minRequests` requests of its
     * version in the query's window.
     */
    guard?: CustomTrafficGuard;
}

/** Whether an alert is judged per version in flight: a built-in per-version one, or a custom one that says so. */
export const isPerVersion = (alert: string, a: AlertSpec): boolean =>
    (BUILT_IN_PER_VERSION_ALERTS as readonly string[]).includes(alert) ||
    (!isBuiltInAlert(alert) && a.perVersion === true);

/** Whether a warning threshold sits on the quiet side of the critical one, as Datadog requires of a monitor. */
export function warningBeforeCritical(bad: "above" | "below", warning: number, critical: number): boolean {
    return bad === "above" ? warning < critical : warning > critical;
}

/** A ratio or p95 may alert only once its window holds at least `min` of what `count` counts. */
export interface TrafficGuard {
    /** What the count counts, as messages name it: "requests". */
    counter: string;
    /** Datadog's evaluation window, e.g. "last_5m". */
    window: string;
    /** The least count that lets the guarded monitor alert. */
    min: number;
    /** The count query, without aggregation window. */
    count: string;
}

/** One monitor to declare (with its condition and guards, when guarded), as the queries module resolves it. */
export interface MonitorSpec {
    /** The alert's name, as AlertSpecs are keyed. */
    alert: string;
    /** The alert. */
    a: AlertSpec;
    /** The monitor's query, comparing against a threshold. */
    query: (threshold: number) => string;
    /** `version:<label value>`: the version judged, or the release's on a service-wide monitor. */
    versionTag: string;
    /** `track:canary` or `color:blue`: the variant a per-version monitor judges. */
    variantTag?: string;
    /** How to roll back, already phrased; undefined when rolling back cannot help. */
    rollback?: string;
    /** The monitor's resource name after the component's: the alert in kebab case, then `-<variant>` on a per-version monitor. */
    suffix: string;
    /** Set on per-version monitors: their alert resolves on its own once the version stops reporting. */
    perVersion?: VersionInFlight;
    /** The alert goes through a composite that also needs enough traffic: per-version alerts, and guarded service-wide ones. */
    guard?: TrafficGuard;
    /**
     * Per-version alerts: the version's requests over the last five minutes. Once they are none, every composite of
     * the version resolves together, instead of a longer window's alert firing after the shorter one it deferred to.
     */
    gone?: TrafficGuard;
}

/** The version and variant tags of a spec, in the order its monitors carry them. */
export const specTags = (spec: MonitorSpec): string[] => [
    spec.versionTag,
    ...(spec.variantTag ? [spec.variantTag] : []),
];
