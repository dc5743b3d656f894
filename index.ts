import { releaseProgram } from "./program/release";

// Pulumi calls an exported function and takes what it resolves to as the stack outputs (strategy, versions, traffic,
// urls, rollback, readme, database). releaseProgram reads and validates the stack config, and checks a restore key
// against S3, before it declares the first resource: a ConfigError stops it with nothing declared.
// The time of the run is read here, once: the program's decisions take it as an input.
export = () => releaseProgram(new Date());
