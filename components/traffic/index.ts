export * from "./autoRollback";
export * from "./blueGreenDeployment";
export * from "./canaryDeployment";
export * from "./capacity";
export * from "./rollingDeployment";
export * from "./weights";
export * from "./routers";
