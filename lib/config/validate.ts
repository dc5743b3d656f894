import { z } from "zod";
import { verifiesServer } from "../../components/database";
import { describe, formatPath, isCredential, Problem, refused, SKIP } from "./errors";
import { renameOldNames } from "./oldNames";
import { numbersAsWritten, ownStrategySections, resolved } from "./resolve";
import { crossFieldProblems } from "./rules";
import { KEYS, programSchema, SEPARATE_KEYS } from "./schema";
import { ProgramConfig } from "./types";

/** Validates raw config values (as read from the stack; `stack` names the default Datadog env) and returns the typed config, or throws one ConfigError listing every problem. */
export function validateConfig(
    project: string,
    stack: string,
    raw: Record<string, unknown>,
    warn: (message: string) => void = () => undefined,
): ProgramConfig {
    const renamed = renameOldNames(project, ownStrategySections(project, raw, warn));
    for (const message of renamed.warnings) warn(message);
    const result = programSchema.safeParse(numbersAsWritten(programSchema, renamed.config), { reportInput: true });
    const problems: Problem[] = [
        ...renamed.problems,
        ...(result.success
            ? crossFieldProblems(result.data, stack)
            : result.error.issues.flatMap(schemaProblems).map((p) => ({ ...p, path: renamed.asWritten(p.path) }))),
    ];
    if (result.success && problems.length === 0) return resolved(result.data, stack);
    const lines = problems.map(
        (p) => `  ${formatPath(project, p.path)}${p.input === SKIP ? "" : ` = ${describe(p.input)}`}: ${p.message}`,
    );
    throw refused(lines);
}

/**
 * Refuses a stack whose roles the program creates through an admin connection that does not verify the server:
 * the PostgreSQL provider's own config (`postgresql:sslmode`, `postgresql:sslrootcert`) decides that connection.
 */
export function checkAdminConnection(
    cfg: ProgramConfig,
    admin: { name: string; get(key: string): string | undefined },
): void {
    if (cfg.database?.access.kind !== "roles") return;
    const problems: string[] = [];
    const sslmode = admin.get("sslmode");
    if (sslmode === undefined || !verifiesServer(sslmode)) {
        problems.push(
            `  ${admin.name}:sslmode = ${describe(sslmode)}: must be verify-full or verify-ca: the program creates the roles through this connection, with the admin's password`,
        );
    }
    if (admin.get("sslrootcert") === undefined)
        problems.push(
            `  ${admin.name}:sslrootcert = (not set): must name the CA bundle the server's certificate is checked against, such as ${cfg.database.tls?.caBundle ?? "certs/rds-ca-bundle.pem"}`,
        );
    if (problems.length > 0) throw refused(problems);
}

/** A schema issue as a problem: an unknown key of the namespace with the closest known one, CLI text with its reading. */
function schemaProblems(i: z.core.$ZodIssue): Problem[] {
    if (i.code === "unrecognized_keys") {
        if (i.path.length > 0) return [{ path: i.path, input: SKIP, message: i.message }];
        const known = [...KEYS, ...SEPARATE_KEYS];
        return i.keys.map((key) => {
            const near = closest(key, known);
            return {
                path: [key],
                input: SKIP,
                message: `is not a key of this program${near ? `: did you mean ${near}?` : ""} (it reads ${known.join(", ")})`,
            };
        });
    }
    const input = (i as { input?: unknown }).input;
    let message = i.message;
    if (i.code === "invalid_type") {
        // zod's own wording is replaced (a field's message says more), and text where a list belongs gets the way to write one.
        const zods = message.startsWith("Invalid input");
        if (zods && i.expected === "int" && typeof input === "number") message = "must be a whole number";
        if (zods && i.expected === "number" && typeof input === "string")
            message = "must be a number such as 25 or 0.7";
        if (i.expected === "array" && typeof input === "string") {
            const at = i.path
                .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
                .join("")
                .slice(1);
            message = `must be a list, not text: set each item by its index, as pulumi config set --path writes lists (${at}[0], ${at}[1], …)`;
        }
    }
    return [{ path: i.path, input: isCredential(i.path) ? SKIP : input, message }];
}

/** The candidate nearest to a mistyped name (Levenshtein distance, ignoring case), if it is near enough to be meant. */
function closest(name: string, candidates: readonly string[]): string | undefined {
    const distance = (a: string, b: string) => {
        let row = Array.from({ length: b.length + 1 }, (_, j) => j);
        for (let i = 1; i <= a.length; i++) {
            const next = [i];
            for (let j = 1; j <= b.length; j++)
                next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
            row = next;
        }
        return row[b.length];
    };
    const scored = candidates
        .map((c) => ({ c, d: distance(name.toLowerCase(), c.toLowerCase()) }))
        .sort((x, y) => x.d - y.d);
    return scored[0] && scored[0].d <= Math.max(2, Math.floor(name.length / 3)) ? scored[0].c : undefined;
}
