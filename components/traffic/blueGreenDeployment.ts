import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    appLabels,
    appService,
    awaitedJob,
    batchLabels,
    batchPodTemplate,
    hostIngress,
    versionedName,
} from "../kubernetes/objects";
import { AppWorkload, WorkloadTemplate, ZERO_DOWNTIME_ROLLOUT } from "../kubernetes/workload";
import { COMPONENT, LABEL } from "../../policy/contract";
import { acrossStrategies, LibraryComponent } from "../componentType";
import { liveTrack, planCapacity, trafficStep } from "./capacity";

export type Color = "blue" | "green";
const COLORS: Color[] = ["blue", "green"];

/** What a color is to the release: active (serving production traffic) or preview (argo-rollouts' words). */
type Role = "active" | "preview";
/**
 * The suffix of a role's capacity steps: the names the first releases gave them, before the roles took argo-rollouts'
 * words. A new name would be a new resource in every stack's state.
 */
const STEP_SUFFIX: Record<Role, string> = { active: "live", preview: "standby" };

export interface SmokeTest {
    /** Pinned image that runs the smoke tests. */
    image: string;
    /** Command and arguments; the target base URL arrives in SMOKE_URL. */
    command: string[];
    /** Deadline for the whole Job. */
    timeoutSeconds: number;
    /**
     * Raised by one to run the smoke test of the version being released again, after a failure: part of the Job's
     * name, so the failed Job is replaced by a new one. 1 when left out.
     */
    attempt?: number;
}

export interface BlueGreenDeploymentArgs {
    /** The shared pod definition. */
    template: WorkloadTemplate;
    /** Version each color runs. */
    versions: Record<Color, string>;
    /** Color the active Service and the public host send traffic to. */
    activeColor: Color;
    /** Minimum replicas of the active color. */
    replicas: number;
    /** Minimum replicas of the preview color, kept warm for an instant rollback; 0 scales it down. */
    previewReplicas: number;
    /** Public host of the active Service. */
    host: string;
    /** Public host of the preview Service (the color not serving). */
    previewHost: string;
    /** IngressClass that serves both hosts. */
    ingressClassName: string;
    /** TLS Secret covering both hosts. */
    tlsSecretName: pulumi.Input<string>;
    /** Smoke test run against each color whenever its version changes, before traffic can reach it. */
    smokeTest: SmokeTest;
    /** Resources that must succeed before either color rolls out, such as the release's migration Job. */
    after?: pulumi.Resource[];
    /** The version whose smoke test `smokeTest.attempt` retries. */
    releaseVersion?: string;
    /**
     * On a rollback, the color running the version rolled back from: it keeps the pods the cluster runs and runs no
     * smoke test, so a failed one cannot hold the rollback up.
     */
    hold?: Color;
}

/**
 * Two colors of the app side by side, in argo-rollouts' words: the active Service selects `activeColor`; the preview
 * Service selects the other, the preview color. Each color's version is smoke-tested through that color's own Service
 * by a Job named after the version, and the active Service waits for the active color's test, so a failed test leaves
 * traffic where it was. Switching colors changes only the two Services' selectors: no pod restarts, and a switch back
 * is instant while the preview color is warm.
 */
export class BlueGreenDeployment extends LibraryComponent {
    /** Each color's workload. */
    public readonly workloads: Record<Color, AppWorkload>;
    /** The Service that receives production traffic. */
    public readonly activeService: k8s.core.v1.Service;
    /** The Service in front of the preview color. */
    public readonly previewService: k8s.core.v1.Service;
    /** URL of the public host, which the active Service serves. */
    public readonly activeUrl: string;
    /** URL of the preview host. */
    public readonly previewUrl: string;

    constructor(name: string, args: BlueGreenDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("BlueGreenDeployment", name, opts);
        if (!COLORS.includes(args.activeColor)) {
            throw new pulumi.ResourceError(`activeColor must be "blue" or "green", got "${args.activeColor}"`, this);
        }
        if (args.replicas < 1)
            throw new pulumi.ResourceError(`the active color needs at least 1 replica, got ${args.replicas}`, this);
        const t = args.template;
        const app = t.appName;
        const previewColor: Color = args.activeColor === "blue" ? "green" : "blue";

        // The switch, in order: the incoming color's capacity (capacity.ts) and smoke test, then the active Service,
        // then the outgoing color's drop to previewReplicas, so the active Service never selects fewer ready pods than
        // it had.
        const workloads = {} as Record<Color, AppWorkload>;
        const colorServices = {} as Record<Color, k8s.core.v1.Service>;
        for (const color of [args.activeColor, previewColor]) {
            workloads[color] = new AppWorkload(
                `${name}-${color}`,
                {
                    template: t,
                    deploymentName: `${app}-${color}`,
                    version: args.versions[color],
                    variantLabels: { [LABEL.color]: color },
                    replicas: color === args.activeColor ? args.replicas : args.previewReplicas,
                    readLive: true,
                    frozen: args.hold === color,
                    after: args.after ?? [],
                },
                { parent: this },
            );
            colorServices[color] = appService(
                `${name}-${color}-svc`,
                {
                    serviceName: `${app}-${color}`,
                    namespace: t.namespace,
                    selector: workloads[color].selectorLabels,
                    labels: { ...appLabels(app, COMPONENT.color), [LABEL.color]: color },
                },
                { parent: this },
            );
        }
        this.workloads = workloads;
        const plan = pulumi
            .all([liveTrack(workloads[args.activeColor].live), liveTrack(workloads[previewColor].live)])
            .apply(([active, preview]) =>
                planCapacity(
                    {
                        active: {
                            configured: args.replicas,
                            share: 100,
                            max: workloads[args.activeColor].maxReplicas,
                            live: active,
                        },
                        preview: {
                            configured: args.previewReplicas,
                            share: 0,
                            max: workloads[previewColor].maxReplicas,
                            live: preview,
                        },
                    },
                    { shrinkGiving: false },
                ),
            );
        const step = (color: Color, role: Role, kind: "capacity" | "settle", after: pulumi.Resource[]) =>
            trafficStep(
                `${name}-${color}-${kind}-${STEP_SUFFIX[role]}`,
                {
                    deploymentName: `${app}-${color}`,
                    namespace: t.namespace,
                    capacity: plan.apply((p) => p[role]),
                    share: role === "active" ? 100 : 0,
                    timeoutSeconds: ZERO_DOWNTIME_ROLLOUT.progressDeadlineSeconds,
                    settle: kind === "settle",
                    record: true,
                },
                { parent: workloads[color], dependsOn: after },
            );
        const smoke = (color: Color, after: pulumi.Resource[]) =>
            args.hold === color
                ? undefined
                : this.smokeJob(
                      `${name}-smoke-${color}`,
                      args,
                      color,
                      `http://${app}-${color}.${t.namespace}.svc.cluster.local`,
                      after,
                  );

        const incoming = step(args.activeColor, "active", "capacity", [
            workloads[args.activeColor].autoscale(plan.apply((p) => p.active.floor)),
        ]);
        const incomingSmoke = smoke(args.activeColor, [workloads[args.activeColor], colorServices[args.activeColor]]);
        // `<name>-live`, as the app's Service is named in every strategy (acrossStrategies): a change of strategy, or
        // of words, keeps the object.
        this.activeService = appService(
            `${name}-live`,
            {
                serviceName: app,
                namespace: t.namespace,
                selector: workloads[args.activeColor].selectorLabels,
                labels: appLabels(app, COMPONENT.live),
                selectorMoves: true,
            },
            {
                parent: this,
                dependsOn: incomingSmoke ? [incoming, incomingSmoke] : [incoming],
                aliases: acrossStrategies(name, "BlueGreenDeployment"),
            },
        );
        if (args.previewReplicas > 0) {
            const hpa = workloads[previewColor].autoscale(
                plan.apply((p) => p.preview.floor),
                [this.activeService],
            );
            step(previewColor, "preview", "capacity", [hpa]);
            smoke(previewColor, [workloads[previewColor], colorServices[previewColor]]);
        } else {
            step(previewColor, "preview", "settle", [this.activeService]);
        }
        this.previewService = appService(
            `${name}-preview`,
            {
                serviceName: `${app}-preview`,
                namespace: t.namespace,
                selector: workloads[previewColor].selectorLabels,
                labels: appLabels(app, COMPONENT.preview),
                selectorMoves: true,
            },
            // Moves with the active Service: when the incoming color's smoke test fails, the preview host keeps
            // reaching that color for debugging instead of selecting the active one too.
            { parent: this, dependsOn: [this.activeService] },
        );
        const ingress = {
            namespace: t.namespace,
            ingressClassName: args.ingressClassName,
            tlsSecretName: args.tlsSecretName,
        };
        hostIngress(
            `${name}-ingress`,
            {
                ...ingress,
                ingressName: app,
                host: args.host,
                backend: { serviceName: app, port: 80 },
                labels: appLabels(app, COMPONENT.live),
            },
            // The first releases named it `<name>-live-ingress`; the other strategies name theirs `<name>-ingress`.
            {
                parent: this,
                dependsOn: [this.activeService],
                aliases: [{ name: `${name}-live-ingress` }, ...acrossStrategies(name, "BlueGreenDeployment")],
            },
        );
        hostIngress(
            `${name}-preview-ingress`,
            {
                ...ingress,
                ingressName: `${app}-preview`,
                host: args.previewHost,
                backend: { serviceName: `${app}-preview`, port: 80 },
                labels: appLabels(app, COMPONENT.preview),
            },
            { parent: this, dependsOn: [this.previewService] },
        );

        this.activeUrl = `https://${args.host}`;
        this.previewUrl = `https://${args.previewHost}`;
        this.registerOutputs({
            activeColor: args.activeColor,
            activeVersion: args.versions[args.activeColor],
            previewVersion: args.versions[previewColor],
            activeUrl: this.activeUrl,
            previewUrl: this.previewUrl,
        });
    }

    private smokeJob(
        name: string,
        args: BlueGreenDeploymentArgs,
        color: Color,
        url: string,
        after: pulumi.Resource[],
    ): k8s.batch.v1.Job {
        const t = args.template;
        const version = args.versions[color];
        const attempt =
            version === args.releaseVersion && (args.smokeTest.attempt ?? 1) > 1 ? `-a${args.smokeTest.attempt}` : "";
        const labels = { ...batchLabels(t.appName, COMPONENT.smokeTest), [LABEL.color]: color };
        return awaitedJob(
            name,
            {
                jobName: versionedName(`${t.appName}-smoke-${color}`, `${version}${attempt}`),
                namespace: t.namespace,
                labels,
                deadlineSeconds: args.smokeTest.timeoutSeconds,
                backoffLimit: 1,
                template: batchPodTemplate({
                    labels,
                    container: {
                        name: "smoke-test",
                        image: args.smokeTest.image,
                        command: args.smokeTest.command,
                        env: [
                            { name: "SMOKE_URL", value: url },
                            { name: "EXPECTED_VERSION", value: version },
                        ],
                    },
                }),
            },
            // A smoke test runs once for its purpose, the color's version and attempt: a new smoke image or deadline
            // does not run the active color's test again (README, Decisions: "One Job per purpose").
            { parent: this, dependsOn: after, ignoreChanges: ["spec"] },
        );
    }
}
