import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { appLabels } from "../../kubernetes/objects";
import { ANNOTATION, COMPONENT } from "../../../policy/contract";
import { CanaryRouter, separateTracks } from "./router";

/** The ALB's settings. */
export interface AlbSettings {
    /** The load balancer's scheme: "internet-facing" or "internal". */
    scheme: string;
    /** The ACM certificate of the host, for the HTTPS listener. */
    certificateArn: pulumi.Input<string>;
    /** Seconds a deregistered target keeps its connections; the app's drainSeconds must exceed it. */
    deregistrationDelaySeconds: number;
}

/** The namespace label by which the AWS Load Balancer Controller injects its target-health readiness gate into pods. */
export const ALB_READINESS_GATE = "elbv2.k8s.aws/pod-readiness-gate-inject";

/** AWS Load Balancer Controller: the host's Ingress, whose weighted forward action carries the weight. */
export const albRouter: CanaryRouter<{
    /** The load balancer the AWS Load Balancer Controller makes for the host, and the canary's weighted action on it. */
    alb: AlbSettings;
}> = {
    ...separateTracks,
    // A pod is ready only once its ALB target is healthy, so no rollout or weight moves onto targets still in their
    // initial health checks (README, Decisions: "The ALB's readiness gate").
    podsAwait: ({ name, parent, args }) => [
        new k8s.core.v1.NamespacePatch(
            `${name}-alb-readiness-gate`,
            { metadata: { name: args.template.namespace, labels: { [ALB_READINESS_GATE]: "enabled" } } },
            { parent },
        ),
    ],
    route({ name, parent, args, appService, canaryService, weightAfter, mainIngress }) {
        const t = args.template;
        const alb = args.alb;
        const forward = (groups: { serviceName: string; weight: number }[]) =>
            JSON.stringify({
                type: "forward",
                forwardConfig: { targetGroups: groups.map((g) => ({ ...g, servicePort: "80" })) },
            });
        new k8s.networking.v1.Ingress(
            `${name}-ingress`,
            {
                metadata: {
                    name: t.appName,
                    namespace: t.namespace,
                    labels: appLabels(t.appName, COMPONENT.live),
                    // Awaited on the load balancer's address, where a refused certificate or a failed ALB shows on
                    // creation (README, Decisions: "Traffic objects store what the apply returned").
                    annotations: {
                        "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress[0].hostname}",
                        "alb.ingress.kubernetes.io/scheme": alb.scheme,
                        "alb.ingress.kubernetes.io/target-type": "ip",
                        // The controller probes "/" unless told otherwise; a pod is in service when it is ready.
                        "alb.ingress.kubernetes.io/healthcheck-path": t.readinessPath,
                        // 300 s unless set; the pods' preStop pause (drainSeconds) outlasts it (config checks), so a
                        // pod keeps serving until the ALB has stopped sending it requests.
                        "alb.ingress.kubernetes.io/target-group-attributes": `deregistration_delay.timeout_seconds=${alb.deregistrationDelaySeconds}`,
                        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS":443}]',
                        "alb.ingress.kubernetes.io/certificate-arn": alb.certificateArn,
                        "alb.ingress.kubernetes.io/actions.canary-by-header": forward([
                            { serviceName: canaryService, weight: 100 },
                        ]),
                        "alb.ingress.kubernetes.io/conditions.canary-by-header": JSON.stringify([
                            {
                                field: "http-header",
                                httpHeaderConfig: { httpHeaderName: args.headerName, values: ["always"] },
                            },
                        ]),
                        [ANNOTATION.albWeightedAction]: forward([
                            { serviceName: appService, weight: 100 - args.weight },
                            { serviceName: canaryService, weight: args.weight },
                        ]),
                    },
                },
                spec: {
                    ingressClassName: "alb",
                    rules: [
                        {
                            host: args.host,
                            http: {
                                paths: ["canary-by-header", "weighted"].map((action) => ({
                                    path: "/",
                                    pathType: "Prefix",
                                    backend: { service: { name: action, port: { name: "use-annotation" } } },
                                })),
                            },
                        },
                    ],
                },
            },
            { parent, dependsOn: weightAfter, aliases: mainIngress.aliases },
        );
    },
};
