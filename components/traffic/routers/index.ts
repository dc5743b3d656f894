// The canary routers by their stack config name (`canary.router`): a new router is its module and one line here.
import { albRouter } from "./alb";
import { gatewayApiRouter } from "./gatewayApi";
import { nginxRouter } from "./nginx";
import { podRatioRouter } from "./podRatio";
import { CanaryRouter } from "./router";

export const canaryRouters = {
    nginx: nginxRouter,
    "gateway-api": gatewayApiRouter,
    alb: albRouter,
    "pod-ratio": podRatioRouter,
};

/** A router's name in stack config. */
export type CanaryRouterName = keyof typeof canaryRouters;

/** The routers' names, in the registry's order. */
export const canaryRouterNames = Object.keys(canaryRouters) as [CanaryRouterName, ...CanaryRouterName[]];

type SettingsOf<R> = R extends CanaryRouter<infer S> ? S : never;

/** A router by name, with the settings that router needs (canary.gateway, canary.alb). */
export type CanaryRouting = {
    [K in CanaryRouterName]: {
        /** What carries the weight: nginx, gateway-api, alb, or pod-ratio (the weight as the canary's pod share). */
        router: K;
    } & SettingsOf<(typeof canaryRouters)[K]>;
}[CanaryRouterName];

/** The router the routing names; the union's member for that name carries the router's settings. */
export function routerFor(routing: CanaryRouting): CanaryRouter {
    return canaryRouters[routing.router];
}

export * from "./alb";
export * from "./gatewayApi";
export * from "./nginx";
export * from "./podRatio";
export * from "./router";
