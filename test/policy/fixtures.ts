// Known-good fixtures for the policy pack's unit tests, as pulumi/pulumi-policy-aws (awsguard) tests its policies: each
// test takes a clean fixture, changes one field, and runs one policy's validateResource or validateStack on it directly,
// with no program run and no preview CLI. The fixtures describe another service ("shop"), so no case leans on a name
// of myapp's.
import * as assert from "assert";
import * as aws from "@pulumi/aws";
import * as datadog from "@pulumi/datadog";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import type {
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
} from "@pulumi/policy";
import { ALERT_NAMES, AlertName, PLAN_ALERTS, PlanAlert } from "../../policy/planAlerts";
import { isPerVersionAlert } from "../../policy/contract";

type Policy = ResourceValidationPolicy | StackValidationPolicy;

/** A resource as a program declares it: its provider class's type token, Pulumi name, inputs and dependencies (by name). */
export interface Declared {
    type: string;
    name: string;
    /** Typed loosely: each test changes the one field it is about. */
    props: any;
    dependsOn: string[];
    ignoreChanges?: string[];
}

/** A provider resource class (its type token is what isType matches), or a type token where no class exists. */
type ResourceType = abstract new (...args: never[]) => unknown;

/** The type token of a provider class, as @pulumi/policy's isType reads it. */
export const typeOf = (cls: ResourceType | string): string =>
    typeof cls === "string" ? cls : (cls as unknown as { __pulumiType: string }).__pulumiType;

/** A declaration of a resource of `cls`. */
export function declared(
    cls: ResourceType | string,
    name: string,
    props: object,
    dependsOn: string[] = [],
    ignoreChanges?: string[],
): Declared {
    return { type: typeOf(cls), name, props, dependsOn, ignoreChanges };
}

/** One finding: its message, and the Pulumi name of the resource it is reported on (null for the stack). */
export interface Finding {
    message: string;
    resource: string | null;
}

const urnOf = (r: Declared) => `urn:pulumi:test::shop::${r.type}::${r.name}`;

/** The declarations as the engine hands them to policies: URNs, resolved dependencies, isType and asType. */
export function policyResources(decls: Declared[]): PolicyResource[] {
    const byName = new Map<string, PolicyResource>();
    for (const r of decls) {
        if (byName.has(r.name)) throw new Error(`the fixture declares ${r.name} twice`);
        const isType = (cls: { __pulumiType?: string }) => cls.__pulumiType === r.type;
        byName.set(r.name, {
            type: r.type,
            name: r.name,
            urn: urnOf(r),
            props: r.props,
            opts: { ignoreChanges: r.ignoreChanges ?? [] },
            dependencies: [],
            propertyDependencies: {},
            isType,
            asType: (cls: { __pulumiType?: string }) => (isType(cls) ? r.props : undefined),
        } as unknown as PolicyResource);
    }
    for (const r of decls) {
        byName.get(r.name)!.dependencies.push(
            ...r.dependsOn.map((n) => {
                const d = byName.get(n);
                if (!d) throw new Error(`${r.name} depends on ${n}, which the fixture does not declare`);
                return d;
            }),
        );
    }
    return [...byName.values()];
}

class NotApplicable extends Error {}

/** The settings a policy reads with getConfig: its configSchema's defaults, overridden by the given config. */
function settings(policy: Policy, config: object): object {
    const defaults = Object.entries(policy.configSchema?.properties ?? {}).map(([k, s]) => [
        k,
        structuredClone((s as { default?: unknown }).default),
    ]);
    return { ...Object.fromEntries(defaults), ...config };
}

/** Runs one policy on the declarations (a resource policy on each of them, a stack policy on all) and returns its findings. */
export async function findings(policy: Policy, decls: Declared[], config: object = {}): Promise<Finding[]> {
    const resources = policyResources(decls);
    const out: Finding[] = [];
    const common = {
        stackTags: new Map<string, string>(),
        getConfig: <T>() => settings(policy, config) as T,
        notApplicable: (): never => {
            throw new NotApplicable();
        },
    };
    const nameOf = (urn: string) => resources.find((r) => r.urn === urn)?.name ?? urn;
    if ("validateResource" in policy) {
        for (const r of resources) {
            for (const validate of [policy.validateResource].flat().filter((v) => v !== undefined)) {
                try {
                    await validate({ ...r, ...common } as unknown as ResourceValidationArgs, (message) =>
                        out.push({ message, resource: r.name }),
                    );
                } catch (err) {
                    if (!(err instanceof NotApplicable)) throw err;
                }
            }
        }
    } else {
        await (policy as StackValidationPolicy).validateStack({ resources, ...common }, (message, urn) =>
            out.push({ message, resource: urn ? nameOf(urn) : null }),
        );
    }
    return out;
}

/** Asserts the policy finds nothing in the declarations. */
export async function assertNoViolations(policy: Policy, decls: Declared[], config: object = {}): Promise<void> {
    assert.deepStrictEqual(await findings(policy, decls, config), []);
}

/** Asserts the policy finds exactly these messages, on these resources, in this order. */
export async function assertViolations(
    policy: Policy,
    decls: Declared[],
    expected: [message: string, resource: string | null][],
    config: object = {},
): Promise<void> {
    assert.deepStrictEqual(
        (await findings(policy, decls, config)).map((f) => [f.message, f.resource]),
        expected,
    );
}

/** The fixture with one resource changed: `change` edits its props, or the declaration itself (dependencies, options). */
export function mutated(decls: Declared[], name: string, change: (props: any, r: Declared) => void): Declared[] {
    change(named(decls, name).props, named(decls, name));
    return decls;
}

/** The fixture without the named resources, and without the dependencies on them. */
export function without(decls: Declared[], ...names: string[]): Declared[] {
    for (const n of names) named(decls, n);
    return decls
        .filter((r) => !names.includes(r.name))
        .map((r) => ({ ...r, dependsOn: r.dependsOn.filter((d) => !names.includes(d)) }));
}

/** The one declaration named `name`; throws when the fixture has none. */
export function named(decls: Declared[], name: string): Declared {
    const r = decls.find((x) => x.name === name);
    if (!r) throw new Error(`no ${name} in the fixture: ${decls.map((x) => x.name).join(", ")}`);
    return r;
}

// ---- Kubernetes building blocks ----

const LABELS = { name: "app.kubernetes.io/name", component: "app.kubernetes.io/component" };

/** A container's environment variable: a value, or a reference to a Secret. */
export interface EnvVar {
    name: string;
    value?: string;
    valueFrom?: object;
}

/** A hardened, probed, sized container. */
export function container(name = "app", image = "registry.example.com/shop:v2.0.0") {
    return {
        name,
        image,
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
        readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 } },
        securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
            readOnlyRootFilesystem: true,
        },
        env: [{ name: "LOG_LEVEL", value: "info" }] as EnvVar[],
    };
}

/** A pod spec that meets the restricted Pod Security Standard. */
export function podSpec(c = container()) {
    return { securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }, containers: [c] };
}

export type Variant = { track: "stable" | "canary" } | { color: "blue" | "green" };
const variantName = (v: Variant) => ("track" in v ? v.track : v.color);

/** A Deployment of one track or color, whose replicas the autoscaler owns after creation (ignoreChanges). */
export function deployment(variant: Variant, version: string, dependsOn: string[] = []): Declared {
    const name = `shop-${variantName(variant)}`;
    const podLabels = { [LABELS.name]: "shop", ...variant, "tags.datadoghq.com/version": version };
    return declared(
        k8s.apps.v1.Deployment,
        `${name}-deployment`,
        {
            metadata: { name, labels: { [LABELS.name]: "shop", [LABELS.component]: "app", ...variant } },
            spec: {
                replicas: 2,
                selector: { matchLabels: { [LABELS.name]: "shop", ...variant } },
                template: {
                    metadata: { labels: podLabels },
                    spec: podSpec(container("app", `registry.example.com/shop:${version}`)),
                },
            },
        },
        dependsOn,
        ["spec.replicas"],
    );
}

/** The autoscaler and disruption budget of a Deployment, and the capacity step that awaits its ready pods. */
export function companions(variant: Variant, min = 2, max = 10): Declared[] {
    const name = `shop-${variantName(variant)}`;
    return [
        declared(k8s.autoscaling.v2.HorizontalPodAutoscaler, `${name}-hpa`, {
            metadata: { name },
            spec: {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
                minReplicas: min,
                maxReplicas: max,
            },
        }),
        declared(k8s.policy.v1.PodDisruptionBudget, `${name}-pdb`, {
            metadata: { name },
            spec: { maxUnavailable: 1, selector: { matchLabels: { [LABELS.name]: "shop", ...variant } } },
        }),
        declared(k8s.apps.v1.DeploymentPatch, `${name}-capacity`, { metadata: { name } }, [`${name}-deployment`]),
    ];
}

/** The deployment-plan ConfigMap: the people of the release and a canary's steps. */
export function planConfigMap(data: Record<string, string> = {}): Declared {
    return declared(k8s.core.v1.ConfigMap, "shop-deployment-plan", {
        metadata: { name: "shop-deployment-plan", labels: { [LABELS.component]: "deployment-plan" } },
        data: { "deployment-lead": "@ana", "rollback-owner": "@ben", ...data },
    });
}

/** A canary release: stable v2.0.0 and canary v2.1.0 at 5% through ingress-nginx, each track awaited before traffic moves. */
export function canaryStack(): Declared[] {
    return [
        deployment({ track: "stable" }, "v2.0.0"),
        ...companions({ track: "stable" }),
        deployment({ track: "canary" }, "v2.1.0"),
        ...companions({ track: "canary" }),
        declared(k8s.core.v1.Service, "shop-live", {
            metadata: { name: "shop", labels: { [LABELS.component]: "live" } },
            spec: { selector: { [LABELS.name]: "shop" } },
        }),
        declared(k8s.core.v1.Service, "shop-canary-service", {
            metadata: { name: "shop-canary", labels: { [LABELS.component]: "canary" } },
            spec: { selector: { [LABELS.name]: "shop", track: "canary" } },
        }),
        declared(
            k8s.networking.v1.Ingress,
            "shop-canary-ingress",
            {
                metadata: {
                    name: "shop-canary",
                    labels: { [LABELS.component]: "canary" },
                    annotations: {
                        "nginx.ingress.kubernetes.io/canary": "true",
                        "nginx.ingress.kubernetes.io/canary-weight": "5",
                    },
                },
            },
            ["shop-stable-capacity", "shop-canary-capacity"],
        ),
        planConfigMap({ "canary-steps": "5,25,100" }),
    ];
}

/** A smoke-test Job of one color. */
function smokeJob(color: "blue" | "green"): Declared {
    return declared(k8s.batch.v1.Job, `shop-smoke-${color}`, {
        metadata: { name: `shop-smoke-${color}`, labels: { [LABELS.component]: "smoke-test", color } },
        spec: { template: { spec: podSpec(container("smoke-test", "registry.example.com/shop-smoke:v2.0.0")) } },
    });
}

/**
 * A blue/green release: blue active, green warm behind the preview Service; the active Service waits for blue's smoke
 * test and capacity.
 */
export function blueGreenStack(): Declared[] {
    return [
        deployment({ color: "blue" }, "v2.0.0"),
        ...companions({ color: "blue" }),
        deployment({ color: "green" }, "v2.1.0"),
        ...companions({ color: "green" }),
        smokeJob("blue"),
        smokeJob("green"),
        declared(
            k8s.core.v1.Service,
            "shop-live",
            {
                metadata: { name: "shop", labels: { [LABELS.component]: "live" } },
                spec: { selector: { [LABELS.name]: "shop", color: "blue" } },
            },
            ["shop-smoke-blue", "shop-blue-capacity"],
        ),
        declared(
            k8s.core.v1.Service,
            "shop-preview",
            {
                metadata: { name: "shop-preview", labels: { [LABELS.component]: "preview" } },
                spec: { selector: { [LABELS.name]: "shop", color: "green" } },
            },
            ["shop-smoke-green"],
        ),
        planConfigMap(),
    ];
}

// ---- Database ----

const BUCKET = "shop-db-backups";

function dbJob(
    cls: typeof k8s.batch.v1.Job | typeof k8s.batch.v1.CronJob,
    name: string,
    component: string,
    env: EnvVar[],
    dependsOn: string[] = [],
): Declared {
    const pod = {
        ...podSpec({ ...container("db", "registry.example.com/shop-db:v2.1.0"), env }),
        restartPolicy: "Never",
    };
    const spec =
        cls === k8s.batch.v1.CronJob
            ? { schedule: "0 3 * * *", concurrencyPolicy: "Forbid", jobTemplate: { spec: { template: { spec: pod } } } }
            : { template: { spec: pod } };
    return declared(cls, name, { metadata: { name, labels: { [LABELS.component]: component } }, spec }, dependsOn);
}

const DATABASE_URL = { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "shop-db-migrator", key: "url" } } };

/** A database the stack manages: its role, a hardened backup bucket, the scheduled backup and drill, and a release's backup then migration. */
export function databaseStack(): Declared[] {
    const bucket = { bucket: BUCKET };
    return [
        declared(postgresql.Role, "shop-db-app-role", { name: "shop_app", login: true }),
        declared(aws.s3.Bucket, "shop-backups", bucket),
        declared(aws.s3.BucketVersioning, "shop-backups-versioning", {
            ...bucket,
            versioningConfiguration: { status: "Enabled" },
        }),
        declared(aws.s3.BucketServerSideEncryptionConfiguration, "shop-backups-encryption", {
            ...bucket,
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }],
        }),
        declared(aws.s3.BucketPublicAccessBlock, "shop-backups-public-access", {
            ...bucket,
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        }),
        declared(aws.s3.BucketPolicy, "shop-backups-tls-only", {
            ...bucket,
            policy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Effect: "Deny",
                        Principal: "*",
                        Action: "s3:*",
                        Condition: { Bool: { "aws:SecureTransport": "false" } },
                    },
                ],
            }),
        }),
        declared(aws.s3.BucketLifecycleConfiguration, "shop-backups-lifecycle", {
            ...bucket,
            rules: [{ id: "expire", status: "Enabled", expiration: { days: 30 } }],
        }),
        dbJob(k8s.batch.v1.CronJob, "shop-db-backup", "backup", [
            DATABASE_URL,
            { name: "BACKUP_BUCKET", value: BUCKET },
        ]),
        dbJob(k8s.batch.v1.CronJob, "shop-db-restore-drill", "restore-drill", [
            DATABASE_URL,
            { name: "BACKUP_BUCKET", value: BUCKET },
        ]),
        dbJob(k8s.batch.v1.Job, "shop-predeploy-backup-v2-1-0", "predeploy-backup", [
            DATABASE_URL,
            { name: "BACKUP_BUCKET", value: BUCKET },
        ]),
        dbJob(k8s.batch.v1.Job, "shop-migrate-v2-1-0", "migration", [DATABASE_URL], ["shop-predeploy-backup-v2-1-0"]),
    ];
}

/** The canary release on a database: each Deployment waits for the release's migration. */
export function canaryOnDatabase(): Declared[] {
    const stack = [...databaseStack(), ...canaryStack()];
    for (const d of stack.filter((r) => r.type === typeOf(k8s.apps.v1.Deployment)))
        d.dependsOn.push("shop-migrate-v2-1-0");
    return stack;
}

// ---- Monitoring ----

const PAGER = "@pagerduty-shop";

/** A monitor's message: the pager inside the alert and recovery blocks for what pages, chat only for a warning. */
export function message(pages: boolean): string {
    return pages
        ? `Check the release.\n{{#is_alert}}${PAGER}{{/is_alert}}{{#is_recovery}}${PAGER}{{/is_recovery}} @slack-shop`
        : "Check the release. @slack-shop";
}

/** A monitor for one of the plan's alerts at the plan's number, tagged as the pack expects; per version when the plan judges one. */
function planMonitor(alert: AlertName, track?: { track: string; version: string }): Declared {
    const plan: PlanAlert = PLAN_ALERTS[alert];
    const suffix = track ? `-${track.track}` : "";
    const tags = [
        `plan-alert:${alert}`,
        `severity:${plan.severity}`,
        ...(track ? [`track:${track.track}`, `version:${track.version}`] : []),
    ];
    const query =
        alert === "autoscalerAtMaxPct"
            ? "max(last_15m):max:kubernetes_state.hpa.current_replicas{horizontalpodautoscaler IN (shop-stable, shop-canary)} >= 100"
            : `avg(last_5m):shop.${alert} > ${plan.plan}`;
    return declared(datadog.Monitor, `shop-monitoring-${alert}${suffix}`, {
        name: `[production] shop: ${plan.label}${track ? ` (track:${track.track})` : ""}`,
        type: "query alert",
        query,
        monitorThresholds: { critical: String(plan.plan) },
        message: message(plan.severity !== "warning"),
        tags: [...tags, ...(plan.rolloutNoise ? ["deployment-window:mute"] : [])],
    });
}

/** A monitor for every alert of the plan on the canary stack, per track where the plan judges a version, and a deployment-window downtime that mutes rollout noise only. */
export function monitoredCanaryStack(): Declared[] {
    const monitors = ALERT_NAMES.flatMap((a) =>
        isPerVersionAlert(a)
            ? [
                  { track: "stable", version: "v2.0.0" },
                  { track: "canary", version: "v2.1.0" },
              ].map((t) => planMonitor(a, t))
            : [planMonitor(a)],
    );
    return [
        ...canaryStack(),
        ...monitors,
        declared(datadog.DowntimeSchedule, "shop-monitoring-deployment-window", {
            scope: "env:production",
            monitorIdentifier: { monitorTags: ["deployment-window:mute"] },
        }),
    ];
}

/** A monitor that watches a CronJob's runs. */
export function cronMonitor(cronJob: string): Declared {
    return declared(datadog.Monitor, `${cronJob}-monitor`, {
        name: `[production] shop: ${cronJob} failed`,
        type: "query alert",
        query: `max(last_1d):sum:kubernetes_state.job.failed{kube_cronjob:${cronJob}} > 0`,
        message: message(true),
        tags: [`scheduled-job:${cronJob}`],
    });
}
