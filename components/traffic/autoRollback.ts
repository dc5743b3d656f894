import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import * as pulumiservice from "@pulumi/pulumiservice";
import { LibraryComponent } from "../componentType";

/** The Pulumi Cloud stack the automatic rollback updates. */
export interface StackIdentity {
    /** The Pulumi Cloud organization. */
    organization: string;
    /** The project's name (Pulumi.yaml `name`). */
    project: string;
    /** The stack's name. */
    stack: string;
}

/** What one automatic rollback does: the version it takes traffic from, and the config edits that do it. */
export interface RollbackRun {
    /** The version the rollback takes traffic from: its rollback triggers call the webhook. */
    version: string;
    /**
     * The shell commands the deployment runs before `pulumi up`: the rollback's `pulumi config` edits, exactly as
     * `pulumi stack output rollback` prints them, and the edit that marks `version` halted.
     */
    preRunCommands: string[];
}

export interface AutoRollbackArgs {
    /** The stack whose deployments the webhook creates and whose deployment settings are declared. */
    stack: StackIdentity;
    /** The Pulumi Cloud API's base URL, such as https://api.pulumi.com. */
    apiUrl: string;
    /** Where Pulumi Deployments fetches the program: the repository, its branch and the project's directory in it. */
    source: {
        /** The git repository's URL. */
        repoUrl: string;
        /** The branch deployed. */
        branch: string;
        /** The project's folder in the repository; its root when left out. */
        repoDir?: string;
    };
    /** The Pulumi access token the webhook sends; must be a secret Output. */
    accessToken: pulumi.Output<string>;
    /** The rollback the webhook starts; without one (nothing to roll back) no webhook is declared. */
    rollback?: RollbackRun;
}

/**
 * The body of `POST /api/stacks/{org}/{project}/{stack}/deployments`: an update with the stack's deployment settings
 * and the rollback's commands before it; the environment records which alert started it, from Datadog's webhook
 * variables (README, Decisions: "Automatic rollback's request and its mark").
 */
export function deploymentRequest(preRunCommands: string[]): Record<string, unknown> {
    return {
        operation: "update",
        inheritSettings: true,
        operationContext: {
            preRunCommands,
            environmentVariables: {
                AUTO_ROLLBACK_ALERT_ID: "$ALERT_ID",
                AUTO_ROLLBACK_ALERT_TRANSITION: "$ALERT_TRANSITION",
            },
        },
    };
}

/** The Datadog webhook name of a stack's automatic rollback: letters, digits, dashes and underscores. */
export function webhookName(s: StackIdentity): string {
    return `${s.project}-${s.stack}-auto-rollback`.replace(/[^A-Za-z0-9_-]/g, "-");
}

/**
 * Automatic rollback with no controller: the stack's Pulumi Deployments settings, and a Datadog webhook that creates
 * a deployment of this stack running the rollback's config edits before `pulumi up`. The monitors that should roll
 * back mention `handle` in their alert block; Datadog calls the webhook when they alert (and on each renotify, which
 * queues the same idempotent update).
 */
export class AutoRollback extends LibraryComponent {
    /** The deployment settings of the stack. */
    public readonly settings: pulumiservice.DeploymentSettings;
    /** The webhook, when there is a rollback to start. */
    public readonly webhook?: datadog.Webhook;
    /** `@webhook-<name>`, for the alert block of the monitors that start the rollback; undefined without a webhook. */
    public readonly handle?: string;

    constructor(name: string, args: AutoRollbackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("AutoRollback", name, opts);
        const { organization, project, stack } = args.stack;
        if (args.rollback && args.rollback.preRunCommands.length === 0)
            throw new pulumi.ResourceError("a rollback needs at least one pre-run command", this);
        this.settings = new pulumiservice.DeploymentSettings(
            `${name}-deployment-settings`,
            {
                organization,
                project,
                stack,
                sourceContext: {
                    git: { repoUrl: args.source.repoUrl, branch: args.source.branch, repoDir: args.source.repoDir },
                },
            },
            { parent: this },
        );
        if (args.rollback) {
            const hook = webhookName(args.stack);
            const apiUrl = args.apiUrl.replace(/\/+$/, "");
            this.webhook = new datadog.Webhook(
                `${name}-webhook`,
                {
                    name: hook,
                    url: `${apiUrl}/api/stacks/${organization}/${project}/${stack}/deployments`,
                    encodeAs: "json",
                    payload: JSON.stringify(deploymentRequest(args.rollback.preRunCommands)),
                    // The Pulumi Cloud REST API's headers (README, Decisions: "Automatic rollback's request and its mark").
                    customHeaders: pulumi.secret(
                        args.accessToken.apply((token) =>
                            JSON.stringify({
                                Authorization: `token ${token}`,
                                Accept: "application/vnd.pulumi+8",
                                "Content-Type": "application/json",
                            }),
                        ),
                    ),
                },
                // The deployments it creates inherit these settings.
                { parent: this, dependsOn: [this.settings] },
            );
            this.handle = `@webhook-${hook}`;
        }
        this.registerOutputs({ handle: this.handle, webhookName: this.webhook?.name });
    }
}
