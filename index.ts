import { declareRelease, readReleaseInput } from "./program/release";

// The program reads and validates its stack config, then declares the release: readReleaseInput throws a
// ConfigError before the first resource when anything is wrong.
const outputs = declareRelease(readReleaseInput());

export const strategy = outputs.strategy;
export const versions = outputs.versions;
export const traffic = outputs.traffic;
export const urls = outputs.urls;
export const rollback = outputs.rollback;
export const readme = outputs.readme;
export const database = outputs.database;
