import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BlueGreenDeployment } from "./components/blueGreenDeployment";
import { CanaryDeployment } from "./components/canaryDeployment";
import { appLabels } from "./components/kubernetes";
import { RollingDeployment } from "./components/rollingDeployment";
import { WorkloadTemplate } from "./components/workload";
import { readAppSecrets, readRawConfig, validateConfig } from "./lib/config";
import { rollbackCommand } from "./lib/rollback";

const stack = pulumi.getStack();
const config = new pulumi.Config();
// Everything is read and validated before the first resource is declared.
const cfg = validateConfig(config.name, readRawConfig(config));
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

export const strategy = cfg.strategy;
export const versions = liveVersions;
export const traffic = trafficState;
export const urls = { live: liveUrl, preview: previewUrl };
export const rollback = rollbackCommand(stack, cfg);
