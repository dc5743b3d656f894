// How much capacity each track needs before traffic moves (components/traffic/capacity.ts), from what the cluster runs.
import * as assert from "assert";
import { LiveTrack, planCapacity, readyConditions, TrackDemand, routeCondition } from "../../../components/traffic";

const track = (configured: number, share: number, live: LiveTrack, max = 24): TrackDemand => ({
    configured,
    share,
    max,
    live,
});

describe("capacity follows traffic", () => {
    it("weight 5 → 100 sizes the canary for every pod the fleet runs now, not for canaryReplicas", () => {
        // The autoscalers have grown stable to 10 and the canary to 5 since the last decision (5%).
        const plan = planCapacity(
            {
                stable: track(6, 0, { replicas: 10, share: 95, fleet: 0 }),
                canary: track(2, 100, { replicas: 5, share: 5, fleet: 0 }),
            },
            { shrinkGiving: false },
        );
        assert.deepStrictEqual(plan.canary, { floor: 15, fleet: 15, wake: false, shrinkTo: undefined });
        // The giving track keeps its configured minimum; its autoscaler sizes it for what is left.
        assert.deepStrictEqual(plan.stable, { floor: 6, fleet: 15, wake: false, shrinkTo: undefined });
    });

    it("promotion from 100: the stable track is sized for what the canary served, whatever stable idled down to", () => {
        const plan = planCapacity(
            {
                stable: track(6, 100, { replicas: 6, share: 0, fleet: 15 }),
                canary: track(2, 0, { replicas: 15, share: 100, fleet: 15 }),
            },
            { shrinkGiving: false },
        );
        assert.strictEqual(plan.stable.floor, 15);
        assert.strictEqual(plan.canary.floor, 2);
    });

    it("an up that moves no traffic keeps the floors its last decision set, whatever the autoscalers did since", () => {
        // At 100 after a raise to 15; the canary's autoscaler has since grown it to 20 and stable idled at 6.
        const plan = planCapacity(
            {
                stable: track(6, 0, { replicas: 6, share: 0, fleet: 15 }),
                canary: track(2, 100, { replicas: 20, share: 100, fleet: 15 }),
            },
            { shrinkGiving: false },
        );
        assert.deepStrictEqual(
            [plan.stable.floor, plan.canary.floor],
            [6, 15],
            "no ratchet to 20: the autoscaler keeps owning the count above the floor",
        );
        assert.deepStrictEqual([plan.stable.shrinkTo, plan.canary.shrinkTo], [undefined, undefined]);
    });

    it("without a recorded decision (the first up, a preview of new Deployments, the offline preview) the configured minimums hold", () => {
        const plan = planCapacity({ stable: track(6, 95, {}), canary: track(2, 5, {}) }, { shrinkGiving: false });
        assert.deepStrictEqual([plan.stable.floor, plan.canary.floor], [6, 2]);
    });

    it("a blue/green switch gives the incoming color what the outgoing color runs now", () => {
        const plan = planCapacity(
            {
                active: track(2, 100, { replicas: 2, share: 0, fleet: 0 }, 6),
                preview: track(2, 0, { replicas: 5, share: 100, fleet: 0 }, 6),
            },
            { shrinkGiving: false },
        );
        assert.deepStrictEqual(plan.active, { floor: 5, fleet: 5, wake: false, shrinkTo: undefined });
        assert.strictEqual(plan.preview.floor, 2);
    });

    it("a switch to a preview color at 0 wakes it (an autoscaler never scales from 0), and a preview color going to 0 is scaled down", () => {
        const plan = planCapacity(
            {
                active: track(2, 100, { replicas: 0, share: 0, fleet: 0 }, 6),
                preview: track(0, 0, { replicas: 3, share: 100, fleet: 0 }, 6),
            },
            { shrinkGiving: false },
        );
        assert.deepStrictEqual(plan.active, { floor: 3, fleet: 3, wake: true, shrinkTo: undefined });
        assert.deepStrictEqual(plan.preview, { floor: 0, fleet: 0, wake: false, shrinkTo: 0 });
    });

    it("pod-ratio router 50 → 0: stable is raised to the whole fleet first; the canary's pods go only by its settle step", () => {
        const plan = planCapacity(
            {
                stable: track(8, 100, { replicas: 4, share: 50, fleet: 8 }),
                canary: track(0, 0, { replicas: 4, share: 50, fleet: 8 }),
            },
            { shrinkGiving: true },
        );
        assert.deepStrictEqual(plan.stable, { floor: 8, fleet: 8, wake: false, shrinkTo: undefined });
        assert.deepStrictEqual(plan.canary, { floor: 0, fleet: 0, wake: false, shrinkTo: 0 });
    });

    it("pod-ratio router 25 → 50 on an autoscaled fleet of 12: the canary gets 6, stable is taken down to its 6 once the canary is ready", () => {
        const plan = planCapacity(
            {
                stable: track(4, 50, { replicas: 9, share: 75, fleet: 8 }),
                canary: track(4, 50, { replicas: 3, share: 25, fleet: 8 }),
            },
            { shrinkGiving: true },
        );
        assert.deepStrictEqual(plan.canary, { floor: 6, fleet: 12, wake: false, shrinkTo: undefined });
        assert.deepStrictEqual(plan.stable, { floor: 6, fleet: 12, wake: false, shrinkTo: 6 });
    });

    it("a floor never exceeds the track's autoscaler maximum", () => {
        const plan = planCapacity(
            {
                stable: track(6, 0, { replicas: 30, share: 95, fleet: 0 }, 40),
                canary: track(2, 100, { replicas: 2, share: 5, fleet: 0 }, 24),
            },
            { shrinkGiving: false },
        );
        assert.strictEqual(plan.canary.floor, 24);
    });
});

describe("what the provider waits for", () => {
    it("a traffic step waits for the rollout, every replica available, and at least the floor's ready pods", () => {
        assert.deepStrictEqual(JSON.parse(readyConditions(15)), [
            'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}=NewReplicaSetAvailable',
            'jsonpath={.status.conditions[?(@.type=="Available")].status}=True',
            "jsonpath={$[?@.updatedReplicas && @.updatedReplicas==@.replicas]}",
            "jsonpath={$[?@.readyReplicas>14]}",
        ]);
        assert.deepStrictEqual(JSON.parse(readyConditions(0)), ["jsonpath={.spec.replicas}=0"]);
    });

    it("an HTTPRoute waits for its own Gateway's conditions at the route's current generation, with no conjunction of three (the provider's parser refuses it)", () => {
        const expr = routeCondition({ name: "public", namespace: "gateways" }, "Accepted");
        assert.strictEqual(
            expr,
            'jsonpath={.status.parents[?@.parentRef.name=="public" && @.parentRef.namespace=="gateways"].conditions[?@.type=="Accepted" && @.observedGeneration==$.metadata.generation].status}=True',
        );
        for (const filter of expr.match(/\[\?[^\]]*\]/g) ?? [])
            assert.ok((filter.match(/&&/g) ?? []).length <= 1, filter);
    });
});
