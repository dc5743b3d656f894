import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { commonTags, num } from "./messages";
import { Scopes } from "./queries";
import type { ReleaseMonitoringArgs } from "./releaseMonitoring";

/** Availability and p95 latency SLOs over the service's user requests (`scopes.requests`), as the monitors count them. */
export function declareSlos(
    parent: pulumi.Resource,
    name: string,
    args: ReleaseMonitoringArgs,
    { span, requests }: Scopes,
): void {
    const tags = commonTags(args.service, args.env);
    new datadog.ServiceLevelObjective(
        `${name}-availability-slo`,
        {
            name: `[${args.env}] ${args.service}: availability`,
            type: "metric",
            description: "Share of requests that do not fail.",
            query: {
                numerator: `sum:${span}.hits{${requests}}.as_count() - sum:${span}.errors{${requests}}.as_count()`,
                denominator: `sum:${span}.hits{${requests}}.as_count()`,
            },
            thresholds: [{ timeframe: args.slo.timeframe, target: args.slo.availabilityTarget }],
            tags,
        },
        { parent },
    );
    new datadog.ServiceLevelObjective(
        `${name}-latency-slo`,
        {
            name: `[${args.env}] ${args.service}: p95 within ${num(args.slo.latencySeconds)} s`,
            type: "time_slice",
            description: "Share of five-minute slices whose p95 response time is within the plan's threshold.",
            sliSpecification: {
                timeSlice: {
                    comparator: "<=",
                    threshold: args.slo.latencySeconds,
                    queryIntervalSeconds: 300,
                    query: {
                        formula: { formulaExpression: "query1" },
                        queries: [
                            {
                                metricQuery: {
                                    name: "query1",
                                    dataSource: "metrics",
                                    query: `p95:${span}{${requests}}`,
                                },
                            },
                        ],
                    },
                },
            },
            thresholds: [{ timeframe: args.slo.timeframe, target: args.slo.latencyTarget }],
            tags,
        },
        { parent },
    );
}
