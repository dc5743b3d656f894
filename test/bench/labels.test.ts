import * as assert from "assert";
import { servicesLabel } from "../../bench/labels";

describe("the benchmark table's labels", () => {
    it("names one service in the singular and several in the plural, each with its own config", () => {
        assert.deepStrictEqual(
            [servicesLabel(1, 157), servicesLabel(10, 1570)],
            [
                "1 service through declareRelease, with its own config (157 resources)",
                "10 services through declareRelease, each with its own config (1570 resources)",
            ],
        );
    });
});
