// A second service on the release library: catalog-api, released by rolling update, with its own Datadog alerts and
// no business metrics (it takes no payments and sends no email). It imports the installed library and the Pulumi SDK,
// reads its own stack config, and exports a function, which Pulumi calls and whose result becomes the stack outputs,
// so the offline preview can run it under mocks (`--project-dir examples/catalog-api`, after `npm install` here).
import * as pulumi from "@pulumi/pulumi";
import { AlertSpec, BuiltInAlert, ReleaseMonitoring, RollingDeployment } from "@myapp/release-components";

/** `catalog-api:service`. */
interface ServiceConfig {
    name: string;
    namespace: string;
    /** Image repository, no tag. */
    image: string;
    version: string;
    /** The version a rollback returns to. */
    previousVersion: string;
    replicas: number;
    maxReplicas: number;
    host: string;
    tlsSecretName: string;
    /** The span its tracer opens for an inbound request: the README lists them per tracer. */
    span: string;
    /** The kube_cluster_name tag of the cluster's metrics. */
    kubeClusterName: string;
}

/** `catalog-api:alerts`: critical thresholds and who hears of them. */
interface AlertConfig {
    errorRatePct: number;
    p95LatencySeconds: number;
    rollbackErrorRatePct: number;
    rollbackP95Seconds: number;
    cpuPct: number;
    memoryPct: number;
    notify: { pager: string[]; chat: string[] };
}

/** Reads an object key, refusing a missing field by name before anything is declared. */
function readObject<T extends object>(config: pulumi.Config, key: string, fields: (keyof T & string)[]): T {
    const value = config.requireObject<T>(key);
    const missing = fields.filter((f) => value[f] === undefined);
    if (missing.length > 0) throw new pulumi.RunError(`${config.name}:${key} is missing ${missing.join(", ")}`);
    return value;
}

export = function catalogApi(): { version: string; url: string; rollback: string } {
    const config = new pulumi.Config();
    const stack = pulumi.getStack();
    const s = readObject<ServiceConfig>(config, "service", [
        "name",
        "namespace",
        "image",
        "version",
        "previousVersion",
        "replicas",
        "maxReplicas",
        "host",
        "tlsSecretName",
        "span",
        "kubeClusterName",
    ]);
    const a = readObject<AlertConfig>(config, "alerts", [
        "errorRatePct",
        "p95LatencySeconds",
        "rollbackErrorRatePct",
        "rollbackP95Seconds",
        "cpuPct",
        "memoryPct",
        "notify",
    ]);
    const rollback = `pulumi config set --stack ${stack} --path service.version ${s.previousVersion} && pulumi up --stack ${stack}`;

    const deployment = new RollingDeployment(s.name, {
        template: {
            appName: s.name,
            namespace: s.namespace,
            image: s.image,
            containerPort: 8080,
            readinessPath: "/ready",
            livenessPath: "/healthz",
            resources: { requests: { cpu: "200m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
            env: { LOG_FORMAT: "json" },
            secretEnvFrom: [],
            maxReplicas: s.maxReplicas,
            targetCpuUtilization: 70,
            drainSeconds: 10,
            datadog: { env: stack, service: s.name },
        },
        version: s.version,
        replicas: s.replicas,
        maxSurge: 1,
        maxUnavailable: 0,
        progressDeadlineSeconds: 300,
        host: s.host,
        ingressClassName: "nginx",
        tlsSecretName: s.tlsSecretName,
    });

    const percent = (
        label: string,
        critical: number,
        severity: AlertSpec["severity"],
        rolloutNoise = false,
    ): AlertSpec => ({
        critical,
        bad: "above",
        severity,
        rolloutNoise,
        label,
        unit: "%",
    });
    const seconds = (label: string, critical: number, severity: AlertSpec["severity"]): AlertSpec => ({
        critical,
        bad: "above",
        severity,
        label,
        unit: "s",
    });
    // Its own alerts: no payment or email alert, no database one (it has none of those metrics).
    const alerts: Partial<Record<BuiltInAlert, AlertSpec>> = {
        errorRatePct: percent("Error rate", a.errorRatePct, "critical"),
        p95LatencySeconds: seconds("p95 response time", a.p95LatencySeconds, "warning"),
        rollbackNowErrorRatePct: {
            ...percent("Rollback trigger: error rate", a.rollbackErrorRatePct, "rollback"),
            warning: a.errorRatePct,
        },
        rollbackNowP95Seconds: {
            ...seconds("Rollback trigger: p95 response time", a.rollbackP95Seconds, "rollback"),
            warning: a.p95LatencySeconds,
        },
        cpuPct: percent("CPU (% of limit)", a.cpuPct, "warning", true),
        memoryPct: percent("Memory working set (% of limit)", a.memoryPct, "warning", true),
        autoscalerAtMaxPct: percent("Autoscaler replicas (% of its maximum)", 100, "warning", true),
    };
    const growable = deployment.workload.growableAutoscaler;
    new ReleaseMonitoring(`${s.name}-monitoring`, {
        service: s.name,
        env: stack,
        span: s.span,
        kubeClusterName: s.kubeClusterName,
        namespace: s.namespace,
        appName: s.name,
        autoscalers: growable ? [growable] : [],
        // One version in flight; a rollback returns to previousVersion.
        versions: [{ version: s.version, variantKey: "track", variantValue: "stable", rollbackCommand: rollback }],
        releaseVersion: s.version,
        alerts,
        notify: a.notify,
        priorities: { rollback: 1, critical: 2, warning: 3 },
        slo: { availabilityTarget: 99.5, latencyTarget: 99, latencySeconds: a.p95LatencySeconds, timeframe: "30d" },
        trafficGuard: { minRequests: 50, excludeResources: ["get_/healthz", "get_/ready"] },
        rollbackHint: `\`${rollback}\``,
    });

    return { version: s.version, url: deployment.publicUrl, rollback };
};
