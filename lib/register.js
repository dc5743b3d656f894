// Runs this project's TypeScript in Node without ts-node in the hot path: `node -r ./lib/register.js file.ts`.
// Each .ts file is transpiled once (TypeScript's transpileModule, the compiler options of tsconfig.json, no type
// check: `npm run typecheck` does that) and the JavaScript is cached under .cache/ts by a hash of the source, so a
// run whose sources did not change loads neither the compiler nor a source-map hook. ts-node installs
// source-map-support, which rewrites every stack trace; the Pulumi SDK takes one per promise it creates
// (runtime/debuggable.js), which made that hook the largest single cost of a run under mocks.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.join(__dirname, "..");
const CACHE = path.join(ROOT, ".cache", "ts");
let compiler;

/** The compiler and its options, loaded on the first cache miss only. */
function load() {
    if (!compiler) {
        const ts = require("typescript");
        const { config } = ts.readConfigFile(path.join(ROOT, "tsconfig.json"), ts.sys.readFile);
        const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, ROOT);
        compiler = { ts, options: { ...options, noEmit: false, inlineSourceMap: true, inlineSources: false } };
    }
    return compiler;
}

function transpile(source, file) {
    const { ts, options } = load();
    return ts.transpileModule(source, { fileName: file, compilerOptions: options }).outputText;
}

/** The cache key: the source, its path (the inline source map names it) and the compiler's version. */
function cacheFile(source, file) {
    const typescriptVersion = require("typescript/package.json").version;
    const hash = crypto
        .createHash("sha1")
        .update(typescriptVersion)
        .update("\0")
        .update(file)
        .update("\0")
        .update(source)
        .digest("hex");
    return path.join(CACHE, `${hash}.js`);
}

require.extensions[".ts"] = function (module, file) {
    const source = fs.readFileSync(file, "utf8");
    const cached = cacheFile(source, file);
    let js;
    try {
        js = fs.readFileSync(cached, "utf8");
    } catch {
        js = transpile(source, file);
        fs.mkdirSync(CACHE, { recursive: true });
        // Written aside and renamed, so that parallel test processes never read half a file.
        const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
        fs.writeFileSync(tmp, js);
        fs.renameSync(tmp, cached);
    }
    module._compile(js, file);
};
