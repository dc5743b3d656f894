// The component library: what another service's Pulumi program imports (see examples/). Components take plain
// values and Pulumi inputs, never stack config; the rules they share with a config layer are in ./rules.
export * from "./backupBucket";
export * from "./backupSchedule";
export * from "./blueGreenDeployment";
export * from "./canaryDeployment";
export * from "./databaseRoles";
export * from "./existingDatabaseSecrets";
export * from "./rdsBackupPlan";
export * from "./releaseDatabaseJobs";
export * from "./releaseMonitoring";
export * from "./rollingDeployment";
export * from "./scheduledJobMonitoring";
export * from "./rules";
export * from "./workload";
export { appLabels, batchLabels } from "./kubernetes";
