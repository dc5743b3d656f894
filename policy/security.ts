// Checklist "Security scan passed" and "Dependencies updated (no critical CVEs)": what runs, and how.
import * as k8s from "@pulumi/kubernetes";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { validatePods } from "./resources";
import { isPinnedVersion, splitImageRef } from "./rules";

/** The registry an image reference pulls from: its first path segment when that names a host, else Docker Hub. */
function registryOf(repository: string): string {
    const slash = repository.indexOf("/");
    return slash > 0 && /[.:]|^localhost$/.test(repository.slice(0, slash)) ? repository.slice(0, slash) : "docker.io";
}

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|DSN|DATABASE_URL|CREDENTIALS?)$/i;
const SECRET_VALUE = /(:\/\/[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16})/;

export const imagesPinnedAndAllowed: ResourceValidationPolicy = {
    name: "images-pinned-and-allowed",
    description:
        'Checklist "Security scan passed" and "Dependencies updated (no critical CVEs)": every image is pinned to a tag or digest, never "latest", and comes from a registry whose images are scanned.',
    configSchema: {
        properties: {
            allowedRegistries: { type: "array", items: { type: "string" }, default: ["registry.example.com"] },
        },
    },
    validateResource: validatePods((spec, _owner, args, report) => {
        if (!spec) return;
        const { allowedRegistries } = args.getConfig<{ allowedRegistries: string[] }>();
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
            if (typeof c.image !== "string") continue;
            // The rule the program's config applies too (./rules.ts): a tag other than latest, a digest, or both.
            const ref = splitImageRef(c.image);
            if (!ref || !isPinnedVersion(ref.version))
                report(`container "${c.name}" runs ${c.image}, which is not pinned to a tag or digest`);
            const registry = registryOf(ref?.repository ?? c.image);
            if (!allowedRegistries.includes(registry))
                report(
                    `container "${c.name}" pulls from ${registry}, not an allowed registry (${allowedRegistries.join(", ")})`,
                );
        }
    }),
};

export const restrictedPodSecurity: ResourceValidationPolicy = {
    name: "restricted-pod-security",
    description:
        'Checklist "Security scan passed": pods meet the restricted Pod Security Standard: non-root, RuntimeDefault seccomp, no privilege escalation, all capabilities dropped, read-only root filesystem.',
    validateResource: validatePods((spec, _owner, _args, report) => {
        if (!spec) return;
        const pod = spec.securityContext;
        if (spec.hostNetwork || spec.hostPID || spec.hostIPC) report("the pod shares a host namespace");
        for (const c of spec.containers ?? []) {
            const sc = c.securityContext;
            const where = `container "${c.name}"`;
            if (sc?.runAsNonRoot !== true && pod?.runAsNonRoot !== true)
                report(`${where} may run as root: set runAsNonRoot`);
            if ((sc?.seccompProfile ?? pod?.seccompProfile)?.type !== "RuntimeDefault")
                report(`${where} has no RuntimeDefault seccomp profile`);
            if (sc?.allowPrivilegeEscalation !== false) report(`${where} allows privilege escalation`);
            if (sc?.privileged === true) report(`${where} is privileged`);
            if (!(sc?.capabilities?.drop ?? []).includes("ALL")) report(`${where} does not drop all capabilities`);
            if (sc?.readOnlyRootFilesystem !== true) report(`${where} has a writable root filesystem`);
        }
    }),
};

export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description:
        'Checklist "Security scan passed": no secret in plain text: container env values and ConfigMap data that look like passwords, tokens, keys or credentialed URLs must come from a Secret.',
    validateResource: [
        ...validatePods((spec, _owner, _args, report) => {
            for (const c of spec?.containers ?? []) {
                for (const e of c.env ?? []) {
                    if (typeof e.value !== "string") continue;
                    if (SECRET_NAME.test(e.name) || SECRET_VALUE.test(e.value))
                        report(`container "${c.name}" sets ${e.name} in plain text; take it from a Secret`);
                }
            }
        }),
        validateResourceOfType(k8s.core.v1.ConfigMap, (cm, _args, report) => {
            for (const [key, value] of Object.entries(cm.data ?? {})) {
                if (typeof value !== "string") continue;
                if (SECRET_NAME.test(key) || SECRET_VALUE.test(value))
                    report(`ConfigMap key "${key}" holds what looks like a secret; use a Secret`);
            }
        }),
    ],
};
