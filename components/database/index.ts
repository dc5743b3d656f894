export * from "./backupBucket";
export * from "./backupSchedule";
export * from "./databaseRoles";
export * from "./existingDatabaseSecrets";
export * from "./rdsBackupPlan";
export * from "./releaseDatabaseJobs";
export * from "./scripts";
