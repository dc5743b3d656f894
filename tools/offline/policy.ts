// Runs the CrossGuard policies on what the offline preview declared, the way the engine's analyzer would: resource
// policies on each resource, stack policies on all of them, with the policy config's enforcement levels.
import type { EnforcementLevel, PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { existsSync, readFileSync } from "fs";
import type { PolicyViolation } from "../../lib/plan/types";
import { engineDependencies } from "./graph";
import { ProgramRun } from "./types";

/** A policy config file: { "all": level, "<policy>": level | { enforcementLevel?, ...settings } }. */
export type PolicyConfig = Record<string, unknown>;

export function readPolicyConfig(file: string): PolicyConfig {
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as PolicyConfig) : {};
}

class NotApplicable extends Error {}

type Policy = ResourceValidationPolicy | StackValidationPolicy;

export function levelOf(policy: Policy, config: PolicyConfig, packLevel: EnforcementLevel): EnforcementLevel {
    const own = config[policy.name];
    if (typeof own === "string") return own as EnforcementLevel;
    if (own && typeof own === "object" && "enforcementLevel" in own)
        return (own as { enforcementLevel: EnforcementLevel }).enforcementLevel;
    return (config.all as EnforcementLevel | undefined) ?? policy.enforcementLevel ?? packLevel;
}

function settingsOf(policy: Policy, config: PolicyConfig): Record<string, unknown> {
    const defaults = Object.fromEntries(
        Object.entries(policy.configSchema?.properties ?? {}).map(([k, schema]) => [
            k,
            (schema as { default?: unknown }).default,
        ]),
    );
    const own = config[policy.name];
    const { enforcementLevel: _level, ...settings } =
        own && typeof own === "object" ? (own as Record<string, unknown>) : {};
    return { ...defaults, ...settings };
}

/** The declared resources as the engine hands them to policies, with their URNs, parents and dependencies. */
export function policyResources(run: ProgramRun): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    // The engine hands reads to no policy (pulumi/pulumi pkg/resource/deploy/step_executor.go analyzes resources
    // with a goal); a dependency on one resolves to nothing.
    const declared = run.resources.filter((r) => !r.read);
    for (const r of declared) {
        byUrn.set(r.urn, {
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: r.inputs,
            opts: {
                protect: false,
                ignoreChanges: r.ignoreChanges,
                aliases: [],
                additionalSecretOutputs: [],
                customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            },
            dependencies: [],
            propertyDependencies: {},
            isType: (cls: { __pulumiType?: string }) => cls.__pulumiType === r.type,
            asType: (cls: { __pulumiType?: string }) => (cls.__pulumiType === r.type ? r.inputs : undefined),
        } as unknown as PolicyResource);
    }
    const dependencies = engineDependencies(run);
    for (const r of declared) {
        const p = byUrn.get(r.urn) as {
            parent?: PolicyResource;
            dependencies: PolicyResource[];
            opts: { parent?: string };
        };
        const parent = r.parentUrn ? byUrn.get(r.parentUrn) : undefined;
        if (parent) {
            p.parent = parent;
            p.opts.parent = parent.urn;
        }
        p.dependencies = (dependencies.get(r.urn) ?? []).flatMap((u) => byUrn.get(u) ?? []);
    }
    return [...byUrn.values()];
}

/** Runs every policy over the run; returns each violation with the level the config gives its policy. */
export async function runPolicies(
    run: ProgramRun,
    policies: Policy[],
    config: PolicyConfig,
    packLevel: EnforcementLevel,
): Promise<PolicyViolation[]> {
    const resources = policyResources(run);
    const violations: PolicyViolation[] = [];
    const nameOf = (urn?: string) => (urn ? (resources.find((r) => r.urn === urn)?.name ?? urn) : null);
    const common = (policy: Policy) => ({
        stackTags: new Map<string, string>(),
        getConfig: <T extends object>() => settingsOf(policy, config) as T,
        notApplicable: (): never => {
            throw new NotApplicable();
        },
    });
    for (const policy of policies) {
        const level = levelOf(policy, config, packLevel);
        if (level === "disabled") continue;
        const report = (resource: string | null) => (message: string, urn?: string) =>
            violations.push({ policy: policy.name, level, message, resource: urn ? nameOf(urn) : resource });
        try {
            if ("validateResource" in policy) {
                const validators = [policy.validateResource].flat().filter((v) => v !== undefined);
                for (const r of resources) {
                    for (const validate of validators) {
                        try {
                            await validate({ ...r, provider: undefined, ...common(policy) } as never, report(r.name));
                        } catch (err) {
                            if (!(err instanceof NotApplicable)) throw err;
                        }
                    }
                }
            } else {
                await (policy as StackValidationPolicy).validateStack({ resources, ...common(policy) }, report(null));
            }
        } catch (err) {
            if (!(err instanceof NotApplicable))
                throw new Error(`policy ${policy.name} failed: ${(err as Error).stack ?? String(err)}`);
        }
    }
    return violations;
}
