// @ts-check
// ESLint: typescript-eslint's type-checked recommended rules and @pulumi/eslint-plugin, whose rules need the types to
// tell a pulumi.Output from a string inside a template literal (that interpolates "Calling [toString] on an
// [Output<T>] is not supported", not the value: use pulumi.interpolate or apply). Each file is type-checked with the
// tsconfig.json nearest to it (projectService): the root one, e2e/tsconfig.json, policy/tsconfig.json.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import globals from "globals";
import tseslint from "typescript-eslint";

/** A one-way layer: files matching `files` may not import a module whose specifier matches `regex`. */
const layer = (files, regex, message, ignores = []) => ({
    files,
    ignores,
    rules: { "no-restricted-imports": ["error", { patterns: [{ regex, message }] }] },
});

export default tseslint.config(
    { ignores: ["**/node_modules/", ".cache/", "e2e/out/", "coverage/", "components/dist/"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            // The no-unsafe-* family flags every use of a value typed `any`. Here those values are parsed JSON and YAML
            // (kubectl output, stack files, squawk reports), the props the policy SDK hands a policy (typed `any` by
            // @pulumi/policy), and captured resource inputs in tests: 934 findings when enabled (member-access 551,
            // assignment 187, argument 79, return 59, call 59), nearly all reads of untyped data whose shape the code
            // or test asserts right after. Typing each would rewrite the code base, not find bugs; they stay off.
            "@typescript-eslint/no-unsafe-member-access": "off",
            "@typescript-eslint/no-unsafe-assignment": "off",
            "@typescript-eslint/no-unsafe-argument": "off",
            "@typescript-eslint/no-unsafe-return": "off",
            "@typescript-eslint/no-unsafe-call": "off",
            // `const { dropped: _dropped, ...kept } = obj` is how the code omits a key.
            "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
        },
    },
    {
        files: ["**/*.ts"],
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
        },
    },
    {
        // The program, the components and the config layer narrow instead of asserting: config is a union on each
        // exactly-one-of choice (lib/config/types.ts ProgramConfig), so a `!` would only hide a missing case.
        files: ["index.ts", "program/**/*.ts", "components/**/*.ts", "lib/**/*.ts", "examples/**/*.ts"],
        rules: { "@typescript-eslint/no-non-null-assertion": "error" },
    },
    // The layers go one way: components ← lib ← program ← tools. The policy pack is a package of its own, and
    // an example uses the library as another team would: installed. The fast tests need no database.
    // test/layers.test.ts breaks each rule once.
    layer(
        ["components/**/*.ts"],
        "^(\\.\\./)+(lib|program|tools)(/|$)",
        "components import nothing from lib/, program/ or tools/",
    ),
    layer(["lib/**/*.ts"], "^(\\.\\./)+(program|tools|index)(/|$)", "lib/ imports nothing from program/ or tools/"),
    layer(["program/**/*.ts"], "^(\\.\\./)+tools(/|$)", "program/ imports nothing from tools/"),
    layer(["policy/**/*.ts"], "^\\.\\./", "the policy pack imports nothing outside policy/"),
    layer(
        ["examples/**/*.ts"],
        "^\\.\\./",
        "an example imports the library as its installed package, @myapp/release-components, and nothing of this project by path",
    ),
    layer(
        ["test/**/*.test.ts"],
        "(^|/)support/(postgres|s3|sts|harness|pod|workload|declared)$",
        "the fast suite (npm test) needs no database, S3 server or Debian package: a test that does is a *.integration.test.ts",
        ["test/**/*.integration.test.ts"],
    ),
    {
        // An example's own tsconfig.json is for its installed copy; here it is type-checked with the root one, which
        // maps the package's name to the sources.
        files: ["examples/**/*.ts"],
        languageOptions: { parserOptions: { projectService: false, project: "./tsconfig.json" } },
    },
    {
        // Tests and the end-to-end suite read captured resource inputs, kubectl JSON and engine events whose shape
        // each assertion states; `any` there keeps the assertion readable. Program, components, lib and the policy
        // pack get no `any`.
        files: ["test/**/*.ts", "e2e/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        // lib/register.js is the CommonJS require hook that loads everything else; it cannot be TypeScript itself.
        files: ["**/*.js", "**/*.mjs"],
        extends: [tseslint.configs.disableTypeChecked],
        languageOptions: { globals: globals.node },
    },
    {
        files: ["**/*.js"],
        languageOptions: { sourceType: "commonjs" },
        rules: {
            "@typescript-eslint/no-require-imports": "off",
            // A CommonJS module's scope is its own: `const crypto = require("crypto")` shadows nothing.
            "no-redeclare": ["error", { builtinGlobals: false }],
        },
    },
);
