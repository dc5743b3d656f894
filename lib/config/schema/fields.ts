import { z } from "zod";
import { isPinnedVersion, splitImageRef } from "../../../policy/rules";

// Field types more than one section uses; each section's own fields live with it.

const PINNED_MESSAGE =
    'must be a pinned tag (for example v1.2.3) or a digest (sha256:<64 hex digits>); "latest" and an empty tag are not allowed';
export const version = z
    .string({ message: "must be a string holding a pinned tag or digest" })
    .refine(isPinnedVersion, { message: PINNED_MESSAGE });
export const repository = z
    .string({ message: "must be an image repository without a tag, for example registry.example.com/myapp" })
    .regex(
        /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
        "must be an image repository without a tag or digest, for example registry.example.com/myapp",
    );
export const pinnedImage = z.string({ message: "must be a full image reference" }).refine(
    (ref) => {
        const parts = splitImageRef(ref);
        return parts !== undefined && repository.safeParse(parts.repository).success && isPinnedVersion(parts.version);
    },
    { message: `must be repository:tag or repository@sha256:<digest>; the tag ${PINNED_MESSAGE}` },
);
export const dnsLabel = (max: number) =>
    z
        .string()
        .regex(
            new RegExp(`^[a-z]([-a-z0-9]{0,${max - 2}}[a-z0-9])?$`),
            `must be a lower-case DNS label of at most ${max} characters`,
        );
export const hostname = z
    .string()
    .regex(
        /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/,
        "must be a fully qualified host name such as api.example.com",
    );
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
export const person = z
    .string()
    .regex(
        /^@[A-Za-z0-9][A-Za-z0-9_.-]*$|^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/,
        'must be a chat handle such as "@myapp-release-lead" or an email address',
    );
