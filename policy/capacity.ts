// Checklist "Capacity planning reviewed" and "Auto-scaling configured".
import * as k8s from "@pulumi/kubernetes";
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { ANNOTATION, REPLICAS_FIELD } from "./contract";
import { k8sName, minReplicas, selects, validatePods } from "./resources";

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
                        if (!res[kind] || res[kind][unit] === undefined) report(`container "${c.name}" has no ${unit} ${kind === "requests" ? "request" : "limit"}`);
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
    description: 'Checklist "Capacity planning reviewed": every running Deployment keeps at least 2 replicas and a PodDisruptionBudget that leaves one serving while a node drains.',
    validateStack: (args, report) => {
        for (const d of args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment))) {
            const min = minReplicas(d, args.resources);
            if (min === undefined || min === 0) continue;
            if (min < 2) report(`Deployment ${k8sName(d)} runs ${min} replica: the loss of one node takes it down`, d.urn);
            const selector = d.props.spec?.selector?.matchLabels;
            const pdb = args.resources.find((r) => r.isType(k8s.policy.v1.PodDisruptionBudget) && selects(r.props.spec?.selector?.matchLabels, d.props.spec?.template?.metadata?.labels));
            if (!pdb) {
                if (selector) report(`Deployment ${k8sName(d)} has no PodDisruptionBudget`, d.urn);
                continue;
            }
            const { maxUnavailable, minAvailable } = pdb.props.spec ?? {};
            if (typeof minAvailable === "number" && minAvailable >= min)
                report(`the PodDisruptionBudget of ${k8sName(d)} blocks every drain (minAvailable ${minAvailable} of ${min})`, pdb.urn);
            if (maxUnavailable === 0) report(`the PodDisruptionBudget of ${k8sName(d)} blocks every drain (maxUnavailable 0)`, pdb.urn);
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
                (r) => r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler) && r.props.spec?.scaleTargetRef?.kind === "Deployment" && r.props.spec?.scaleTargetRef?.name === k8sName(d),
            );
            if (!hpa) report(`Deployment ${k8sName(d)} has no HorizontalPodAutoscaler`, d.urn);
            else if (d.props.spec?.replicas !== undefined && !(d.opts?.ignoreChanges ?? []).includes(REPLICAS_FIELD) && d.props.metadata?.annotations?.[ANNOTATION.patchForce] !== "true") {
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
