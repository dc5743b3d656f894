import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { MUTE_IN_DEPLOYMENT_WINDOW, Severity } from "../../policy/contract";
import { LibraryComponent } from "../componentType";
import { AlertSpec, isBuiltInAlert, isPerVersion, VersionInFlight, warningBeforeCritical } from "./alerts";
import { declareDashboard } from "./dashboard";
import { declareMonitors } from "./monitors";
import { monitorSpecs, scopesOf } from "./queries";
import { declareSlos } from "./slos";

export interface ReleaseMonitoringArgs {
    /** APM service name (the service tag), as the pods' `tags.datadoghq.com/service` label sets it. */
    service: string;
    /** Datadog env tag, as the pods' `tags.datadoghq.com/env` label sets it. */
    env: string;
    /**
     * The span the app's tracer opens for an inbound request (web.request for dd-trace-js): trace.<span>.hits/.errors
     * count requests, trace.<span> is the latency distribution in seconds.
     */
    span: string;
    /** The kube_cluster_name tag of the cluster's metrics, so that no other cluster's namespace of the same name counts. */
    kubeClusterName: string;
    /** Kubernetes namespace of the app, for the container metrics' scope. */
    namespace: string;
    /** app.kubernetes.io/name of the pods (kube_app_name tag). */
    appName: string;
    /**
     * Names of the app's autoscalers that can add pods (minReplicas below maxReplicas). One pinned at min = max sits
     * "at its maximum" from the start and is left out; with none, there is no autoscaler-at-maximum monitor.
     */
    autoscalers: string[];
    /** Versions in flight; each distinct version gets its own monitors for the per-version alerts declared. */
    versions: VersionInFlight[];
    /** The version being released, tagged on the service-wide monitors. */
    releaseVersion: string;
    /**
     * The alerts to declare, by name: a BuiltInAlert, whose query the library writes, or a custom alert with its own
     * `query`. Per-version alerts are declared before service-wide ones, each group in the order given here. An
     * alert left out gets no monitor.
     */
    alerts: { readonly [name: string]: AlertSpec | undefined };
    /** Handles paged for rollback triggers and critical alerts, and handles told of everything. */
    notify: {
        /** Datadog handles paged, e.g. "@pagerduty-orders". */
        pager: string[];
        /** Datadog handles told, e.g. "@slack-orders". */
        chat: string[];
    };
    /** Datadog priority (1 highest) per severity. */
    priorities: Record<Severity, number>;
    /** Tag scope of the PostgreSQL integration's metrics, e.g. "env:production,db:myapp"; required by the database alerts, and the dashboard's database graphs. */
    databaseScope?: string;
    /** Tag scope of the hosts whose disks are watched, such as the cluster's or its node group's; required by diskIoPct. */
    hostScope?: string;
    /** Service level objectives: targets, and the p95 a five-minute slice must stay within to count as good. */
    slo: {
        /** Percent of requests that must not fail, e.g. 99.9. */
        availabilityTarget: number;
        /** Percent of five-minute slices whose p95 must stay within `latencySeconds`. */
        latencyTarget: number;
        /** The p95, in seconds, a good slice stays within. */
        latencySeconds: number;
        /** Datadog's SLO timeframe, e.g. "30d". */
        timeframe: string;
    };
    /**
     * Deployment window (UTC `YYYY-MM-DDTHH:MM:SSZ`) during which rollout noise is muted. Without a start the downtime
     * runs from its creation: Datadog refuses a start in the past. Leave the window out once it has ended: Datadog
     * refuses an end in the past too.
     */
    deploymentWindow?: {
        /** When the window opens; the downtime's creation when left out. */
        start?: string;
        /** When the window closes. */
        end: string;
        /** IANA time zone the downtime is shown in, e.g. "Europe/Berlin". */
        timezone: string;
    };
    /**
     * Requests a per-version ratio or p95 must see in its window before it may alert (custom alerts may bring their
     * own guard), and resources that are not user traffic.
     */
    trafficGuard: {
        /** Requests a window must hold before a per-version ratio or p95 may alert. */
        minRequests: number;
        /** Resource names left out of every request query, such as health checks ("get_/healthz"). */
        excludeResources: string[];
    };
    /** The app's database role and its connection limit; without it, connections are watched server-wide. */
    appRole?: {
        /** The role's name in PostgreSQL. */
        name: string;
        /** Its connection limit, which dbConnectionsPct is a percentage of. */
        connectionLimit: number;
    };
    /** How service-wide monitors tell the reader to roll back, e.g. "run the command printed by `pulumi stack output rollback`". */
    rollbackHint: string;
    /** What declares the handles the monitors notify beyond people's (the automatic rollback's webhook): monitors come after it. */
    handlesFrom?: pulumi.Resource[];
}

/**
 * Datadog monitors for the alerts and rollback triggers it is given, a deployment dashboard, availability and latency
 * SLOs, and a downtime for the deployment window that mutes rollout noise only. Error-rate, latency, payment and
 * rollback monitors exist per version in flight, each a composite `condition && !low_traffic`, so a canary is judged
 * on its own traffic once there is enough to judge (README, Decisions: "Traffic guards alert on too little traffic");
 * messages.ts says who is notified.
 */
export class ReleaseMonitoring extends LibraryComponent {
    /** Every monitor, by resource name suffix. */
    public readonly monitors: Record<string, datadog.Monitor>;

    constructor(name: string, args: ReleaseMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ReleaseMonitoring", name, opts);
        checkArgs(args, this);
        const scopes = scopesOf(args);
        this.monitors = declareMonitors(this, name, args, monitorSpecs(args, scopes, this));
        // The SLOs and the dashboard count what the monitors count: user requests, not probes.
        declareSlos(this, name, args, scopes);
        declareDashboard(this, name, args, scopes);
        if (args.deploymentWindow) this.declareDeploymentWindow(name, args, args.deploymentWindow);
        this.registerOutputs({ monitorCount: Object.keys(this.monitors).length });
    }

    /** A downtime over the deployment window for the monitors of rollout noise, and no other. */
    private declareDeploymentWindow(
        name: string,
        args: ReleaseMonitoringArgs,
        w: NonNullable<ReleaseMonitoringArgs["deploymentWindow"]>,
    ): void {
        const given = Object.entries(args.alerts).flatMap(([alert, a]) => (a ? [{ alert, a }] : []));
        const inOrder = [
            ...given.filter((x) => isPerVersion(x.alert, x.a)),
            ...given.filter((x) => !isPerVersion(x.alert, x.a)),
        ];
        const muted = inOrder.flatMap(({ a }) => (a.rolloutNoise ? [a.label] : []));
        new datadog.DowntimeSchedule(
            `${name}-deployment-window`,
            {
                // Every group of the selected monitors (README, Decisions: "The deployment window's scope").
                scope: "*",
                // Only monitors carrying every one of these tags are muted: the rollout noise, never what the plan checks in the window.
                monitorIdentifier: {
                    monitorTags: [`service:${args.service}`, `env:${args.env}`, MUTE_IN_DEPLOYMENT_WINDOW],
                },
                oneTimeSchedule: w.start === undefined ? { end: w.end } : { start: w.start, end: w.end },
                displayTimezone: w.timezone,
                message: `Deployment window of ${args.service} ${args.releaseVersion}: muted as rollout noise: ${muted.join(", ")}. Every other monitor, each rollback trigger among them, stays live.`,
                muteFirstRecoveryNotification: true,
            },
            { parent: this },
        );
    }
}

/** Refuses arguments Datadog would refuse, or that leave an alert without a query, naming the alert. */
function checkArgs(args: ReleaseMonitoringArgs, self: pulumi.Resource): void {
    const fail = (message: string) => new pulumi.ResourceError(message, self);
    if (args.versions.length === 0) throw fail("at least one version in flight is needed");
    if (args.notify.pager.length === 0 || args.notify.chat.length === 0)
        throw fail("notify needs at least one pager and one chat handle");
    for (const [alert, a] of Object.entries(args.alerts)) {
        if (!a) continue;
        if (isBuiltInAlert(alert) && (a.query || a.perVersion !== undefined || a.guard)) {
            throw fail(
                `alert ${alert} is built in: the library writes its query; give a custom alert (query, perVersion, guard) a name of its own`,
            );
        }
        if (!isBuiltInAlert(alert) && !a.query) throw fail(`alert ${alert} is not built in, so it needs a query`);
        // Datadog refuses a warning on the bad side of the critical threshold.
        if (a.warning !== undefined && !warningBeforeCritical(a.bad, a.warning, a.critical)) {
            throw fail(
                `alert ${alert}: warning ${a.warning} must be ${a.bad === "above" ? "below" : "above"} critical ${a.critical}`,
            );
        }
        // `!` reads WARN like ALERT: a warning on a tier others defer to would silence them in its band.
        for (const higher of a.defersTo ?? []) {
            if (args.alerts[higher]?.warning !== undefined)
                throw fail(`alert ${alert} defers to ${higher}, which may then have no warning threshold`);
        }
    }
}
