import { appLabels, appliedStateAnnotations, hostIngress } from "../../kubernetes/objects";
import { ANNOTATION, COMPONENT } from "../../../policy/contract";
import { CanaryRouter, separateTracks } from "./router";

/** ingress-nginx: the host's Ingress to the stable Service, and a canary Ingress whose annotation carries the weight. */
export const nginxRouter: CanaryRouter = {
    ...separateTracks,
    route({ name, parent, args, appService, canaryService, weightAfter, mainIngress }) {
        const app = args.template.appName;
        const main = {
            namespace: args.template.namespace,
            host: args.host,
            labels: appLabels(app, COMPONENT.live),
            ingressClassName: args.ingressClassName,
            tlsSecretName: args.tlsSecretName,
        };
        hostIngress(
            `${name}-ingress`,
            { ...main, ingressName: app, backend: { serviceName: appService, port: 80 } },
            mainIngress,
        );
        hostIngress(
            `${name}-canary-ingress`,
            {
                ...main,
                tlsSecretName: undefined,
                ingressName: `${app}-canary`,
                backend: { serviceName: canaryService, port: 80 },
                labels: appLabels(app, COMPONENT.canary),
                annotations: {
                    ...appliedStateAnnotations,
                    [ANNOTATION.nginxCanary]: "true",
                    [ANNOTATION.nginxCanaryWeight]: String(args.weight),
                    "nginx.ingress.kubernetes.io/canary-by-header": args.headerName,
                },
            },
            { parent, dependsOn: weightAfter },
        );
    },
};
