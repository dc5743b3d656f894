export * from "./autoRollback";
export * from "./blueGreenDeployment";
export * from "./canaryDeployment";
export * from "./capacity";
export * from "./rollingDeployment";
export * from "./weights";
export * from "./routers";
// A program that runs a canary declares its steps under this key of its deployment-plan ConfigMap, where the policy
// pack checks the weight against them.
export { CANARY_STEPS_KEY } from "../../policy/contract";
