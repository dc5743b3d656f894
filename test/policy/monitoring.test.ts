import { downtimeNeverMutesRollbackTriggers, monitorsForPlanAlerts } from "../../policy/monitoring";
import { ALERT_NAMES } from "../../policy/planAlerts";
import {
    assertNoViolations,
    assertViolations,
    cronMonitor,
    databaseStack,
    message,
    monitoredCanaryStack,
    without,
    mutated,
} from "./fixtures";

const PAGES_NOBODY = "{{#is_alert}}@slack-shop{{/is_alert}}";

describe("policy monitors-for-plan-alerts", () => {
    it("passes a monitor per plan alert, per track where the plan judges a version, paging only from alert and recovery blocks", () =>
        assertNoViolations(monitorsForPlanAlerts, monitoredCanaryStack()));

    it("refuses a missing plan alert", () =>
        assertViolations(monitorsForPlanAlerts, without(monitoredCanaryStack(), "shop-monitoring-diskIoPct"), [
            ["no monitor for the plan's alert diskIoPct (Disk I/O utilisation)", null],
        ]));

    it("asks only for the alerts the stack's config requires", async () => {
        const stack = without(monitoredCanaryStack(), "shop-monitoring-diskIoPct", "shop-monitoring-paymentSuccessPct");
        await assertNoViolations(monitorsForPlanAlerts, stack, {
            requiredAlerts: ALERT_NAMES.filter((a) => a !== "diskIoPct" && a !== "paymentSuccessPct"),
        });
        await assertViolations(
            monitorsForPlanAlerts,
            stack,
            [["no monitor for the plan's alert diskIoPct (Disk I/O utilisation)", null]],
            { businessMetrics: false },
        );
    });

    it("refuses a per-version alert that judges one version only", () =>
        assertViolations(
            monitorsForPlanAlerts,
            without(monitoredCanaryStack(), "shop-monitoring-errorRatePct-canary"),
            [["no errorRatePct monitor judges version v2.1.0 on its own traffic", null]],
        ));

    it("refuses a threshold looser than the plan's, or than the stack's config", async () => {
        const looser = mutated(
            monitoredCanaryStack(),
            "shop-monitoring-cpuPct",
            (p) => (p.monitorThresholds.critical = "85"),
        );
        await assertViolations(monitorsForPlanAlerts, looser, [
            [
                "monitor [production] shop: CPU (% of limit) alerts at 85, looser than the plan's 80",
                "shop-monitoring-cpuPct",
            ],
        ]);
        await assertNoViolations(monitorsForPlanAlerts, looser, { thresholds: { cpuPct: 85 } });
        await assertViolations(
            monitorsForPlanAlerts,
            monitoredCanaryStack(),
            [
                [
                    "monitor [production] shop: CPU (% of limit) alerts at 80, looser than the plan's 70",
                    "shop-monitoring-cpuPct",
                ],
            ],
            {
                thresholds: { cpuPct: 70 },
            },
        );
    });

    it("refuses a critical alert that pages nobody, with the stack's pager prefix", async () => {
        const silent = mutated(
            monitoredCanaryStack(),
            "shop-monitoring-paymentFailurePct",
            (p) => (p.message = PAGES_NOBODY),
        );
        await assertViolations(monitorsForPlanAlerts, silent, [
            [
                "monitor [production] shop: Payment failure rate is a critical alert but pages nobody (@pagerduty…)",
                "shop-monitoring-paymentFailurePct",
            ],
            [
                "monitor [production] shop: Payment failure rate can page but does not name the pager in {{#is_recovery}}: an incident it opens stays open when it recovers through a warning",
                "shop-monitoring-paymentFailurePct",
            ],
        ]);
        const opsgenie = message(true).replaceAll("@pagerduty-shop", "@opsgenie-shop");
        await assertNoViolations(
            monitorsForPlanAlerts,
            monitoredCanaryStack().map((r) =>
                r.props.message?.includes("@pagerduty") ? { ...r, props: { ...r.props, message: opsgenie } } : r,
            ),
            { pagerHandlePrefix: "@opsgenie" },
        );
    });

    it("refuses the pager named outside the alert and recovery blocks, where a warning would page", () =>
        assertViolations(
            monitorsForPlanAlerts,
            mutated(monitoredCanaryStack(), "shop-monitoring-cpuPct", (p) => (p.message = "CPU high @pagerduty-shop")),
            [
                [
                    "monitor [production] shop: CPU (% of limit) names the pager outside {{#is_alert}} and {{#is_recovery}}: its warnings would page",
                    "shop-monitoring-cpuPct",
                ],
            ],
        ));

    it("refuses a plan-alert monitor without its severity or its track tag", async () => {
        await assertViolations(
            monitorsForPlanAlerts,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-rollbackNowErrorRatePct-canary",
                (p) => (p.tags = p.tags.filter((t: string) => t !== "severity:rollback")),
            ),
            [
                [
                    "monitor [production] shop: Rollback trigger (now): error rate (track:canary) is tagged plan-alert:rollbackNowErrorRatePct but not severity:rollback",
                    "shop-monitoring-rollbackNowErrorRatePct-canary",
                ],
            ],
        );
        await assertViolations(
            monitorsForPlanAlerts,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-p95LatencySeconds-canary",
                (p) => (p.tags = p.tags.filter((t: string) => t !== "track:canary")),
            ),
            [
                [
                    "monitor [production] shop: p95 response time (track:canary) judges one version in flight but has no color: or track: tag",
                    "shop-monitoring-p95LatencySeconds-canary",
                ],
            ],
        );
    });

    it("refuses pods without the Datadog version label, which no monitor can judge", () =>
        assertViolations(
            monitorsForPlanAlerts,
            mutated(
                monitoredCanaryStack(),
                "shop-canary-deployment",
                (p) => delete p.spec.template.metadata.labels["tags.datadoghq.com/version"],
            ),
            [
                [
                    "Deployment shop-canary has no tags.datadoghq.com/version label on its pods: Datadog cannot tag its traffic with its version, so no monitor judges it",
                    "shop-canary-deployment",
                ],
            ],
        ));

    it("refuses an autoscaler-at-maximum monitor that misses an autoscaler that can grow", () =>
        assertViolations(
            monitorsForPlanAlerts,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-autoscalerAtMaxPct",
                (p) => (p.query = p.query.replace(", shop-canary", "")),
            ),
            [["no autoscalerAtMaxPct monitor watches autoscaler shop-canary, which can grow from 2 to 10", null]],
        ));

    it("refuses a backup CronJob no monitor watches", async () => {
        const stack = [
            ...monitoredCanaryStack(),
            ...databaseStack(),
            cronMonitor("shop-db-backup"),
            cronMonitor("shop-db-restore-drill"),
        ];
        await assertNoViolations(monitorsForPlanAlerts, stack);
        await assertViolations(monitorsForPlanAlerts, without(stack, "shop-db-restore-drill-monitor"), [
            [
                "no monitor watches CronJob shop-db-restore-drill: a failed run would go unnoticed",
                "shop-db-restore-drill",
            ],
        ]);
    });
});

describe("policy downtime-never-mutes-rollback-triggers", () => {
    it("passes a deployment-window downtime that mutes rollout noise only", () =>
        assertNoViolations(downtimeNeverMutesRollbackTriggers, monitoredCanaryStack()));

    it("refuses a downtime whose tags match a per-version alert", () =>
        assertViolations(
            downtimeNeverMutesRollbackTriggers,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-deployment-window",
                (p) => (p.monitorIdentifier.monitorTags = ["track:stable"]),
            ),
            [
                "Error rate",
                "p95 response time",
                "Rollback trigger (now): error rate",
                "Rollback trigger (now): p95 response time",
                "Rollback trigger (15 minutes): error rate",
                "Rollback trigger (15 minutes): p95 response time",
                "Rollback trigger: payment failure rate",
            ].map((label): [string, string] => [
                `downtime shop-monitoring-deployment-window mutes [production] shop: ${label} (track:stable)`,
                "shop-monitoring-deployment-window",
            ]),
        ));

    it("refuses a critical monitor in the window even when it lost its severity tag", () =>
        assertViolations(
            downtimeNeverMutesRollbackTriggers,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-paymentFailurePct",
                (p) => (p.tags = ["plan-alert:paymentFailurePct", "deployment-window:mute"]),
            ),
            [
                [
                    "downtime shop-monitoring-deployment-window mutes [production] shop: Payment failure rate",
                    "shop-monitoring-deployment-window",
                ],
            ],
        ));

    it("refuses a downtime that mutes every monitor in its scope", () =>
        assertViolations(
            downtimeNeverMutesRollbackTriggers,
            mutated(
                monitoredCanaryStack(),
                "shop-monitoring-deployment-window",
                (p) => (p.monitorIdentifier.monitorTags = ["*"]),
            ),
            [
                [
                    "downtime shop-monitoring-deployment-window mutes every monitor in its scope",
                    "shop-monitoring-deployment-window",
                ],
            ],
        ));
});
