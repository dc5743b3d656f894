import { PLAN_ROLES, PlanConfig, PlanRole } from "../config";

/** Each role's title and duties, as the plan's "Team Assignments" table names them. */
export const ROLE_DUTIES: Record<PlanRole, { title: string; duties: string }> = {
    deploymentLead: { title: "Deployment Lead", duties: "Execute the deployment, make rollback decisions" },
    rollbackOwner: { title: "Rollback Owner", duties: "Run the rollback commands when a trigger fires" },
    databaseLead: { title: "Database Lead", duties: "Execute migrations, verify database health" },
    monitoringLead: { title: "Monitoring Lead", duties: "Watch dashboards, trigger alerts if needed" },
    communicationLead: { title: "Communication Lead", duties: "Update status page, notify stakeholders" },
    onCall: { title: "On-Call Engineer", duties: "Respond to incidents, support deployment" },
    backupOnCall: { title: "Backup On-Call", duties: "Secondary responder if needed" },
    engineeringManager: { title: "Engineering Manager", duties: "Approve the deployment" },
    productManager: { title: "Product Manager", duties: "Approve the deployment (if needed); front-end checks" },
};

export const NOT_SET = "not set";

/** "Deployment Lead (@myapp-release-lead)", or "Deployment Lead (not set)". */
export function roleWithHandle(plan: PlanConfig, role: PlanRole): string {
    return `${ROLE_DUTIES[role].title} (${plan.people[role] ?? NOT_SET})`;
}

/** ConfigMap key of a role: deploymentLead → deployment-lead. */
export function roleKey(role: PlanRole): string {
    return role.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
}

/**
 * The data of the deployment plan's ConfigMap: each assigned role's handle, so that the policy pack (which sees
 * resources, not stack outputs) can require a deployment lead and a rollback owner, and whoever is on the cluster
 * during an incident can find them (`kubectl get configmap <app>-deployment-plan -o yaml`).
 */
export function ownersData(plan: PlanConfig): Record<string, string> {
    return Object.fromEntries(
        PLAN_ROLES.flatMap((r) => (plan.people[r] === undefined ? [] : [[roleKey(r), plan.people[r]]])),
    );
}
