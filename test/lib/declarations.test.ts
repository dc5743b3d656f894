import * as assert from "assert";
import { DESCEND, OMIT, rebuild } from "../../lib/declarations";

describe("one walk over a resource's inputs (lib/declarations rebuild)", () => {
    const secret = { secret: "s3cr3t" };
    const input = { name: "app", env: [{ value: secret }, { value: "plain" }], nested: { token: secret, keep: 1 } };

    it("replaces what the visitor names, wherever it sits, and copies the rest", () => {
        assert.deepStrictEqual(
            rebuild(input, (v) => (v === secret ? "[secret]" : DESCEND)),
            { name: "app", env: [{ value: "[secret]" }, { value: "plain" }], nested: { token: "[secret]", keep: 1 } },
        );
        assert.deepStrictEqual(input.nested.token, secret);
    });

    it("leaves an omitted value's key out of its object and keeps its place in an array", () => {
        assert.deepStrictEqual(
            rebuild({ a: secret, b: [secret, 2], c: 3 }, (v) => (v === secret ? OMIT : DESCEND)),
            { b: [undefined, 2], c: 3 },
        );
    });
});
