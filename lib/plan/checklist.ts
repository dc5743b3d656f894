// The plan's pre-deployment checklist, line by line, with what proves each line on a stack: policies of the pack
// (policy/README.md maps the same lines, and a test holds the two together) or the role that checks it by hand.
import { PlanRole } from "../config";
import { cronJobNames, jobFacts, MONITOR } from "./facts";
import { PlanResource } from "./types";
import { Component, COMPONENT } from "../../policy/contract";

export interface ChecklistLine {
    /** The line as the template writes it. */
    line: string;
    /** Policies that prove it, or, with `only`, what they prove of it. */
    policies: string[];
    /** Who checks it, or the part no policy proves. */
    owner: PlanRole;
    /**
     * What the policies prove when that is less than the line: the line stays a human check and the plan says what
     * the pack does prove, so no ✓ claims a scan or a test that no policy saw.
     */
    only?: string;
    /** Why the policies prove nothing on this stack, or undefined when they apply. */
    vacuous?: (resources: PlanResource[]) => string | undefined;
}

const hasJob = (component: Component, what: string) => (resources: PlanResource[]) =>
    jobFacts(resources).some((j) => j.component === component) ? undefined : `this stack declares no ${what}`;

export const CHECKLIST: { section: string; lines: ChecklistLine[] }[] = [
    {
        section: "Code Quality",
        lines: [
            { line: "All tests passing (unit, integration, E2E)", policies: [], owner: "deploymentLead" },
            { line: "Code coverage ≥ 80%", policies: [], owner: "deploymentLead" },
            { line: "No linting errors", policies: [], owner: "deploymentLead" },
            {
                line: "Security scan passed (Snyk, OWASP ZAP)",
                policies: ["images-pinned-and-allowed", "restricted-pod-security", "no-plaintext-secrets"],
                owner: "deploymentLead",
                only: "images are pinned and from the allowed registries, pods are restricted and no secret is in plain text (the scan runs in the registry and CI)",
            },
            {
                line: "Dependencies updated (no critical CVEs)",
                policies: ["images-pinned-and-allowed"],
                owner: "deploymentLead",
                only: "images are pinned and from the allowed registries (the CVE scan is the registry's)",
            },
            { line: "Documentation updated", policies: [], owner: "deploymentLead" },
            { line: "Changelog updated", policies: [], owner: "deploymentLead" },
            { line: "Release notes drafted", policies: [], owner: "communicationLead" },
        ],
    },
    {
        section: "Staging Verification",
        lines: [
            { line: "Deployed to staging successfully", policies: [], owner: "deploymentLead" },
            {
                line: "Smoke tests passed",
                policies: ["smoke-test-before-switch"],
                owner: "deploymentLead",
                vacuous: hasJob(COMPONENT.smokeTest, "smoke-test Job"),
            },
            { line: "Integration tests passed", policies: [], owner: "deploymentLead" },
            { line: "Performance tests passed (load, stress)", policies: [], owner: "monitoringLead" },
            {
                line: "Database migrations tested",
                policies: ["migration-before-new-version", "backup-before-migration"],
                owner: "databaseLead",
                only: "the migration runs after the pre-deploy backup and before the new version (testing it is staging's)",
                vacuous: hasJob(COMPONENT.migration, "migration Job"),
            },
            { line: "External API integrations verified", policies: [], owner: "deploymentLead" },
            { line: "Browser compatibility tested", policies: [], owner: "productManager" },
            { line: "Mobile responsiveness verified", policies: [], owner: "productManager" },
            { line: "Accessibility tested (WCAG 2.1 AA)", policies: [], owner: "productManager" },
        ],
    },
    {
        section: "Infrastructure Preparation",
        lines: [
            {
                line: "Database backup scheduled",
                policies: ["database-backup-scheduled", "backup-bucket-hardened", "backup-before-migration"],
                owner: "databaseLead",
                vacuous: (r) => (cronJobNames(r).backup ? undefined : "this stack declares no backup CronJob"),
            },
            {
                line: "Monitoring configured (Datadog, New Relic)",
                policies: [
                    "monitors-for-plan-alerts",
                    "downtime-never-mutes-rollback-triggers",
                    "container-probes-and-resources",
                    "gate-override-approved",
                ],
                owner: "monitoringLead",
                vacuous: (r) => (r.some((x) => x.type === MONITOR) ? undefined : "this stack declares no monitor"),
            },
            { line: "Error tracking configured (Sentry)", policies: [], owner: "monitoringLead" },
            { line: "Logging aggregation configured", policies: [], owner: "monitoringLead" },
            { line: "Feature flags configured", policies: [], owner: "deploymentLead" },
            {
                line: "Rollback plan documented (see below)",
                policies: ["rollback-path-present", "release-owners-assigned"],
                owner: "rollbackOwner",
            },
            {
                line: "Capacity planning reviewed",
                policies: ["container-probes-and-resources", "replicas-survive-node-loss", "capacity-follows-traffic"],
                owner: "monitoringLead",
                only: "every container has probes and resources, every Deployment survives the loss of a node and capacity follows each traffic step (the review is people's)",
            },
            { line: "Auto-scaling configured", policies: ["hpa-on-every-deployment"], owner: "monitoringLead" },
        ],
    },
    {
        section: "Communication",
        lines: [
            { line: "Team notified (Slack #engineering)", policies: [], owner: "communicationLead" },
            { line: "Stakeholders notified (email)", policies: [], owner: "communicationLead" },
            { line: "Support team briefed", policies: [], owner: "communicationLead" },
            { line: "Status page scheduled maintenance notice", policies: [], owner: "communicationLead" },
            { line: "Customer communication drafted (if needed)", policies: [], owner: "communicationLead" },
            { line: "On-call engineer assigned", policies: [], owner: "deploymentLead" },
            { line: "War room scheduled (Slack, Zoom)", policies: [], owner: "communicationLead" },
        ],
    },
];
