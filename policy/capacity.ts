// Checklist "Capacity planning reviewed" and "Auto-scaling configured".
import * as k8s from "@pulumi/kubernetes";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { ANNOTATION, CANARY_STEPS_KEY, COMPONENT, LABEL, REPLICAS_FIELD } from "./contract";
import { component, k8sName, labelsOf, minReplicas, selects, validatePods } from "./resources";
import { canaryWeights } from "./release";

export const containerProbesAndResources: ResourceValidationPolicy = {
    name: "container-probes-and-resources",
    description:
        'Checklist "Capacity planning reviewed" and the plan\'s health checks: every container has CPU and memory requests and limits; every long-running container has readiness and liveness probes.',
    validateResource: validatePods((spec, owner, _args, report) => {
        if (!spec) return;
        for (const c of spec.containers ?? []) {
            const res = c.resources;
            if (res !== undefined) {
                for (const kind of ["requests", "limits"] as const) {
                    for (const unit of ["cpu", "memory"]) {
                        if (!res[kind] || res[kind][unit] === undefined)
                            report(`container "${c.name}" has no ${unit} ${kind === "requests" ? "request" : "limit"}`);
                    }
                }
            } else {
                report(`container "${c.name}" has no resource requests or limits`);
            }
            if (owner === "Deployment") {
                if (!c.readinessProbe) report(`container "${c.name}" has no readiness probe`);
                if (!c.livenessProbe) report(`container "${c.name}" has no liveness probe`);
            }
        }
    }),
};

export const replicasSurviveNodeLoss: StackValidationPolicy = {
    name: "replicas-survive-node-loss",
    description:
        'Checklist "Capacity planning reviewed": every running Deployment keeps at least 2 replicas and a PodDisruptionBudget that leaves one serving while a node drains.',
    validateStack: (args, report) => {
        for (const d of args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment))) {
            const min = minReplicas(d, args.resources);
            if (min === undefined || min === 0) continue;
            if (min < 2)
                report(`Deployment ${k8sName(d)} runs ${min} replica: the loss of one node takes it down`, d.urn);
            const selector = d.props.spec?.selector?.matchLabels;
            const pdb = args.resources.find(
                (r) =>
                    r.isType(k8s.policy.v1.PodDisruptionBudget) &&
                    selects(r.props.spec?.selector?.matchLabels, d.props.spec?.template?.metadata?.labels),
            );
            if (!pdb) {
                if (selector) report(`Deployment ${k8sName(d)} has no PodDisruptionBudget`, d.urn);
                continue;
            }
            const { maxUnavailable, minAvailable } = pdb.props.spec ?? {};
            if (typeof minAvailable === "number" && minAvailable >= min)
                report(
                    `the PodDisruptionBudget of ${k8sName(d)} blocks every drain (minAvailable ${minAvailable} of ${min})`,
                    pdb.urn,
                );
            if (maxUnavailable === 0)
                report(`the PodDisruptionBudget of ${k8sName(d)} blocks every drain (maxUnavailable 0)`, pdb.urn);
        }
    },
};

export const hpaOnEveryDeployment: StackValidationPolicy = {
    name: "hpa-on-every-deployment",
    description:
        'Checklist "Auto-scaling configured": every Deployment that runs has a HorizontalPodAutoscaler targeting it, and never fails an apply over the replica count the autoscaler owns once it has scaled.',
    validateStack: (args, report) => {
        for (const d of args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment))) {
            if (d.props.spec?.replicas === 0 || k8sName(d) === undefined) continue;
            const hpa = args.resources.find(
                (r) =>
                    r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler) &&
                    r.props.spec?.scaleTargetRef?.kind === "Deployment" &&
                    r.props.spec?.scaleTargetRef?.name === k8sName(d),
            );
            if (!hpa) report(`Deployment ${k8sName(d)} has no HorizontalPodAutoscaler`, d.urn);
            else if (
                d.props.spec?.replicas !== undefined &&
                !(d.opts?.ignoreChanges ?? []).includes(REPLICAS_FIELD) &&
                d.props.metadata?.annotations?.[ANNOTATION.patchForce] !== "true"
            ) {
                // The autoscaler owns spec.replicas through the scale subresource once it has scaled: a plain
                // server-side apply of the field then fails with a conflict (pulumi/pulumi-kubernetes#2491).
                report(
                    `Deployment ${k8sName(d)} sets spec.replicas (${d.props.spec.replicas}) that HorizontalPodAutoscaler ${k8sName(hpa)} also sets, with neither ignoreChanges ["spec.replicas"] nor pulumi.com/patchForce: the apply conflicts once the autoscaler has scaled`,
                    d.urn,
                );
            }
        }
    },
};

/** The HorizontalPodAutoscaler targeting a Deployment, if any. */
const autoscalerOf = (d: PolicyResource, resources: PolicyResource[]) =>
    resources.find(
        (r) =>
            r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler) && r.props.spec?.scaleTargetRef?.name === k8sName(d),
    );

export const capacityFollowsTraffic: StackValidationPolicy = {
    name: "capacity-follows-traffic",
    description:
        "Checklist \"Capacity planning reviewed\": traffic moves onto a canary track or a blue/green color only once a capacity step has awaited its ready pods for its share (the routing object depends on a DeploymentPatch of that Deployment), and a canary's autoscaler can grow to its largest step's share of the stable track's maximum.",
    validateStack: (args, report) => {
        const deployments = args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment) && k8sName(r) !== undefined);
        const gated = (router: PolicyResource, d: PolicyResource) =>
            router.dependencies.some((x) => x.isType(k8s.apps.v1.DeploymentPatch) && k8sName(x) === k8sName(d));
        const weights = canaryWeights(args.resources);
        for (const { resource } of weights) {
            for (const d of deployments.filter(
                (x) => labelsOf(x)[LABEL.track] !== undefined && minReplicas(x, args.resources) !== 0,
            )) {
                if (!gated(resource, d))
                    report(
                        `${resource.name} moves the canary weight without waiting for the ready pods of Deployment ${k8sName(d)} for its share`,
                        resource.urn,
                    );
            }
        }
        for (const svc of args.resources.filter(
            (r) =>
                r.isType(k8s.core.v1.Service) &&
                component(r) === COMPONENT.live &&
                r.props.spec?.selector?.[LABEL.color] !== undefined,
        )) {
            const d = deployments.find((x) =>
                selects(svc.props.spec?.selector, x.props.spec?.template?.metadata?.labels),
            );
            if (d && !gated(svc, d))
                report(
                    `active Service ${k8sName(svc)} switches to Deployment ${k8sName(d)} without waiting for its ready pods for the traffic it takes over`,
                    svc.urn,
                );
        }
        if (weights.length === 0) return;
        // The steps come from stack config through the deployment-plan ConfigMap, as rollback-path-present reads them.
        const plan = args.resources.find(
            (r) => r.isType(k8s.core.v1.ConfigMap) && component(r) === COMPONENT.deploymentPlan,
        );
        const steps = String(plan?.props.data?.[CANARY_STEPS_KEY] ?? "")
            .split(",")
            .map(Number)
            .filter((n) => n > 0);
        const track = (name: string) => deployments.find((x) => labelsOf(x)[LABEL.track] === name);
        const [stable, canary] = [track("stable"), track("canary")];
        const stableMax = stable && autoscalerOf(stable, args.resources)?.props.spec?.maxReplicas;
        const canaryHpa = canary && autoscalerOf(canary, args.resources);
        const canaryMax = canaryHpa?.props.spec?.maxReplicas;
        if (steps.length === 0 || typeof stableMax !== "number" || typeof canaryMax !== "number") return;
        const needed = Math.ceil((stableMax * Math.max(...steps)) / 100);
        if (canaryMax < needed) {
            report(
                `the canary's autoscaler stops at ${canaryMax} pods, but its largest step (${Math.max(...steps)}%) can take that share of a fleet of up to ${stableMax}: ${needed} pods`,
                canaryHpa!.urn,
            );
        }
    },
};
