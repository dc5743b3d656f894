// The deployment and rollback steps of a release: each a command (a config edit and `pulumi up`), what the engine
// changes, and the checks before the next. The plan prints all of it; the runbook the commands and checks only.
import { ProgramConfig } from "../config";
import { gatedRaises, trafficShares } from "../gate/gate";
import { rollbackCommand } from "../rollback";
import { activeService, canaryRoutingObject, cronJobNames, dashboardTitles, jobFacts, workloadFacts } from "./facts";
import { NOT_SET, roleWithHandle } from "./people";
import { PlanInput } from "./types";
import { COMPONENT, NO_USERS_TAG, NOTIFIES_NOBODY_TAG } from "../../policy/contract";

export interface Step {
    /** Minutes from the start of the deployment (T+0). */
    at: number;
    title: string;
    commands: string[];
    /** What the engine changes, from the declared resources. */
    engine: string[];
    /** What to see before going on. */
    checks: string[];
    /** The command that rolls back from the state this step leaves, as `pulumi stack output rollback` would print it then. */
    rollback?: string;
    /** A message to send as it is written (a chat post or an email), filled in where it says so. */
    message?: string[];
}

/** When things happen, in minutes from T+0; clock times when the deployment window is set. */
export interface Timeline {
    start?: Date;
    end?: Date;
    /** Minutes the window lasts. */
    length?: number;
    /** Minutes budgeted for the pre-deploy backup (and a restore, when set): their Jobs' deadlines. */
    backup: number;
    /** When the new version's pods are expected: after the backup's budget and the migration's estimated minutes. */
    ready: number;
    /** Minutes each traffic step is watched (plan.observeMinutes). */
    observe: number;
    /** Traffic edits after the first `pulumi up`. */
    edits: Edit[];
    /** When the deployment can be marked successful. */
    finish: number;
}

export interface Edit {
    title: string;
    sets: [string, string | number][];
}

/** The config once these edits have been applied: the state a step's `pulumi up` leaves. */
function configAfter(cfg: ProgramConfig, sets: [string, string | number][]): ProgramConfig {
    const next = structuredClone(cfg) as unknown as Record<string, Record<string, unknown>>;
    for (const [path, value] of sets) {
        const [section, key] = path.split(".");
        next[section][key] = value;
    }
    return next as unknown as ProgramConfig;
}

/** `pulumi config set --path … && … && pulumi up`, for this stack. */
export function configSet(stack: string, sets: [string, string | number][]): string {
    return [
        ...sets.map(([k, v]) => `pulumi config set --stack ${stack} --path ${k} ${v}`),
        `pulumi up --stack ${stack}`,
    ].join(" && ");
}

/** The config edits that take the release from this config to done, in order. */
export function followUpEdits(cfg: ProgramConfig): Edit[] {
    if (cfg.strategy === "canary") {
        const cn = cfg.canary;
        if (cn.stableVersion === cn.canaryVersion) return [];
        // The pod-ratio router cannot take 100%: it would scale stable to 0 (config refuses it); promotion does that.
        const steps = cn.steps.filter((s) => s > cn.weight && !(cn.router === "pod-ratio" && s === 100));
        return [
            ...steps.map((s): Edit => ({
                title: `Shift ${s}% of requests to the canary`,
                sets: [["canary.weight", s]],
            })),
            {
                title: `Promote ${cn.canaryVersion} to stable`,
                sets: [
                    ["canary.stableVersion", cn.canaryVersion],
                    ["canary.weight", 0],
                ],
            },
        ];
    }
    if (cfg.strategy === "blue-green") {
        const bg = cfg.blueGreen;
        const target = bg.blueVersion === cfg.release.version ? "blue" : "green";
        return target === bg.activeColor
            ? []
            : [
                  {
                      title: `Switch the active color to ${target} (${cfg.release.version})`,
                      sets: [["blueGreen.activeColor", target]],
                  },
              ];
    }
    return [];
}

export function timeline(input: PlanInput): Timeline {
    const { cfg } = input;
    const w = cfg.monitoring?.deploymentWindow;
    const start = w ? new Date(w.start) : undefined;
    const end = w ? new Date(w.end) : undefined;
    // The pre-deploy dump (and a restore) run before the migration, and `pulumi up` waits for them: no estimate is
    // written for them, so the plan budgets each Job's deadline, the longest it may take.
    const jobs = jobFacts(input.resources).filter(
        (j) => j.component === COMPONENT.predeployBackup || j.component === COMPONENT.restore,
    );
    const backup = jobs.reduce((n, j) => n + Math.ceil(j.deadlineSeconds / 60), 0);
    const ready = backup + (cfg.database ? cfg.database.migration.estimatedMinutes : 0);
    const observe = cfg.plan.observeMinutes;
    const edits = followUpEdits(cfg);
    return {
        start,
        end,
        length: start && end ? (end.getTime() - start.getTime()) / 60_000 : undefined,
        backup,
        ready,
        observe,
        edits,
        finish: ready + (edits.length + 1) * observe,
    };
}

/**
 * The runbook's go/no-go filter over GET /api/v1/monitor: the names of the monitors in Alert or Warn, less the
 * plumbing (notifies:nobody) of versions no user reaches (users:none).
 */
export const GO_NO_GO_FILTER = `.[] | select(.overall_state == "Alert" or .overall_state == "Warn") | select(.tags | index("${NO_USERS_TAG}") and index("${NOTIFIES_NOBODY_TAG}") | not) | .name`;

function monitorCheck(input: PlanInput): { command: string; check: string } | undefined {
    const m = input.cfg.monitoring;
    if (!m) return undefined;
    const tags = `service:${input.cfg.datadog.service},env:${input.cfg.datadog.env}`;
    return {
        // GET /api/v1/monitor filters by monitor_tags; DD_SITE is the Datadog site (datadoghq.com, datadoghq.eu, …).
        // The guards and conditions of a version no user reaches notify nobody and sit in alert by design (too little
        // traffic): they are left out. A guard in alert for a version that serves users means it is not judged yet.
        command: `curl -s -G "https://api.$DD_SITE/api/v1/monitor" -H "DD-API-KEY: $DD_API_KEY" -H "DD-APPLICATION-KEY: $DD_APP_KEY" --data-urlencode "monitor_tags=${tags}" | jq -r '${GO_NO_GO_FILTER}'`,
        check: `the monitor query prints nothing: no monitor tagged ${tags} alerts or warns (a \`low-requests-…\` or \`low-payments-…\` guard in the list means too little traffic to judge that version yet: wait)`,
    };
}

/**
 * What the release gate (program/gate.ts) checks at the `pulumi up` of a step from `from` to `to`, for each version
 * that gains traffic; undefined when the stack gives the gate no Datadog scope.
 */
function gateCheck(
    input: PlanInput,
    from: ProgramConfig,
    to: ProgramConfig,
): { commands: string[]; checks: string[] } | undefined {
    const { cfg, stack } = input;
    const guard = cfg.monitoring
        ? { min: cfg.monitoring.trafficGuard.minRequests, key: "monitoring.trafficGuard.minRequests" }
        : cfg.release.gate.scope && { min: cfg.release.gate.scope.minRequests, key: "release.gate.scope.minRequests" };
    if (!guard) return undefined;
    const before = trafficShares(from);
    const checks = gatedRaises(before, trafficShares(to), cfg.release).map((r) => {
        const monitors = `no notifying monitor of ${r.version} (rollback triggers, error rate, latency, payments) is in ALERT`;
        if (r.from === 0)
            return `the release gate at \`pulumi up\` lets ${r.version} (0% → ${r.to}%) through only while ${monitors}; it refuses otherwise, naming each monitor, its state and its link`;
        const baseline = Object.keys(before).find((v) => v !== r.version);
        return `the release gate at \`pulumi up\` lets ${r.version} (${r.from}% → ${r.to}%) through only when ${monitors}, it has been at ${r.from}% for ${cfg.plan.observeMinutes} minutes (plan.observeMinutes) with at least ${guard.min} requests (${guard.key}), and the judge scores it at least ${cfg.judge.thresholds.pass} (judge.thresholds.pass)${baseline ? ` against ${baseline}` : ""}; it refuses otherwise with the monitors or the scorecard`;
    });
    if (checks.length === 0)
        return { commands: [], checks: ["the release gate does not check this step: no version gains traffic"] };
    const judge =
        cfg.strategy === "canary" && Object.values(before).some((share) => share > 0 && share < 100)
            ? [`npm run judge -- --stack ${stack}`]
            : [];
    return { commands: judge, checks: checks.map((c) => `before: ${c}`) };
}

/** A value of the deployed state: in the `readme` output the console's reference to its stack output. */
const outputRef = (input: PlanInput, path: string, value: string) => (input.outputRefs ? `\${outputs.${path}}` : value);

/** What the first `pulumi up` brings the stack to, from the declared resources. */
function firstUp(input: PlanInput): { engine: string[]; checks: string[] } {
    const { cfg, resources } = input;
    const ns = cfg.release.namespace;
    const jobs = jobFacts(resources);
    const engine: string[] = [];
    const checks: string[] = [];
    const backup = jobs.find((j) => j.component === COMPONENT.predeployBackup);
    if (backup && cfg.backup)
        engine.push(
            `Job \`${backup.name}\` dumps the database to s3://${cfg.backup.bucket.name}/${cfg.backup.prefix}/<UTC timestamp>-${backup.env.BACKUP_LABEL ?? NOT_SET}.dump, within ${Math.ceil(backup.deadlineSeconds / 60)} minutes (its deadline, which the timeline budgets)`,
        );
    const restore = jobs.find((j) => j.component === COMPONENT.restore);
    if (restore && cfg.database?.restore)
        engine.push(`then Job \`${restore.name}\` restores \`${cfg.database.restore.key}\` over the database`);
    const migration = jobs.find((j) => j.component === COMPONENT.migration);
    if (migration) {
        const files = input.migrations?.selected.length;
        const phase = cfg.database?.migration.phase;
        engine.push(
            `then Job \`${migration.name}\` runs the migrations${files !== undefined && phase ? ` (${files} files of phase ${phase})` : ""}, stopped after ${migration.deadlineSeconds} s`,
        );
    }
    for (const w of workloadFacts(resources)) {
        engine.push(
            `${engine.length > 0 ? "then " : ""}Deployment \`${w.name}\`${w.variant ? ` (${w.variant})` : ""} runs ${w.version} with ${w.replicas} replicas${w.autoscaler ? ` (autoscaler ${w.autoscaler.min} to ${w.autoscaler.max})` : ""}`,
        );
    }
    const dbJobs = [backup, restore, migration].filter((j) => j !== undefined).map((j) => j.name);
    if (dbJobs.length > 0)
        checks.push(
            `\`kubectl -n ${ns} get job ${dbJobs.join(" ")}\` shows each Complete (\`pulumi up\` waits for them and stops on a failure)`,
        );
    const url = outputRef(input, "urls.public", `https://${cfg.release.host}`);
    const ready = cfg.release.healthPaths.readiness;
    if (cfg.strategy === "canary") {
        const cn = cfg.canary;
        const router = canaryRoutingObject(resources);
        engine.push(
            `${router ? `${router} sends` : "the router sends"} ${cn.weight}% of requests to the canary; the header \`${cn.headerName}: always\` reaches it at any weight`,
        );
        checks.push(`\`curl -fsS -H "${cn.headerName}: always" ${url}${ready}\` answers from ${cn.canaryVersion}`);
    } else if (cfg.strategy === "blue-green") {
        const bg = cfg.blueGreen;
        for (const j of jobs.filter((x) => x.component === COMPONENT.smokeTest))
            checks.push(`smoke-test Job \`${j.name}\` (${j.color}) is Complete`);
        const active = activeService(resources);
        engine.push(
            `Service \`${active?.name ?? NOT_SET}\` selects ${active?.selector.color ?? NOT_SET}; \`${bg.previewHost}\` serves the other color`,
        );
        checks.push(
            `\`curl -fsS ${outputRef(input, "urls.preview", `https://${bg.previewHost}`)}${ready}\` answers from the preview color`,
        );
    }
    return { engine, checks };
}

/** What a traffic edit changes, by strategy and router. */
function editEngine(input: PlanInput, edit: Edit): string[] {
    const { cfg, resources } = input;
    const router = canaryRoutingObject(resources);
    if (cfg.strategy === "canary") {
        const cn = cfg.canary;
        const weight = edit.sets.find(([k]) => k === "canary.weight")?.[1] ?? cn.weight;
        // Capacity follows traffic (components/traffic/capacity.ts): the track that receives a share is raised first.
        const raise = (track: string, share: number, minimum: number) =>
            `first the ${track} autoscaler's minimum rises to ${share}% of the pods the fleet runs at that moment (at least ${minimum}), and the provider waits until that many ${track} pods are ready`;
        if (edit.sets.some(([k]) => k === "canary.stableVersion")) {
            const stable = workloadFacts(resources).find((w) => w.variant === "stable");
            return [
                `Deployment \`${stable?.name ?? NOT_SET}\` rolls to ${cn.canaryVersion}, ${cfg.release.replicas} replicas`,
                raise("stable", 100, cfg.release.replicas),
                `then the canary weight returns to 0 in ${router ?? "the router"}`,
            ];
        }
        return cn.router === "pod-ratio"
            ? [
                  raise("canary", Number(weight), (cfg.release.replicas * Number(weight)) / 100),
                  `then the stable Deployment is scaled down so that ${weight}% of the pods run the canary (${(cfg.release.replicas * Number(weight)) / 100} of ${cfg.release.replicas} at the configured size)`,
              ]
            : [
                  raise("canary", Number(weight), cn.canaryReplicas),
                  `then ${router ?? "the router"}: canary weight ${weight}; no pod restarts`,
              ];
    }
    if (cfg.strategy !== "blue-green") return [];
    const active = activeService(resources);
    const color = edit.sets[0][1];
    return [
        `the ${color} autoscaler's minimum rises to the pods the active color runs at that moment (at least ${cfg.release.replicas}), and the provider waits until that many ${color} pods are ready`,
        `Service \`${active?.name ?? NOT_SET}\` selects ${color}; the other color's minimum drops to ${cfg.blueGreen.previewReplicas} (blueGreen.previewReplicas)`,
    ];
}

export function deploymentSteps(input: PlanInput, t: Timeline): { pre: Step[]; deploy: Step[]; post: Step[] } {
    const { cfg, stack, resources } = input;
    const p = cfg.plan;
    const team = p.channels.team ?? `team channel (plan.channels.team) ${NOT_SET}`;
    const watch = monitorCheck(input);
    const watchFor = (minutes: number) =>
        watch
            ? { commands: [watch.command], checks: [`for ${minutes} minutes, ${watch.check}`] }
            : { commands: [], checks: [`monitors (monitoring): ${NOT_SET}`] };
    const crons = cronJobNames(resources);
    const untouched = "none needed: nothing has changed yet";
    const pre: Step[] = [
        {
            at: -60,
            title: "Final verification",
            commands: [
                `npm run plan -- --stack ${stack}`,
                `pulumi preview --stack ${stack} --policy-pack policy --policy-pack-config policy/config/${stack}.json`,
            ],
            engine: [],
            checks: [
                "the checklist above has no ✗",
                "the preview changes what the deployment step below lists, and nothing else",
            ],
        },
    ];
    if (cfg.backup) {
        const b = cfg.backup;
        pre.push({
            at: -60,
            title: "Database backup",
            commands: [`aws s3 ls s3://${b.bucket.name}/${b.prefix}/ --region ${b.region} | tail -n 3`],
            engine: [`none now: the pre-deploy dump is the first step of \`pulumi up\``],
            checks: [`a dump from the last run of CronJob \`${crons.backup ?? NOT_SET}\` (schedule "${b.schedule}")`],
        });
    }
    pre.push(
        {
            at: -60,
            title: "Notify team",
            commands: [],
            engine: [],
            checks: [`${team}: "Deployment of ${cfg.release.version} to ${stack} starts in 60 minutes"`],
        },
        {
            at: -60,
            title: "Open monitoring dashboards",
            commands: [],
            engine: [],
            checks: [
                `Datadog dashboard ${
                    dashboardTitles(resources)
                        .map((d) => `"${d}"`)
                        .join(", ") || NOT_SET
                }, open on ${roleWithHandle(p, "monitoringLead")}'s screen`,
            ],
        },
    );
    for (const step of pre) step.rollback = untouched;
    const first = firstUp(input);
    // Each step's state: the config with the edits up to and including it.
    const after = t.edits.map((_, i) =>
        configAfter(
            cfg,
            t.edits.slice(0, i + 1).flatMap((e) => e.sets),
        ),
    );
    const final = after.at(-1) ?? cfg;
    const upWatch = watchFor(t.ready + t.observe);
    const deploy: Step[] = [
        {
            at: 0,
            title: `Deploy ${cfg.release.version}: database steps, then the new version`,
            commands: [
                `pulumi up --stack ${stack} --policy-pack policy --policy-pack-config policy/config/${stack}.json`,
            ],
            engine: first.engine,
            checks: first.checks,
            rollback: rollbackCommand(stack, cfg),
        },
        ...t.edits.map((e, i): Step => {
            // The release gate at `pulumi up` takes the place of watching the dashboard; without a Datadog scope it
            // cannot look, and the watch stays.
            const gate = gateCheck(input, i === 0 ? cfg : after[i - 1], after[i]);
            return {
                at: t.ready + (i + 1) * t.observe,
                title: e.title,
                commands: [...(gate ? gate.commands : watch ? [watch.command] : []), configSet(stack, e.sets)],
                engine: editEngine(input, e),
                checks: [
                    ...(gate
                        ? gate.checks
                        : (i === 0 ? upWatch.checks : watchFor(t.observe).checks).map((c) => `before: ${c}`)),
                    "`pulumi stack output traffic --stack " + stack + "` shows the new state",
                ],
                rollback: rollbackCommand(stack, after[i]),
            };
        }),
    ];
    const version = cfg.release.version;
    const post: Step[] = [
        { at: t.finish - t.observe, title: "Monitor for errors", ...watchFor(t.observe), engine: [] },
        {
            at: t.finish - t.observe,
            title: "Verify critical features",
            commands: [],
            engine: [],
            checks: p.successCriteria ?? [`critical features (plan.successCriteria): ${NOT_SET}`],
        },
        {
            at: t.finish,
            title: "Mark deployment successful",
            commands: [
                `git tag -a ${version} -m "Release ${version}"`,
                `git push origin ${version}`,
                `gh release create ${version} --title "${version}" --notes-file RELEASE_NOTES.md`,
            ],
            engine: [],
            checks: [
                `${team}: "Deployment of ${version} to ${stack} successful", and monitoring for the next 24 hours: ${roleWithHandle(p, "monitoringLead")}`,
                `status page ${p.statusPage ?? NOT_SET}: maintenance notice removed`,
            ],
        },
    ];
    for (const step of post) step.rollback = rollbackCommand(stack, final);
    return { pre, deploy, post };
}

/**
 * The smoke test once traffic is back on the previous version: a blue/green stack's own smoke test against the
 * public URL, otherwise the readiness endpoint (and the critical flows of plan.successCriteria, by hand).
 */
function smokeAfterRollback(input: PlanInput, url: string): string[] {
    const { cfg } = input;
    const app = cfg.release.appName;
    if (cfg.strategy === "blue-green") {
        const st = cfg.blueGreen.smokeTest;
        // Kubernetes expands $(SMOKE_URL) in the arguments; the quotes keep the shell from doing so first.
        const args = st.command.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
        return [
            `kubectl -n ${cfg.release.namespace} run ${app}-smoke-after-rollback --rm -i --restart=Never --image=${st.image} --env=SMOKE_URL=${url} -- ${args}`,
        ];
    }
    return [`curl -fsS ${url}${cfg.release.healthPaths.readiness}`];
}

/** The rollback, from the state this config describes: traffic first, then the database when it must be undone. */
export function rollbackSteps(input: PlanInput): Step[] {
    const { cfg, stack, resources } = input;
    const p = cfg.plan;
    const team = p.channels.team ?? `team channel (plan.channels.team) ${NOT_SET}`;
    const previous = cfg.release.previousVersion ?? NOT_SET;
    const command = rollbackCommand(stack, cfg);
    const runnable = command.startsWith("pulumi ");
    const steps: Step[] = [
        {
            at: 0,
            title: "Decision to roll back",
            commands: [],
            engine: [],
            checks: [
                `${roleWithHandle(p, "rollbackOwner")} posts in ${team}: "ROLLBACK INITIATED - ${cfg.release.version} → ${previous}"`,
            ],
        },
        {
            at: 0,
            title: "Application rollback",
            commands: runnable ? [outputRef(input, "rollback", command)] : [],
            engine: [
                runnable
                    ? "traffic returns to the previous version (`pulumi stack output rollback` always holds this command for the deployed state)"
                    : `${outputRef(input, "rollback", command)}`,
                "each deployment step above names the rollback for the state it leaves (after a promotion, for instance, the stable track's version)",
            ],
            checks: [`\`pulumi stack output traffic --stack ${stack}\` shows traffic off ${cfg.release.version}`],
        },
    ];
    const db = cfg.database;
    if (db && cfg.backup) {
        const b = cfg.backup;
        const backup = jobFacts(resources).find((j) => j.component === COMPONENT.predeployBackup);
        const label = backup?.env.BACKUP_LABEL ?? NOT_SET;
        steps.push(
            {
                at: 0,
                title: "Database rollback (if the migration must be undone)",
                commands: [configSet(stack, [["database.migration.run", "down"]])],
                engine: [
                    `a migration Job runs the down file of the newest ${db.migration.downSteps} migration(s) (database.migration.downSteps)`,
                ],
                checks: [
                    `${roleWithHandle(p, "databaseLead")} confirms the schema: \`psql "$DATABASE_URL" -c "SELECT version FROM schema_migrations ORDER BY version"\``,
                ],
            },
            {
                at: 0,
                title: "Database restore (if data must be restored)",
                commands: [
                    `KEY=$(aws s3 ls s3://${b.bucket.name}/${b.prefix}/ --region ${b.region} | awk '/-${label}\\.dump$/ {print $4}' | sort | tail -n 1)`,
                    configSet(stack, [["database.restore.key", `"${b.prefix}/$KEY"`]]),
                ],
                engine: [
                    `a restore Job fences the app out of the database, dumps it as it is (pre-restore), loads the pre-deploy dump over it and reopens, within ${b.deadlineMinutes} minutes (backup.deadlineMinutes): not zero-downtime, the app's writes are refused while the fence lasts; what was written since the pre-deploy dump is only in the pre-restore dump`,
                ],
                checks: [`\`echo $KEY\` names the dump taken at the start of this deployment`],
            },
        );
    }
    const watch = monitorCheck(input);
    const url = outputRef(input, "urls.public", `https://${cfg.release.host}`);
    steps.push(
        {
            at: 0,
            title: "Verify rollback",
            commands: [...smokeAfterRollback(input, url), ...(watch ? [watch.command] : [])],
            engine: [],
            checks: [
                `the smoke test passes against ${url}, on ${previous}`,
                watch?.check ?? `monitors (monitoring): ${NOT_SET}`,
                "error rate and p95 back within the plan's thresholds",
                ...(p.successCriteria ?? []),
            ],
        },
        {
            at: 0,
            title: "Notify stakeholders",
            commands: [],
            engine: [],
            checks: [
                `email ${p.channels.stakeholders ?? `(plan.channels.stakeholders ${NOT_SET})`}, as below`,
                `status page ${p.statusPage ?? NOT_SET} updated`,
                "support team told; post-mortem scheduled within 24 hours",
            ],
            message: [
                `Subject: ${stack} rollback - ${cfg.release.version} → ${previous}`,
                "",
                `We rolled back ${stack} from ${cfg.release.version} to ${previous} at <time> UTC.`,
                "",
                "Reason: <the rollback trigger that fired, or what was found>",
                "Impact: <who was affected, how, and for how long>",
                `Current status: stable on ${previous}`,
                "Next steps: root cause analysis, fix, re-deploy",
                `Incident: <the incident's link${p.pagerUrl ? ` in ${p.pagerUrl}` : ""}>`,
            ],
        },
    );
    return steps;
}
