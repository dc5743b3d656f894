// The pre-deployment checklist of the deployment plan, as CrossGuard policies. This module only defines them, so
// tests can run them without starting the pack's server; index.ts builds the pack.
//
// Every policy reads values that may be unknown during `pulumi preview` (a name computed by the provider, say): an
// undefined value is never taken as a violation, and nothing here throws on one.
import { EnforcementLevel, PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { ANNOTATION, CANARY_SERVICE_SUFFIX, COMPONENT, DATADOG_LABEL, ENV, HPA_TAG, isPerVersionAlert, LABEL, labelValue, MONITOR_TAG, PLAN_PEOPLE_KEYS, REPLICAS_FIELD, tagValue, VARIANT_KEYS } from "./contract";
import { ALERT_NAMES, AlertName, PLAN_ALERTS, PlanAlert } from "./planAlerts";

type Props = Record<string, any>;
type Policy = ResourceValidationPolicy | StackValidationPolicy;

export const PACK_NAME = "myapp-deployment-checklist";
/** Unless the policy config says otherwise (staging makes everything advisory), a violation blocks the update. */
export const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const JOB = "kubernetes:batch/v1:Job";
const CRONJOB = "kubernetes:batch/v1:CronJob";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const PDB = "kubernetes:policy/v1:PodDisruptionBudget";
const SERVICE = "kubernetes:core/v1:Service";
const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
const MONITOR = "datadog:index/monitor:Monitor";
const DOWNTIME = "datadog:index/downtimeSchedule:DowntimeSchedule";
const BUCKET = "aws:s3/bucket:Bucket";
const PG_ROLE = "postgresql:index/role:Role";

/** The pod spec inside a Deployment, Job or CronJob, or undefined. */
function podSpec(type: string, props: Props): Props | undefined {
    if (type === DEPLOYMENT || type === JOB) return props.spec?.template?.spec;
    if (type === CRONJOB) return props.spec?.jobTemplate?.spec?.template?.spec;
    return undefined;
}

const labelsOf = (r: { props: Props }): Record<string, string> => r.props.metadata?.labels ?? {};
const component = (r: { props: Props }) => labelsOf(r)[LABEL.component];
const k8sName = (r: { props: Props }): string | undefined => r.props.metadata?.name;

/**
 * True when the key at `path` is absent: missing, which is a violation wherever the pack looks for it. A key present
 * with an undefined value is unknown during preview, never a violation.
 */
function absent(obj: unknown, ...path: string[]): boolean {
    let o: unknown = obj;
    for (const key of path) {
        if (o === undefined || o === null) return false;
        if (typeof o !== "object" || !(key in o)) return true;
        o = (o as Props)[key];
    }
    return false;
}

const missingLabel = (r: { props: Props }, key: string) => absent(r.props, "metadata", "labels", key);

/** A Job or CronJob without a component label: the pack cannot tell what it is for. */
const unlabelled = (r: PolicyResource, kind: string) => `${kind} ${k8sName(r) ?? r.name} has no ${LABEL.component} label`;

/** True when every key of `selector` is on `labels` with the same value. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
    if (!selector || !labels) return false;
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Every resource `r` depends on, directly or through others. */
function dependsOnTransitively(r: PolicyResource, target: PolicyResource): boolean {
    const seen = new Set<string>();
    const stack = [...r.dependencies];
    while (stack.length > 0) {
        const d = stack.pop()!;
        if (d.urn === target.urn) return true;
        if (seen.has(d.urn)) continue;
        seen.add(d.urn);
        stack.push(...d.dependencies);
    }
    return false;
}

/** Minimum replicas a Deployment runs: its autoscaler's floor, else spec.replicas (Kubernetes defaults it to 1). */
function minReplicas(deployment: PolicyResource, resources: PolicyResource[]): number | undefined {
    const hpa = resources.find((r) => r.type === HPA && r.props.spec?.scaleTargetRef?.name === k8sName(deployment));
    if (hpa) return hpa.props.spec?.minReplicas;
    const replicas = deployment.props.spec?.replicas;
    return replicas === undefined ? 1 : replicas;
}

/** The version part of an image reference, or undefined when it has none. */
function imageVersion(image: string): { registry: string; tag?: string; digest?: string } {
    const [ref, digest] = image.split("@");
    const slash = ref.indexOf("/");
    const registry = slash > 0 && /[.:]|^localhost$/.test(ref.slice(0, slash)) ? ref.slice(0, slash) : "docker.io";
    const lastSlash = ref.lastIndexOf("/");
    const colon = ref.indexOf(":", lastSlash + 1);
    return { registry, tag: colon >= 0 ? ref.slice(colon + 1) : undefined, digest };
}

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|DSN|DATABASE_URL|CREDENTIALS?)$/i;
const SECRET_VALUE = /(:\/\/[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16})/;

export const containerProbesAndResources: ResourceValidationPolicy = {
    name: "container-probes-and-resources",
    description:
        'Checklist "Capacity planning reviewed" and the plan\'s health checks: every container has CPU and memory requests and limits; every long-running container has readiness and liveness probes.',
    validateResource: (args, report) => {
        const spec = podSpec(args.type, args.props);
        if (!spec) return;
        for (const c of spec.containers ?? []) {
            const res = c.resources;
            if (res !== undefined) {
                for (const kind of ["requests", "limits"]) {
                    for (const unit of ["cpu", "memory"]) {
                        if (!res[kind] || res[kind][unit] === undefined) report(`container "${c.name}" has no ${unit} ${kind === "requests" ? "request" : "limit"}`);
                    }
                }
            } else {
                report(`container "${c.name}" has no resource requests or limits`);
            }
            if (args.type === DEPLOYMENT) {
                if (!c.readinessProbe) report(`container "${c.name}" has no readiness probe`);
                if (!c.livenessProbe) report(`container "${c.name}" has no liveness probe`);
            }
        }
    },
};

export const imagesPinnedAndAllowed: ResourceValidationPolicy = {
    name: "images-pinned-and-allowed",
    description:
        'Checklist "Security scan passed" and "Dependencies updated (no critical CVEs)": every image is pinned to a tag or digest, never "latest", and comes from a registry whose images are scanned.',
    configSchema: {
        properties: { allowedRegistries: { type: "array", items: { type: "string" }, default: ["registry.example.com"] } },
    },
    validateResource: (args, report) => {
        const spec = podSpec(args.type, args.props);
        if (!spec) return;
        const { allowedRegistries } = args.getConfig<{ allowedRegistries: string[] }>();
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
            if (typeof c.image !== "string") continue;
            const v = imageVersion(c.image);
            if (!v.digest && (!v.tag || v.tag.toLowerCase() === "latest")) report(`container "${c.name}" runs ${c.image}, which is not pinned to a tag or digest`);
            if (!allowedRegistries.includes(v.registry)) report(`container "${c.name}" pulls from ${v.registry}, not an allowed registry (${allowedRegistries.join(", ")})`);
        }
    },
};

export const restrictedPodSecurity: ResourceValidationPolicy = {
    name: "restricted-pod-security",
    description:
        'Checklist "Security scan passed": pods meet the restricted Pod Security Standard: non-root, RuntimeDefault seccomp, no privilege escalation, all capabilities dropped, read-only root filesystem.',
    validateResource: (args, report) => {
        const spec = podSpec(args.type, args.props);
        if (!spec) return;
        const pod = spec.securityContext ?? {};
        if (spec.hostNetwork || spec.hostPID || spec.hostIPC) report("the pod shares a host namespace");
        for (const c of spec.containers ?? []) {
            const sc = c.securityContext ?? {};
            const where = `container "${c.name}"`;
            if (sc.runAsNonRoot !== true && pod.runAsNonRoot !== true) report(`${where} may run as root: set runAsNonRoot`);
            if ((sc.seccompProfile ?? pod.seccompProfile)?.type !== "RuntimeDefault") report(`${where} has no RuntimeDefault seccomp profile`);
            if (sc.allowPrivilegeEscalation !== false) report(`${where} allows privilege escalation`);
            if (sc.privileged === true) report(`${where} is privileged`);
            if (!(sc.capabilities?.drop ?? []).includes("ALL")) report(`${where} does not drop all capabilities`);
            if (sc.readOnlyRootFilesystem !== true) report(`${where} has a writable root filesystem`);
        }
    },
};

export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description:
        'Checklist "Security scan passed": no secret in plain text: container env values and ConfigMap data that look like passwords, tokens, keys or credentialed URLs must come from a Secret.',
    validateResource: (args, report) => {
        const spec = podSpec(args.type, args.props);
        for (const c of spec?.containers ?? []) {
            for (const e of c.env ?? []) {
                if (typeof e.value !== "string") continue;
                if (SECRET_NAME.test(e.name) || SECRET_VALUE.test(e.value)) report(`container "${c.name}" sets ${e.name} in plain text; take it from a Secret`);
            }
        }
        if (args.type === CONFIGMAP) {
            for (const [key, value] of Object.entries(args.props.data ?? {})) {
                if (typeof value !== "string") continue;
                if (SECRET_NAME.test(key) || SECRET_VALUE.test(value)) report(`ConfigMap key "${key}" holds what looks like a secret; use a Secret`);
            }
        }
    },
};

export const replicasSurviveNodeLoss: StackValidationPolicy = {
    name: "replicas-survive-node-loss",
    description:
        'Checklist "Capacity planning reviewed": every running Deployment keeps at least 2 replicas and a PodDisruptionBudget that leaves one serving while a node drains.',
    validateStack: (args, report) => {
        for (const d of args.resources.filter((r) => r.type === DEPLOYMENT)) {
            const min = minReplicas(d, args.resources);
            if (min === undefined || min === 0) continue;
            if (min < 2) report(`Deployment ${k8sName(d)} runs ${min} replica: the loss of one node takes it down`, d.urn);
            const selector = d.props.spec?.selector?.matchLabels;
            const pdb = args.resources.find((r) => r.type === PDB && selects(r.props.spec?.selector?.matchLabels, d.props.spec?.template?.metadata?.labels));
            if (!pdb) {
                if (selector) report(`Deployment ${k8sName(d)} has no PodDisruptionBudget`, d.urn);
                continue;
            }
            const { maxUnavailable, minAvailable } = pdb.props.spec ?? {};
            if (typeof minAvailable === "number" && minAvailable >= min) report(`the PodDisruptionBudget of ${k8sName(d)} blocks every drain (minAvailable ${minAvailable} of ${min})`, pdb.urn);
            if (maxUnavailable === 0) report(`the PodDisruptionBudget of ${k8sName(d)} blocks every drain (maxUnavailable 0)`, pdb.urn);
        }
    },
};

export const hpaOnEveryDeployment: StackValidationPolicy = {
    name: "hpa-on-every-deployment",
    description:
        'Checklist "Auto-scaling configured": every Deployment that runs has a HorizontalPodAutoscaler targeting it, and never fails an apply over the replica count the autoscaler owns once it has scaled.',
    validateStack: (args, report) => {
        for (const d of args.resources.filter((r) => r.type === DEPLOYMENT)) {
            if (d.props.spec?.replicas === 0 || k8sName(d) === undefined) continue;
            const hpa = args.resources.find((r) => r.type === HPA && r.props.spec?.scaleTargetRef?.kind === "Deployment" && r.props.spec?.scaleTargetRef?.name === k8sName(d));
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

function denies(statements: any[], condition: (s: any) => boolean): boolean {
    return statements.some((s) => s.Effect === "Deny" && condition(s));
}

export const backupBucketHardened: StackValidationPolicy = {
    name: "backup-bucket-hardened",
    description:
        'Checklist "Database backup scheduled": every S3 bucket is versioned, KMS-encrypted, closed to the public, reachable over TLS only, and has a lifecycle that expires old dumps.',
    validateStack: (args, report) => {
        // A bucket's settings are resources of their own that name it, or, while its name is unknown, depend on it.
        const byBucket = (type: string, b: PolicyResource) =>
            args.resources.filter((r) => r.type === type && ((b.props.bucket !== undefined && r.props.bucket === b.props.bucket) || r.dependencies.some((d) => d.urn === b.urn)));
        for (const b of args.resources.filter((r) => r.type === BUCKET)) {
            const one = (type: string) => byBucket(type, b)[0];
            const versioning = one("aws:s3/bucketVersioning:BucketVersioning");
            if (versioning?.props.versioningConfiguration?.status !== "Enabled") report(`bucket ${b.props.bucket ?? b.name} is not versioned`, b.urn);
            const sse = one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
            const algorithm = sse?.props.rules?.[0]?.applyServerSideEncryptionByDefault?.sseAlgorithm;
            if (algorithm !== "aws:kms" && algorithm !== "aws:kms:dsse") report(`bucket ${b.props.bucket ?? b.name} is not encrypted with KMS`, b.urn);
            const block = one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")?.props ?? {};
            if (!(block.blockPublicAcls && block.blockPublicPolicy && block.ignorePublicAcls && block.restrictPublicBuckets)) report(`bucket ${b.props.bucket ?? b.name} does not block all public access`, b.urn);
            const policy = one("aws:s3/bucketPolicy:BucketPolicy")?.props.policy;
            if (typeof policy === "string") {
                const statements = JSON.parse(policy).Statement ?? [];
                if (!denies(statements, (s) => s.Condition?.Bool?.["aws:SecureTransport"] === "false")) report(`bucket ${b.props.bucket ?? b.name} accepts requests without TLS`, b.urn);
            } else if (policy === undefined && !one("aws:s3/bucketPolicy:BucketPolicy")) {
                report(`bucket ${b.props.bucket ?? b.name} has no policy denying requests without TLS`, b.urn);
            }
            const rules = one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")?.props.rules;
            if (!Array.isArray(rules) || !rules.some((r: any) => r.status === "Enabled" && r.expiration?.days > 0)) report(`bucket ${b.props.bucket ?? b.name} has no lifecycle rule that expires dumps`, b.urn);
        }
    },
};

/** The env entry `name` of the first container of a Job's or CronJob's pod, or undefined. */
function containerEnv(r: PolicyResource, name: string): Props | undefined {
    return (podSpec(r.type, r.props)?.containers?.[0]?.env ?? []).find((e: Props) => e.name === name);
}

export const databaseBackupScheduled: StackValidationPolicy = {
    name: "database-backup-scheduled",
    description:
        'Checklist "Database backup scheduled": a stack that manages a database (declares its roles, or runs Jobs that read a DATABASE_URL Secret) also schedules its backup to a named bucket, one run at a time, and a restore drill.',
    validateStack: (args, report) => {
        // A stack given existing database Secrets declares no roles; its Jobs still connect to the database.
        const batch = args.resources.filter((r) => r.type === JOB || r.type === CRONJOB);
        if (!args.resources.some((r) => r.type === PG_ROLE) && !batch.some((r) => containerEnv(r, ENV.databaseUrl)?.valueFrom?.secretKeyRef !== undefined)) return;
        const crons = args.resources.filter((r) => r.type === CRONJOB);
        for (const c of crons.filter((x) => missingLabel(x, LABEL.component))) {
            report(`${unlabelled(c, "CronJob")}: the pack cannot tell whether it is the database's backup or its restore drill`, c.urn);
        }
        const backup = crons.find((c) => component(c) === COMPONENT.backup);
        if (!backup) report("the database has no scheduled backup CronJob");
        else {
            if (backup.props.spec?.concurrencyPolicy !== undefined && backup.props.spec.concurrencyPolicy !== "Forbid") {
                report(`backup CronJob ${k8sName(backup)} lets runs overlap: set concurrencyPolicy to Forbid`, backup.urn);
            }
            // The bucket is declared here (backup-bucket-hardened checks it) or made outside the stack (backup.existingBucket),
            // which the pack sees only by this name.
            const bucket = containerEnv(backup, ENV.backupBucket);
            if (podSpec(backup.type, backup.props)?.containers !== undefined && (bucket === undefined || bucket.value === "")) {
                report(`backup CronJob ${k8sName(backup)} names no bucket: set ${ENV.backupBucket}`, backup.urn);
            }
        }
        if (!crons.some((c) => component(c) === COMPONENT.restoreDrill)) report("the database has no scheduled restore drill");
    },
};

export const backupBeforeMigration: StackValidationPolicy = {
    name: "backup-before-migration",
    description: 'Checklist "Database backup scheduled" and the plan\'s T-1h backup: every migration Job runs after a pre-deploy backup Job.',
    validateStack: (args, report) => {
        const backups = args.resources.filter((r) => r.type === JOB && component(r) === COMPONENT.predeployBackup);
        for (const j of args.resources.filter((r) => r.type === JOB && missingLabel(r, LABEL.component))) {
            report(`${unlabelled(j, "Job")}: the pack cannot tell whether it is a migration, which must wait for a pre-deploy backup`, j.urn);
        }
        for (const m of args.resources.filter((r) => r.type === JOB && component(r) === COMPONENT.migration)) {
            if (!backups.some((b) => dependsOnTransitively(m, b))) report(`migration Job ${k8sName(m)} does not wait for a pre-deploy backup`, m.urn);
        }
    },
};

export const migrationBeforeNewVersion: StackValidationPolicy = {
    name: "migration-before-new-version",
    description: 'Checklist "Database migrations tested": the app\'s Deployments roll out only after the release\'s migration Job has succeeded.',
    validateStack: (args, report) => {
        for (const j of args.resources.filter((r) => r.type === JOB && missingLabel(r, LABEL.component))) {
            report(`${unlabelled(j, "Job")}: the pack cannot tell whether it is the release's migration, which the Deployments must wait for`, j.urn);
        }
        const migrations = args.resources.filter((r) => r.type === JOB && component(r) === COMPONENT.migration);
        // A release without a database migration has nothing to wait for.
        if (migrations.length === 0) return;
        for (const d of args.resources.filter((r) => r.type === DEPLOYMENT)) {
            if (!migrations.some((m) => dependsOnTransitively(d, m))) report(`Deployment ${k8sName(d)} may roll out before the migration`, d.urn);
        }
    },
};

export const smokeTestBeforeSwitch: StackValidationPolicy = {
    name: "smoke-test-before-switch",
    description: 'Checklist "Smoke tests passed": a blue/green live Service switches only after the smoke test of the color it selects has passed.',
    validateStack: (args, report) => {
        const smokeJobs = args.resources.filter((r) => r.type === JOB && component(r) === COMPONENT.smokeTest);
        const blueGreen = args.resources.some((r) => r.type === DEPLOYMENT && labelsOf(r)[LABEL.color] !== undefined);
        for (const svc of args.resources.filter((r) => r.type === SERVICE && missingLabel(r, LABEL.component))) {
            report(`Service ${k8sName(svc) ?? svc.name} has no ${LABEL.component} label: the pack cannot tell whether it is the live Service, which must wait for its color's smoke test`, svc.urn);
        }
        for (const svc of args.resources.filter((r) => r.type === SERVICE && component(r) === COMPONENT.live)) {
            const color = svc.props.spec?.selector?.[LABEL.color];
            if (color === undefined) {
                // A canary's or a rolling release's live Service selects no color; a blue/green one must select one.
                if (blueGreen && absent(svc.props, "spec", "selector", LABEL.color)) {
                    report(`live Service ${k8sName(svc)} selects no ${LABEL.color}: it sends traffic to both colors, one of them untested`, svc.urn);
                }
                continue;
            }
            if (!smokeJobs.some((j) => labelsOf(j)[LABEL.color] === color && dependsOnTransitively(svc, j))) {
                report(`live Service ${k8sName(svc)} selects ${color} without waiting for its smoke test`, svc.urn);
            }
        }
    },
};

/** The canary's traffic share as each router writes it, or undefined where none is declared. */
function canaryWeights(resources: PolicyResource[]): { resource: PolicyResource; weight: number }[] {
    const out: { resource: PolicyResource; weight: number }[] = [];
    for (const r of resources) {
        const annotations = r.props.metadata?.annotations ?? {};
        if (r.type === INGRESS && annotations[ANNOTATION.nginxCanary] === "true" && annotations[ANNOTATION.nginxCanaryWeight] !== undefined) {
            out.push({ resource: r, weight: Number(annotations[ANNOTATION.nginxCanaryWeight]) });
        }
        if (r.type === INGRESS && typeof annotations[ANNOTATION.albWeightedAction] === "string") {
            const groups = JSON.parse(annotations[ANNOTATION.albWeightedAction]).forwardConfig?.targetGroups ?? [];
            const canary = groups.find((g: any) => String(g.serviceName).endsWith(CANARY_SERVICE_SUFFIX));
            if (canary) out.push({ resource: r, weight: canary.weight });
        }
        if (r.type === HTTPROUTE) {
            for (const rule of r.props.spec?.rules ?? []) {
                const refs = rule.backendRefs ?? [];
                const total = refs.reduce((n: number, b: any) => n + (b.weight ?? 1), 0);
                const canary = refs.find((b: any) => String(b.name).endsWith(CANARY_SERVICE_SUFFIX));
                if (canary && refs.length > 1 && total > 0) out.push({ resource: r, weight: Math.round((100 * (canary.weight ?? 1)) / total) });
            }
        }
    }
    return out;
}

export const rollbackPathPresent: StackValidationPolicy = {
    name: "rollback-path-present",
    description:
        'Checklist "Rollback plan documented": a rollback stays one config edit away: the blue/green standby color keeps running, the canary\'s stable track keeps running, and the canary weight is one of the declared steps.',
    configSchema: { properties: { canarySteps: { type: "array", items: { type: "number" }, default: [5, 25, 100] } } },
    validateStack: (args, report) => {
        const deployments = args.resources.filter((r) => r.type === DEPLOYMENT);
        for (const d of deployments.filter((x) => missingLabel(x, LABEL.color) && missingLabel(x, LABEL.track))) {
            report(`Deployment ${k8sName(d) ?? d.name} has neither a ${LABEL.color} nor a ${LABEL.track} label: the pack cannot tell which rollback path it belongs to`, d.urn);
        }
        const colors = deployments.filter((d) => labelsOf(d)[LABEL.color] !== undefined);
        if (colors.length > 0) {
            for (const color of ["blue", "green"]) {
                const d = colors.find((x) => labelsOf(x)[LABEL.color] === color);
                if (!d) report(`the ${color} color is not declared: there is nothing to switch back to`);
                else if (minReplicas(d, args.resources) === 0) report(`the ${color} color is scaled to 0: switching back would wait for cold pods`, d.urn);
            }
        }
        const stable = deployments.find((d) => labelsOf(d)[LABEL.track] === "stable");
        if (deployments.some((d) => labelsOf(d)[LABEL.track] === "canary")) {
            if (!stable) report("the canary has no stable track to fall back to");
            else if (minReplicas(stable, args.resources) === 0) report(`stable Deployment ${k8sName(stable)} is scaled to 0: rolling back the canary would wait for cold pods`, stable.urn);
        }
        const { canarySteps } = args.getConfig<{ canarySteps: number[] }>();
        for (const { resource, weight } of canaryWeights(args.resources)) {
            if (Number.isNaN(weight)) continue;
            if (weight !== 0 && !canarySteps.includes(weight)) report(`canary weight ${weight} is not 0 or a declared step (${canarySteps.join(", ")})`, resource.urn);
        }
    },
};

/** The message with every `{{#is_alert}}…{{/is_alert}}` and `{{#is_alert_recovery}}…{{/is_alert_recovery}}` block removed. */
function outsideAlertBlocks(message: string): string {
    return message.replace(/\{\{#is_alert(_recovery)?\}\}[\s\S]*?\{\{\/is_alert\1\}\}/g, "");
}

/**
 * The autoscalers a monitor's query names with `horizontalpodautoscaler:<name>` or `horizontalpodautoscaler IN (…)`,
 * as patterns (a `*` is Datadog's wildcard).
 */
function watchedAutoscalers(query: string): RegExp[] {
    const names = [
        ...[...query.matchAll(new RegExp(`${HPA_TAG}:([^,}\\s]+)`, "g"))].map((x) => x[1]),
        ...[...query.matchAll(new RegExp(`${HPA_TAG} IN \\(([^)]*)\\)`, "g"))].flatMap((x) => x[1].split(",").map((n) => n.trim())),
    ];
    return names.map((n) => new RegExp(`^${n.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`));
}

/** What Datadog sends when the monitor alerts: the contents of its `{{#is_alert}}` blocks. */
function alertBlocks(message: string): string {
    return [...message.matchAll(/\{\{#is_alert\}\}([\s\S]*?)\{\{\/is_alert\}\}/g)].map((x) => x[1]).join("\n");
}

export const monitorsForPlanAlerts: StackValidationPolicy = {
    name: "monitors-for-plan-alerts",
    description:
        'Checklist "Monitoring configured (Datadog)": a monitor for every alert of the plan, per version in flight where the plan judges a version, with a threshold no looser than the plan\'s, every critical alert and rollback trigger paging, the pager named only inside alert blocks so that warnings and their recoveries never page, and the autoscaler-at-maximum monitor watching exactly the autoscalers that can grow.',
    configSchema: {
        properties: {
            thresholds: { type: "object", default: {} },
            pagerHandlePrefix: { type: "string", default: "@pagerduty" },
        },
    },
    validateStack: (args, report) => {
        const { thresholds, pagerHandlePrefix } = args.getConfig<{ thresholds: Partial<Record<AlertName, number>>; pagerHandlePrefix: string }>();
        const monitors = args.resources.filter((r) => r.type === MONITOR);
        const tag = (m: PolicyResource, key: string): string | undefined => tagValue(m.props.tags, key);
        // Unified service tagging: the version tag Datadog gives a pod is its tags.datadoghq.com/version label, and
        // only that label's (app.kubernetes.io/version becomes kube_app_version, which no monitor queries).
        const deployments = args.resources.filter((r) => r.type === DEPLOYMENT);
        for (const d of deployments.filter((x) => absent(x.props, "spec", "template", "metadata", "labels", DATADOG_LABEL.version))) {
            report(`Deployment ${k8sName(d) ?? d.name} has no ${DATADOG_LABEL.version} label on its pods: Datadog cannot tag its traffic with its version, so no monitor judges it`, d.urn);
        }
        const versions = [...new Set(deployments.map((d) => d.props.spec?.template?.metadata?.labels?.[DATADOG_LABEL.version]).filter((v) => v !== undefined))];
        // An autoscaler with minReplicas = maxReplicas sits at its maximum from the start: watching it alerts for good.
        const hpas = args.resources
            .filter((r) => r.type === HPA && typeof k8sName(r) === "string" && typeof r.props.spec?.minReplicas === "number" && typeof r.props.spec?.maxReplicas === "number")
            .map((r) => ({ name: k8sName(r)!, min: r.props.spec.minReplicas as number, max: r.props.spec.maxReplicas as number }));
        const atMax = monitors.filter((m) => tag(m, MONITOR_TAG.planAlert) === "autoscalerAtMaxPct" && typeof m.props.query === "string");
        for (const h of hpas) {
            const watchers = atMax.filter((m) => watchedAutoscalers(m.props.query).some((p) => p.test(h.name)));
            if (h.min < h.max && watchers.length === 0) report(`no autoscalerAtMaxPct monitor watches autoscaler ${h.name}, which can grow from ${h.min} to ${h.max}`);
            for (const m of h.min < h.max ? [] : watchers) {
                report(`monitor ${m.props.name ?? m.name} watches autoscaler ${h.name}, pinned at ${h.max} (minReplicas = maxReplicas): it alerts for good`, m.urn);
            }
        }
        for (const alert of ALERT_NAMES) {
            const plan: PlanAlert = PLAN_ALERTS[alert];
            const limit = thresholds[alert] ?? plan.plan;
            const found = monitors.filter((m) => tag(m, MONITOR_TAG.planAlert) === alert);
            if (found.length === 0) {
                // Without an autoscaler that can grow there is nothing to pin; the loop above reports a missing watcher.
                if (alert !== "autoscalerAtMaxPct") report(`no monitor for the plan's alert ${alert} (${plan.label})`);
                continue;
            }
            if (isPerVersionAlert(alert)) {
                for (const v of versions) {
                    if (!found.some((m) => tag(m, MONITOR_TAG.version) !== undefined && labelValue(tag(m, MONITOR_TAG.version)!) === v)) report(`no ${alert} monitor judges version ${v} on its own traffic`);
                }
            }
            // A guarded alert's threshold sits on its condition monitor; it is reported on the composite that notifies.
            for (const m of monitors.filter((x) => tag(x, MONITOR_TAG.planAlert) === alert || tag(x, MONITOR_TAG.planAlertCondition) === alert)) {
                const critical = m.props.monitorThresholds?.critical;
                if (critical === undefined) continue;
                const value = Number(critical);
                const looser = plan.bad === "above" ? value > limit : value < limit;
                const notifier = tag(m, MONITOR_TAG.planAlert) === alert ? m : (found.find((f) => tag(f, MONITOR_TAG.version) === tag(m, MONITOR_TAG.version)) ?? m);
                if (looser) report(`monitor ${notifier.props.name ?? notifier.name} alerts at ${value}, looser than the plan's ${limit}`, notifier.urn);
            }
            for (const m of found) {
                // Downtimes and the deployment plan tell rollback triggers, pages and versions apart by these tags.
                if (tag(m, MONITOR_TAG.severity) !== plan.severity) {
                    report(`monitor ${m.props.name ?? m.name} is tagged ${MONITOR_TAG.planAlert}:${alert} but not ${MONITOR_TAG.severity}:${plan.severity}`, m.urn);
                }
                if (isPerVersionAlert(alert) && VARIANT_KEYS.every((k) => tag(m, k) === undefined)) {
                    report(`monitor ${m.props.name ?? m.name} judges one version in flight but has no ${VARIANT_KEYS.map((k) => `${k}:`).join(" or ")} tag`, m.urn);
                }
                const message = m.props.message;
                if (typeof message !== "string") continue;
                if (plan.severity !== "warning" && !alertBlocks(message).includes(pagerHandlePrefix)) {
                    report(`monitor ${m.props.name ?? m.name} is a ${plan.severity} alert but pages nobody (${pagerHandlePrefix}…)`, m.urn);
                }
                if (outsideAlertBlocks(message).includes(pagerHandlePrefix)) {
                    report(`monitor ${m.props.name ?? m.name} names the pager outside {{#is_alert}} and {{#is_alert_recovery}}: its warnings or their recoveries would page`, m.urn);
                }
            }
        }
        for (const m of monitors.filter((x) => tag(x, MONITOR_TAG.planAlert) === undefined)) {
            if (typeof m.props.message === "string" && m.props.message.includes(pagerHandlePrefix)) report(`monitor ${m.props.name ?? m.name} is not a plan alert but pages`, m.urn);
        }
    },
};

export const downtimeNeverMutesRollbackTriggers: StackValidationPolicy = {
    name: "downtime-never-mutes-rollback-triggers",
    description:
        'Checklist "Monitoring configured": a deployment-window downtime mutes rollout noise only, never a rollback trigger, a critical page or a monitor that judges a version in flight (the plan checks those during the window).',
    validateStack: (args, report) => {
        const monitors = args.resources.filter((r) => r.type === MONITOR);
        // Condition and traffic monitors notify nobody, so muting them mutes nothing. A plan alert is live by what the
        // plan says of it, whatever tags it lacks: a rollback trigger or critical page, or an alert that judges a version.
        const live = (tags: unknown[]) => {
            const alert = tagValue(tags, MONITOR_TAG.planAlert);
            if (alert === undefined) return false;
            const severities = [tagValue(tags, MONITOR_TAG.severity), (PLAN_ALERTS as Record<string, PlanAlert | undefined>)[alert]?.severity];
            return severities.some((s) => s === "rollback" || s === "critical") || isPerVersionAlert(alert) || VARIANT_KEYS.some((k) => tagValue(tags, k) !== undefined);
        };
        for (const d of args.resources.filter((r) => r.type === DOWNTIME)) {
            const identifier = d.props.monitorIdentifier;
            if (identifier === undefined) continue;
            if (identifier.monitorId !== undefined) {
                const target = monitors.find((m) => m.props.id === identifier.monitorId);
                if (target && live(target.props.tags ?? [])) report(`downtime ${d.name} mutes ${target.props.name}`, d.urn);
                continue;
            }
            const wanted: string[] = identifier.monitorTags ?? [];
            if (wanted.length === 0 || wanted.includes("*")) {
                report(`downtime ${d.name} mutes every monitor in its scope`, d.urn);
                continue;
            }
            for (const m of monitors) {
                const tags: string[] = m.props.tags ?? [];
                if (wanted.every((t) => tags.includes(t)) && live(tags)) report(`downtime ${d.name} mutes ${m.props.name ?? m.name}`, d.urn);
            }
        }
    },
};

export const releaseOwnersAssigned: StackValidationPolicy = {
    name: "release-owners-assigned",
    description:
        'Checklist "Rollback plan documented" and the plan\'s team assignments: a stack that runs the app names a deployment lead and a rollback owner in its deployment-plan ConfigMap (keys deployment-lead and rollback-owner).',
    validateStack: (args, report) => {
        if (!args.resources.some((r) => r.type === DEPLOYMENT)) return;
        // Stack outputs (the plan document) are not visible to policies; a declared ConfigMap is, and the cluster keeps it.
        const plan = args.resources.find((r) => r.type === CONFIGMAP && component(r) === COMPONENT.deploymentPlan);
        if (!plan) {
            report("no deployment-plan ConfigMap names the release's deployment lead and rollback owner");
            return;
        }
        const data = plan.props.data;
        if (data === undefined) return;
        for (const [key, role, config] of [
            [PLAN_PEOPLE_KEYS.deploymentLead, "deployment lead", "plan.people.deploymentLead"],
            [PLAN_PEOPLE_KEYS.rollbackOwner, "rollback owner", "plan.people.rollbackOwner"],
        ]) {
            if (typeof data[key] !== "string" || data[key].trim() === "") report(`no ${role} is assigned: ConfigMap ${k8sName(plan)} has no ${key} (set ${config})`, plan.urn);
        }
    },
};

/** Every policy of the pack, in the checklist's order. */
export const policies: Policy[] = [
    containerProbesAndResources,
    imagesPinnedAndAllowed,
    restrictedPodSecurity,
    noPlaintextSecrets,
    smokeTestBeforeSwitch,
    migrationBeforeNewVersion,
    backupBeforeMigration,
    backupBucketHardened,
    databaseBackupScheduled,
    monitorsForPlanAlerts,
    downtimeNeverMutesRollbackTriggers,
    rollbackPathPresent,
    releaseOwnersAssigned,
    replicasSurviveNodeLoss,
    hpaOnEveryDeployment,
];

