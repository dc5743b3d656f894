import * as assert from "assert";
import * as path from "path";
import { readRawConfig, validateConfig } from "../../../lib/config";
import { applyProjectConfig, readProject, toRunRequest } from "../../../tools/offline/stackConfig";
import { captureDeclarations } from "../../../tools/offline/capture";
import { declareRelease, readReleaseFiles } from "../../../program/release";
import { NOW, PROJECT, ROOT, stackConfig } from "../../helpers";

describe("the plan of one release among several in one stack", () => {
    it("records only that release's resources: two services' readmes each name their own Deployments", async () => {
        const config = (app: string) => {
            const raw = readRawConfig({
                name: PROJECT,
                get: (k) =>
                    toRunRequest(
                        PROJECT,
                        "production",
                        applyProjectConfig(
                            readProject(path.join(ROOT, "Pulumi.yaml")),
                            "production",
                            stackConfig("production"),
                        ),
                    ).config[`${PROJECT}:${k}`],
            });
            const release = raw.release as Record<string, unknown>;
            Object.assign(release, {
                appName: app,
                namespace: app,
                host: `${app}.example.com`,
                tlsSecretName: `${app}-tls`,
            });
            delete raw.database;
            delete raw.backup;
            return validateConfig(PROJECT, "production", raw);
        };
        const readmes: string[] = [];
        await captureDeclarations({ project: PROJECT, stack: "production", config: {}, secretKeys: [] }, () => {
            for (const app of ["orders", "billing"]) {
                const cfg = config(app);
                readmes.push(
                    declareRelease({
                        stack: "production",
                        cfg,
                        files: readReleaseFiles(PROJECT, cfg),
                        now: new Date(NOW),
                    }).readme,
                );
            }
            return {};
        });
        const deployments = (readme: string) => [...new Set(readme.match(/Deployment `[a-z-]+`/g))].sort();
        assert.deepStrictEqual(deployments(readmes[0]), ["Deployment `orders-canary`", "Deployment `orders-stable`"]);
        assert.deepStrictEqual(deployments(readmes[1]), ["Deployment `billing-canary`", "Deployment `billing-stable`"]);
    });
});
