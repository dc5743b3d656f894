import * as assert from "assert";
import {
    BlueGreenDeployment,
    CanaryDeployment,
    CanaryDeploymentArgs,
    CanaryRouterName,
    canaryRouterNames,
    canaryRouters,
    CanaryRouting,
    replicaSplit,
    RollingDeployment,
} from "../../components/traffic";
import { ReleaseMonitoring, ReleaseMonitoringArgs } from "../../components/monitoring";
import { ALERT_NAMES, isBusinessMetricAlert, PLAN_ALERTS, PlanAlert } from "../../policy/planAlerts";
import { businessAlertQueries } from "../../program/businessAlerts";
import { AppWorkload, WorkloadTemplate } from "../../components/kubernetes";
import { validateConfig } from "../../lib/config";
import { all, at, configErrorFor, declare, find, PROJECT, programConfig } from "../helpers";

const template: WorkloadTemplate = {
    appName: "shop",
    namespace: "prod",
    image: "registry.example.com/shop",
    containerPort: 8080,
    readinessPath: "/ready",
    livenessPath: "/live",
    resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    env: { LOG_LEVEL: "info", APP_ENV: "prod" },
    secretEnvFrom: ["shop-env"],
    maxReplicas: 10,
    targetCpuUtilization: 65,
    drainSeconds: 10,
};

describe("AppWorkload", () => {
    it("declares a hardened, probed, spread Deployment with a disruption budget and an autoscaler", async () => {
        const run = await declare(
            () =>
                new AppWorkload("w", {
                    template,
                    deploymentName: "shop-blue",
                    version: "v2.0.1",
                    variantLabels: { color: "blue" },
                    replicas: 3,
                }),
        );
        const d = find(run, ":Deployment", "w-deployment");
        assert.strictEqual(d.parent, "w");
        assert.strictEqual(at(d, "metadata.name"), "shop-blue");
        assert.strictEqual(at(d, "spec.replicas"), 3, "created at full size, so the provider's await covers every pod");
        assert.deepStrictEqual(d.ignoreChanges, ["spec.replicas"], "after creation the autoscaler owns the count");
        assert.strictEqual(at(d, "metadata.annotations"), undefined, "no forced apply over the autoscaler");
        assert.deepStrictEqual(at(d, "spec.selector.matchLabels"), { "app.kubernetes.io/name": "shop", color: "blue" });
        const pod = at(d, "spec.template");
        assert.deepStrictEqual(pod.metadata.labels, {
            "app.kubernetes.io/name": "shop",
            color: "blue",
            "app.kubernetes.io/version": "v2.0.1",
            "app.kubernetes.io/part-of": "shop",
        });
        assert.deepStrictEqual(pod.spec.securityContext, {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            fsGroup: 10001,
            seccompProfile: { type: "RuntimeDefault" },
        });
        const c = pod.spec.containers[0];
        assert.strictEqual(c.image, "registry.example.com/shop:v2.0.1");
        assert.deepStrictEqual(c.securityContext, {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
        });
        assert.deepStrictEqual(c.resources, template.resources);
        assert.deepStrictEqual(c.readinessProbe.httpGet, { path: "/ready", port: "http" });
        assert.deepStrictEqual(c.livenessProbe.httpGet, { path: "/live", port: "http" });
        assert.deepStrictEqual(c.env, [
            { name: "APP_ENV", value: "prod" },
            { name: "LOG_LEVEL", value: "info" },
        ]);
        assert.deepStrictEqual(c.envFrom, [{ secretRef: { name: "shop-env" } }]);
        assert.deepStrictEqual(c.lifecycle, { preStop: { sleep: { seconds: 10 } } });
        assert.strictEqual(pod.spec.terminationGracePeriodSeconds, 40);
        assert.deepStrictEqual(
            pod.spec.topologySpreadConstraints.map((t: any) => t.topologyKey),
            ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
        );
        assert.strictEqual(pod.spec.automountServiceAccountToken, false);

        const pdb = find(run, ":PodDisruptionBudget", "w-pdb");
        assert.deepStrictEqual(at(pdb, "spec"), {
            maxUnavailable: 1,
            selector: { matchLabels: { "app.kubernetes.io/name": "shop", color: "blue" } },
            unhealthyPodEvictionPolicy: "AlwaysAllow",
        });
        const hpa = find(run, ":HorizontalPodAutoscaler", "w-hpa");
        assert.deepStrictEqual(at(hpa, "spec.scaleTargetRef"), {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: "shop-blue",
        });
        assert.strictEqual(at(hpa, "spec.minReplicas"), 3);
        assert.strictEqual(at(hpa, "spec.maxReplicas"), 10);
        assert.strictEqual(at(hpa, "spec.metrics")[0].resource.target.averageUtilization, 65);
    });

    it("scales to zero without an autoscaler or disruption budget, and labels a digest safely", async () => {
        const digest = "sha256:" + "ab".repeat(32);
        const run = await declare(
            () =>
                new AppWorkload("w", {
                    template,
                    deploymentName: "shop-green",
                    version: digest,
                    variantLabels: { color: "green" },
                    replicas: 0,
                }),
        );
        const d = find(run, ":Deployment", "w-deployment");
        assert.strictEqual(at(d, "spec.replicas"), 0);
        // Pulumi applies the count only at creation: a traffic step (components/traffic/capacity.ts) scales it later.
        assert.strictEqual(at(d, "metadata.annotations"), undefined);
        assert.deepStrictEqual(d.ignoreChanges, ["spec.replicas"]);
        assert.strictEqual(at(d, "spec.template.spec.containers")[0].image, `registry.example.com/shop@${digest}`);
        assert.strictEqual(
            at(d, "spec.template.metadata.labels")["app.kubernetes.io/version"],
            ("sha256-" + "ab".repeat(32)).slice(0, 63),
        );
        assert.deepStrictEqual(all(run, ":HorizontalPodAutoscaler"), []);
        assert.deepStrictEqual(all(run, ":PodDisruptionBudget"), []);
    });
});

const bgArgs = {
    template,
    versions: { blue: "v1.0.0", green: "v1.1.0" },
    activeColor: "green" as const,
    replicas: 4,
    previewReplicas: 2,
    host: "shop.example.com",
    previewHost: "preview.shop.example.com",
    ingressClassName: "nginx",
    tlsSecretName: "shop-tls",
    smokeTest: { image: "registry.example.com/shop-smoke:v1.1.0", command: ["./smoke"], timeoutSeconds: 120 },
};

describe("BlueGreenDeployment", () => {
    it("sends production traffic to the active color and preview traffic to the other", async () => {
        const run = await declare(() => new BlueGreenDeployment("bg", bgArgs));
        assert.deepStrictEqual(at(find(run, ":Service", "bg-live"), "spec.selector"), {
            "app.kubernetes.io/name": "shop",
            color: "green",
        });
        assert.strictEqual(at(find(run, ":Service", "bg-live"), "metadata.name"), "shop");
        assert.deepStrictEqual(at(find(run, ":Service", "bg-preview"), "spec.selector"), {
            "app.kubernetes.io/name": "shop",
            color: "blue",
        });
        assert.strictEqual(at(find(run, ":Ingress", "bg-ingress"), "spec.rules")[0].host, "shop.example.com");
        assert.strictEqual(at(find(run, ":Ingress", "bg-preview-ingress"), "spec.rules")[0].backend, undefined);
        assert.strictEqual(
            at(find(run, ":Ingress", "bg-preview-ingress"), "spec.rules")[0].http.paths[0].backend.service.name,
            "shop-preview",
        );
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "bg-green-hpa"), "spec.minReplicas"), 4);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "bg-blue-hpa"), "spec.minReplicas"), 2);
    });

    it("stores the applied object as state for the Services a switch moves, and only for those", async () => {
        // The provider's Service awaiter can return an object older than its apply (pulumi.com/skipAwait in
        // policy/contract.ts): the next preview would show the switch again.
        const run = await declare(() => new BlueGreenDeployment("bg", bgArgs));
        const annotations = (n: string) => at(find(run, ":Service", n), "metadata.annotations");
        assert.deepStrictEqual(
            [annotations("bg-live"), annotations("bg-preview")],
            [{ "pulumi.com/skipAwait": "true" }, { "pulumi.com/skipAwait": "true" }],
        );
        assert.deepStrictEqual([annotations("bg-blue-svc"), annotations("bg-green-svc")], [undefined, undefined]);
    });

    it("smoke-tests each color's version through that color's Service before the active Service may select it", async () => {
        const run = await declare(() => new BlueGreenDeployment("bg", bgArgs));
        const green = find(run, ":Job", "bg-smoke-green");
        assert.strictEqual(at(green, "metadata.name"), "shop-smoke-green-v1-1-0");
        assert.deepStrictEqual(green.dependsOn, ["bg-green", "bg-green-svc"]);
        const c = at(green, "spec.template.spec.containers")[0];
        assert.deepStrictEqual(c.env, [
            { name: "HOME", value: "/home/runner" },
            { name: "SMOKE_URL", value: "http://shop-green.prod.svc.cluster.local" },
            { name: "EXPECTED_VERSION", value: "v1.1.0" },
        ]);
        assert.deepStrictEqual(c.command, ["./smoke"]);
        assert.strictEqual(at(green, "spec.activeDeadlineSeconds"), 120);
        assert.strictEqual(at(green, "metadata.annotations")["pulumi.com/timeoutSeconds"], "180");
        assert.strictEqual(at(find(run, ":Job", "bg-smoke-blue"), "metadata.name"), "shop-smoke-blue-v1-0-0");
        // …and once the incoming color's ready pods for the traffic it takes over are awaited.
        assert.deepStrictEqual(find(run, ":Service", "bg-live").dependsOn, [
            "bg-green-capacity-live",
            "bg-smoke-green",
        ]);
        // The preview Service moves only with the active one, so a failed smoke test leaves both where they were.
        assert.deepStrictEqual(find(run, ":Service", "bg-preview").dependsOn, ["bg-live"]);
    });

    it("scales a preview color of 0 down and runs no smoke test against it", async () => {
        const run = await declare(() => new BlueGreenDeployment("bg", { ...bgArgs, previewReplicas: 0 }));
        assert.strictEqual(at(find(run, ":Deployment", "bg-blue-deployment"), "spec.replicas"), 0);
        assert.deepStrictEqual(
            all(run, ":Job").map((j) => j.name),
            ["bg-smoke-green"],
        );
    });

    it("orders both colors after the resources passed in `after`", async () => {
        const run = await declare(() => {
            const gate = new AppWorkload("gate", {
                template,
                deploymentName: "gate",
                version: "v1",
                variantLabels: {},
                replicas: 0,
            });
            new BlueGreenDeployment("bg", { ...bgArgs, after: [gate] });
        });
        assert.deepStrictEqual(find(run, ":Deployment", "bg-green-deployment").dependsOn, ["gate"]);
        assert.deepStrictEqual(find(run, ":Deployment", "bg-blue-deployment").dependsOn, ["gate"]);
        // The preview color's minimum drops only once traffic has left it.
        assert.deepStrictEqual(find(run, ":HorizontalPodAutoscaler", "bg-blue-hpa").dependsOn, [
            "bg-blue-deployment",
            "bg-live",
        ]);
    });

    it("rejects an unknown color up front", async () => {
        await assert.rejects(
            declare(() => new BlueGreenDeployment("bg", { ...bgArgs, activeColor: "purple" as "blue" })),
            /activeColor must be "blue" or "green", got "purple"/,
        );
    });
});

const canaryArgs: CanaryDeploymentArgs = {
    template,
    stableVersion: "v1.0.0",
    canaryVersion: "v1.1.0",
    weight: 5,
    router: "nginx",
    replicas: 4,
    canaryReplicas: 1,
    canaryMaxReplicas: 3,
    headerName: "X-Canary",
    host: "shop.example.com",
    ingressClassName: "nginx",
    tlsSecretName: "shop-tls",
};

describe("CanaryDeployment", () => {
    it("nginx: a canary Ingress for the same host with the weight and a tester header", async () => {
        const run = await declare(() => new CanaryDeployment("c", canaryArgs));
        const canary = find(run, ":Ingress", "c-canary-ingress");
        assert.deepStrictEqual(at(canary, "metadata.annotations"), {
            "pulumi.com/skipAwait": "true",
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "5",
            "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
        });
        assert.strictEqual(at(canary, "spec.rules")[0].host, "shop.example.com");
        assert.strictEqual(at(canary, "spec.rules")[0].http.paths[0].backend.service.name, "shop-canary");
        assert.strictEqual(at(canary, "spec.tls"), undefined);
        // The weight moves once both tracks are awaited at their size and their capacity for it.
        assert.deepStrictEqual(canary.dependsOn, [
            "c-stable",
            "c-canary",
            "c-stable-capacity-w5",
            "c-canary-capacity-w5",
        ]);
        const main = find(run, ":Ingress", "c-ingress");
        assert.strictEqual(at(main, "metadata.annotations"), undefined);
        assert.deepStrictEqual(at(main, "spec.tls"), [{ hosts: ["shop.example.com"], secretName: "shop-tls" }]);
        assert.deepStrictEqual(at(find(run, ":Service", "c-live"), "spec.selector"), {
            "app.kubernetes.io/name": "shop",
            track: "stable",
        });
        assert.deepStrictEqual(at(find(run, ":Service", "c-canary-svc"), "spec.selector"), {
            "app.kubernetes.io/name": "shop",
            track: "canary",
        });
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-stable-hpa"), "spec.minReplicas"), 4);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-stable-hpa"), "spec.maxReplicas"), 10);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-canary-hpa"), "spec.minReplicas"), 1);
        assert.strictEqual(
            at(find(run, ":HorizontalPodAutoscaler", "c-canary-hpa"), "spec.maxReplicas"),
            3,
            "the canary's own bound",
        );
        // After creation the autoscaler owns both counts: no forced apply, no reset by a later `up`.
        for (const name of ["c-stable-deployment", "c-canary-deployment"]) {
            const d = find(run, ":Deployment", name);
            assert.deepStrictEqual(d.ignoreChanges, ["spec.replicas"]);
            assert.strictEqual(at(d, "metadata.annotations"), undefined);
        }
    });

    it("nginx: weight 0 gives the canary no weighted traffic", async () => {
        const run = await declare(() => new CanaryDeployment("c", { ...canaryArgs, weight: 0 }));
        assert.strictEqual(
            at(find(run, ":Ingress", "c-canary-ingress"), "metadata.annotations")[
                "nginx.ingress.kubernetes.io/canary-weight"
            ],
            "0",
        );
    });

    it("gateway-api: an HTTPRoute with backendRefs weights and a header match", async () => {
        const run = await declare(
            () =>
                new CanaryDeployment("c", {
                    ...canaryArgs,
                    router: "gateway-api",
                    weight: 25,
                    gateway: { name: "public", namespace: "gateways" },
                }),
        );
        const route = find(run, ":HTTPRoute", "c-route");
        assert.strictEqual(at(route, "apiVersion"), "gateway.networking.k8s.io/v1");
        assert.strictEqual(at(route, "kind"), "HTTPRoute");
        assert.deepStrictEqual(at(route, "spec.parentRefs"), [{ name: "public", namespace: "gateways" }]);
        assert.deepStrictEqual(at(route, "spec.rules"), [
            {
                matches: [{ headers: [{ name: "X-Canary", value: "always" }] }],
                backendRefs: [{ name: "shop-canary", port: 80 }],
            },
            {
                matches: [{ path: { type: "PathPrefix", value: "/" } }],
                backendRefs: [
                    { name: "shop", port: 80, weight: 75 },
                    { name: "shop-canary", port: 80, weight: 25 },
                ],
            },
        ]);
        assert.deepStrictEqual(all(run, ":Ingress"), []);
        // A Gateway that refuses the route must fail `pulumi up`: the provider waits for Accepted and ResolvedRefs.
        // Each is this Gateway's condition for the route's current generation, whichever parent the status lists first.
        assert.deepStrictEqual(at(route, "metadata.annotations"), {
            "pulumi.com/waitFor": JSON.stringify([
                'jsonpath={.status.parents[?@.parentRef.name=="public" && @.parentRef.namespace=="gateways"].conditions[?@.type=="Accepted" && @.observedGeneration==$.metadata.generation].status}=True',
                'jsonpath={.status.parents[?@.parentRef.name=="public" && @.parentRef.namespace=="gateways"].conditions[?@.type=="ResolvedRefs" && @.observedGeneration==$.metadata.generation].status}=True',
            ]),
            "pulumi.com/timeoutSeconds": "180",
        });
    });

    it("alb: a weighted forward action and a header condition", async () => {
        const run = await declare(
            () =>
                new CanaryDeployment("c", {
                    ...canaryArgs,
                    router: "alb",
                    weight: 25,
                    alb: {
                        scheme: "internal",
                        certificateArn: "arn:aws:acm:us-east-1:1:certificate/x",
                        deregistrationDelaySeconds: 30,
                    },
                }),
        );
        const ing = find(run, ":Ingress", "c-ingress");
        const a = at(ing, "metadata.annotations");
        assert.deepStrictEqual(JSON.parse(a["alb.ingress.kubernetes.io/actions.weighted"]), {
            type: "forward",
            forwardConfig: {
                targetGroups: [
                    { serviceName: "shop", weight: 75, servicePort: "80" },
                    { serviceName: "shop-canary", weight: 25, servicePort: "80" },
                ],
            },
        });
        assert.deepStrictEqual(JSON.parse(a["alb.ingress.kubernetes.io/conditions.canary-by-header"]), [
            { field: "http-header", httpHeaderConfig: { httpHeaderName: "X-Canary", values: ["always"] } },
        ]);
        assert.strictEqual(a["alb.ingress.kubernetes.io/scheme"], "internal");
        assert.strictEqual(a["pulumi.com/skipAwait"], undefined);
        assert.strictEqual(
            a["pulumi.com/waitFor"],
            "jsonpath={.status.loadBalancer.ingress[0].hostname}",
            "awaited on the ALB's address, not on Services its action backends are not",
        );
        assert.deepStrictEqual(ing.dependsOn, [
            "c-stable",
            "c-canary",
            "c-stable-capacity-w25",
            "c-canary-capacity-w25",
        ]);
        assert.strictEqual(
            a["alb.ingress.kubernetes.io/healthcheck-path"],
            "/ready",
            "the target group probes readiness, not the controller's default /",
        );
        assert.strictEqual(
            a["alb.ingress.kubernetes.io/target-group-attributes"],
            "deregistration_delay.timeout_seconds=30",
        );
        // Pods are ready only once their target is healthy: the namespace label makes the controller inject the gate
        // into pods created after it, so both tracks wait for it.
        assert.deepStrictEqual(at(find(run, ":NamespacePatch", "c-alb-readiness-gate"), "metadata"), {
            name: "prod",
            labels: { "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled" },
        });
        for (const d of ["c-stable-deployment", "c-canary-deployment"])
            assert.deepStrictEqual(find(run, ":Deployment", d).dependsOn, ["c-alb-readiness-gate"]);
        assert.strictEqual(at(ing, "spec.ingressClassName"), "alb");
        assert.deepStrictEqual(
            at(ing, "spec.rules")[0].http.paths.map((p: any) => p.backend.service),
            [
                { name: "canary-by-header", port: { name: "use-annotation" } },
                { name: "weighted", port: { name: "use-annotation" } },
            ],
        );
    });

    it("pod-ratio: the weight is the share of pods behind one Service", async () => {
        assert.deepStrictEqual(replicaSplit(4, 25), { stable: 3, canary: 1 });
        assert.deepStrictEqual(replicaSplit(20, 5), { stable: 19, canary: 1 });
        assert.strictEqual(replicaSplit(4, 5), undefined, "4 pods cannot carry 5%");
        const run = await declare(() => new CanaryDeployment("c", { ...canaryArgs, router: "pod-ratio", weight: 25 }));
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-stable-hpa"), "spec.minReplicas"), 3);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-stable-hpa"), "spec.maxReplicas"), 8);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-canary-hpa"), "spec.minReplicas"), 1);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-canary-hpa"), "spec.maxReplicas"), 3);
        assert.deepStrictEqual(at(find(run, ":Service", "c-live"), "spec.selector"), {
            "app.kubernetes.io/name": "shop",
        });
        assert.deepStrictEqual(
            all(run, ":Service").map((s) => s.name),
            ["c-live"],
        );
    });

    it("pod-ratio: weight 0 scales the canary to zero", async () => {
        const run = await declare(() => new CanaryDeployment("c", { ...canaryArgs, router: "pod-ratio", weight: 0 }));
        const canary = find(run, ":Deployment", "c-canary-deployment");
        assert.strictEqual(at(canary, "spec.replicas"), 0);
        assert.deepStrictEqual(canary.ignoreChanges, ["spec.replicas"]);
        // The decision to take the canary to 0 is its own step, applied once the stable track has its pods ready.
        const settle = find(run, ":DeploymentPatch", "c-canary-settle-w0");
        assert.deepStrictEqual(settle.dependsOn, ["c-stable-capacity-w0"]);
        assert.strictEqual(at(settle, "metadata.annotations")["traffic.release/share"], "0");
        assert.deepStrictEqual(
            all(run, ":DeploymentPatch").map((p) => p.name),
            ["c-stable-capacity-w0", "c-stable-settle-w0", "c-canary-settle-w0"],
        );
        const stable = find(run, ":Deployment", "c-stable-deployment");
        assert.strictEqual(at(stable, "spec.replicas"), 4);
        assert.deepStrictEqual(stable.ignoreChanges, ["spec.replicas"]);
        assert.strictEqual(at(find(run, ":HorizontalPodAutoscaler", "c-stable-hpa"), "spec.minReplicas"), 4);
    });

    it("checks its arguments up front", async () => {
        await assert.rejects(
            declare(() => new CanaryDeployment("c", { ...canaryArgs, weight: 101 })),
            /weight must be a whole number from 0 to 100, got 101/,
        );
        await assert.rejects(
            declare(() => new CanaryDeployment("c", { ...canaryArgs, router: "pod-ratio", weight: 5 })),
            /4 replicas cannot carry a 5% canary by pod ratio/,
        );
    });
});

// The contract every router in the registry keeps; a new router gets its settings here, or this file does not compile.
const settings: { [K in CanaryRouterName]: Omit<Extract<CanaryRouting, { router: K }>, "router"> } = {
    nginx: {},
    "gateway-api": { gateway: { name: "public", namespace: "gateways" } },
    alb: {
        alb: {
            scheme: "internal",
            certificateArn: "arn:aws:acm:us-east-1:1:certificate/x",
            deregistrationDelaySeconds: 30,
        },
    },
    "pod-ratio": {},
};

// The same settings as `pulumi config set --path` edits of the production stack.
const configSets: { [K in CanaryRouterName]: string[] } = {
    nginx: [],
    "gateway-api": ["canary.gateway.name=public", "canary.gateway.namespace=gateways"],
    alb: ["canary.alb.certificateArn=arn:aws:acm:us-east-1:1:certificate/x", "release.drainSeconds=40"],
    "pod-ratio": ["release.replicas=20"],
};

function routerArgs(router: CanaryRouterName): CanaryDeploymentArgs {
    return { ...canaryArgs, weight: 25, router, ...settings[router] } as CanaryDeploymentArgs;
}

describe("canary routers", () => {
    it("stack config accepts exactly the registered routers, under their registry names", () => {
        assert.deepStrictEqual(canaryRouterNames, ["nginx", "gateway-api", "alb", "pod-ratio"]);
        for (const name of canaryRouterNames) {
            const sets = [`canary.router=${name}`, ...configSets[name]];
            const canary = validateConfig(PROJECT, "production", programConfig("production", sets));
            assert.strictEqual(canary.strategy === "canary" && canary.canary.router, name);
        }
    });

    it("an unknown router is refused with the registry's names, not the old `replicas`", () => {
        assert.strictEqual(
            configErrorFor("production", ["canary.router=istio"]),
            [
                "Invalid stack configuration (nothing was declared):",
                '  myapp:canary.router = "istio": Invalid option: expected one of "nginx"|"gateway-api"|"alb"|"pod-ratio"',
            ].join("\n"),
        );
    });

    it("the pod-ratio implementation is the `pod-ratio` router; stack config reads its old name `replicas` as it, with a warning", () => {
        assert.strictEqual(canaryRouters["pod-ratio"].podRatio, true);
        assert.deepStrictEqual(
            canaryRouterNames.filter((n) => canaryRouters[n].podRatio),
            ["pod-ratio"],
        );
        const warnings: string[] = [];
        const sets = ["canary.router=replicas", "release.replicas=20"];
        const cfg = validateConfig(PROJECT, "production", programConfig("production", sets), (m) => warnings.push(m));
        assert.strictEqual(cfg.strategy === "canary" && cfg.canary.router, "pod-ratio");
        assert.deepStrictEqual(warnings, [
            'myapp:canary.router = "replicas" is deprecated, read as its new name "pod-ratio": set it with `pulumi config set --path canary.router pod-ratio`',
        ]);
    });

    for (const name of canaryRouterNames) {
        describe(`${name}: the router contract`, () => {
            const router = canaryRouters[name];
            const args = routerArgs(name);

            it("sizes the tracks' autoscalers as the router splits the pods", async () => {
                const run = await declare(() => new CanaryDeployment("c", args));
                const split = router.split(args);
                assert.ok(split, `${name} cannot carry 25% of 4 pods`);
                for (const track of ["stable", "canary"] as const) {
                    const hpa = find(run, ":HorizontalPodAutoscaler", `c-${track}-hpa`);
                    assert.strictEqual((hpa.inputs as any).spec.minReplicas, split[track], `${track} minimum`);
                    assert.strictEqual(
                        (hpa.inputs as any).spec.maxReplicas,
                        router.maxReplicas(track, split[track], args) ?? template.maxReplicas,
                        `${track} maximum`,
                    );
                }
                // The pods are the weight under pod ratio; otherwise each track keeps its configured minimum.
                assert.deepStrictEqual(split, router.podRatio ? { stable: 3, canary: 1 } : { stable: 4, canary: 1 });
            });

            it("serves the host, and sends the canary its share only once both tracks have the capacity for it", async () => {
                const run = await declare(() => new CanaryDeployment("c", args));
                const routed = run.resources.filter((r) => JSON.stringify(r.inputs).includes('"shop.example.com"'));
                assert.ok(routed.length > 0, `${name} declares nothing for the host`);
                const weightAfter = ["c-stable", "c-canary", "c-stable-capacity-w25", "c-canary-capacity-w25"];
                // What carries the weight: the app's Service over both tracks under pod ratio, else the router's.
                const carriers = run.resources.filter(
                    (r) => r.parent === "c" && (r.dependsOn ?? []).includes("c-canary-capacity-w25"),
                );
                assert.ok(carriers.length > 0, `nothing ${name} declares waits for the canary's capacity`);
                for (const c of carriers) assert.deepStrictEqual(c.dependsOn, weightAfter, `${c.type} ${c.name}`);
                if (router.podRatio)
                    assert.deepStrictEqual(
                        carriers.map((c) => c.name),
                        ["c-live"],
                    );
                else
                    assert.ok(
                        carriers.every((c) => JSON.stringify(c.inputs).includes("shop-canary")),
                        "the weighed object sends the canary's share to its Service",
                    );
            });
        });
    }
});

describe("RollingDeployment", () => {
    it("declares one Deployment with the surge settings behind one Service and Ingress", async () => {
        const run = await declare(
            () =>
                new RollingDeployment("r", {
                    template,
                    version: "v3.0.0",
                    replicas: 3,
                    maxSurge: 1,
                    maxUnavailable: "10%",
                    progressDeadlineSeconds: 300,
                    host: "shop.example.com",
                    ingressClassName: "nginx",
                    tlsSecretName: "shop-tls",
                }),
        );
        const d = find(run, ":Deployment", "r-app-deployment");
        assert.strictEqual(at(d, "metadata.name"), "shop");
        assert.deepStrictEqual(at(d, "spec.strategy"), {
            type: "RollingUpdate",
            rollingUpdate: { maxSurge: 1, maxUnavailable: "10%" },
        });
        assert.strictEqual(at(d, "spec.progressDeadlineSeconds"), 300);
        assert.deepStrictEqual(
            all(run, ":Service").map((s) => at(s, "metadata.name")),
            ["shop"],
        );
        assert.deepStrictEqual(
            all(run, ":Ingress").map((s) => at(s, "metadata.name")),
            ["shop"],
        );
    });

    it("refuses settings that can never make progress", async () => {
        await assert.rejects(
            declare(
                () =>
                    new RollingDeployment("r", {
                        template,
                        version: "v3",
                        replicas: 3,
                        maxSurge: 0,
                        maxUnavailable: 0,
                        progressDeadlineSeconds: 300,
                        host: "a.example.com",
                        ingressClassName: "nginx",
                        tlsSecretName: "t",
                    }),
            ),
            /maxSurge and maxUnavailable cannot both be 0/,
        );
    });
});

// myapp's payment and email alerts, as custom alerts on these metric names.
const shopBusinessAlerts = businessAlertQueries(
    {
        paymentTotal: "pay.all",
        paymentFailed: "pay.bad",
        paymentSucceeded: "pay.ok",
        emailSent: "mail.sent",
        emailDelivered: "mail.ok",
    },
    20,
);

const monitoringArgs: ReleaseMonitoringArgs = {
    service: "shop",
    env: "prod",
    span: "express.request",
    kubeClusterName: "prod-eu",
    namespace: "prod",
    appName: "shop",
    autoscalers: ["shop-stable"],
    versions: [{ version: "v2", variantKey: "track", variantValue: "stable" }],
    releaseVersion: "v2",
    alerts: Object.fromEntries(
        ALERT_NAMES.map((n) => {
            const { plan, bad, severity, rolloutNoise, label, unit }: PlanAlert = PLAN_ALERTS[n];
            const query = isBusinessMetricAlert(n) ? shopBusinessAlerts[n as keyof typeof shopBusinessAlerts] : {};
            return [n, { critical: plan, bad, severity, rolloutNoise, label, unit, ...query }];
        }),
    ),
    notify: { pager: ["@pagerduty-shop"], chat: ["@slack-shop"] },
    priorities: { rollback: 1, critical: 2, warning: 4 },
    databaseScope: "db:shop",
    hostScope: "role:db",
    slo: { availabilityTarget: 99.5, latencyTarget: 95, latencySeconds: 2, timeframe: "7d" },
    trafficGuard: { minRequests: 100, excludeResources: ["get_/health/*"] },
    rollbackHint: "ask the release lead",
};

describe("ReleaseMonitoring", () => {
    it("says a rollback will not help on the version a rollback returns to", async () => {
        const run = await declare(() => new ReleaseMonitoring("mon", monitoringArgs));
        const m = find(run, ":Monitor", "mon-rollback-now-error-rate-pct-stable");
        assert.ok(
            at(m, "message").includes("This version is the one a rollback returns to, so rolling back will not help"),
        );
        assert.strictEqual(
            at(find(run, ":Monitor", "mon-rollback-now-error-rate-pct-stable-condition"), "query"),
            "sum(last_5m):sum:trace.express.request.errors{service:shop,env:prod,version:v2,!resource_name:get_/health/*}.as_count() / sum:trace.express.request.hits{service:shop,env:prod,version:v2,!resource_name:get_/health/*}.as_count() * 100 > 5",
        );
        assert.strictEqual(at(find(run, ":Monitor", "mon-cpu-pct"), "priority"), "4");
        assert.ok(
            at(find(run, ":Monitor", "mon-payment-success-pct"), "message").includes("roll back: ask the release lead"),
        );
        assert.deepStrictEqual(at(find(run, ":ServiceLevelObjective", "mon-availability-slo"), "thresholds"), [
            { timeframe: "7d", target: 99.5 },
        ]);
        assert.deepStrictEqual(all(run, ":DowntimeSchedule"), []);
    });

    it("declares only the alerts it is given, and needs no database or host scope for them", async () => {
        const { databaseScope: _d, hostScope: _h, ...rest } = monitoringArgs;
        const run = await declare(
            () =>
                new ReleaseMonitoring("mon", {
                    ...rest,
                    alerts: {
                        errorRatePct: {
                            critical: 2,
                            warning: 1,
                            bad: "above",
                            severity: "critical",
                            label: "Errors",
                            unit: "%",
                        },
                        cpuPct: monitoringArgs.alerts.cpuPct,
                    },
                    trafficGuard: { minRequests: 50, excludeResources: [] },
                }),
        );
        assert.deepStrictEqual(
            run.resources.map((r) => r.name),
            [
                "mon",
                "mon-error-rate-pct-stable-condition",
                "mon-low-requests-5m-stable",
                "mon-error-rate-pct-stable",
                "mon-cpu-pct",
                "mon-availability-slo",
                "mon-latency-slo",
                "mon-dashboard",
            ],
        );
        const condition = find(run, ":Monitor", "mon-error-rate-pct-stable-condition");
        assert.strictEqual(
            at(condition, "query"),
            "min(last_5m):sum:trace.express.request.errors{service:shop,env:prod,version:v2}.as_rate() / sum:trace.express.request.hits{service:shop,env:prod,version:v2}.as_rate() * 100 > 2",
        );
        assert.deepStrictEqual(at(condition, "monitorThresholds"), {
            critical: "2",
            warning: "1",
            criticalRecovery: "1.6",
        });
        assert.strictEqual(
            at(find(run, ":Monitor", "mon-error-rate-pct-stable"), "name"),
            "[prod] shop: Errors above 2% (track:stable)",
        );
        assert.strictEqual(
            at(find(run, ":Monitor", "mon-low-requests-5m-stable"), "query"),
            "sum(last_5m):sum:trace.express.request.hits{service:shop,env:prod,version:v2}.as_count() < 50",
        );
        const widgets = JSON.parse(at(find(run, ":DashboardJson", "mon-dashboard"), "dashboard")).widgets.map(
            (w: any) => w.definition.title,
        );
        assert.deepStrictEqual(widgets, [
            "Error rate by version (%)",
            "p50 response time by version (s)",
            "p95 response time by version (s)",
            "p99 response time by version (s)",
            "Throughput by version (requests/s)",
            "CPU by deployment (% of limit)",
            "Memory working set by deployment (% of limit)",
        ]);
    });

    it("refuses an alert whose query needs an argument it was not given, naming both", async () => {
        await assert.rejects(
            declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, databaseScope: undefined })),
            /alert dbQueryMs needs databaseScope/,
        );
        await assert.rejects(
            declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, hostScope: undefined })),
            /alert diskIoPct needs hostScope/,
        );
        await assert.rejects(
            declare(
                () =>
                    new ReleaseMonitoring("mon", {
                        ...monitoringArgs,
                        alerts: { cacheHitPct: { ...monitoringArgs.alerts.cacheHitPct!, warning: 70 } },
                    }),
            ),
            /alert cacheHitPct: warning 70 must be above critical 80/,
        );
    });

    it("declares a custom service-wide alert from Args with its own query, message, tags and thresholds", async () => {
        const queueDepth = {
            critical: 1000,
            warning: 500,
            bad: "above" as const,
            severity: "critical" as const,
            label: "Queue depth",
            unit: "jobs",
            query: {
                metric: "shop.queue.depth",
                timeAggregation: "avg" as const,
                spaceAggregation: "max" as const,
                window: "last_10m",
            },
        };
        const run = await declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, alerts: { queueDepth } }));
        const m = find(run, ":Monitor", "mon-queue-depth");
        assert.strictEqual(at(m, "name"), "[prod] shop: Queue depth above 1000 jobs");
        assert.strictEqual(at(m, "type"), "query alert");
        assert.strictEqual(at(m, "query"), "avg(last_10m):max:shop.queue.depth{service:shop,env:prod} > 1000");
        assert.deepStrictEqual(at(m, "monitorThresholds"), {
            critical: "1000",
            warning: "500",
            criticalRecovery: "800",
        });
        assert.deepStrictEqual(at(m, "tags"), [
            "service:shop",
            "env:prod",
            "managed-by:pulumi",
            "version:v2",
            "severity:critical",
            "plan-alert:queueDepth",
        ]);
        assert.strictEqual(at(m, "priority"), "2");
        assert.strictEqual(
            at(m, "message"),
            [
                "{{#is_alert}}Queue depth above 1000 jobs for shop in prod: {{value}} jobs.",
                "The on-call engineer is paged. If it started with the release, roll back: ask the release lead",
                "@pagerduty-shop @slack-shop{{/is_alert}}",
                "{{#is_warning}}Queue depth above 500 jobs for shop in prod: {{value}} jobs. Nearing the critical 1000. @slack-shop{{/is_warning}}",
                "{{#is_recovery}}Recovered: Queue depth for shop in prod is back within 500 jobs. @pagerduty-shop @slack-shop{{/is_recovery}}",
            ].join("\n"),
        );
    });

    it("judges a custom per-version alert per version in flight, behind its own traffic guard", async () => {
        const checkoutAbandonPct = {
            critical: 30,
            bad: "above" as const,
            severity: "rollback" as const,
            label: "Checkout abandonment",
            unit: "%",
            perVersion: true,
            query: {
                ratio: { numerator: "shop.checkout.abandoned", denominator: "shop.checkout.started" },
                window: "last_15m",
            },
            guard: { counter: "checkouts", metric: "shop.checkout.started", min: 30 },
        };
        const canary = {
            version: "v3",
            variantKey: "track" as const,
            variantValue: "canary",
            rollbackCommand: "pulumi config set --path canary.weight 0 && pulumi up",
        };
        const run = await declare(
            () =>
                new ReleaseMonitoring("mon", { ...monitoringArgs, versions: [canary], alerts: { checkoutAbandonPct } }),
        );
        assert.deepStrictEqual(
            all(run, ":Monitor").map((r) => r.name),
            [
                "mon-checkout-abandon-pct-canary-condition",
                "mon-low-checkouts-15m-canary",
                "mon-no-requests-5m-canary",
                "mon-checkout-abandon-pct-canary",
            ],
        );
        const condition = find(run, ":Monitor", "mon-checkout-abandon-pct-canary-condition");
        assert.strictEqual(
            at(condition, "query"),
            "sum(last_15m):sum:shop.checkout.abandoned{service:shop,env:prod,version:v3}.as_count() / sum:shop.checkout.started{service:shop,env:prod,version:v3}.as_count() * 100 > 30",
        );
        assert.deepStrictEqual(at(condition, "monitorThresholds"), { critical: "30", criticalRecovery: "24" });
        assert.strictEqual(
            at(find(run, ":Monitor", "mon-low-checkouts-15m-canary"), "query"),
            "sum(last_15m):sum:shop.checkout.started{service:shop,env:prod,version:v3}.as_count() < 30",
        );
        const m = find(run, ":Monitor", "mon-checkout-abandon-pct-canary");
        assert.strictEqual(at(m, "name"), "[prod] shop: Checkout abandonment above 30% (track:canary)");
        assert.strictEqual(at(m, "type"), "composite");
        assert.deepStrictEqual(at(m, "tags"), [
            "service:shop",
            "env:prod",
            "managed-by:pulumi",
            "version:v3",
            "track:canary",
            "severity:rollback",
            "plan-alert:checkoutAbandonPct",
        ]);
        assert.strictEqual(
            at(m, "message"),
            [
                "{{#is_alert}}Checkout abandonment above 30% for shop in prod (track:canary, version:v3).",
                "Roll back now: `pulumi config set --path canary.weight 0 && pulumi up`",
                "@pagerduty-shop @slack-shop{{/is_alert}}",
                "{{#is_recovery}}Recovered: Checkout abandonment for shop in prod (track:canary, version:v3) is back within 30 %. @pagerduty-shop @slack-shop{{/is_recovery}}",
            ].join("\n"),
        );
    });

    it("refuses a custom alert without a query, and a query on a built-in alert", async () => {
        const spec = {
            critical: 5,
            bad: "above" as const,
            severity: "warning" as const,
            label: "Queue depth",
            unit: "jobs",
        };
        await assert.rejects(
            declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, alerts: { queueDepth: spec } })),
            /alert queueDepth is not built in, so it needs a query/,
        );
        await assert.rejects(
            declare(
                () =>
                    new ReleaseMonitoring("mon", {
                        ...monitoringArgs,
                        alerts: { cpuPct: { ...spec, query: { query: "avg(last_5m):avg:x{$scope}" } } },
                    }),
            ),
            /alert cpuPct is built in: the library writes its query/,
        );
    });

    it("checks its arguments up front", async () => {
        await assert.rejects(
            declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, versions: [] })),
            /at least one version in flight is needed/,
        );
        await assert.rejects(
            declare(() => new ReleaseMonitoring("mon", { ...monitoringArgs, notify: { pager: [], chat: ["@c"] } })),
            /notify needs at least one pager and one chat handle/,
        );
    });
});
