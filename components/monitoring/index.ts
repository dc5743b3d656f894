export * from "./releaseMonitoring";
export * from "./scheduledJobMonitoring";
