import * as datadog from "@pulumi/datadog";
import * as pulumi from "@pulumi/pulumi";
import { appQueries, Scopes } from "./queries";
import type { ReleaseMonitoringArgs } from "./releaseMonitoring";

/** The deployment dashboard: per-version traffic over the service's user requests, then database and containers. */
export function declareDashboard(
    parent: pulumi.Resource,
    name: string,
    args: ReleaseMonitoringArgs,
    { span, requests, kube }: Scopes,
): void {
    const timeseries = (title: string, queries: string[], formula?: string) => ({
        definition: {
            type: "timeseries",
            title,
            show_legend: true,
            requests: [
                {
                    response_format: "timeseries",
                    queries: queries.map((query, i) => ({ name: `q${i + 1}`, data_source: "metrics", query })),
                    formulas: [{ formula: formula ?? "q1" }],
                    display_type: "line",
                },
            ],
        },
    });
    const byVersion = `{${requests}} by {version}`;
    const db = args.databaseScope;
    const widgets = [
        timeseries(
            "Error rate by version (%)",
            [`sum:${span}.errors${byVersion}.as_count()`, `sum:${span}.hits${byVersion}.as_count()`],
            "q1 / q2 * 100",
        ),
        timeseries("p50 response time by version (s)", [`p50:${span}${byVersion}`]),
        timeseries("p95 response time by version (s)", [`p95:${span}${byVersion}`]),
        timeseries("p99 response time by version (s)", [`p99:${span}${byVersion}`]),
        timeseries("Throughput by version (requests/s)", [`sum:${span}.hits${byVersion}.as_rate()`]),
        ...(db === undefined
            ? []
            : [
                  // The role's limit is a constant of the formula, not of the query.
                  args.appRole
                      ? timeseries(
                            `Database connections of ${args.appRole.name} (% of its limit)`,
                            [`sum:postgresql.connections{${db},user:${args.appRole.name}}`],
                            `q1 / ${args.appRole.connectionLimit} * 100`,
                        )
                      : timeseries(
                            "Database connections (% of max)",
                            [`max:postgresql.percent_usage_connections{${db}}`],
                            "q1 * 100",
                        ),
                  timeseries(
                      "Database cache hit rate (%)",
                      [`sum:postgresql.buffer_hit{${db}}.as_count()`, `sum:postgresql.disk_read{${db}}.as_count()`],
                      "q1 / (q1 + q2) * 100",
                  ),
                  timeseries(
                      "Mean database query time (ms)",
                      [
                          `sum:postgresql.queries.time{${appQueries(db, args.appRole)}}.as_count()`,
                          `sum:postgresql.queries.count{${appQueries(db, args.appRole)}}.as_count()`,
                      ],
                      "q1 / q2 / 1000000",
                  ),
              ]),
        timeseries(
            "CPU by deployment (% of limit)",
            [
                `sum:kubernetes.cpu.usage.total{${kube}} by {kube_deployment}`,
                `sum:kubernetes.cpu.limits{${kube}} by {kube_deployment}`,
            ],
            "q1 / 1000000000 / q2 * 100",
        ),
        timeseries(
            "Memory working set by deployment (% of limit)",
            [
                `sum:kubernetes.memory.working_set{${kube}} by {kube_deployment}`,
                `sum:kubernetes.memory.limits{${kube}} by {kube_deployment}`,
            ],
            "q1 / q2 * 100",
        ),
    ];
    new datadog.DashboardJson(
        `${name}-dashboard`,
        {
            dashboard: JSON.stringify({
                title: `[${args.env}] ${args.service} deployment`,
                description:
                    "Error rate, latency and throughput per version in flight; database and infrastructure health. Managed by Pulumi.",
                layout_type: "ordered",
                widgets,
            }),
        },
        { parent },
    );
}
