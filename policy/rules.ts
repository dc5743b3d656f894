// Rules the policy pack shares with the program, which imports them from here. They live in the pack's folder
// because `pulumi policy publish` packs only that folder (pulumi/pulumi pkg/backend/httpstate/policypack.go).

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** True for a tag other than `latest`, a digest, or `tag@digest`. */
export function isPinnedVersion(version: string): boolean {
    const [tag, digest, ...rest] = version.split("@");
    if (rest.length > 0) return false;
    if (digest !== undefined)
        return (tag === "" || (TAG.test(tag) && tag.toLowerCase() !== "latest")) && DIGEST.test(digest);
    if (DIGEST.test(tag)) return true;
    return TAG.test(tag) && tag.toLowerCase() !== "latest";
}

/** The image reference for a repository and a pinned version: `repo:tag`, `repo@sha256:…` or `repo:tag@sha256:…`. */
export function imageRef(repository: string, version: string): string {
    return DIGEST.test(version) ? `${repository}@${version}` : `${repository}:${version}`;
}

/** Splits a full image reference into repository and version, or undefined when it has neither tag nor digest. */
export function splitImageRef(ref: string): { repository: string; version: string } | undefined {
    const at = ref.indexOf("@");
    const beforeDigest = at >= 0 ? ref.slice(0, at) : ref;
    const lastSlash = beforeDigest.lastIndexOf("/");
    const colon = beforeDigest.indexOf(":", lastSlash + 1);
    if (colon < 0 && at < 0) return undefined;
    const repository = colon >= 0 ? beforeDigest.slice(0, colon) : beforeDigest;
    const version = ref.slice(repository.length + 1);
    return { repository, version };
}

/** A version as a label value: at most 63 characters of [A-Za-z0-9_.-], so a digest's colon becomes a dash. */
export function labelValue(value: string): string {
    return value
        .replace(/[^A-Za-z0-9_.-]/g, "-")
        .slice(0, 63)
        .replace(/[^A-Za-z0-9]+$/, "");
}
