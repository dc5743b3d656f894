import * as assert from "assert";
import { albHostname } from "./lib/cluster";
import { engineLog, kube, namespace, pods, timedUp } from "./lib/engine";
import { Kube } from "./lib/kube";
import { measure } from "./lib/report";
import { projectStack, ProjectStack } from "./lib/stack";

// The production canary with the ALB router. The ALB Ingress is awaited on `pulumi.com/waitFor` for the load
// balancer's host name, which the AWS Load Balancer Controller publishes (the harness does the same): this runs that
// expression through the real provider's jsonpath condition (pulumi/pulumi-kubernetes provider/pkg/jsonpath,
// pkg/await/condition/jsonpath.go), which a typo in it would fail at `pulumi up`. The pods' preStop pause outlasts the
// target group's deregistration delay (release.drainSeconds 40 against 30), as config requires with this router.
const NS = "e2e-alb";
const APP = { "app.kubernetes.io/name": "myapp" };
const INGRESS = `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/myapp`;
const WEIGHTED = "alb.ingress.kubernetes.io/actions.weighted";

async function split(k: Kube): Promise<Record<string, number>> {
    const action = JSON.parse((await k.get(INGRESS)).metadata.annotations[WEIGHTED]);
    return Object.fromEntries(
        action.forwardConfig.targetGroups.map((g: { serviceName: string; weight: number }) => [
            g.serviceName,
            g.weight,
        ]),
    );
}

describe("canary with the ALB router on the engine: pulumi up waits for the load balancer's address; a weight shift changes only the ALB Ingress", function () {
    let ps: ProjectStack;
    let k: Kube;
    let resources = 0;
    const onOutput = engineLog();

    before(async function () {
        k = kube();
        await namespace(k, NS);
        ps = await projectStack({
            base: "production",
            name: "e2e-alb",
            drop: ["database", "backup", "monitoring"],
            set: {
                "release.namespace": NS,
                "release.drainSeconds": "40",
                "canary.router": "alb",
                "canary.alb.certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/e2e",
            },
        });
    });

    it("pulumi up returns once the ALB Ingress carries the load balancer's host name", async function () {
        const up = await timedUp(ps, onOutput);
        measure("alb.firstDeploy", up);
        resources = up.changes.create;
        const ingress = await k.get(INGRESS);
        assert.strictEqual(
            ingress.metadata.annotations["pulumi.com/waitFor"],
            "jsonpath={.status.loadBalancer.ingress[0].hostname}",
        );
        assert.deepStrictEqual(ingress.status.loadBalancer.ingress, [{ hostname: albHostname(NS, "myapp") }]);
        assert.deepStrictEqual(await split(k), { myapp: 95, "myapp-canary": 5 });
        assert.strictEqual(
            ingress.metadata.annotations["alb.ingress.kubernetes.io/target-group-attributes"],
            "deregistration_delay.timeout_seconds=30",
        );
        // The label by which the AWS Load Balancer Controller injects its target-health readiness gate into new pods.
        assert.strictEqual(
            (await k.get(`/api/v1/namespaces/${NS}`)).metadata.labels["elbv2.k8s.aws/pod-readiness-gate-inject"],
            "enabled",
        );
        const pod = (await k.list(`/api/v1/namespaces/${NS}/pods?labelSelector=app.kubernetes.io%2Fname%3Dmyapp`))[0];
        assert.deepStrictEqual(pod.spec.containers[0].lifecycle.preStop, { sleep: { seconds: 40 } });
    });

    it("weight 25 updates only the ALB Ingress, after the decision's capacity steps: the API server holds the 75/25 split and no pod restarts", async function () {
        const before = await pods(k, NS, APP);
        await ps.stack.setConfig("canary.weight", { value: "25" }, true);
        const up = await timedUp(ps, onOutput);
        measure("alb.weightShift", up);
        assert.deepStrictEqual(up.steps, {
            create: ["myapp-canary-capacity-w25", "myapp-stable-capacity-w25"],
            delete: ["myapp-canary-capacity-w5", "myapp-stable-capacity-w5"],
            update: ["myapp-ingress"],
        });
        assert.deepStrictEqual(up.changes, { create: 2, delete: 2, read: 2, update: 1, same: resources - 3 });
        assert.deepStrictEqual(await split(k), { myapp: 75, "myapp-canary": 25 });
        assert.deepStrictEqual(await pods(k, NS, APP), before);
    });
});
