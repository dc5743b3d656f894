import { readdirSync, readFileSync } from "fs";
import * as path from "path";

/** The shell scripts the database pods run, shipped with the library (components/database/scripts), split by who runs them. */
export interface DatabaseScripts {
    /** backup.sh, restore.sh, restore-drill.sh and what they source: BackupSchedule's `scripts`. */
    dumps: Record<string, string>;
    /** migrate-sql.sh and what it sources: the `runner` of ReleaseDatabaseJobs' SQL migration source. */
    runner: Record<string, string>;
}

const MIGRATION_RUNNER = "migrate-sql.sh";
/** What every script sources. */
const SHARED_LIBRARY = "pg-lib.sh";

/** Reads the library's database scripts; they sit beside this module in the sources and in the built package alike. */
export function readDatabaseScripts(): DatabaseScripts {
    const dir = path.join(__dirname, "scripts");
    const { [MIGRATION_RUNNER]: runner, ...dumps } = Object.fromEntries(
        readdirSync(dir)
            .filter((f) => f.endsWith(".sh"))
            .sort()
            .map((f) => [f, readFileSync(path.join(dir, f), "utf8")]),
    );
    if (runner === undefined || dumps[SHARED_LIBRARY] === undefined)
        throw new Error(`${dir} lacks ${MIGRATION_RUNNER} or ${SHARED_LIBRARY}`);
    return { dumps, runner: { [MIGRATION_RUNNER]: runner, [SHARED_LIBRARY]: dumps[SHARED_LIBRARY] } };
}
