import * as assert from "assert";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { ROOT } from "./helpers";

/**
 * The project's own eslint config on a real file of each layer, its text replaced by one import: the messages of
 * `no-restricted-imports` it reports.
 */
async function layerFindings(eslint: ESLint, file: string, specifier: string): Promise<string[]> {
    const [result] = await eslint.lintText(`export * from "${specifier}";\n`, { filePath: `${ROOT}/${file}` });
    // A fatal message (a file eslint could not parse) is kept, so it fails the test by its own text.
    return result.messages.filter((m) => m.fatal || m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("layers go one way, and the fast tests need no database: eslint refuses an import against them", function () {
    this.timeout(120_000);
    // The layer rules need no types: without them a lint builds no TypeScript program, so it cannot come back
    // empty on a parsing error while another test rewrites the tree (components/dist, a packed tarball).
    const eslint = new ESLint({
        cwd: ROOT,
        overrideConfig: tseslint.configs.disableTypeChecked as ESLint.Options["overrideConfig"],
        ruleFilter: ({ ruleId }) => ruleId === "no-restricted-imports",
    });

    const refused: [file: string, specifier: string, message: string][] = [
        [
            "components/traffic/capacity.ts",
            "../../lib/config",
            "components import nothing from lib/, program/ or tools/",
        ],
        [
            "components/traffic/capacity.ts",
            "../../program/release",
            "components import nothing from lib/, program/ or tools/",
        ],
        [
            "components/traffic/capacity.ts",
            "../../tools/plan",
            "components import nothing from lib/, program/ or tools/",
        ],
        ["lib/gate/mark.ts", "../../program/gate", "lib/ imports nothing from program/ or tools/"],
        ["lib/rollback.ts", "../tools/plan", "lib/ imports nothing from program/ or tools/"],
        ["lib/plan/types.ts", "../../tools/offline/policy", "lib/ imports nothing from program/ or tools/"],
        ["program/release.ts", "../tools/offline/run", "program/ imports nothing from tools/"],
        ["policy/rules.ts", "../components/database", "the policy pack imports nothing outside policy/"],
        [
            "examples/catalog-api/index.ts",
            "../../components",
            "an example imports the library as its installed package, @myapp/release-components, and nothing of this project by path",
        ],
        [
            "examples/orders-api/index.ts",
            "../../lib/config",
            "an example imports the library as its installed package, @myapp/release-components, and nothing of this project by path",
        ],
        [
            "test/program/database.test.ts",
            "../support/postgres",
            "the fast suite (npm test) needs no database, S3 server or Debian package: a test that does is a *.integration.test.ts",
        ],
    ];
    for (const [file, specifier, message] of refused) {
        it(`${file} may not import ${specifier}`, async () => {
            assert.deepStrictEqual(await layerFindings(eslint, file, specifier), [
                `'${specifier}' import is restricted from being used by a pattern. ${message}`,
            ]);
        });
    }

    const allowed: [file: string, specifier: string][] = [
        ["components/traffic/capacity.ts", "../../policy/contract"],
        ["lib/rollback.ts", "../components/database"],
        ["program/release.ts", "../lib/config"],
        ["tools/offline/run.ts", "../../program/release"],
        ["policy/rules.ts", "./contract"],
        ["examples/catalog-api/index.ts", "@myapp/release-components"],
        ["test/program/workload.integration.test.ts", "../support/postgres"],
    ];
    for (const [file, specifier] of allowed) {
        it(`${file} may import ${specifier}`, async () => {
            assert.deepStrictEqual(await layerFindings(eslint, file, specifier), []);
        });
    }
});
