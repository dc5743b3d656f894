import { z } from "zod";
import { canaryRouterNames, isWeight } from "../../../components/traffic";
import { ZERO_DOWNTIME_ROLLOUT } from "../../../components/kubernetes";
import { dnsLabel, envName, hostname, person, pinnedImage, repository, version } from "./fields";

// The release and the strategies' sections: what runs, and how traffic moves from one version to the next.

const quantity = z
    .string()
    .regex(
        /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/,
        'must be a Kubernetes quantity such as "250m", "1" or "512Mi"',
    );
const httpPath = z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, "must be an absolute HTTP path such as /health");
const percentOrCount = z.union([z.number().int().min(0), z.string().regex(/^[0-9]{1,3}%$/)], {
    message: 'must be a whole number of pods or a percentage such as "25%"',
});

const resourceSchema = z.strictObject({
    requests: z.strictObject({ cpu: quantity, memory: quantity }),
    limits: z.strictObject({ cpu: quantity, memory: quantity }),
});

export const strategies = ["blue-green", "canary", "rolling"] as const;
const colors = ["blue", "green"] as const;

// An error for an unknown router lists the registry's names only.
const router = z.enum(canaryRouterNames);

/**
 * The release gate (lib/gate): what lifts a refusal, and where it reads Datadog when the monitors are not declared
 * here. It refuses before anything is declared; these keys are the person's answer to it.
 */
const gateSchema = z.strictObject({
    /** Raise traffic although the gate refuses: an emergency, recorded in the outputs and the plan with its approver. */
    override: z
        .strictObject({
            reason: z
                .string({ message: "is required: say why the gate's refusal is overridden" })
                .trim()
                .min(10, "must give a reason of at least 10 characters"),
            /** Who approved it; the policy pack requires one where gate-override-approved is mandatory (production). */
            approver: person.optional(),
        })
        .optional(),
    /** A version an automatic rollback halted that a person sends traffic to again. */
    resume: version.optional(),
    /**
     * The Datadog scope of a stack whose monitors are declared elsewhere (no monitoring section here): the span its
     * tracer gives inbound requests, the requests a step needs, and the resources that are not user traffic.
     */
    scope: z
        .strictObject({
            span: z.string().regex(/^[a-z0-9_.-]+$/, "must be an APM span name such as web.request"),
            minRequests: z.number().int().min(1, "must be at least 1").default(100),
            excludeResources: z
                .array(
                    z
                        .string()
                        .regex(/^[a-z0-9_./*-]+$/, 'must be a Datadog resource_name tag value such as "get_/health/*"'),
                )
                .default(["get_/health/*"]),
        })
        .optional(),
});

export const releaseSchema = z.strictObject({
    /** Application name: Deployment, Service and label prefix. */
    appName: dnsLabel(30).default("myapp"),
    namespace: dnsLabel(63),
    image: repository,
    /** The version this release brings. */
    version,
    /** The version a rollback returns to. */
    previousVersion: version.optional(),
    replicas: z.number().int().min(2, "must be at least 2 so that the loss of one node leaves a pod serving").max(200),
    maxReplicas: z.number().int().min(2).max(400),
    targetCpuUtilization: z.number().int().min(10).max(95).default(70),
    containerPort: z.number().int().min(1024, "must be 1024 or more: the pods run as a non-root user").max(65535),
    healthPaths: z.strictObject({ readiness: httpPath, liveness: httpPath }),
    resources: resourceSchema,
    env: z.record(envName, z.string()).default({}),
    host: hostname,
    tlsSecretName: dnsLabel(63),
    ingressClassName: z.string().min(1).default("nginx"),
    /**
     * Seconds a stopping pod keeps serving (preStop pause) before it is signalled, so Services and ingress
     * controllers stop routing to it first; longer than the cluster's endpoint propagation delay.
     */
    drainSeconds: z.number().int().min(1).max(120).default(10),
    /** The release gate's override, resume and Datadog scope (lib/gate). */
    gate: gateSchema.prefault({}),
});

const smokeTestSchema = z.strictObject({
    image: pinnedImage,
    command: z.array(z.string()).min(1, "must name the command to run"),
    timeoutSeconds: z.number().int().min(30).max(3600).default(300),
    /** Raised by one to run a failed smoke test of release.version again: it is part of the Job's name. */
    attempt: z.number().int().min(1).default(1),
});

export const blueGreenSchema = z.strictObject({
    blueVersion: version,
    greenVersion: version,
    activeColor: z.enum(colors),
    /** Replicas kept warm for the preview color; 0 scales it down and ends the instant rollback. */
    previewReplicas: z
        .number({
            error: (issue) =>
                issue.input === undefined
                    ? "is required: the replicas kept warm for the preview color, 0 to scale it down"
                    : undefined,
        })
        .int()
        .min(0)
        .max(200),
    previewHost: hostname,
    smokeTest: smokeTestSchema,
});

export const canarySchema = z.strictObject({
    stableVersion: version,
    canaryVersion: version,
    weight: z
        .number({ message: "must be a whole number from 0 to 100" })
        .refine(isWeight, "must be a whole number from 0 to 100"),
    steps: z
        .array(z.number().int().min(1).max(100))
        .min(1)
        .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]), { message: "must be strictly increasing" }),
    router,
    /** Canary pods for the ingress routers; the pod-ratio router derives them from the weight. */
    canaryReplicas: z.number().int().min(1).max(200).default(2),
    /** Upper bound of the canary's autoscaler for the ingress routers; release.maxReplicas when unset, as the last step may carry all traffic. */
    canaryMaxReplicas: z.number().int().min(1).max(400).optional(),
    headerName: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name")
        .default("X-Canary"),
    gateway: z
        .strictObject({ name: dnsLabel(63), namespace: dnsLabel(63), sectionName: z.string().optional() })
        .optional(),
    alb: z
        .strictObject({
            scheme: z.enum(["internet-facing", "internal"]).default("internet-facing"),
            certificateArn: z.string().startsWith("arn:aws:acm:"),
            /** Seconds the target group drains a deregistered pod (deregistration_delay.timeout_seconds); release.drainSeconds must outlast it. */
            deregistrationDelaySeconds: z.number().int().min(0).max(3600).default(30),
        })
        .optional(),
});

export const rollingSchema = z.strictObject({
    maxSurge: percentOrCount.default(ZERO_DOWNTIME_ROLLOUT.maxSurge),
    maxUnavailable: percentOrCount.default(ZERO_DOWNTIME_ROLLOUT.maxUnavailable),
    progressDeadlineSeconds: z.number().int().min(60).max(3600).default(ZERO_DOWNTIME_ROLLOUT.progressDeadlineSeconds),
});
