import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { LibraryComponent } from "../componentType";
import { cronLongestGapSeconds } from "../kubernetes/cron";
import { MONITOR_TAG, Severity, tag } from "../../policy/contract";

/** A CronJob to watch, as it is declared. */
export interface WatchedCronJob {
    /** The CronJob's name: the kube_cronjob tag of its metrics. */
    name: string;
    /** Its namespace. */
    namespace: string;
    /** Its schedule (UTC); the longest gap between two runs is its interval. */
    schedule: string;
    /** What it does, as messages name it: "database backup", "restore drill". */
    what: string;
    /** The Datadog service its pods carry (tags.datadoghq.com/service), which its monitors are tagged with. */
    service: string;
    /** Page when no run has succeeded for twice the interval (backups); otherwise a failed run is told to chat only. */
    pageWhenStale: boolean;
}

export interface ScheduledJobMonitoringArgs {
    /** Datadog env tag. */
    env: string;
    /** The kube_cluster_name tag of the cluster's metrics. */
    kubeClusterName: string;
    /** The CronJobs to watch. */
    cronJobs: WatchedCronJob[];
    /** Handles paged when backups have stopped, and handles told of every failed run. */
    notify: {
        /** Datadog handles paged when backups have stopped. */
        pager: string[];
        /** Datadog handles told of every failed run. */
        chat: string[];
    };
    /** Datadog priority (1 highest) per severity. */
    priorities: Record<Severity, number>;
}

/**
 * Datadog monitors for scheduled jobs: a failed run, and for jobs that must not stop, no run scheduled or succeeded
 * within twice the interval (README, Decisions: "Backups watched from the kubernetes_state core check").
 */
export class ScheduledJobMonitoring extends LibraryComponent {
    /** Every monitor, by resource name suffix. */
    public readonly monitors: Record<string, datadog.Monitor> = {};

    constructor(name: string, args: ScheduledJobMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ScheduledJobMonitoring", name, opts);
        if (args.notify.pager.length === 0 || args.notify.chat.length === 0) {
            throw new pulumi.ResourceError("notify needs at least one pager and one chat handle", this);
        }
        const chat = args.notify.chat.join(" ");
        const paging = [...args.notify.pager, ...args.notify.chat].join(" ");
        for (const job of args.cronJobs) {
            const interval = cronLongestGapSeconds(job.schedule);
            const hours = (s: number) => `${Number((s / 3600).toPrecision(4))} h`;
            const scope = [
                `kube_cluster_name:${args.kubeClusterName}`,
                `kube_namespace:${job.namespace}`,
                `kube_cronjob:${job.name}`,
            ];
            const severity: Severity = job.pageWhenStale ? "critical" : "warning";
            const tags = [
                `service:${job.service}`,
                `env:${args.env}`,
                "managed-by:pulumi",
                tag(MONITOR_TAG.scheduledJob, job.name),
                tag(MONITOR_TAG.severity, severity),
            ];
            const who = `CronJob ${job.namespace}/${job.name} (${args.env})`;
            const stale = `No successful ${job.what} for twice the schedule interval (${hours(2 * interval)}): the last runs of ${who} failed.`;
            this.monitors[`${job.name}-failed`] = new datadog.Monitor(
                `${name}-${job.name}-failed`,
                {
                    name: `[${args.env}] ${job.name}: last ${job.what} failed`,
                    type: "service check",
                    query: `"kubernetes_state.cronjob.complete".over(${scope.map((s) => `"${s}"`).join(",")}).by("kube_cronjob").last(1).count_by_status()`,
                    // One CRITICAL check run alerts, one OK run recovers.
                    monitorThresholds: { critical: "1", ok: "1" },
                    message: [
                        `{{#is_alert}}{{^is_renotify}}The last ${job.what} of ${who} failed: \`kubectl -n ${job.namespace} get jobs\` and its pod's log say why. The next run is due within ${hours(interval)}. ${chat}{{/is_renotify}}`,
                        ...(job.pageWhenStale ? [`{{#is_renotify}}${stale} ${paging}{{/is_renotify}}`] : []),
                        "{{/is_alert}}",
                        `{{#is_recovery}}Recovered: the last ${job.what} of ${who} succeeded. ${job.pageWhenStale ? paging : chat}{{/is_recovery}}`,
                    ].join("\n"),
                    // Still failing one interval later: no run has succeeded for twice the interval.
                    renotifyInterval: job.pageWhenStale ? Math.ceil(interval / 60) : 0,
                    priority: String(args.priorities[severity]),
                    notifyNoData: false,
                    tags,
                },
                { parent: this },
            );
            if (!job.pageWhenStale) continue;
            this.monitors[`${job.name}-not-scheduled`] = new datadog.Monitor(
                `${name}-${job.name}-not-scheduled`,
                {
                    name: `[${args.env}] ${job.name}: no ${job.what} started in ${hours(2 * interval)}`,
                    type: "query alert",
                    query: `max(last_5m):max:kubernetes_state.cronjob.duration_since_last_schedule{${scope.join(",")}} > ${2 * interval}`,
                    monitorThresholds: { critical: String(2 * interval) },
                    message: [
                        `{{#is_alert}}No ${job.what} has started for twice the schedule interval (${hours(2 * interval)}): ${who} is suspended, or its runs are not being scheduled. ${paging}{{/is_alert}}`,
                        `{{#is_recovery}}Recovered: ${who} runs again. ${paging}{{/is_recovery}}`,
                    ].join("\n"),
                    priority: String(args.priorities.critical),
                    notifyNoData: false,
                    renotifyInterval: 60,
                    tags,
                },
                { parent: this },
            );
        }
        this.registerOutputs({ monitorCount: Object.keys(this.monitors).length });
    }
}
