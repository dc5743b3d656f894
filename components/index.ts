// The component library: what another service's Pulumi program imports (see examples/). Components take plain
// values and Pulumi inputs, never stack config. One barrel per domain.
export * from "./database";
export * from "./kubernetes";
export * from "./monitoring";
export * from "./traffic";
