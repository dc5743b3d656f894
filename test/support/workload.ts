import { Client } from "pg";

/** The app versions the writers model, by what they write to users. */
export type AppVersion = "v1.2.2" | "v1.2.3" | "v1.2.4";

/** What each version sends: v1.2.2 writes is_verified only, v1.2.3 both columns, v1.2.4 (after the migrate-code phase) email_verified only. */
const SQL: Record<AppVersion, { insert: string; update: string }> = {
    "v1.2.2": {
        insert: "INSERT INTO users (email, is_verified) VALUES ($1, $2)",
        update: "UPDATE users SET is_verified = $2 WHERE email = $1",
    },
    "v1.2.3": {
        insert: "INSERT INTO users (email, is_verified, email_verified) VALUES ($1, $2, $2)",
        update: "UPDATE users SET is_verified = $2, email_verified = $2 WHERE email = $1",
    },
    "v1.2.4": {
        insert: "INSERT INTO users (email, email_verified) VALUES ($1, $2)",
        update: "UPDATE users SET email_verified = $2 WHERE email = $1",
    },
};

/** The last write the database acknowledged for a user, and who made it. */
interface Ack {
    verified: boolean;
    by: string;
}

/** What a step's check found. */
export interface StepReport {
    /** Acknowledged writes so far, by writer. */
    acknowledged: Record<string, number>;
    /** Users whose last acknowledged write is in no copy of the data: absent, or with another value. */
    lost: number;
    /** Users whose two columns differ, while both exist: every user once backfilled; before, those whose email_verified is set. */
    diverged: number;
}

/**
 * Two or more app versions writing users at once, as a canary's two tracks do, each through its own connection as
 * the app role: sign-ups and verification changes, on users either version created. Every write the database
 * acknowledges is recorded as the user's expected state; a write that fails (a refused connection, a terminated
 * session, a permission error) is retried by the client after a pause, as an app's retry would, and counted as
 * refused. A user has one write in flight at a time, so its last acknowledged write is its expected state.
 */
export class Workload {
    private readonly acks = new Map<string, Ack>();
    private readonly live = new Set<string>();
    private readonly inFlight = new Set<string>();
    private readonly writers = new Map<string, { stop: boolean; done: Promise<void> }>();
    readonly acknowledged: Record<string, number> = {};
    readonly refused: Record<string, number> = {};
    /** The longest time a writer's writes were refused in a row, in milliseconds: the outage its users saw. */
    longestRefusalMs = 0;
    private sequence = 0;

    constructor(private readonly url: string) {}

    /** Starts a writer that behaves as `version`, named `name`. */
    start(name: string, version: AppVersion): void {
        const state = { stop: false, done: Promise.resolve() };
        state.done = this.run(name, version, state);
        this.writers.set(name, state);
        this.acknowledged[name] ??= 0;
        this.refused[name] ??= 0;
    }

    /** Stops every writer (or those named) after its write in flight. */
    async stop(names = [...this.writers.keys()]): Promise<void> {
        for (const n of names) this.writers.get(n)!.stop = true;
        await Promise.all(names.map((n) => this.writers.get(n)!.done));
        for (const n of names) this.writers.delete(n);
    }

    get running(): string[] {
        return [...this.writers.keys()];
    }

    private async run(name: string, version: AppVersion, state: { stop: boolean }): Promise<void> {
        let client: Client | undefined;
        let refusedSince: number | undefined;
        while (!state.stop) {
            try {
                if (!client) {
                    const c = new Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
                    // A session the server ends emits 'error' on the client: the next query fails and reconnects.
                    c.on("error", () => undefined);
                    await c.connect();
                    client = c;
                }
                const candidates = [...this.live].filter((e) => !this.inFlight.has(e));
                const update = candidates.length > 0 && Math.random() < 0.5;
                const email = update
                    ? candidates[Math.floor(Math.random() * candidates.length)]
                    : `wl-${name}-${++this.sequence}@example.com`;
                const verified = Math.random() < 0.5;
                this.inFlight.add(email);
                try {
                    const r = await client.query(update ? SQL[version].update : SQL[version].insert, [email, verified]);
                    if (r.rowCount === 1) {
                        this.acks.set(email, { verified, by: name });
                        this.live.add(email);
                        this.acknowledged[name]++;
                    } else {
                        // The user is gone from the live database (a restore put back a copy without it).
                        this.live.delete(email);
                    }
                } finally {
                    this.inFlight.delete(email);
                }
                if (refusedSince !== undefined)
                    this.longestRefusalMs = Math.max(this.longestRefusalMs, Date.now() - refusedSince);
                refusedSince = undefined;
                await new Promise((r) => setTimeout(r, 5));
            } catch {
                this.refused[name]++;
                refusedSince ??= Date.now();
                await client?.end().catch(() => undefined);
                client = undefined;
                await new Promise((r) => setTimeout(r, 50));
            }
        }
        await client?.end().catch(() => undefined);
    }

    /**
     * Compares the database with the acknowledged writes. `read(sql)` queries the live database; `copies` are other
     * databases (a restore's pre-restore dump) where a user's last write may rightly be instead. Until `backfilled`,
     * an email_verified still NULL is one the backfill has yet to copy, not a loss.
     */
    check(read: (sql: string) => string, copies: ((sql: string) => string)[], backfilled: boolean): StepReport {
        const state = (q: (sql: string) => string): Map<string, string> => {
            const columns = q(
                "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'",
            ).split(",");
            const iv = columns.includes("is_verified") ? "is_verified::text" : "'-'";
            const ev = columns.includes("email_verified") ? "coalesce(email_verified::text, 'null')" : "'-'";
            const rows = q(`SELECT email || ' ' || ${iv} || ' ' || ${ev} FROM users WHERE email LIKE 'wl-%'`);
            return new Map(
                rows
                    .split("\n")
                    .filter(Boolean)
                    .map((l) => {
                        const [email, ...v] = l.split(" ");
                        return [email, v.join(" ")];
                    }),
            );
        };
        const places = [state(read), ...copies.map(state)];
        // A user's acknowledged value is where it is kept: in every column of the two that exists.
        const holds = (values: string | undefined, verified: boolean) =>
            values !== undefined &&
            values
                .split(" ")
                .every((v, i) => v === "-" || v === String(verified) || (i === 1 && v === "null" && !backfilled));
        let lost = 0;
        for (const [email, ack] of this.acks) if (!places.some((p) => holds(p.get(email), ack.verified))) lost++;
        const bothColumns =
            read(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users' AND column_name IN ('is_verified', 'email_verified')",
            ) === "2";
        const diverged = bothColumns
            ? Number(
                  read(
                      `SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM is_verified${backfilled ? "" : " AND email_verified IS NOT NULL"}`,
                  ),
              )
            : 0;
        return { acknowledged: { ...this.acknowledged }, lost, diverged };
    }
}
