import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BlueGreenDeployment } from "./components/blueGreenDeployment";
import { CanaryDeployment } from "./components/canaryDeployment";
import { appLabels } from "./components/kubernetes";
import { ReleaseMonitoring, VersionInFlight } from "./components/releaseMonitoring";
import { RollingDeployment } from "./components/rollingDeployment";
import { WorkloadTemplate } from "./components/workload";
import { ALERT_NAMES, AlertName, PLAN_ALERTS, PLAN_WARNINGS, warningBeforeCritical } from "./lib/alerts";
import { readAppSecrets, readRawConfig, validateConfig } from "./lib/config";
import { rollbackCommand, variantRollbackCommand } from "./lib/rollback";

const stack = pulumi.getStack();
const config = new pulumi.Config();
// Everything is read and validated before the first resource is declared.
const cfg = validateConfig(config.name, stack, readRawConfig(config));
const appSecrets = readAppSecrets(config);
const release = cfg.release;
const app = release.appName;

const envSecret = new k8s.core.v1.Secret(`${app}-env`, {
    metadata: { name: `${app}-env`, namespace: release.namespace, labels: appLabels(app, "config") },
    type: "Opaque",
    stringData: appSecrets,
});

const template: WorkloadTemplate = {
    appName: app,
    namespace: release.namespace,
    image: release.image,
    containerPort: release.containerPort,
    readinessPath: release.healthPaths.readiness,
    livenessPath: release.healthPaths.liveness,
    resources: release.resources,
    env: release.env,
    secretEnvFrom: envSecret.metadata.name,
    maxReplicas: release.maxReplicas,
    targetCpuUtilization: release.targetCpuUtilization,
};
const ingress = { host: release.host, ingressClassName: release.ingressClassName, tlsSecretName: release.tlsSecretName };

let liveVersions: Record<string, string>;
let trafficState: Record<string, string | number>;
let liveUrl: string;
let previewUrl: string | undefined;

if (cfg.strategy === "blue-green") {
    const bg = cfg.blueGreen!;
    const deployment = new BlueGreenDeployment(app, {
        template,
        ...ingress,
        versions: { blue: bg.blueVersion, green: bg.greenVersion },
        activeColor: bg.activeColor,
        replicas: release.replicas,
        standbyReplicas: bg.standbyReplicas,
        previewHost: bg.previewHost,
        smokeTest: bg.smokeTest,
    });
    liveVersions = { blue: bg.blueVersion, green: bg.greenVersion };
    trafficState = { activeColor: bg.activeColor, liveVersion: bg.activeColor === "blue" ? bg.blueVersion : bg.greenVersion };
    liveUrl = deployment.liveUrl;
    previewUrl = deployment.previewUrl;
} else if (cfg.strategy === "canary") {
    const cn = cfg.canary!;
    const deployment = new CanaryDeployment(app, {
        template,
        ...ingress,
        stableVersion: cn.stableVersion,
        canaryVersion: cn.canaryVersion,
        weight: cn.weight,
        router: cn.router,
        replicas: release.replicas,
        canaryReplicas: cn.canaryReplicas,
        headerName: cn.headerName,
        gateway: cn.gateway,
        alb: cn.alb,
    });
    liveVersions = { stable: cn.stableVersion, canary: cn.canaryVersion };
    trafficState = { canaryWeight: cn.weight, steps: cn.steps.join(",") };
    liveUrl = deployment.liveUrl;
} else {
    const deployment = new RollingDeployment(app, {
        template,
        ...ingress,
        version: release.version,
        replicas: release.replicas,
        ...cfg.rolling,
    });
    liveVersions = { live: release.version };
    trafficState = {};
    liveUrl = deployment.liveUrl;
}

const inFlight = (variantKey: "track" | "color", variantValue: "stable" | "canary" | "blue" | "green", version: string): VersionInFlight => ({
    version,
    variantKey,
    variantValue,
    rollbackCommand: variantRollbackCommand(stack, cfg, variantValue),
});
const versionsInFlight: VersionInFlight[] =
    cfg.strategy === "blue-green"
        ? [inFlight("color", "blue", cfg.blueGreen!.blueVersion), inFlight("color", "green", cfg.blueGreen!.greenVersion)]
        : cfg.strategy === "canary"
          ? [inFlight("track", "stable", cfg.canary!.stableVersion), inFlight("track", "canary", cfg.canary!.canaryVersion)]
          : [inFlight("track", "stable", release.version)];

if (cfg.monitoring) {
    const m = cfg.monitoring;
    const env = m.env ?? stack;
    const thresholds = Object.fromEntries(ALERT_NAMES.map((n) => [n, m.thresholds[n] ?? PLAN_ALERTS[n].plan])) as Record<AlertName, number>;
    // Unless config sets one, a rollback trigger warns at the plan's next tier down (5% warns at 2%, 2% at 1%).
    const warnings: Partial<Record<AlertName, number>> = {};
    for (const n of ALERT_NAMES) {
        const implied = PLAN_WARNINGS[n];
        const warning = m.warnings[n] ?? (implied ? thresholds[implied] : undefined);
        if (warning !== undefined && warningBeforeCritical(n, warning, thresholds[n])) warnings[n] = warning;
    }
    new ReleaseMonitoring(`${app}-monitoring`, {
        service: m.service ?? app,
        env,
        span: m.span,
        namespace: release.namespace,
        appName: app,
        versions: versionsInFlight,
        releaseVersion: release.version,
        thresholds,
        warnings,
        notify: m.notify,
        priorities: m.priorities,
        metrics: m.metrics,
        databaseScope: m.databaseScope,
        hostScope: m.hostScope ?? `env:${env}`,
        slo: m.slo,
        deploymentWindow: m.deploymentWindow,
        rollbackHint: `run the command printed by \`pulumi stack output rollback --stack ${stack}\``,
    });
}

export const strategy = cfg.strategy;
export const versions = liveVersions;
export const traffic = trafficState;
export const urls = { live: liveUrl, preview: previewUrl };
export const rollback = rollbackCommand(stack, cfg);
