// Where the Datadog credentials and API URL come from: the names the official client and the Datadog provider read.

export interface DatadogCredentials {
    apiKey: string;
    appKey: string;
}

/**
 * The credentials in the environment: the client's DD_API_KEY and DD_APP_KEY, or the Datadog provider's
 * DATADOG_API_KEY and DATADOG_APP_KEY; undefined unless both keys are set.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): DatadogCredentials | undefined {
    const apiKey = env.DD_API_KEY || env.DATADOG_API_KEY;
    const appKey = env.DD_APP_KEY || env.DATADOG_APP_KEY;
    return apiKey && appKey ? { apiKey, appKey } : undefined;
}

/** The API's URL when the environment names one, as the Datadog provider reads it (DATADOG_HOST); otherwise DD_SITE decides. */
export const apiUrlFromEnv = (env: NodeJS.ProcessEnv = process.env): string | undefined =>
    env.DATADOG_HOST || undefined;
