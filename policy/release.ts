// Checklist "Smoke tests passed" and "Rollback plan documented": the release switches only after its checks, and can switch back.
import * as k8s from "@pulumi/kubernetes";
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import {
    ANNOTATION,
    CANARY_SERVICE_SUFFIX,
    CANARY_STEPS_KEY,
    COMPONENT,
    GATE_OVERRIDE_KEYS,
    LABEL,
    PLAN_PEOPLE_KEYS,
} from "./contract";
import {
    absent,
    component,
    dependsOnTransitively,
    HTTPROUTE,
    k8sName,
    labelsOf,
    minReplicas,
    missingLabel,
} from "./resources";

export const smokeTestBeforeSwitch: StackValidationPolicy = {
    name: "smoke-test-before-switch",
    description:
        'Checklist "Smoke tests passed": a blue/green active Service switches only after the smoke test of the color it selects has passed.',
    validateStack: (args, report) => {
        const smokeJobs = args.resources.filter(
            (r) => r.isType(k8s.batch.v1.Job) && component(r) === COMPONENT.smokeTest,
        );
        const blueGreen = args.resources.some(
            (r) => r.isType(k8s.apps.v1.Deployment) && labelsOf(r)[LABEL.color] !== undefined,
        );
        for (const svc of args.resources.filter(
            (r) => r.isType(k8s.core.v1.Service) && missingLabel(r, LABEL.component),
        )) {
            report(
                `Service ${k8sName(svc) ?? svc.name} has no ${LABEL.component} label: the pack cannot tell whether it is the active Service, which must wait for its color's smoke test`,
                svc.urn,
            );
        }
        for (const svc of args.resources.filter(
            (r) => r.isType(k8s.core.v1.Service) && component(r) === COMPONENT.live,
        )) {
            const color = svc.props.spec?.selector?.[LABEL.color];
            if (color === undefined) {
                // A canary's or a rolling release's app Service selects no color; an active Service must select one.
                if (blueGreen && absent(svc.props, "spec", "selector", LABEL.color)) {
                    report(
                        `active Service ${k8sName(svc)} selects no ${LABEL.color}: it sends traffic to both colors, one of them untested`,
                        svc.urn,
                    );
                }
                continue;
            }
            if (!smokeJobs.some((j) => labelsOf(j)[LABEL.color] === color && dependsOnTransitively(svc, j))) {
                report(`active Service ${k8sName(svc)} selects ${color} without waiting for its smoke test`, svc.urn);
            }
        }
    },
};

/** The canary's traffic share as each router writes it, or undefined where none is declared. */
/** An HTTPRoute backendRef as the weights are read from it. */
interface BackendRef {
    name?: string;
    weight?: number;
}

export function canaryWeights(resources: PolicyResource[]): { resource: PolicyResource; weight: number }[] {
    const out: { resource: PolicyResource; weight: number }[] = [];
    for (const r of resources) {
        const annotations = r.props.metadata?.annotations ?? {};
        if (
            r.isType(k8s.networking.v1.Ingress) &&
            annotations[ANNOTATION.nginxCanary] === "true" &&
            annotations[ANNOTATION.nginxCanaryWeight] !== undefined
        ) {
            out.push({ resource: r, weight: Number(annotations[ANNOTATION.nginxCanaryWeight]) });
        }
        if (r.isType(k8s.networking.v1.Ingress) && typeof annotations[ANNOTATION.albWeightedAction] === "string") {
            const groups = JSON.parse(annotations[ANNOTATION.albWeightedAction]).forwardConfig?.targetGroups ?? [];
            const canary = groups.find((g: { serviceName?: string }) =>
                String(g.serviceName).endsWith(CANARY_SERVICE_SUFFIX),
            );
            if (canary) out.push({ resource: r, weight: canary.weight });
        }
        if (r.type === HTTPROUTE) {
            for (const rule of r.props.spec?.rules ?? []) {
                const refs = rule.backendRefs ?? [];
                const total = refs.reduce((n: number, b: BackendRef) => n + (b.weight ?? 1), 0);
                const canary = refs.find((b: BackendRef) => String(b.name).endsWith(CANARY_SERVICE_SUFFIX));
                if (canary && refs.length > 1 && total > 0)
                    out.push({ resource: r, weight: Math.round((100 * (canary.weight ?? 1)) / total) });
            }
        }
    }
    return out;
}

export const rollbackPathPresent: StackValidationPolicy = {
    name: "rollback-path-present",
    description:
        'Checklist "Rollback plan documented": a rollback stays one config edit away: the blue/green preview color keeps running, the canary\'s stable track keeps running, and the canary weight is one of the steps the deployment-plan ConfigMap declares.',
    validateStack: (args, report) => {
        const deployments = args.resources.filter((r) => r.isType(k8s.apps.v1.Deployment));
        for (const d of deployments.filter((x) => missingLabel(x, LABEL.color) && missingLabel(x, LABEL.track))) {
            report(
                `Deployment ${k8sName(d) ?? d.name} has neither a ${LABEL.color} nor a ${LABEL.track} label: the pack cannot tell which rollback path it belongs to`,
                d.urn,
            );
        }
        const colors = deployments.filter((d) => labelsOf(d)[LABEL.color] !== undefined);
        if (colors.length > 0) {
            for (const color of ["blue", "green"]) {
                const d = colors.find((x) => labelsOf(x)[LABEL.color] === color);
                if (!d) report(`the ${color} color is not declared: there is nothing to switch back to`);
                else if (minReplicas(d, args.resources) === 0)
                    report(`the ${color} color is scaled to 0: switching back would wait for cold pods`, d.urn);
            }
        }
        const stable = deployments.find((d) => labelsOf(d)[LABEL.track] === "stable");
        if (deployments.some((d) => labelsOf(d)[LABEL.track] === "canary")) {
            if (!stable) report("the canary has no stable track to fall back to");
            else if (minReplicas(stable, args.resources) === 0)
                report(
                    `stable Deployment ${k8sName(stable)} is scaled to 0: rolling back the canary would wait for cold pods`,
                    stable.urn,
                );
        }
        const weights = canaryWeights(args.resources).filter(({ weight }) => !Number.isNaN(weight));
        if (weights.length === 0) return;
        // The steps come from stack config through the ConfigMap the program declares: config is their one owner.
        const plan = args.resources.find(
            (r) => r.isType(k8s.core.v1.ConfigMap) && component(r) === COMPONENT.deploymentPlan,
        );
        const declared = plan?.props.data?.[CANARY_STEPS_KEY];
        if (typeof declared !== "string") {
            if (!plan || plan.props.data === undefined || !(CANARY_STEPS_KEY in plan.props.data))
                report(`no deployment-plan ConfigMap declares the canary's steps (key ${CANARY_STEPS_KEY})`);
            return;
        }
        const canarySteps = declared.split(",").map(Number);
        for (const { resource, weight } of weights) {
            if (weight !== 0 && !canarySteps.includes(weight))
                report(`canary weight ${weight} is not 0 or a declared step (${canarySteps.join(", ")})`, resource.urn);
        }
    },
};

export const releaseOwnersAssigned: StackValidationPolicy = {
    name: "release-owners-assigned",
    description:
        'Checklist "Rollback plan documented" and the plan\'s team assignments: a stack that runs the app names a deployment lead and a rollback owner in its deployment-plan ConfigMap (keys deployment-lead and rollback-owner).',
    validateStack: (args, report) => {
        if (!args.resources.some((r) => r.isType(k8s.apps.v1.Deployment))) return;
        // Stack outputs (the plan document) are not visible to policies; a declared ConfigMap is, and the cluster keeps it.
        const plan = args.resources.find(
            (r) => r.isType(k8s.core.v1.ConfigMap) && component(r) === COMPONENT.deploymentPlan,
        );
        if (!plan) {
            report("no deployment-plan ConfigMap names the release's deployment lead and rollback owner");
            return;
        }
        // A ConfigMap without data assigns nobody: both roles are reported.
        const data: Record<string, unknown> = plan.props.data ?? {};
        for (const [key, role, config] of [
            [PLAN_PEOPLE_KEYS.deploymentLead, "deployment lead", "plan.people.deploymentLead"],
            [PLAN_PEOPLE_KEYS.rollbackOwner, "rollback owner", "plan.people.rollbackOwner"],
        ]) {
            if (typeof data[key] !== "string" || data[key].trim() === "")
                report(`no ${role} is assigned: ConfigMap ${k8sName(plan)} has no ${key} (set ${config})`, plan.urn);
        }
    },
};

export const gateOverrideApproved: StackValidationPolicy = {
    name: "gate-override-approved",
    description:
        'Checklist "Monitoring configured" and the release gate that reads it: a deployment-plan ConfigMap that records an override of the gate (gate-override-reason or gate-override-approver, from release.gate.override) gives both a reason and an approver.',
    validateStack: (args, report) => {
        for (const plan of args.resources.filter(
            (r) => r.isType(k8s.core.v1.ConfigMap) && component(r) === COMPONENT.deploymentPlan,
        )) {
            const data: Record<string, unknown> = plan.props.data ?? {};
            const given = (key: string) => typeof data[key] === "string" && data[key].trim() !== "";
            if (!given(GATE_OVERRIDE_KEYS.reason) && !given(GATE_OVERRIDE_KEYS.approver)) continue;
            if (!given(GATE_OVERRIDE_KEYS.reason))
                report(
                    `the release gate is overridden without a reason: ConfigMap ${k8sName(plan)} has no ${GATE_OVERRIDE_KEYS.reason} (set release.gate.override.reason)`,
                    plan.urn,
                );
            if (!given(GATE_OVERRIDE_KEYS.approver))
                report(
                    `the release gate is overridden without an approver: ConfigMap ${k8sName(plan)} has no ${GATE_OVERRIDE_KEYS.approver} (set release.gate.override.approver)`,
                    plan.urn,
                );
        }
    },
};
