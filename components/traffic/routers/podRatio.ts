import { appLabels, hostIngress } from "../../kubernetes/objects";
import { COMPONENT } from "../../../policy/contract";
import { replicaSplit } from "../weights";
import { CanaryRouter } from "./router";

/**
 * The pod ratio (stack config `canary.router: pod-ratio`): no object weighs traffic; the host's Ingress sends it to
 * a Service over both tracks, whose pods split `replicas` by the weight.
 */
export const podRatioRouter: CanaryRouter = {
    podRatio: true,
    split: (args) => replicaSplit(args.replicas, args.weight),
    // Both tracks scale on CPU with bounds in proportion, so the ratio holds under load.
    maxReplicas: (_track, replicas, args) => Math.ceil((args.template.maxReplicas * replicas) / args.replicas),
    route({ name, args, appService, mainIngress }) {
        hostIngress(
            `${name}-ingress`,
            {
                namespace: args.template.namespace,
                host: args.host,
                labels: appLabels(args.template.appName, COMPONENT.live),
                ingressName: args.template.appName,
                ingressClassName: args.ingressClassName,
                tlsSecretName: args.tlsSecretName,
                backend: { serviceName: appService, port: 80 },
            },
            mainIngress,
        );
    },
};
