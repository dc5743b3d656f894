// Runs index.ts once under Pulumi's mock runtime and writes what it declared as JSON. One process per run, because
// Node caches the program's modules and Pulumi's runtime state.
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { captureDeclarations } from "./capture";
import { RunRequest } from "./types";

async function main(requestFile: string, resultFile: string, countFile: string): Promise<void> {
    const request: RunRequest = JSON.parse(readFileSync(requestFile, "utf8"));
    // The count of registrations is kept on disk as it grows, so that a failed run still tells how far it got.
    const run = await captureDeclarations(
        request,
        () => import(path.join(__dirname, "..", "..", "index")),
        (count) => writeFileSync(countFile, String(count)),
    );
    writeFileSync(resultFile, JSON.stringify(run));
}

function fail(err: unknown): never {
    const e = err as Error;
    if (e && e.name === "ConfigError") {
        process.stderr.write(`${e.message}\n`);
        process.exit(2);
    }
    process.stderr.write(`${e && e.stack ? e.stack : String(err)}\n`);
    process.exit(1);
}

process.on("unhandledRejection", fail);
main(process.argv[2], process.argv[3], process.argv[4]).then(() => process.exit(0), fail);
