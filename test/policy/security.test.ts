import { imagesPinnedAndAllowed, noPlaintextSecrets, restrictedPodSecurity } from "../../policy/security";
import {
    assertNoViolations,
    assertViolations,
    blueGreenStack,
    canaryStack,
    databaseStack,
    Declared,
    named,
} from "./fixtures";

/** A clean canary stack with one field of `name`'s first container (or its pod spec) changed. */
function withContainer(name: string, change: (c: any, pod: any) => void): Declared[] {
    const stack = [...canaryStack(), ...databaseStack()];
    const spec = named(stack, name).props.spec;
    const pod = spec.template?.spec ?? spec.jobTemplate.spec.template.spec;
    change(pod.containers[0], pod);
    return stack;
}

describe("policy images-pinned-and-allowed", () => {
    it("passes pinned images from the allowed registry, in Deployments, Jobs and CronJobs", () =>
        assertNoViolations(imagesPinnedAndAllowed, [...blueGreenStack(), ...databaseStack()]));

    it("refuses an image from a registry the config does not allow", () =>
        assertViolations(
            imagesPinnedAndAllowed,
            withContainer("shop-stable-deployment", (c) => (c.image = "docker.io/someone/shop:v2.0.0")),
            [
                [
                    'container "app" pulls from docker.io, not an allowed registry (registry.example.com)',
                    "shop-stable-deployment",
                ],
            ],
        ));

    it("allows the registries the stack's config names instead of the default", () =>
        assertViolations(
            imagesPinnedAndAllowed,
            canaryStack(),
            [
                [
                    'container "app" pulls from registry.example.com, not an allowed registry (ghcr.io)',
                    "shop-stable-deployment",
                ],
                [
                    'container "app" pulls from registry.example.com, not an allowed registry (ghcr.io)',
                    "shop-canary-deployment",
                ],
            ],
            { allowedRegistries: ["ghcr.io"] },
        ));

    it("refuses latest, alone or before a digest, and a malformed digest", async () => {
        for (const image of [
            "registry.example.com/shop:latest",
            `registry.example.com/shop:latest@sha256:${"a".repeat(64)}`,
            "registry.example.com/shop@sha256:abc",
        ]) {
            await assertViolations(
                imagesPinnedAndAllowed,
                withContainer("shop-migrate-v2-1-0", (c) => (c.image = image)),
                [[`container "db" runs ${image}, which is not pinned to a tag or digest`, "shop-migrate-v2-1-0"]],
            );
        }
    });

    it("checks init containers too", () =>
        assertViolations(
            imagesPinnedAndAllowed,
            withContainer(
                "shop-db-backup",
                (c, pod) => (pod.initContainers = [{ ...c, name: "wait", image: "busybox" }]),
            ),
            [
                ['container "wait" runs busybox, which is not pinned to a tag or digest', "shop-db-backup"],
                [
                    'container "wait" pulls from docker.io, not an allowed registry (registry.example.com)',
                    "shop-db-backup",
                ],
            ],
        ));
});

describe("policy restricted-pod-security", () => {
    it("passes pods that meet the restricted Pod Security Standard", () =>
        assertNoViolations(restrictedPodSecurity, [...blueGreenStack(), ...databaseStack()]));

    const cases: [string, (c: any, pod: any) => void, string][] = [
        [
            "privilege escalation",
            (c) => (c.securityContext.allowPrivilegeEscalation = true),
            'container "app" allows privilege escalation',
        ],
        [
            "no runAsNonRoot on pod or container",
            (_c, pod) => delete pod.securityContext.runAsNonRoot,
            'container "app" may run as root: set runAsNonRoot',
        ],
        [
            "no seccomp profile",
            (_c, pod) => (pod.securityContext.seccompProfile = { type: "Unconfined" }),
            'container "app" has no RuntimeDefault seccomp profile',
        ],
        ["a privileged container", (c) => (c.securityContext.privileged = true), 'container "app" is privileged'],
        [
            "capabilities kept",
            (c) => (c.securityContext.capabilities.drop = ["NET_RAW"]),
            'container "app" does not drop all capabilities',
        ],
        [
            "a writable root filesystem",
            (c) => delete c.securityContext.readOnlyRootFilesystem,
            'container "app" has a writable root filesystem',
        ],
        ["the host's network", (_c, pod) => (pod.hostNetwork = true), "the pod shares a host namespace"],
    ];
    for (const [what, change, message] of cases) {
        it(`refuses ${what}`, () =>
            assertViolations(restrictedPodSecurity, withContainer("shop-canary-deployment", change), [
                [message, "shop-canary-deployment"],
            ]));
    }
});

describe("policy no-plaintext-secrets", () => {
    it("passes env taken from Secrets and ConfigMaps without secrets", () =>
        assertNoViolations(noPlaintextSecrets, [...canaryStack(), ...databaseStack()]));

    it("refuses a password set in plain env", () =>
        assertViolations(
            noPlaintextSecrets,
            withContainer("shop-stable-deployment", (c) =>
                c.env.push({ name: "DB_PASSWORD", value: "hunter2hunter2" }),
            ),
            [['container "app" sets DB_PASSWORD in plain text; take it from a Secret', "shop-stable-deployment"]],
        ));

    it("refuses a credentialed URL whatever the variable's name", () =>
        assertViolations(
            noPlaintextSecrets,
            withContainer("shop-db-backup", (c) =>
                c.env.push({ name: "TARGET", value: "postgresql://shop:hunter2@db:5432/shop" }),
            ),
            [['container "db" sets TARGET in plain text; take it from a Secret', "shop-db-backup"]],
        ));

    it("refuses a ConfigMap entry that holds a secret", () => {
        const stack = canaryStack();
        named(stack, "shop-deployment-plan").props.data["env.sh"] =
            "export DATABASE_URL=postgresql://shop:hunter2@db:5432/shop";
        return assertViolations(noPlaintextSecrets, stack, [
            ['ConfigMap key "env.sh" holds what looks like a secret; use a Secret', "shop-deployment-plan"],
        ]);
    });
});
