import * as k8s from "@pulumi/kubernetes";
import * as assert from "assert";
import { DatabaseRoles, RdsBackupPlan } from "../components";
import { captureDeclarations } from "../lib/offline/capture";
import { at, find, PROJECT } from "./helpers";

// The library as another program uses it: through the barrel, with inputs that are other resources' outputs.
const declareRevealed = (body: () => void) =>
    captureDeclarations({ project: PROJECT, stack: "test", config: {}, secretKeys: [], revealSecrets: true }, () => {
        body();
        return {};
    });

describe("the component library", () => {
    it("takes a database host and port that are outputs of another resource into the connection URLs", async () => {
        const run = await declareRevealed(() => {
            const endpoint = new k8s.core.v1.ConfigMap("endpoint", { data: { host: "orders.cluster-x.us-east-1.rds.amazonaws.com", port: "6432" } });
            const role = (name: string) => ({ name, connectionLimit: 10 });
            new DatabaseRoles("orders-db", {
                host: endpoint.data.apply((d) => d.host),
                port: endpoint.data.apply((d) => Number(d.port)),
                database: "orders",
                drillDatabase: "orders_restore_drill",
                sslmode: "require",
                roles: { owner: { name: "orders_owner" }, app: role("orders_app"), migrator: role("orders_migrator"), backup: role("orders_backup"), drill: role("orders_drill") },
                namespace: "orders",
                appName: "orders",
            });
        });
        const url: string = at(find(run, ":Secret", "orders-db-app-secret"), "stringData.DATABASE_URL");
        // The offline run's RandomPassword result is offline-password(<name>) (lib/offline/capture.ts).
        assert.strictEqual(url, "postgresql://orders_app:offline-password(orders-db-app-password)@orders.cluster-x.us-east-1.rds.amazonaws.com:6432/orders?sslmode=require");
    });

    it("takes the RDS ARN, subnet group and security groups as outputs", async () => {
        const run = await declareRevealed(() => {
            const db = new k8s.core.v1.ConfigMap("rds", { data: { arn: "arn:aws:rds:us-east-1:123456789012:db:orders", subnets: "orders-subnets", sg: "sg-0a" } });
            new RdsBackupPlan("orders-rds-backup", {
                kind: "instance",
                arn: db.data.apply((d) => d.arn),
                subnetGroupName: db.data.apply((d) => d.subnets),
                securityGroupIds: [db.data.apply((d) => d.sg)],
                schedule: "cron(0 5 ? * * *)",
                restoreTestSchedule: "cron(0 6 ? * SUN *)",
                retentionDays: 35,
                kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/x",
                namePrefix: "orders-production",
                tags: {},
            });
        });
        const selection = find(run, ":RestoreTestingSelection", "orders-rds-backup-restore-testing-selection");
        assert.deepStrictEqual(at(selection, "protectedResourceArns"), ["arn:aws:rds:us-east-1:123456789012:db:orders"]);
        assert.deepStrictEqual(at(selection, "restoreMetadataOverrides"), { dbSubnetGroupName: "orders-subnets", vpcSecurityGroupIds: '["sg-0a"]' });
    });
});
