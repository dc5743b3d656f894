import {
    gateOverrideApproved,
    releaseOwnersAssigned,
    rollbackPathPresent,
    smokeTestBeforeSwitch,
} from "../../policy/release";
import {
    assertNoViolations,
    assertViolations,
    blueGreenStack,
    canaryStack,
    declared,
    named,
    without,
    mutated,
} from "./fixtures";

const COMPONENT_LABEL = "app.kubernetes.io/component";

describe("policy smoke-test-before-switch", () => {
    it("passes an active Service that waits for the smoke test of the color it selects, and a canary's app Service", async () => {
        await assertNoViolations(smokeTestBeforeSwitch, blueGreenStack());
        await assertNoViolations(smokeTestBeforeSwitch, canaryStack());
    });

    it("refuses a switch that does not wait for the color's smoke test", () =>
        assertViolations(
            smokeTestBeforeSwitch,
            mutated(blueGreenStack(), "shop-live", (_p, r) => (r.dependsOn = ["shop-blue-capacity"])),
            [["active Service shop selects blue without waiting for its smoke test", "shop-live"]],
        ));

    it("refuses a blue/green active Service that selects no color", () =>
        assertViolations(
            smokeTestBeforeSwitch,
            mutated(blueGreenStack(), "shop-live", (p) => delete p.spec.selector.color),
            [
                [
                    "active Service shop selects no color: it sends traffic to both colors, one of them untested",
                    "shop-live",
                ],
            ],
        ));

    it("refuses an unlabelled Service, which could be the active one", () =>
        assertViolations(
            smokeTestBeforeSwitch,
            mutated(blueGreenStack(), "shop-live", (p) => delete p.metadata.labels[COMPONENT_LABEL]),
            [
                [
                    "Service shop has no app.kubernetes.io/component label: the pack cannot tell whether it is the active Service, which must wait for its color's smoke test",
                    "shop-live",
                ],
            ],
        ));
});

describe("policy rollback-path-present", () => {
    it("passes both colors running, and a canary at a declared step with its stable track running", async () => {
        await assertNoViolations(rollbackPathPresent, blueGreenStack());
        await assertNoViolations(rollbackPathPresent, canaryStack());
    });

    it("refuses a preview color scaled to 0", () =>
        assertViolations(
            rollbackPathPresent,
            mutated(blueGreenStack(), "shop-green-hpa", (p) => (p.spec.minReplicas = 0)),
            [["the green color is scaled to 0: switching back would wait for cold pods", "shop-green-deployment"]],
        ));

    it("refuses a blue/green release with one color", () =>
        assertViolations(rollbackPathPresent, without(blueGreenStack(), "shop-green-deployment"), [
            ["the green color is not declared: there is nothing to switch back to", null],
        ]));

    it("refuses a canary whose stable track is scaled to 0 or missing", async () => {
        await assertViolations(
            rollbackPathPresent,
            mutated(canaryStack(), "shop-stable-hpa", (p) => (p.spec.minReplicas = 0)),
            [
                [
                    "stable Deployment shop-stable is scaled to 0: rolling back the canary would wait for cold pods",
                    "shop-stable-deployment",
                ],
            ],
        );
        await assertViolations(rollbackPathPresent, without(canaryStack(), "shop-stable-deployment"), [
            ["the canary has no stable track to fall back to", null],
        ]);
    });

    it("refuses a weight outside the steps the deployment-plan ConfigMap declares, read from the ConfigMap, not the code", async () => {
        await assertViolations(
            rollbackPathPresent,
            mutated(canaryStack(), "shop-deployment-plan", (p) => (p.data["canary-steps"] = "10,50,100")),
            [["canary weight 5 is not 0 or a declared step (10, 50, 100)", "shop-canary-ingress"]],
        );
        const moved = mutated(canaryStack(), "shop-deployment-plan", (p) => (p.data["canary-steps"] = "10,50,100"));
        named(moved, "shop-canary-ingress").props.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"] =
            "50";
        await assertNoViolations(rollbackPathPresent, moved);
    });

    it("reads the weight from an HTTPRoute's backendRefs", async () => {
        const route = (canaryWeight: number) =>
            declared("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "shop-route", {
                spec: {
                    rules: [
                        {
                            backendRefs: [
                                { name: "shop", weight: 100 - canaryWeight },
                                { name: "shop-canary", weight: canaryWeight },
                            ],
                        },
                    ],
                },
            });
        const stack = without(canaryStack(), "shop-canary-ingress");
        await assertNoViolations(rollbackPathPresent, [...stack, route(25)]);
        await assertViolations(
            rollbackPathPresent,
            [...stack, route(30)],
            [["canary weight 30 is not 0 or a declared step (5, 25, 100)", "shop-route"]],
        );
    });

    it("refuses a canary whose steps no ConfigMap declares", () =>
        assertViolations(
            rollbackPathPresent,
            mutated(canaryStack(), "shop-deployment-plan", (p) => delete p.data["canary-steps"]),
            [["no deployment-plan ConfigMap declares the canary's steps (key canary-steps)", null]],
        ));

    it("refuses a Deployment with neither a color nor a track label", () =>
        assertViolations(
            rollbackPathPresent,
            mutated(canaryStack(), "shop-canary-deployment", (p) => delete p.metadata.labels.track),
            [
                [
                    "Deployment shop-canary has neither a color nor a track label: the pack cannot tell which rollback path it belongs to",
                    "shop-canary-deployment",
                ],
            ],
        ));
});

describe("policy release-owners-assigned", () => {
    it("passes a deployment-plan ConfigMap that names the deployment lead and the rollback owner", () =>
        assertNoViolations(releaseOwnersAssigned, canaryStack()));

    it("refuses a plan without a rollback owner", () =>
        assertViolations(
            releaseOwnersAssigned,
            mutated(canaryStack(), "shop-deployment-plan", (p) => (p.data["rollback-owner"] = " ")),
            [
                [
                    "no rollback owner is assigned: ConfigMap shop-deployment-plan has no rollback-owner (set plan.people.rollbackOwner)",
                    "shop-deployment-plan",
                ],
            ],
        ));

    it("refuses a plan ConfigMap without data: nobody is assigned", () =>
        assertViolations(
            releaseOwnersAssigned,
            mutated(canaryStack(), "shop-deployment-plan", (p) => delete p.data),
            [
                [
                    "no deployment lead is assigned: ConfigMap shop-deployment-plan has no deployment-lead (set plan.people.deploymentLead)",
                    "shop-deployment-plan",
                ],
                [
                    "no rollback owner is assigned: ConfigMap shop-deployment-plan has no rollback-owner (set plan.people.rollbackOwner)",
                    "shop-deployment-plan",
                ],
            ],
        ));

    it("refuses a stack that runs the app with no deployment-plan ConfigMap", () =>
        assertViolations(releaseOwnersAssigned, without(canaryStack(), "shop-deployment-plan"), [
            ["no deployment-plan ConfigMap names the release's deployment lead and rollback owner", null],
        ]));
});

describe("policy gate-override-approved", () => {
    it("passes a plan that records no override of the release gate", () =>
        assertNoViolations(gateOverrideApproved, canaryStack()));

    it("passes an override with a reason and an approver", () =>
        assertNoViolations(
            gateOverrideApproved,
            mutated(canaryStack(), "shop-deployment-plan", (p) =>
                Object.assign(p.data, { "gate-override-reason": "hotfix for INC-7", "gate-override-approver": "@cto" }),
            ),
        ));

    it("refuses an override without an approver", () =>
        assertViolations(
            gateOverrideApproved,
            mutated(
                canaryStack(),
                "shop-deployment-plan",
                (p) => (p.data["gate-override-reason"] = "hotfix for INC-7"),
            ),
            [
                [
                    "the release gate is overridden without an approver: ConfigMap shop-deployment-plan has no gate-override-approver (set release.gate.override.approver)",
                    "shop-deployment-plan",
                ],
            ],
        ));

    it("refuses an override without a reason", () =>
        assertViolations(
            gateOverrideApproved,
            mutated(canaryStack(), "shop-deployment-plan", (p) => (p.data["gate-override-approver"] = "@cto")),
            [
                [
                    "the release gate is overridden without a reason: ConfigMap shop-deployment-plan has no gate-override-reason (set release.gate.override.reason)",
                    "shop-deployment-plan",
                ],
            ],
        ));
});
