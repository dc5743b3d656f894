import * as k8s from "@pulumi/kubernetes";
import { appLabels } from "../../kubernetes/objects";
import { COMPONENT } from "../../../policy/contract";
import { CanaryRouter, separateTracks } from "./router";

/** The Gateway (and optionally its listener) that the HTTPRoute attaches to. */
export interface GatewayRef {
    /** The Gateway's name. */
    name: string;
    /** Its namespace. */
    namespace: string;
    /** The listener to attach to; every listener that admits the route when left out. */
    sectionName?: string;
}

/**
 * The `pulumi.com/waitFor` expression for a condition of the route's status for this Gateway (not whichever parent
 * is listed first), at the route's current generation (README, Decisions: "HTTPRoute conditions per parent and
 * generation").
 */
export function routeCondition(gateway: { name: string; namespace: string }, type: string): string {
    const parent = `@.parentRef.name=="${gateway.name}" && @.parentRef.namespace=="${gateway.namespace}"`;
    return `jsonpath={.status.parents[?${parent}].conditions[?@.type=="${type}" && @.observedGeneration==$.metadata.generation].status}=True`;
}

/** Gateway API: an HTTPRoute attached to `gateway` whose backendRefs' weights carry the weight. */
export const gatewayApiRouter: CanaryRouter<{
    /** The Gateway the HTTPRoute carrying both tracks' weights attaches to. */
    gateway: GatewayRef;
}> = {
    ...separateTracks,
    route({ name, parent, args, appService, canaryService, weightAfter }) {
        const gw = args.gateway;
        const backend = (serviceName: string, weight?: number) => ({ name: serviceName, port: 80, weight });
        new k8s.apiextensions.CustomResource(
            `${name}-route`,
            {
                apiVersion: "gateway.networking.k8s.io/v1",
                kind: "HTTPRoute",
                metadata: {
                    name: args.template.appName,
                    namespace: args.template.namespace,
                    labels: appLabels(args.template.appName, COMPONENT.live),
                    annotations: {
                        // A Gateway that refuses the route fails `pulumi up` at the timeout (README, Decisions:
                        // "Routers that must confirm", "HTTPRoute conditions per parent and generation").
                        "pulumi.com/waitFor": JSON.stringify(
                            ["Accepted", "ResolvedRefs"].map((type) => routeCondition(gw, type)),
                        ),
                        "pulumi.com/timeoutSeconds": "180",
                    },
                },
                spec: {
                    parentRefs: [{ name: gw.name, namespace: gw.namespace, sectionName: gw.sectionName }],
                    hostnames: [args.host],
                    rules: [
                        {
                            matches: [{ headers: [{ name: args.headerName, value: "always" }] }],
                            backendRefs: [backend(canaryService)],
                        },
                        {
                            matches: [{ path: { type: "PathPrefix", value: "/" } }],
                            backendRefs: [backend(appService, 100 - args.weight), backend(canaryService, args.weight)],
                        },
                    ],
                },
            },
            { parent, dependsOn: weightAfter },
        );
    },
};
