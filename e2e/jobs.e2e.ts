import * as assert from "assert";
import { existingResourceStack } from "./lib/existing";
import { kube, moveFromFirstReleaseTokens, engineLog } from "./lib/engine";
import { Kube } from "./lib/kube";
import { deployments, jobs, podUids, watchRevisions } from "./lib/observe";
import { measure } from "./lib/report";
import { ProjectStack } from "./lib/stack";

// The first release and a restore, on the committed production stack (canary, nginx router) with the README's
// existing-resource inputs (no monitoring, database.existingSecrets, backup.existingBucket, backup.oidc.roleArn), so
// the database Job chain runs on the engine and the API server with only the Kubernetes provider.
const NS = "e2e-jobs";
const BACKUP = "myapp-predeploy-backup-v1-2-3";
const MIGRATION = "myapp-migrate-expand-v1-2-3";
const RESTORE_KEY = "postgres/myapp/20261127T140000Z-pre-deploy-v1.2.3.dump";

describe("database Jobs of the production canary stack (existing-resource inputs) on the engine and a real API server", function () {
    let ps: ProjectStack;
    let k: Kube;
    let created = 0;
    const onOutput = engineLog();

    before(async function () {
        k = kube();
        ps = await existingResourceStack(k, { base: "production", name: "e2e-jobs", namespace: NS });
    });

    it("the first pulumi up completes; the backup completed before the migration was created, the migration before the Deployments", async function () {
        const seen = watchRevisions(k, NS);
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        const res = await ps.stack.up({ onOutput }).finally(() => seen.stop());
        measure("jobs.firstDeploy", { seconds: (Date.now() - t0) / 1000, changes: res.summary.resourceChanges });
        assert.strictEqual(res.summary.result, "succeeded");
        created = res.summary.resourceChanges?.create ?? 0;

        const j = await jobs(k, NS);
        assert.deepStrictEqual(Object.keys(j).sort(), [MIGRATION, BACKUP]);
        assert.strictEqual(j[BACKUP].outcome, "Complete");
        assert.strictEqual(j[MIGRATION].outcome, "Complete");
        const d = await deployments(k, NS);
        assert.deepStrictEqual(Object.keys(d).sort(), ["myapp-canary", "myapp-stable"]);

        // The API's own timestamps (whole seconds, so a step that follows within the second shows as equal).
        const t = (s?: string) => Date.parse(s!);
        assert.ok(
            t(j[BACKUP].completionTime) <= t(j[MIGRATION].created),
            `backup completed ${j[BACKUP].completionTime}, migration created ${j[MIGRATION].created}`,
        );
        assert.ok(
            t(j[BACKUP].completionTime) <= t(j[MIGRATION].startTime),
            `backup completed ${j[BACKUP].completionTime}, migration started ${j[MIGRATION].startTime}`,
        );
        for (const [name, dep] of Object.entries(d)) {
            assert.ok(
                t(j[MIGRATION].completionTime) <= t(dep.created),
                `migration completed ${j[MIGRATION].completionTime}, ${name} created ${dep.created}`,
            );
        }
        // The store's revisions order them strictly: Complete=True on the backup, then the migration's creation;
        // Complete=True on the migration, then each Deployment's creation.
        measure("jobs.firstDeployRevisions", {
            jobCreated: seen.jobCreated,
            jobCompleted: seen.jobCompleted,
            deploymentCreated: seen.deploymentCreated,
        });
        assert.ok(seen.jobCompleted[BACKUP] < seen.jobCreated[MIGRATION], JSON.stringify(seen));
        for (const name of Object.keys(d))
            assert.ok(seen.jobCompleted[MIGRATION] < seen.deploymentCreated[name], JSON.stringify(seen));
    });

    it("the same stack under the first release's myapp:deploy:* tokens moves to release:index:* with no change, and no Job runs again", async function () {
        const before = await jobs(k, NS);
        const move = await moveFromFirstReleaseTokens(ps, onOutput);
        assert.deepStrictEqual(move, {
            before: [
                "myapp:deploy:AppWorkload",
                "myapp:deploy:BackupSchedule",
                "myapp:deploy:CanaryDeployment",
                "myapp:deploy:ExistingDatabaseSecrets",
                "myapp:deploy:ReleaseDatabaseJobs",
            ],
            after: [
                "release:index:AppWorkload",
                "release:index:BackupSchedule",
                "release:index:CanaryDeployment",
                "release:index:ExistingDatabaseSecrets",
                "release:index:ReleaseDatabaseJobs",
            ],
            // The four existing Secrets and the two tracks' live Deployments are read on every run.
            preview: { same: created, read: 6 },
            up: { same: created, read: 6 },
            sameUrns: true,
        });
        assert.deepStrictEqual(await jobs(k, NS), before);
    });

    let restoreJob = "";
    let restoreState: Awaited<ReturnType<typeof jobs>>[string];
    let restorePods: Record<string, string> = {};

    it("with database.restore.key set, pulumi up runs the restore Job (which takes its own pre-restore dump inside its fence), once", async function () {
        await ps.stack.setConfig("database.restore.key", { value: RESTORE_KEY }, true);
        const before = await jobs(k, NS);
        const res = await ps.stack.up({ onOutput });
        measure("jobs.restoreUp", { changes: res.summary.resourceChanges });
        assert.strictEqual(res.summary.result, "succeeded");
        const after = await jobs(k, NS);
        const added = Object.keys(after)
            .filter((n) => !before[n])
            .sort();
        assert.strictEqual(added.length, 1, `new Jobs: ${added.join(", ")}`);
        const restore = added.find((n) => n.startsWith("myapp-restore-"))!;
        assert.ok(restore, `new Jobs: ${added.join(", ")}`);
        assert.strictEqual(after[restore].outcome, "Complete");
        // The release's own Jobs are the same objects: nothing about the migration's purpose changed.
        assert.strictEqual(after[BACKUP].uid, before[BACKUP].uid);
        assert.strictEqual(after[MIGRATION].uid, before[MIGRATION].uid);
        restoreJob = restore;
        restoreState = after[restore];
        restorePods = await podUids(k, NS, `job-name=${restore}`);
        assert.strictEqual(Object.keys(restorePods).length, 1);
    });

    it("an edit of database.toolsImage while restore.key is set does not run the restore again", async function () {
        await ps.stack.setConfig(
            "database.toolsImage",
            { value: "registry.example.com/platform/pg-tools:15.9-awscli-2.17.1" },
            true,
        );
        const jobsBefore = await jobs(k, NS);
        const res = await ps.stack.up({ onOutput });
        measure("jobs.toolsImageEditWithRestoreKey", { changes: res.summary.resourceChanges });
        assert.strictEqual(res.summary.result, "succeeded");
        const after = await jobs(k, NS);
        assert.deepStrictEqual(
            Object.keys(after).sort(),
            Object.keys(jobsBefore).sort(),
            "no Job was created or deleted",
        );
        assert.deepStrictEqual(
            after[restoreJob],
            restoreState,
            "the restore Job is the same object, completed at the same time, with its old image",
        );
        assert.deepStrictEqual(await podUids(k, NS, `job-name=${restoreJob}`), restorePods, "no new restore pod");
        // The edit reaches what runs next: the scheduled backup and drill.
        const cron = await k.get(`/apis/batch/v1/namespaces/${NS}/cronjobs/myapp-db-backup`);
        assert.strictEqual(
            cron.spec.jobTemplate.spec.template.spec.containers[0].image,
            "registry.example.com/platform/pg-tools:15.9-awscli-2.17.1",
        );
        // Exactly the two CronJobs changed, by the engine's count.
        assert.strictEqual(res.summary.resourceChanges?.update, 2, JSON.stringify(res.summary.resourceChanges));
    });
});
