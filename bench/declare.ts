// Declares N canary deployments in one program under mocks and prints the wall time and peak memory as JSON.
import { CanaryDeployment } from "../components/canaryDeployment";
import { captureDeclarations } from "../lib/offline/capture";

async function main(count: number): Promise<void> {
    const start = process.hrtime.bigint();
    const run = await captureDeclarations({ project: "bench", stack: "bench", config: {}, secretKeys: [] }, async () => {
        for (let i = 0; i < count; i++) {
            new CanaryDeployment(`app${i}`, {
                template: {
                    appName: `app${i}`,
                    namespace: "bench",
                    image: "registry.example.com/app",
                    containerPort: 8080,
                    readinessPath: "/ready",
                    livenessPath: "/live",
                    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi" } },
                    env: {},
                    secretEnvFrom: [],
                    maxReplicas: 10,
                    drainSeconds: 10,
                    targetCpuUtilization: 70,
                },
                stableVersion: "v1.0.0",
                canaryVersion: "v1.1.0",
                weight: 5,
                router: "nginx",
                replicas: 4,
                canaryReplicas: 1,
                canaryMaxReplicas: 10,
                headerName: "X-Canary",
                host: `app${i}.example.com`,
                ingressClassName: "nginx",
                tlsSecretName: "tls",
            });
        }
        return {};
    });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(JSON.stringify({ count, resources: run.resources.length, ms: Math.round(ms), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

main(Number(process.argv[2])).then(
    () => process.exit(0),
    (err) => {
        console.error(err);
        process.exit(1);
    },
);
