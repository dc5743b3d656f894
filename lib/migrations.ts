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
    if (strays.length > 0) throw new Error(`${strays.join(", ")}: migration files must be named NNN_name.up.sql and NNN_name.down.sql`);
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
            return { version, phase: phase as Phase, noTransaction: /^--\s*migrate:no-transaction\s*$/m.test(up), up, down: readFileSync(downFile, "utf8") };
        });
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
    const args = ["--pg-version", "15", "--reporter", "json", ...(inTransaction ? ["--assume-in-transaction"] : []), ...files];
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
    const findings = [...squawk(dir, migrations.filter((m) => !m.noTransaction).map(file), true), ...squawk(dir, migrations.filter((m) => m.noTransaction).map(file), false)];
    const phaseOf = new Map(migrations.map((m) => [file(m), m.phase]));
    return findings
        .map((f): LintFinding => {
            if (phaseOf.get(f.file) === "contract" && CONTRACT_RULES.includes(f.rule)) return { ...f, allowedBy: "the contract phase" };
            if ((allow[f.file] ?? []).includes(f.rule)) return { ...f, allowedBy: "database.migration.allow" };
            return f;
        })
        .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/** The findings of `squawkReport` that stop the release. */
export function lintMigrations(dir: string, migrations: SqlMigration[], allow: Record<string, string[]>): LintFinding[] {
    return squawkReport(dir, migrations, allow).filter((f) => f.allowedBy === undefined);
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
        for (const m of sql.matchAll(DURATION)) longest = Math.max(longest, (Number(m[1]) * MS[m[2]?.toLowerCase() ?? "ms"]) / 1000);
    }
    return Math.ceil(longest);
}
