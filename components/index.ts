// The component library: what another service's Pulumi program imports (see examples/). Components take plain
// values and Pulumi inputs, never stack config. One barrel per domain.
export * from "./database";
export * from "./kubernetes";
export * from "./monitoring";
export * from "./traffic";
// For a program whose stacks recorded the components under other type tokens before they were release:index.
export { aliasFormerTypes } from "./componentType";
