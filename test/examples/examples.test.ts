import * as assert from "assert";
import * as path from "path";
import catalogApi from "../../examples/catalog-api";
import { captureDeclarations } from "../../tools/offline/capture";
import { readPolicyConfig, runPolicies } from "../../tools/offline/policy";
import { PACK_ENFORCEMENT, policies } from "../../policy/policies";
import { manifestOf, validateManifest } from "../../tools/offline/render";
import { readStackFile, toRunRequest } from "../../tools/offline/stackConfig";
import { ProgramRun } from "../../tools/offline/types";
import { all, at, find, ROOT } from "../helpers";

const EXAMPLE = path.join(ROOT, "examples", "catalog-api");

/** Runs the example under mocks in this process, with its own project name and stack file, as the CLI would. */
function runExample(stack: string): Promise<ProgramRun> {
    const request = toRunRequest("catalog-api", stack, readStackFile(path.join(EXAMPLE, `Pulumi.${stack}.yaml`)));
    return captureDeclarations(request, () => catalogApi());
}

describe("examples/catalog-api: a second service on the library", () => {
    let run: ProgramRun;
    before(async () => {
        run = await runExample("production");
    });

    it("declares only the library's release:index:* components, and returns its outputs", () => {
        assert.deepStrictEqual(
            [...new Set(run.resources.filter((r) => !r.custom).map((r) => r.type))],
            ["release:index:RollingDeployment", "release:index:AppWorkload", "release:index:ReleaseMonitoring"],
        );
        assert.deepStrictEqual(run.outputs, {
            version: "v4.1.0",
            url: "https://catalog.example.com",
            rollback: "pulumi config set --stack production --path service.version v4.0.3 && pulumi up --stack production",
        });
    });

    it("rolls its own Deployment one pod at a time, tagged with its own service and env, behind its own Service", () => {
        const d = find(run, ":Deployment", "catalog-api-app-deployment");
        assert.strictEqual(at(d, "metadata.name"), "catalog-api");
        assert.strictEqual(at(d, "metadata.namespace"), "catalog");
        assert.deepStrictEqual(at(d, "spec.strategy"), { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
        assert.strictEqual(at(d, "spec.progressDeadlineSeconds"), 300);
        assert.strictEqual(at(d, "spec.template.spec.containers")[0].image, "registry.example.com/catalog-api:v4.1.0");
        const labels = at(d, "spec.template.metadata.labels") as Record<string, string>;
        assert.deepStrictEqual(Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith("tags.datadoghq.com/"))), {
            "tags.datadoghq.com/env": "production",
            "tags.datadoghq.com/service": "catalog-api",
            "tags.datadoghq.com/version": "v4.1.0",
        });
        const svc = find(run, ":Service", "catalog-api-live");
        assert.strictEqual(at(svc, "metadata.name"), "catalog-api");
        assert.deepStrictEqual(at(svc, "spec.selector"), at(d, "spec.selector.matchLabels"));
        assert.deepStrictEqual(at(find(run, ":HorizontalPodAutoscaler", "catalog-api-app-hpa"), "spec.maxReplicas"), 8);
        assert.strictEqual(at(find(run, ":Ingress", "catalog-api-ingress"), "spec.rules")[0].host, "catalog.example.com");
        // Every Kubernetes object it declares is valid against the Kubernetes OpenAPI schema (kubernetes-models).
        const manifests = run.resources.flatMap((r): Record<string, unknown>[] => {
            const m = manifestOf(r);
            return m ? [m] : [];
        });
        assert.deepStrictEqual(
            manifests.map((m) => m.kind),
            ["Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "Ingress"],
        );
        manifests.forEach(validateManifest);
    });

    it("declares its own alerts, scoped to its service, env and pods, with no payment, email or database monitor", () => {
        const monitors = all(run, ":Monitor");
        const alertOf = (tags: string[]) => tags.find((t) => t.startsWith("plan-alert:"))?.slice("plan-alert:".length);
        assert.deepStrictEqual(
            monitors.map((m) => alertOf(at(m, "tags") as string[])).filter((a) => a !== undefined),
            ["errorRatePct", "p95LatencySeconds", "rollbackNowErrorRatePct", "rollbackNowP95Seconds", "cpuPct", "memoryPct", "autoscalerAtMaxPct"],
        );
        for (const m of monitors.filter((x) => at(x, "type") === "query alert")) {
            const q = at(m, "query") as string;
            assert.ok(
                /\{service:catalog-api,env:production[,}]|\{kube_cluster_name:prod-us-east-1(,kube_namespace:catalog,kube_app_name:catalog-api| AND kube_namespace:catalog AND horizontalpodautoscaler IN \(catalog-api\))\}/.test(
                    q,
                ),
                `${m.name}: ${q}`,
            );
            assert.ok(!/payment|email|postgresql/.test(q), m.name);
        }
        assert.strictEqual(
            at(find(run, ":Monitor", "catalog-api-monitoring-rollback-now-error-rate-pct-stable-condition"), "query"),
            "sum(last_5m):sum:trace.servlet.request.errors{service:catalog-api,env:production,version:v4.1.0,!resource_name:get_/healthz,!resource_name:get_/ready}.as_count() / sum:trace.servlet.request.hits{service:catalog-api,env:production,version:v4.1.0,!resource_name:get_/healthz,!resource_name:get_/ready}.as_count() * 100 > 5",
        );
        assert.deepStrictEqual(at(find(run, ":Monitor", "catalog-api-monitoring-rollback-now-error-rate-pct-stable-condition"), "monitorThresholds"), {
            critical: "5",
            warning: "2",
            criticalRecovery: "4",
        });
        const rollback = find(run, ":Monitor", "catalog-api-monitoring-rollback-now-error-rate-pct-stable");
        assert.strictEqual(at(rollback, "name"), "[production] catalog-api: Rollback trigger: error rate above 5% (track:stable)");
        assert.ok(
            (at(rollback, "message") as string).includes(
                "Roll back now: `pulumi config set --stack production --path service.version v4.0.3 && pulumi up --stack production`\n@pagerduty-catalog @slack-catalog{{/is_alert}}",
            ),
        );
        assert.strictEqual(
            at(find(run, ":Monitor", "catalog-api-monitoring-p95-latency-seconds-stable-condition"), "query"),
            "percentile(last_10m):p95:trace.servlet.request{service:catalog-api,env:production,version:v4.1.0,!resource_name:get_/healthz,!resource_name:get_/ready} > 0.8",
        );
        assert.strictEqual(at(find(run, ":ServiceLevelObjective", "catalog-api-monitoring-latency-slo"), "name"), "[production] catalog-api: p95 within 0.8 s");
        assert.deepStrictEqual(all(run, ":DowntimeSchedule"), []);
    });

    it("passes the policy pack under its own pack config, which names its alerts and thresholds and drops myapp's people ConfigMap", async () => {
        const config = readPolicyConfig(path.join(EXAMPLE, "policy.production.json"));
        assert.deepStrictEqual(await runPolicies(run, "catalog-api", policies, config, PACK_ENFORCEMENT), []);
        // The pack config still holds it to its own plan: a monitor looser than the example's own number is refused.
        const looser = structuredClone(run);
        looser.resources.find((r) => r.name === "catalog-api-monitoring-cpu-pct")!.inputs.monitorThresholds = { critical: "90" };
        assert.deepStrictEqual(
            (await runPolicies(looser, "catalog-api", policies, config, PACK_ENFORCEMENT)).map((v) => `${v.policy}: ${v.message}`),
            ["monitors-for-plan-alerts: monitor [production] catalog-api: CPU (% of limit) above 85% alerts at 90, looser than the plan's 85"],
        );
    });

    it("meets the library's own rules, and under myapp's pack config gets only the myapp plan's items it lacks", async () => {
        // myapp's pack config requires the myapp plan's alerts at its numbers and a deployment-plan ConfigMap naming
        // the lead and rollback owner. A second service under that config gets exactly these findings; everything
        // about how it is built (pinned images, restricted pods, probes, budgets, autoscalers, Datadog labels,
        // per-version monitors) passes.
        const violations = await runPolicies(run, "catalog-api", policies, readPolicyConfig(path.join(ROOT, "policy", "config", "production.json")), PACK_ENFORCEMENT);
        assert.deepStrictEqual(
            violations.map((v) => `${v.policy}: ${v.message}`),
            [
                "monitors-for-plan-alerts: monitor [production] catalog-api: Error rate above 2% (track:stable) alerts at 2, looser than the plan's 1",
                ...["rollbackSustainedErrorRatePct (Rollback trigger (15 minutes): error rate)", "rollbackSustainedP95Seconds (Rollback trigger (15 minutes): p95 response time)"].map(
                    (a) => `monitors-for-plan-alerts: no monitor for the plan's alert ${a}`,
                ),
                ...[
                    "paymentFailurePct (Payment failure rate)",
                    "paymentSuccessPct (Payment success rate)",
                    "emailDeliveryPct (Email delivery rate)",
                    "dbQueryMs (Mean database query time)",
                    "dbConnectionsPct (Database connections of the app role (% of its limit))",
                    "cacheHitPct (Database cache hit rate)",
                ].map((a) => `monitors-for-plan-alerts: no monitor for the plan's alert ${a}`),
                "monitors-for-plan-alerts: monitor [production] catalog-api: CPU (% of limit) above 85% alerts at 85, looser than the plan's 80",
                "monitors-for-plan-alerts: no monitor for the plan's alert diskIoPct (Disk I/O utilisation)",
                "monitors-for-plan-alerts: no monitor for the plan's alert versionPaymentFailurePct (Rollback trigger: payment failure rate)",
                "release-owners-assigned: no deployment-plan ConfigMap names the release's deployment lead and rollback owner",
            ],
        );
    });
});
