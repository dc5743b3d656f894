import * as assert from "assert";
import { execFileSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { AllTiedError, mannWhitneyUTest } from "../../../lib/judge/mannWhitney";
import { sample, SAMPLE_SHAPES, seeded } from "../../support/random";

// R's wilcox.test as an independent oracle: for each sample, the interval and estimate R computes at the judge's
// confidence, or R's refusal. scripts/test-prereqs.sh installs R (Debian's r-base-core).
const R_PROGRAM = `
args <- commandArgs(trailingOnly = TRUE)
for (line in readLines(args[1])) {
  sides <- strsplit(line, "|", fixed = TRUE)[[1]]
  x <- as.numeric(strsplit(sides[1], " ")[[1]])
  y <- as.numeric(strsplit(sides[2], " ")[[1]])
  cat(tryCatch({
    r <- wilcox.test(x, y, conf.int = TRUE, conf.level = as.numeric(args[2]), exact = FALSE, correct = TRUE)
    sprintf("%.17g %.17g %.17g", r$conf.int[1], r$conf.int[2], r$estimate)
  }, warning = function(w) paste("refused:", conditionMessage(w)), error = function(e) paste("refused:", conditionMessage(e))), "\\n", sep = "")
}`;

const CONFIDENCE = 0.98;
const SAMPLES = 1000;

/** Samples of every shape and size from 1 to 80 a side, a fifth of them tiny (at most 5 a side); never both sides constant. */
function samples(): [number[], number[]][] {
    const r = seeded(98);
    const out: [number[], number[]][] = [];
    while (out.length < SAMPLES) {
        const i = out.length;
        const shape = SAMPLE_SHAPES[i % SAMPLE_SHAPES.length];
        const size = () => (i % 5 === 0 ? r.int(1, 5) : r.int(6, 80));
        const x = sample(r, shape, size(), (r.uniform() - 0.5) * 3);
        const y = sample(r, shape, size(), 0);
        if (new Set(x).size > 1 || new Set(y).size > 1) out.push([x, y]);
    }
    return out;
}

describe("the judge's Mann-Whitney test against R's wilcox.test", function () {
    this.timeout(120_000);

    it(`agrees with R on ${SAMPLES} seeded samples with ties, zeros and tiny sizes, at ${CONFIDENCE}`, () => {
        const drawn = samples();
        const dir = mkdtempSync(path.join(tmpdir(), "judge-oracle-"));
        writeFileSync(
            path.join(dir, "samples.txt"),
            drawn.map(([x, y]) => `${x.join(" ")}|${y.join(" ")}`).join("\n") + "\n",
        );
        writeFileSync(path.join(dir, "oracle.R"), R_PROGRAM);
        let answers: string[];
        try {
            answers = execFileSync(
                "Rscript",
                [path.join(dir, "oracle.R"), path.join(dir, "samples.txt"), String(CONFIDENCE)],
                { encoding: "utf8" },
            )
                .trim()
                .split("\n");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
        assert.strictEqual(answers.length, drawn.length);

        const worst = { lower: 0, upper: 0, estimate: 0 };
        let compared = 0;
        let refusedByBoth = 0;
        drawn.forEach(([x, y], i) => {
            const answer = answers[i];
            let ours: ReturnType<typeof mannWhitneyUTest> | AllTiedError;
            try {
                ours = mannWhitneyUTest(x, y, CONFIDENCE);
            } catch (err) {
                if (!(err instanceof AllTiedError)) throw err;
                ours = err;
            }
            if (answer.startsWith("refused:") || ours instanceof AllTiedError) {
                assert.ok(
                    answer.includes("all observations are tied") && ours instanceof AllTiedError,
                    `sample ${i}: R ${answer}; ours ${JSON.stringify(ours)}`,
                );
                refusedByBoth++;
                return;
            }
            const [lower, upper, estimate] = answer.split(" ").map(Number);
            worst.lower = Math.max(worst.lower, Math.abs(ours.lower - lower));
            worst.upper = Math.max(worst.upper, Math.abs(ours.upper - upper));
            worst.estimate = Math.max(worst.estimate, Math.abs(ours.estimate - estimate));
            compared++;
        });
        console.log(
            `      R oracle: ${drawn.length} samples, ${compared} compared, ${refusedByBoth} refused by both (all tied); worst |difference| lower ${worst.lower}, upper ${worst.upper}, estimate ${worst.estimate}`,
        );
        assert.ok(compared >= 950, `only ${compared} samples compared`);
        for (const [what, d] of Object.entries(worst)) assert.ok(d <= 1e-9, `${what} differs from R by ${d}`);
    });
});
