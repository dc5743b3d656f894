// Declares N services in one program under mocks, each through declareRelease with its own stack config (the
// production stack's, with its own app name, namespace, host, bucket and database), and prints the wall time of
// the declaration and the process's peak memory as JSON.
import * as path from "path";
import { readRawConfig, validateConfig } from "../lib/config";
import { captureDeclarations } from "../tools/offline/capture";
import { applyProjectConfig, readProject, readStackFile, toRunRequest } from "../tools/offline/stackConfig";
import { declareRelease, readReleaseFiles } from "../program/release";

const ROOT = path.join(__dirname, "..");

/** The raw config, with the sections a service renames. */
type RawConfig = Record<string, unknown> & {
    release: Record<string, unknown>;
    backup?: { bucketName?: string };
    database?: { name: string };
};

/** The production stack's program config, as the program reads it. */
function productionConfig(): RawConfig {
    const project = readProject(path.join(ROOT, "Pulumi.yaml"));
    const request = toRunRequest(
        project.name,
        "production",
        applyProjectConfig(project, "production", readStackFile(path.join(ROOT, "Pulumi.production.yaml"))),
    );
    return readRawConfig({
        name: project.name,
        get: (key: string) => request.config[`${project.name}:${key}`],
    }) as RawConfig;
}

/** Service i's config: its own name, namespace, host, bucket and database. */
function serviceConfig(base: RawConfig, i: number): RawConfig {
    const raw = structuredClone(base);
    const name = `svc${i}`;
    Object.assign(raw.release, {
        appName: name,
        namespace: name,
        host: `${name}.example.com`,
        tlsSecretName: `${name}-tls`,
    });
    if (raw.backup?.bucketName) raw.backup.bucketName = `${name}-backups-example`;
    if (raw.database) raw.database.name = name;
    return raw;
}

/** An hour before production's deployment window: the stack as its release declares it, downtime included. */
const NOW = new Date("2026-11-27T13:00:00Z");

async function main(count: number): Promise<void> {
    const base = productionConfig();
    const services = Array.from({ length: count }, (_, i) => {
        const cfg = validateConfig("bench", "production", serviceConfig(base, i));
        return { cfg, files: readReleaseFiles("bench", cfg) };
    });
    const start = process.hrtime.bigint();
    const run = await captureDeclarations({ project: "bench", stack: "production", config: {}, secretKeys: [] }, () => {
        for (const s of services) declareRelease({ stack: "production", cfg: s.cfg, files: s.files, now: NOW });
        return {};
    });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(
        JSON.stringify({
            count,
            resources: run.resources.length,
            ms: Math.round(ms),
            maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        }),
    );
}

main(Number(process.argv[2])).then(
    () => process.exit(0),
    (err) => {
        console.error(err);
        process.exit(1);
    },
);
