import {
    capacityFollowsTraffic,
    containerProbesAndResources,
    hpaOnEveryDeployment,
    replicasSurviveNodeLoss,
} from "../../policy/capacity";
import {
    assertNoViolations,
    assertViolations,
    blueGreenStack,
    canaryStack,
    databaseStack,
    without,
    mutated,
} from "./fixtures";

describe("policy container-probes-and-resources", () => {
    it("passes sized containers, probed where they serve", () =>
        assertNoViolations(containerProbesAndResources, [...canaryStack(), ...databaseStack()]));

    it("refuses a Deployment container without a readiness probe", () =>
        assertViolations(
            containerProbesAndResources,
            mutated(
                canaryStack(),
                "shop-canary-deployment",
                (p) => delete p.spec.template.spec.containers[0].readinessProbe,
            ),
            [['container "app" has no readiness probe', "shop-canary-deployment"]],
        ));

    it("refuses a Job container without a memory limit, and asks no Job for probes", () => {
        const stack = mutated(databaseStack(), "shop-migrate-v2-1-0", (p) => {
            const c = p.spec.template.spec.containers[0];
            delete c.resources.limits.memory;
            delete c.livenessProbe;
        });
        return assertViolations(containerProbesAndResources, stack, [
            ['container "db" has no memory limit', "shop-migrate-v2-1-0"],
        ]);
    });

    it("refuses a container with no resources at all", () =>
        assertViolations(
            containerProbesAndResources,
            mutated(
                databaseStack(),
                "shop-db-backup",
                (p) => delete p.spec.jobTemplate.spec.template.spec.containers[0].resources,
            ),
            [['container "db" has no resource requests or limits', "shop-db-backup"]],
        ));
});

describe("policy replicas-survive-node-loss", () => {
    it("passes Deployments of 2 replicas with a budget that allows a drain", async () => {
        await assertNoViolations(replicasSurviveNodeLoss, canaryStack());
        await assertNoViolations(replicasSurviveNodeLoss, blueGreenStack());
    });

    it("refuses an autoscaler whose minimum is one replica", () =>
        assertViolations(
            replicasSurviveNodeLoss,
            mutated(canaryStack(), "shop-canary-hpa", (p) => (p.spec.minReplicas = 1)),
            [["Deployment shop-canary runs 1 replica: the loss of one node takes it down", "shop-canary-deployment"]],
        ));

    it("refuses a Deployment with no PodDisruptionBudget", () =>
        assertViolations(replicasSurviveNodeLoss, without(canaryStack(), "shop-stable-pdb"), [
            ["Deployment shop-stable has no PodDisruptionBudget", "shop-stable-deployment"],
        ]));

    it("refuses a budget that blocks every drain", async () => {
        await assertViolations(
            replicasSurviveNodeLoss,
            mutated(
                canaryStack(),
                "shop-stable-pdb",
                (p) => (p.spec = { ...p.spec, maxUnavailable: undefined, minAvailable: 2 }),
            ),
            [["the PodDisruptionBudget of shop-stable blocks every drain (minAvailable 2 of 2)", "shop-stable-pdb"]],
        );
        await assertViolations(
            replicasSurviveNodeLoss,
            mutated(canaryStack(), "shop-stable-pdb", (p) => (p.spec.maxUnavailable = 0)),
            [["the PodDisruptionBudget of shop-stable blocks every drain (maxUnavailable 0)", "shop-stable-pdb"]],
        );
    });

    it("leaves a Deployment scaled to 0 alone", () =>
        assertNoViolations(
            replicasSurviveNodeLoss,
            mutated(
                without(canaryStack(), "shop-canary-hpa", "shop-canary-pdb"),
                "shop-canary-deployment",
                (p) => (p.spec.replicas = 0),
            ),
        ));
});

describe("policy hpa-on-every-deployment", () => {
    it("passes Deployments each targeted by an autoscaler that owns their replicas", async () => {
        await assertNoViolations(hpaOnEveryDeployment, canaryStack());
        await assertNoViolations(hpaOnEveryDeployment, blueGreenStack());
    });

    it("refuses a Deployment whose autoscaler targets something else", () =>
        assertViolations(
            hpaOnEveryDeployment,
            mutated(canaryStack(), "shop-canary-hpa", (p) => (p.spec.scaleTargetRef.name = "something-else")),
            [["Deployment shop-canary has no HorizontalPodAutoscaler", "shop-canary-deployment"]],
        ));

    it("refuses spec.replicas set beside an autoscaler with neither ignoreChanges nor patchForce", async () => {
        const message =
            'Deployment shop-stable sets spec.replicas (2) that HorizontalPodAutoscaler shop-stable also sets, with neither ignoreChanges ["spec.replicas"] nor pulumi.com/patchForce: the apply conflicts once the autoscaler has scaled';
        await assertViolations(
            hpaOnEveryDeployment,
            mutated(canaryStack(), "shop-stable-deployment", (_p, r) => (r.ignoreChanges = [])),
            [[message, "shop-stable-deployment"]],
        );
        const forced = mutated(canaryStack(), "shop-stable-deployment", (p, r) => {
            r.ignoreChanges = [];
            p.metadata.annotations = { "pulumi.com/patchForce": "true" };
        });
        await assertNoViolations(hpaOnEveryDeployment, forced);
    });
});

describe("policy capacity-follows-traffic", () => {
    it("passes traffic that moves only onto awaited pods, and a canary autoscaler that can take its largest step", async () => {
        await assertNoViolations(capacityFollowsTraffic, canaryStack());
        await assertNoViolations(capacityFollowsTraffic, blueGreenStack());
    });

    it("refuses an active Service that switches colors without a capacity step", () =>
        assertViolations(
            capacityFollowsTraffic,
            mutated(blueGreenStack(), "shop-live", (_p, r) => (r.dependsOn = ["shop-smoke-blue"])),
            [
                [
                    "active Service shop switches to Deployment shop-blue without waiting for its ready pods for the traffic it takes over",
                    "shop-live",
                ],
            ],
        ));

    it("refuses a canary weight that moves without awaiting the canary's pods", () =>
        assertViolations(
            capacityFollowsTraffic,
            mutated(canaryStack(), "shop-canary-ingress", (_p, r) => (r.dependsOn = ["shop-stable-capacity"])),
            [
                [
                    "shop-canary-ingress moves the canary weight without waiting for the ready pods of Deployment shop-canary for its share",
                    "shop-canary-ingress",
                ],
            ],
        ));

    it("refuses a canary autoscaler too small for the largest step's share of the stable fleet", () =>
        assertViolations(
            capacityFollowsTraffic,
            mutated(canaryStack(), "shop-canary-hpa", (p) => (p.spec.maxReplicas = 4)),
            [
                [
                    "the canary's autoscaler stops at 4 pods, but its largest step (100%) can take that share of a fleet of up to 10: 10 pods",
                    "shop-canary-hpa",
                ],
            ],
        ));
});
