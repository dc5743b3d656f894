// Where the deployment window stands when the program runs. Datadog refuses a downtime whose end has passed
// ("Downtime cannot be scheduled in the past") and a one-time start in the past, so what may be declared depends on
// the time of the run: the caller passes that time in, and nothing here reads the clock.

/** ahead: not yet started; open: started, not yet ended; ended: its end has passed. */
export type WindowPhase = "ahead" | "open" | "ended";

/** The phase of a window (start and end as config resolves them, UTC) at `now`. */
export function windowPhase(w: { start: string; end: string }, now: Date): WindowPhase {
    if (now.getTime() >= Date.parse(w.end)) return "ended";
    return now.getTime() >= Date.parse(w.start) ? "open" : "ahead";
}

/**
 * The one-time schedule a downtime for the window may carry at `now`: the window itself ahead of it; from creation to
 * its end once it has opened (no start, which Datadog reads as "now"); nothing once it has ended.
 */
export function downtimeSchedule(
    w: { start: string; end: string },
    now: Date,
): { start?: string; end: string } | undefined {
    const phase = windowPhase(w, now);
    if (phase === "ended") return undefined;
    return phase === "ahead" ? { start: w.start, end: w.end } : { end: w.end };
}

/** What the preview and the plan say of a window that has ended. */
export function endedWindowNotice(w: { start: string; end: string }): string {
    return `monitoring.deploymentWindow ended at ${w.end}: no deployment-window downtime is declared (Datadog refuses one in the past). Set the next release's window to mute its rollout noise.`;
}
