// Two app versions write while the database changes, as they do during a canary: after each step (expand, backfill,
// restore, contract, down) the database is compared with every write it acknowledged. Both counts must be 0: users
// whose last acknowledged write is in no copy of the data (lost), and users whose two columns differ (diverged). The
// Jobs run as declared, as their roles, on the real-schema fixture (test/support/harness.ts), with the writers
// connected as the app role through the program's own Secret.
import * as assert from "assert";
import * as path from "path";
import { loadMigrations } from "../../lib/migrations";
import { ProgramRun } from "../../tools/offline/types";
import { preview } from "../helpers";
import { DatabaseHarness, PREFIX } from "../support/harness";
import { PodResult } from "../support/pod";
import { PostgresServer } from "../support/postgres";
import { StepReport, Workload } from "../support/workload";

const LOADED = loadMigrations(path.join(__dirname, "..", "..", "migrations"));
const files = (upTo: string) =>
    Object.fromEntries(
        LOADED.filter((m) => m.version <= upTo).flatMap((m) => [
            [`${m.version}.up.sql`, m.up],
            [`${m.version}.down.sql`, m.down],
        ]),
    );
const ok = (r: PodResult) => assert.strictEqual(r.code, 0, `${r.stdout}\n${r.stderr}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const V124 = [
    "release.version=v1.2.4",
    "release.previousVersion=v1.2.3",
    "canary.stableVersion=v1.2.4",
    "canary.canaryVersion=v1.2.4",
];

describe("two app versions writing through expand, backfill, restore, contract and down", function () {
    this.timeout(300000);
    let h: DatabaseHarness;
    let w: Workload;
    const reports: Record<string, StepReport & { writers: string[] }> = {};
    let fenceSeconds = 0;
    /** Other copies a user's last acknowledged write may rightly be in: the restore's pre-restore dump, from then on. */
    const copies: ((sql: string) => string)[] = [];

    /** Lets the writers write a while, stops them, and compares. */
    async function settle(step: string, backfilled: boolean): Promise<StepReport> {
        await sleep(1000);
        const writers = w.running;
        await w.stop();
        const report = w.check(h.admin, copies, backfilled);
        reports[step] = { ...report, writers };
        assert.deepStrictEqual([report.lost, report.diverged], [0, 0], `${step}: ${JSON.stringify(report)}`);
        for (const name of writers) assert.ok(report.acknowledged[name] > 0, `${step}: ${name} wrote nothing`);
        return report;
    }
    const migrate = (run: ProgramRun, upTo: string) =>
        h.pod(run, "Job", /^myapp-migrate-/, { migrations: files(upTo) });

    before(async () => {
        h = await DatabaseHarness.start();
        h.freshAppDatabase();
        w = new Workload(h.urlOf("app"));
    });
    after(async () => {
        await w?.stop();
        // The figures the closing note reports.
        console.log(
            `\n    workload: ${JSON.stringify(reports)}; restore fence ${fenceSeconds} s (writers refused for at most ${w.longestRefusalMs} ms)`,
        );
        await h?.stop();
    });

    it("expand: v1.2.2 writes during the migration (the canary's pods wait for it), then v1.2.2 and v1.2.3 together", async () => {
        w.start("stable-v1.2.2", "v1.2.2");
        ok(await migrate(h.release, "005_users_email_verified_sync"));
        w.start("canary-v1.2.3", "v1.2.3");
        await settle("expand", false);
    });

    it("backfill: both versions write while the backfill copies the rows the trigger has not seen", async () => {
        w.start("stable-v1.2.2", "v1.2.2");
        w.start("canary-v1.2.3", "v1.2.3");
        ok(await migrate(h.program(["database.migration.phase=backfill"]), "006_users_email_verified_backfill"));
        await settle("backfill", true);
    });

    it("restore: both versions write; the fence refuses their writes, which they retry once it reopens; nothing acknowledged is lost", async () => {
        const backup = await h.pod(h.release, "Job", /^myapp-predeploy-backup-/);
        ok(backup);
        const key = `${PREFIX}/20990101T000000Z-pre-deploy-v1.2.3.dump`;
        await h.copyObject(/wrote s3:\/\/\S+?\/(\S+) /.exec(backup.stdout)![1], key);
        w.start("stable-v1.2.2", "v1.2.2");
        w.start("canary-v1.2.3", "v1.2.3");
        await sleep(500);
        const restore = await h.pod(
            h.program(["database.migration.phase=backfill", `database.restore.key=${key}`]),
            "Job",
            /^myapp-restore-/,
        );
        ok(restore);
        fenceSeconds = Number(/after (\d+) s fenced/.exec(restore.stdout)![1]);
        // What the fence found: every write acknowledged before it is in the pre-restore dump.
        const before = /wrote s3:\/\/\S+?\/(\S+-pre-restore-[0-9a-f]{10}\.dump)/.exec(restore.stdout)![1];
        await h.restoreForInspection(before, "inspect_prerestore");
        copies.push((sql: string) => PostgresServer.psqlAt(h.adminUrl("inspect_prerestore"), sql));
        const report = await settle("restore", true);
        assert.ok(Object.values(w.refused).reduce((a, b) => a + b, 0) > 0, "the fence refused writes");
        assert.ok(report.acknowledged["stable-v1.2.2"] > 0);
    });

    it("contract: refused while v1.2.2 or v1.2.3 serves; with v1.2.4 on both tracks, it runs while they write", async () => {
        const refused = preview(["--stack", "production", "--set", "database.migration.phase=contract"]);
        assert.strictEqual(refused.code, 2, refused.stderr);
        assert.match(
            refused.stderr,
            /track stable \(myapp:canary\.stableVersion\) runs v1\.2\.2; migrations\/007_users_drop_is_verified\.up\.sql supports v1\.2\.4 or newer/,
        );
        assert.match(
            refused.stderr,
            /track canary \(myapp:canary\.canaryVersion\) runs v1\.2\.3; migrations\/007_users_drop_is_verified\.up\.sql supports v1\.2\.4 or newer/,
        );
        w.start("stable-v1.2.4", "v1.2.4");
        w.start("canary-v1.2.4", "v1.2.4");
        ok(await migrate(h.program([...V124, "database.migration.phase=contract"]), "007_users_drop_is_verified"));
        await settle("contract", true);
    });

    it("down: the contract's down file runs while v1.2.4 writes; then v1.2.2 and v1.2.3 write again beside it", async () => {
        w.start("stable-v1.2.4", "v1.2.4");
        ok(
            await h.pod(
                h.program([
                    ...V124,
                    "database.migration.phase=contract",
                    "database.migration.run=down",
                    "database.migration.downFor=v1.2.4",
                ]),
                "Job",
                /^myapp-migrate-down-/,
                {
                    migrations: files("007_users_drop_is_verified"),
                },
            ),
        );
        w.start("stable-v1.2.2", "v1.2.2");
        w.start("canary-v1.2.3", "v1.2.3");
        await settle("down", true);
    });
});
