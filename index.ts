import * as pulumi from "@pulumi/pulumi";
import { readAppSecrets, readRawConfig, validateConfig } from "./lib/config";
import { declareRelease, readReleaseFiles } from "./program/release";

const stack = pulumi.getStack();
const config = new pulumi.Config();
// Everything is read and validated before the first resource is declared.
const cfg = validateConfig(config.name, stack, readRawConfig(config));
const appSecrets = readAppSecrets(config);
const files = readReleaseFiles(config.name, cfg);
const outputs = declareRelease({ stack, cfg, appSecrets, files });

export const strategy = outputs.strategy;
export const versions = outputs.versions;
export const traffic = outputs.traffic;
export const urls = outputs.urls;
export const rollback = outputs.rollback;
export const readme = outputs.readme;
export const database = outputs.database;
