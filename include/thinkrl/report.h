/* Run report: reads a run directory (metrics.jsonl, config.yaml,
 * samples.jsonl, fdpg_fit.json) and writes one self-contained HTML page with
 * inline SVG line charts; or compares several runs on one page (overlaid
 * curves, a summary table, the config keys that differ). No JavaScript, no network references;
 * the page is the whole report. */
#ifndef THINKRL_REPORT_H
#define THINKRL_REPORT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the report of run_dir to out_path (NULL: RUN_DIR/report.html),
 * atomically (temp file, fsync, rename). Returns TR_OK or a negative status
 * with the message in tr_errmsg().
 *
 * metrics.jsonl: one JSON object per line. Every numeric value is a point
 * (key, step); nested objects are flattened with '/' ("a":{"b":1} -> "a/b").
 * null, booleans, strings (including "NaN", "inf") and non-finite numbers are
 * skipped points, and bare NaN / Infinity / -Infinity tokens (Python's
 * json.dumps) are read as null instead of spoiling their line. A line without
 * a numeric "step" takes the previous line's step + 1. A repeated step keeps
 * the later line's value (a resumed run that appended). Arrays are never
 * curves: they are skipped, except "ads/hist" (top level or "ads":{"hist"}).
 *
 * A line with a string "event" ({"step":7,"event":"rollback",...}) is an
 * event, not a step: it is not counted among the steps, its numbers make no
 * curves, and it does not move the implicit step of the next line; without
 * a "step" it belongs to the previous line's step. A repeated (step, event)
 * keeps the later line.
 *
 * "ads/hist": [c0, ..., c9] is the adaptive prompt sampler's histogram, c_k
 * prompts with a success-rate estimate p in [k/10, (k+1)/10) (the last bin
 * includes 1). Any length 1..64 of finite non-negative numbers is accepted
 * (bins of width 1/len); other arrays under that key are ignored. When a line
 * has one, the report gets a "Prompt difficulty (ADS)" section: a grouped bar
 * chart (<svg data-metric="ads/hist">) of the first and the last histograms
 * and up to 3 evenly spaced between, one <g class="hist-step" data-step=N
 * data-counts="c0,c1,..."> of <rect class="bar" data-bin data-count> each.
 *
 * f-DPG: when a key starts with "fdpg/", the report gets a section
 * <section id="fdpg"> ("f-DPG"): a final-values table (fdpg/kl_p_pi,
 * kl_p_q, tv_p_pi, kl_pi_a, b_rate, every fdpg/moment/NAME, reward,
 * distinct_2); the lambda fit from RUN/fdpg_fit.json when there is one
 * ({"samples","iters","converged","ess","features":[{"name","requested",
 * "base","achieved","lambda"}]}; <table class="fdpg-fit">, a row
 * <tr data-feature=NAME> of <td data-col=C data-value=V> per feature; an
 * unreadable file is noted, not fatal); the "fdpg_q_update" events
 * ({"step","event":"fdpg_q_update","kl_p_pi","kl_p_q"}: offline mode, the
 * proposal replaced by the policy) in <table class="fdpg-q-updates">, a row
 * <tr data-event-step=K> each; then charts (each when its keys exist):
 * "fdpg/kl_p_pi" (kl_p_pi and kl_p_q, the proposal updates as
 * <line class="event" data-event="fdpg_q_update" data-step=K>),
 * "fdpg/tv_p_pi", "fdpg/kl_pi_a", "fdpg/b_rate", one "fdpg/moment/NAME" per
 * moment (the fit's requested value as <line class="target" data-target=NAME
 * data-value=V>, dashed), "fdpg/reward", "fdpg/distinct" (distinct_1..3),
 * and small ones for fdpg/log_z, pseudo_reward, baseline, ess, q_updates.
 * Other fdpg/ keys go to "Other metrics". No fdpg/ key: no section, even
 * with an fdpg_fit.json.
 *
 * Bad lines are skipped, not fatal: a line that is not a JSON object is
 * reported on stderr as "FILE:LINE: ... skipped" and listed in the report's
 * header; an unparsable last line without a newline (a crash mid-write) is
 * skipped the same way. A file without any valid line is an error
 * (TR_EFORMAT), as is a missing metrics.jsonl (TR_EIO). config.yaml and
 * samples.jsonl are optional. */
int report_write(const char *run_dir, const char *out_path);

/* The eval/acc level whose first crossing the comparison reports. */
#define REPORT_TARGET_DEFAULT 0.8

/* Writes one HTML page comparing the n runs (1..64) in run_dirs to out_path
 * (required), atomically. Each run's metrics.jsonl is read as report_write
 * reads it (bad lines skipped and counted); a run without one, or without a
 * valid line, is an error naming the run (nothing is written).
 *
 * labels (NULL, or n entries of which NULL / "" fall back) name the runs;
 * the fallback is the directory's last path component, its last two when
 * that collides with another run's. Labels still equal get " (1)", " (2)".
 * Run i keeps colour / dash i in every chart and table.
 *
 * The page: the runs (label, directory, steps); a summary table, one row
 * <tr data-run=LABEL> per run, cells <td data-col=C data-value=V> ("-" and
 * no data-value when missing): eval_final and eval_best (eval/acc last and
 * max), train_acc (mean of the last 10 points of acc), taco (last
 * taco/consistency_rate), rollbacks (last rrs/rollbacks, a cumulative count),
 * parked (last ads/parked), target_step (the first step with eval/acc >=
 * target); the config.yaml keys (nested mappings flattened to dotted keys, a
 * list of scalars one value) whose values differ between the runs with a
 * readable config.yaml (numbers compare by value, a missing key differs);
 * then one overlaid chart per metric (<svg data-metric=KEY>, a path per run
 * with data-series=LABEL) for eval/acc, acc, reward/mean,
 * taco/consistency_rate, kl, entropy, len/mean, grad_norm, rrs/rollbacks,
 * rrs/deferred, ads/parked and every pattern/NAME/freq, each when a run has
 * it.
 *
 * When a run has fdpg/ keys the page also gets <section id="fdpg-summary">:
 * <table class="summary fdpg">, one <tr data-run=LABEL> per run, cells
 * <td data-col=C data-value=V> holding the mean of the last 10 points of
 * fdpg/C for C in kl_p_pi, tv_p_pi, kl_pi_a, b_rate, reward, distinct_2 and
 * every moment/NAME, each column when some run has it ("best": the lowest
 * KL and TV, the highest b_rate, reward and distinct_2, the moment closest
 * to the value the runs' fdpg_fit.json agree on; kl_pi_a is not ranked);
 * and <section id="fdpg-curves"> with overlaid charts of fdpg/kl_p_pi (each
 * run's proposal updates dotted in its colour), fdpg/tv_p_pi,
 * fdpg/kl_pi_a, fdpg/b_rate, every fdpg/moment/NAME (the requested value
 * dashed: one grey line when the fits agree, else one per run in its
 * colour), fdpg/reward and fdpg/distinct_2. report_compare uses target
 * REPORT_TARGET_DEFAULT. */
int report_compare(const char *const *run_dirs, const char *const *labels, int n, const char *out_path);
int report_compare_target(const char *const *run_dirs, const char *const *labels, int n, double target,
                          const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
