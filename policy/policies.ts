// The pre-deployment checklist of the deployment plan, as CrossGuard policies: one module per checklist section
// (security, capacity, database, monitoring, release), assembled here. These modules only define them, so tests can
// run them without starting the pack's server; index.ts builds the pack.
//
// Every policy reads values that may be unknown during `pulumi preview` (a name computed by the provider, say): an
// undefined value is never taken as a violation, and nothing here throws on one.
import { EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    backupBucketHardened,
    backupBeforeMigration,
    databaseBackupScheduled,
    migrationBeforeNewVersion,
} from "./database";
import {
    capacityFollowsTraffic,
    containerProbesAndResources,
    hpaOnEveryDeployment,
    replicasSurviveNodeLoss,
} from "./capacity";
import { downtimeNeverMutesRollbackTriggers, monitorsForPlanAlerts } from "./monitoring";
import { gateOverrideApproved, releaseOwnersAssigned, rollbackPathPresent, smokeTestBeforeSwitch } from "./release";
import { imagesPinnedAndAllowed, noPlaintextSecrets, restrictedPodSecurity } from "./security";

type Policy = ResourceValidationPolicy | StackValidationPolicy;

export const PACK_NAME = "myapp-deployment-checklist";
/** Unless the policy config says otherwise (staging makes everything advisory), a violation blocks the update. */
export const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";

/** Every policy of the pack, in the checklist's order. */
export const policies: Policy[] = [
    containerProbesAndResources,
    imagesPinnedAndAllowed,
    restrictedPodSecurity,
    noPlaintextSecrets,
    smokeTestBeforeSwitch,
    migrationBeforeNewVersion,
    backupBeforeMigration,
    backupBucketHardened,
    databaseBackupScheduled,
    monitorsForPlanAlerts,
    downtimeNeverMutesRollbackTriggers,
    rollbackPathPresent,
    releaseOwnersAssigned,
    gateOverrideApproved,
    replicasSurviveNodeLoss,
    capacityFollowsTraffic,
    hpaOnEveryDeployment,
];
