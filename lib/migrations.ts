import { execFileSync } from "child_process";
import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";

/** The expand/contract phases, in the order a change goes through them. */
export const PHASES = ["expand", "backfill", "migrate-code", "contract"] as const;
export type Phase = (typeof PHASES)[number];

/** Squawk rules that flag a destructive statement; the contract phase exists to run them. */
export const CONTRACT_RULES = ["ban-drop-column", "ban-drop-table", "ban-drop-not-null", "ban-truncate-cascade"];

export interface SqlMigration {
    /** File name without .up.sql, e.g. 001_users_email_verified; recorded in schema_migrations. */
    version: string;
    /** Phase declared in the file's `-- phase:` header. */
    phase: Phase;
    /** True when the file asks to run outside a transaction (`-- migrate:no-transaction`), e.g. CREATE INDEX CONCURRENTLY. */
    noTransaction: boolean;
    /** The oldest app version that runs on the schema during and after the up file (`-- oldest-serving-version:`). */
    oldestServing: string;
    /** The newest app version that runs on the schema the down file leaves (`-- returns-to-version:`). */
    returnsTo: string;
    up: string;
    down: string;
}

export interface LintFinding {
    file: string;
    line: number;
    rule: string;
    message: string;
    /** Why the finding does not stop the release, when it does not. */
    allowedBy?: "the contract phase" | "database.migration.allow";
}

const NAME = /^(\d{3}_[a-z0-9_]+)\.up\.sql$/;

/** Reads every migration of a folder; throws naming the file when one lacks its down file or its phase. */
export function loadMigrations(dir: string): SqlMigration[] {
    if (!existsSync(dir)) throw new Error(`migrations folder ${dir} does not exist`);
    const files = readdirSync(dir).sort();
    const strays = files.filter((f) => f.endsWith(".sql") && !NAME.test(f) && !/^\d{3}_[a-z0-9_]+\.down\.sql$/.test(f));
    if (strays.length > 0)
        throw new Error(`${strays.join(", ")}: migration files must be named NNN_name.up.sql and NNN_name.down.sql`);
    return files
        .flatMap((file) => {
            const m = NAME.exec(file);
            return m ? [{ file, version: m[1] }] : [];
        })
        .map(({ file, version }) => {
            const up = readFileSync(path.join(dir, file), "utf8");
            const downFile = path.join(dir, `${version}.down.sql`);
            if (!existsSync(downFile)) throw new Error(`${file} has no ${version}.down.sql`);
            const phase = /^--\s*phase:\s*(\S+)\s*$/m.exec(up)?.[1];
            if (!phase || !(PHASES as readonly string[]).includes(phase)) {
                throw new Error(`${file} must declare its phase in a "-- phase: <${PHASES.join("|")}>" line`);
            }
            const down = readFileSync(downFile, "utf8");
            const oldestServing = /^--\s*oldest-serving-version:\s*(\S+)/m.exec(up)?.[1];
            if (!oldestServing || !SEMVER.test(oldestServing)) {
                throw new Error(
                    `${file} must state the oldest app version that runs with it in a "-- oldest-serving-version: vX.Y.Z" line`,
                );
            }
            const returnsTo = /^--\s*returns-to-version:\s*(\S+)/m.exec(down)?.[1];
            if (!returnsTo || !SEMVER.test(returnsTo)) {
                throw new Error(
                    `${version}.down.sql must state the newest app version that runs on the schema it leaves in a "-- returns-to-version: vX.Y.Z" line`,
                );
            }
            return {
                version,
                phase: phase as Phase,
                noTransaction: /^--\s*migrate:no-transaction\s*$/m.test(up),
                oldestServing,
                returnsTo,
                up,
                down,
            };
        });
}

const SEMVER = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/;

/** Orders two versions of the form vMAJOR.MINOR.PATCH[-pre] (a pre-release comes first); undefined when either is not one (a digest, a tag such as "stable"). */
export function compareVersions(a: string, b: string): number | undefined {
    const [x, y] = [SEMVER.exec(a), SEMVER.exec(b)];
    if (!x || !y) return undefined;
    for (const i of [1, 2, 3]) if (Number(x[i]) !== Number(y[i])) return Number(x[i]) - Number(y[i]);
    if (x[4] === y[4]) return 0;
    if (x[4] === undefined || y[4] === undefined) return x[4] === undefined ? 1 : -1;
    return x[4] < y[4] ? -1 : 1;
}

/** A track that serves traffic during the release, with the version it runs. */
export interface ServingTrack {
    /** What config calls it: stable, canary, blue, green, rolling, previous. */
    track: string;
    /** The config key that sets its version. */
    key: string;
    version: string;
}

/**
 * Why a serving track cannot run with the migrations a release applies or rolls back, one line each; empty when all
 * can. Up: every track's version must be at least each file's oldest-serving-version. Down: no track's version may be
 * newer than a rolled-back file's returns-to-version. A version that cannot be ordered (a digest) is taken to be the
 * oldest version any file names, the baseline every deployed version reaches, for up files, and to be newer than
 * every version for down files: the rule never assumes in its own favour.
 */
export function versionConflicts(
    all: SqlMigration[],
    run: { direction: "up"; files: SqlMigration[] } | { direction: "down"; files: SqlMigration[] },
    tracks: ServingTrack[],
    sqlDir: string,
    configName: string,
): string[] {
    const baseline = all
        .map((m) => m.oldestServing)
        .reduce((a, b) => ((compareVersions(b, a) ?? 0) < 0 ? b : a), all[0]?.oldestServing ?? "v0.0.0");
    const lines: string[] = [];
    for (const m of run.files) {
        for (const t of tracks) {
            const who = `track ${t.track} (${configName}:${t.key}) runs ${t.version}`;
            if (run.direction === "up") {
                const cmp =
                    compareVersions(t.version, m.oldestServing) ??
                    (compareVersions(m.oldestServing, baseline) === 0 ? 0 : undefined);
                if (cmp === undefined)
                    lines.push(
                        `${who}, which is not vX.Y.Z and cannot be shown to be ${m.oldestServing} or newer, the oldest version ${sqlDir}/${m.version}.up.sql supports`,
                    );
                else if (cmp < 0)
                    lines.push(`${who}; ${sqlDir}/${m.version}.up.sql supports ${m.oldestServing} or newer`);
            } else {
                const cmp = compareVersions(t.version, m.returnsTo);
                if (cmp === undefined)
                    lines.push(
                        `${who}, which is not vX.Y.Z and cannot be shown to be ${m.returnsTo} or older, the newest version ${sqlDir}/${m.version}.down.sql returns the schema to`,
                    );
                else if (cmp > 0)
                    lines.push(
                        `${who}; ${sqlDir}/${m.version}.down.sql returns the schema to ${m.returnsTo}, which it does not run on`,
                    );
            }
        }
    }
    return lines;
}

/** The migrations a release at `phase` applies: every one whose phase comes at or before it. */
export function migrationsForPhase(all: SqlMigration[], phase: Phase): SqlMigration[] {
    return all.filter((m) => PHASES.indexOf(m.phase) <= PHASES.indexOf(phase));
}

/**
 * The platform binary squawk-cli ships (its `squawk` command is a Node wrapper that spawns it): called directly, a
 * lint costs no Node start (squawk-cli js/index.js getBinaryPath).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a lint runs, and squawk-cli ships no type declarations to import
const squawkBinary = (): string => (require("squawk-cli/js/index.js") as { getBinaryPath(): string }).getBinaryPath();

function squawk(dir: string, files: string[], inTransaction: boolean): LintFinding[] {
    if (files.length === 0) return [];
    const args = [
        "--pg-version",
        "15",
        "--reporter",
        "json",
        ...(inTransaction ? ["--assume-in-transaction"] : []),
        ...files,
    ];
    let out: string;
    try {
        out = execFileSync(squawkBinary(), args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
        const e = err as { status?: number; stdout?: string; stderr?: string };
        // Squawk exits 1 when it found something and prints the findings; anything else is a failure to lint.
        if (e.status !== 1 || !e.stdout) throw new Error(`squawk failed: ${e.stderr || String(err)}`);
        out = e.stdout;
    }
    const findings = JSON.parse(out) as { file: string; line: number; rule_name: string; message: string }[];
    // Squawk numbers lines from 0.
    return findings.map((f) => ({ file: f.file, line: f.line + 1, rule: f.rule_name, message: f.message }));
}

/**
 * Lints the up files of the migrations with squawk, the way the runner executes them (in a transaction unless marked
 * otherwise), and says of each finding whether it is tolerated: when its file's phase is contract and the rule is
 * destructive, or when `allow[file]` names the rule.
 */
export function squawkReport(dir: string, migrations: SqlMigration[], allow: Record<string, string[]>): LintFinding[] {
    const file = (m: SqlMigration) => `${m.version}.up.sql`;
    const findings = [
        ...squawk(dir, migrations.filter((m) => !m.noTransaction).map(file), true),
        ...squawk(dir, migrations.filter((m) => m.noTransaction).map(file), false),
    ];
    const phaseOf = new Map(migrations.map((m) => [file(m), m.phase]));
    return findings
        .map((f): LintFinding => {
            if (phaseOf.get(f.file) === "contract" && CONTRACT_RULES.includes(f.rule))
                return { ...f, allowedBy: "the contract phase" };
            if ((allow[f.file] ?? []).includes(f.rule)) return { ...f, allowedBy: "database.migration.allow" };
            return f;
        })
        .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

const DURATION = /^\s*SET\s+(?:SESSION\s+)?statement_timeout\s*(?:=|TO)\s*'?\s*(\d+)\s*(ms|s|min|h|d)?\s*'?\s*;/gim;
const MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The longest statement_timeout any of the files sets (up or down), in seconds, or 0 when none sets one. A Job whose
 * deadline is shorter could be killed while the server goes on running the statement (a CREATE INDEX CONCURRENTLY),
 * so the migration Job's deadline must exceed it. PostgreSQL reads a bare number as milliseconds.
 */
export function longestStatementTimeoutSeconds(migrations: SqlMigration[]): number {
    let longest = 0;
    for (const sql of migrations.flatMap((m) => [m.up, m.down])) {
        for (const m of sql.matchAll(DURATION))
            longest = Math.max(longest, (Number(m[1]) * MS[m[2]?.toLowerCase() ?? "ms"]) / 1000);
    }
    return Math.ceil(longest);
}

/** How long the SQL runner retries a lock it was not granted within a file's lock_timeout, in seconds. */
export const LOCK_RETRY_SECONDS = 300;

/**
 * The migration Job's deadline: twice the plan's estimate, and never shorter than the longest statement_timeout of
 * its files plus the lock retries and a minute, so that the pod is not killed while the server still runs a statement
 * it was allowed to run. `files` are undefined for a migration command, whose statements the program cannot see.
 */
export function migrationDeadlineSeconds(estimatedMinutes: number, files: SqlMigration[] | undefined): number {
    const estimate = Math.ceil(estimatedMinutes * 60 * 2);
    return files ? Math.max(estimate, longestStatementTimeoutSeconds(files) + LOCK_RETRY_SECONDS + 60) : estimate;
}
