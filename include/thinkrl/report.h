/* Run report: reads a run directory (metrics.jsonl, config.yaml,
 * samples.jsonl) and writes one self-contained HTML page with inline SVG line
 * charts. No JavaScript, no network references; the page is the whole report. */
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
 * the later line's value (a resumed run that appended).
 *
 * Bad lines are skipped, not fatal: a line that is not a JSON object is
 * reported on stderr as "FILE:LINE: ... skipped" and listed in the report's
 * header; an unparsable last line without a newline (a crash mid-write) is
 * skipped the same way. A file without any valid line is an error
 * (TR_EFORMAT), as is a missing metrics.jsonl (TR_EIO). config.yaml and
 * samples.jsonl are optional. */
int report_write(const char *run_dir, const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
