export {
    AlertQuery,
    AlertSpec,
    BUILT_IN_PER_VERSION_ALERTS,
    BUILT_IN_SERVICE_ALERTS,
    BuiltInAlert,
    CustomTrafficGuard,
    isBuiltInAlert,
    VersionInFlight,
    warningBeforeCritical,
} from "./alerts";
export * from "./releaseMonitoring";
export * from "./scheduledJobMonitoring";
