// Row labels of the benchmark table (bench/run.ts), where a count decides the grammar.

/** The label of the row for `count` services declared in one program, each with its own config. */
export function servicesLabel(count: number, resources: number): string {
    const services = count === 1 ? "1 service" : `${count} services`;
    const config = count === 1 ? "with its own config" : "each with its own config";
    return `${services} through declareRelease, ${config} (${resources} resources)`;
}
