import { rolloutCanProgress } from "../../../components/kubernetes";
import { replicaSplit } from "../../../components/traffic";
import { Problem } from "../errors";
import { datadogTags } from "../resolve";
import { BlueGreenConfig, ParsedConfig } from "../types";
import { databaseProblems } from "./database";
import { autoRollbackProblems, judgeProblems, monitoringProblems } from "./monitoring";

/** Rules that relate one key to another; checked once every key is well-formed on its own. */
export function crossFieldProblems(c: ParsedConfig, stack: string): Problem[] {
    const problems: Problem[] = [];
    const issue = (path: (string | number)[], input: unknown, message: string) => {
        problems.push({ path, input, message });
    };
    if (c.release.maxReplicas < c.release.replicas) {
        issue(
            ["release", "maxReplicas"],
            c.release.maxReplicas,
            `must be at least release.replicas (${c.release.replicas})`,
        );
    }
    if (c.strategy === "rolling" && !rolloutCanProgress(c.rolling.maxSurge, c.rolling.maxUnavailable)) {
        issue(
            ["rolling", "maxUnavailable"],
            c.rolling.maxUnavailable,
            `cannot be 0 when rolling.maxSurge is ${c.rolling.maxSurge}: the rollout could never progress`,
        );
    }
    if (c.monitoring) problems.push(...monitoringProblems(c.monitoring, datadogTags(c, stack).env));
    // One owner for the span and the traffic guard: monitoring's, when this stack declares the monitors.
    if (c.monitoring && c.release.gate.scope) {
        issue(
            ["release", "gate", "scope"],
            c.release.gate.scope,
            "must be left out with monitoring: the gate reads monitoring.span and monitoring.trafficGuard",
        );
    }
    problems.push(...judgeProblems(c));
    problems.push(...databaseProblems(c));
    problems.push(...autoRollbackProblems(c));
    if (c.strategy === "blue-green") {
        const bg = c.blueGreen;
        if (!bg) {
            issue(["blueGreen"], undefined, 'is required when strategy is "blue-green"');
            return problems;
        }
        if (c.release.version !== bg.blueVersion && c.release.version !== bg.greenVersion) {
            issue(
                ["release", "version"],
                c.release.version,
                `must be the version of one color (blue ${bg.blueVersion}, green ${bg.greenVersion})`,
            );
        }
        if (bg.previewHost === c.release.host)
            issue(["blueGreen", "previewHost"], bg.previewHost, "must differ from release.host");
        problems.push(...activeColorProblems(c.release, bg));
    }
    if (c.strategy === "canary") {
        const cn = c.canary;
        if (!cn) {
            issue(["canary"], undefined, 'is required when strategy is "canary"');
            return problems;
        }
        if (cn.weight !== 0 && !cn.steps.includes(cn.weight)) {
            issue(["canary", "weight"], cn.weight, `must be 0 or one of the declared steps [${cn.steps.join(", ")}]`);
        }
        if (c.release.version !== cn.stableVersion && c.release.version !== cn.canaryVersion) {
            issue(
                ["release", "version"],
                c.release.version,
                `must be the stable (${cn.stableVersion}) or canary (${cn.canaryVersion}) version`,
            );
        }
        // Until promotion, rolling back means returning traffic to stable: the printed rollback and the plan take
        // previousVersion for that version (lib/rollback.ts), so any other would roll stable onto a third version.
        const previous = c.release.previousVersion;
        if (cn.canaryVersion !== cn.stableVersion && previous !== undefined && previous !== cn.stableVersion) {
            issue(
                ["release", "previousVersion"],
                previous,
                `must be canary.stableVersion (${cn.stableVersion}) while the canary (${cn.canaryVersion}) is not promoted: a rollback returns traffic to what stable runs`,
            );
        }
        if (cn.router === "gateway-api" && !cn.gateway)
            issue(["canary", "gateway"], undefined, 'is required when canary.router is "gateway-api"');
        if (cn.router === "alb" && !cn.alb)
            issue(["canary", "alb"], undefined, 'is required when canary.router is "alb"');
        if (cn.router === "alb" && cn.alb && c.release.drainSeconds <= cn.alb.deregistrationDelaySeconds) {
            issue(
                ["release", "drainSeconds"],
                c.release.drainSeconds,
                `must exceed canary.alb.deregistrationDelaySeconds (${cn.alb.deregistrationDelaySeconds}) with the ALB router: a stopping pod keeps serving until its target group has drained it`,
            );
        }
        if (cn.canaryMaxReplicas < cn.canaryReplicas || cn.canaryMaxReplicas > c.release.maxReplicas) {
            issue(
                ["canary", "canaryMaxReplicas"],
                cn.canaryMaxReplicas,
                `must be from canary.canaryReplicas (${cn.canaryReplicas}) to release.maxReplicas (${c.release.maxReplicas})`,
            );
        }
        if (cn.router === "pod-ratio") {
            // Every step of the plan must be one the program accepts: 100 is reached by promotion, not by a weight.
            const inexpressible = cn.steps.filter((step) => step !== 100 && !replicaSplit(c.release.replicas, step));
            if (inexpressible.length > 0) {
                issue(
                    ["canary", "steps"],
                    cn.steps,
                    `cannot all be expressed with ${c.release.replicas} replicas by the pod-ratio router (${inexpressible.join(", ")}): release.replicas × each step must be a multiple of 100`,
                );
            }
            if (cn.weight === 100) {
                issue(
                    ["canary", "weight"],
                    cn.weight,
                    "cannot be 100 with the pod-ratio router: it would scale stable to 0; promote by setting canary.stableVersion instead",
                );
            } else if (!replicaSplit(c.release.replicas, cn.weight)) {
                issue(
                    ["canary", "weight"],
                    cn.weight,
                    `cannot be expressed with ${c.release.replicas} replicas by the pod-ratio router: release.replicas × weight must be a multiple of 100`,
                );
            }
        }
    }
    return problems;
}

/**
 * A new version reaches users only through the preview color and its smoke test. Config has no memory of which color
 * served before, but a release's shape tells: the active color runs the version traffic is on
 * (release.previousVersion) until the switch, then the version released (release.version), with the previous one
 * kept warm on the preview color. Any other version on the active color would reach users untested, rolled onto the
 * pods that serve them.
 */
function activeColorProblems(release: ParsedConfig["release"], bg: BlueGreenConfig): Problem[] {
    const key = `${bg.activeColor}Version` as const;
    const previewKey = bg.activeColor === "blue" ? "greenVersion" : "blueVersion";
    const active = bg[key];
    const previous = release.previousVersion;
    const untested = `a new version reaches users through the preview color and its smoke test: set blueGreen.${previewKey}, then switch blueGreen.activeColor`;
    if (active !== release.version && active !== previous) {
        return [
            {
                path: ["blueGreen", key],
                input: active,
                message: `is the active color's version, neither release.version (${release.version}) nor release.previousVersion (${previous ?? "not set"}): ${untested}`,
            },
        ];
    }
    if (previous !== undefined && active === release.version && active !== previous && bg[previewKey] !== previous) {
        return [
            {
                path: ["blueGreen", key],
                input: active,
                message: `is release.version on the active color, so the preview color must keep release.previousVersion (${previous}) for the rollback, not ${bg[previewKey]}: ${untested}`,
            },
        ];
    }
    return [];
}
