import { ALERT_NAMES, DEFERRED_TO, isLooser, PLAN_ALERTS, PlanAlert } from "../../../policy/planAlerts";
import { warningBeforeCritical } from "../../../components/monitoring";
import { Problem } from "../errors";
import { MonitoringSection, ParsedConfig } from "../types";

export function monitoringProblems(m: MonitoringSection, env: string): Problem[] {
    const problems: Problem[] = [];
    for (const name of ALERT_NAMES) {
        const a: PlanAlert = PLAN_ALERTS[name];
        const critical = m.thresholds[name];
        const warning = m.warnings[name];
        if (a.percent && critical > 100)
            problems.push({
                path: ["monitoring", "thresholds", name],
                input: critical,
                message: "is a percentage and cannot exceed 100",
            });
        if (warning !== undefined && DEFERRED_TO.includes(name)) {
            problems.push({
                path: ["monitoring", "warnings", name],
                input: warning,
                message:
                    "must be left out: the tiers below this rollback trigger warn and page for it, and a warning here would silence them in its band",
            });
        } else if (warning !== undefined && !warningBeforeCritical(PLAN_ALERTS[name].bad, warning, critical)) {
            const side = a.bad === "above" ? "below" : "above";
            problems.push({
                path: ["monitoring", "warnings", name],
                input: warning,
                message: `must be ${side} the critical threshold ${critical}`,
            });
        }
        if (env === "production" && isLooser(name, critical) && !m.looserThresholdReasons[name]) {
            problems.push({
                path: ["monitoring", "thresholds", name],
                input: critical,
                message: `is looser than the plan's ${a.plan} (alerts ${a.bad} it); in production set monitoring.looserThresholdReasons.${name} to say why`,
            });
        }
    }
    const w = m.deploymentWindow;
    if (w && Date.parse(w.end) <= Date.parse(w.start))
        problems.push({
            path: ["monitoring", "deploymentWindow", "end"],
            input: w.end,
            message: `must be after start (${w.start})`,
        });
    return problems;
}

export function judgeProblems(c: ParsedConfig): Problem[] {
    const problems: Problem[] = [];
    const { thresholds, groupWeights } = c.judge;
    if (thresholds.marginal > thresholds.pass) {
        problems.push({
            path: ["judge", "thresholds", "marginal"],
            input: thresholds.marginal,
            message: `must not be above judge.thresholds.pass (${thresholds.pass})`,
        });
    }
    const total = Object.values(groupWeights).reduce((sum, w) => sum + w, 0);
    if (total > 100)
        problems.push({
            path: ["judge", "groupWeights"],
            input: groupWeights,
            message: `add up to ${total}; they must add up to at most 100`,
        });
    // A weighted group with no metric still takes its share of 100, so no canary could score 100.
    if (groupWeights.payments !== undefined && !c.monitoring?.metrics) {
        problems.push({
            path: ["judge", "groupWeights", "payments"],
            input: groupWeights.payments,
            message: "weighs a group without metrics: payments are judged only with monitoring.metrics",
        });
    }
    return problems;
}

/** An enabled automatic rollback needs the triggers that start it, where Deployments finds the program, and a token. */
export function autoRollbackProblems(c: ParsedConfig): Problem[] {
    const a = c.autoRollback;
    if (!a?.enabled) return [];
    const problems: Problem[] = [];
    if (!c.monitoring)
        problems.push({
            path: ["autoRollback", "enabled"],
            input: true,
            message: "needs monitoring: the rollback triggers are its monitors",
        });
    if (!a.source)
        problems.push({
            path: ["autoRollback", "source"],
            input: undefined,
            message:
                "is required when autoRollback.enabled: the repository (repoUrl) and branch Pulumi Deployments runs",
        });
    // Never printed: a token is a credential.
    if (!a.pulumiAccessToken)
        problems.push({
            path: ["autoRollback", "pulumiAccessToken"],
            input: undefined,
            message:
                "is required when autoRollback.enabled: set it with `pulumi config set --secret --path autoRollback.pulumiAccessToken`",
        });
    return problems;
}
