/* `thinkrl report`: writes a run directory's report.html (inline SVG charts
 * of metrics.jsonl, final values, pattern shifts, samples, config) and prints
 * its path. All the work is report_write's. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/report.h"

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl report RUN_DIR [--out FILE]\n"
            "  RUN_DIR      run directory with metrics.jsonl (required); config.yaml and\n"
            "               samples.jsonl are shown when present\n"
            "  --out FILE   where to write the HTML (default RUN_DIR/report.html)\n"
            "  --help       this text\n"
            "The report is one self-contained HTML file (inline SVG, no scripts, no\n"
            "network). Bad metrics lines are skipped with a warning on stderr.\n");
}

int cmd_report(int argc, char **argv) {
    const char *run_dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            report_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out")) {
            if (i + 1 >= argc) return cli_fail("report", "--out needs a file name");
            out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            report_usage(stderr);
            return cli_fail("report", "unknown flag '%s'", a);
        } else if (!run_dir) {
            run_dir = a;
        } else {
            return cli_fail("report", "more than one run directory ('%s', '%s')", run_dir, a);
        }
    }
    if (!run_dir) {
        report_usage(stderr);
        return cli_fail("report", "no run directory given");
    }
    if (report_write(run_dir, out) != TR_OK) return cli_fail("report", "%s", tr_errmsg());
    if (out) printf("%s\n", out);
    else printf("%s%sreport.html\n", run_dir, run_dir[strlen(run_dir) - 1] == '/' ? "" : "/");
    return 0;
}
