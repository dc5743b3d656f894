export * from "./cron";
export * from "./objects";
export * from "./workload";
