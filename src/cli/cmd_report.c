/* `thinkrl report`: writes a run directory's report.html (inline SVG charts
 * of metrics.jsonl, final values, pattern shifts, prompt difficulty, samples,
 * config) and prints its path; with several run directories, one page that
 * compares them. All the work is report_write's / report_compare_target's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/report.h"

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl report RUN_DIR [--out FILE]\n"
            "       thinkrl report RUN_DIR RUN_DIR... --out FILE [--labels A,B,...] [--target X]\n"
            "  RUN_DIR       run directory with metrics.jsonl (required); config.yaml and\n"
            "                samples.jsonl are shown when present\n"
            "  --out FILE    where to write the HTML (one run: default RUN_DIR/report.html;\n"
            "                several runs: required)\n"
            "  --labels L    comparison only: comma-separated names, one per run (default:\n"
            "                each directory's last component; duplicates get (1), (2))\n"
            "  --target X    comparison only: the eval/acc level whose first step is\n"
            "                reported (default %g)\n"
            "  --help        this text\n"
            "The report is one self-contained HTML file (inline SVG, no scripts, no\n"
            "network). Bad metrics lines are skipped with a warning on stderr. With\n"
            "several runs the page overlays their curves (eval/acc, acc, reward/mean,\n"
            "taco/consistency_rate, kl, entropy, len/mean, grad_norm, rrs/*, ads/parked,\n"
            "pattern shares), tabulates headline numbers and lists the config.yaml keys\n"
            "that differ.\n",
            REPORT_TARGET_DEFAULT);
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *labels_arg = NULL, *target_arg = NULL;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    const char **labels = NULL;
    char *lab_copy = NULL;
    int nd = 0, rc = 1;
    if (!dirs) return cli_fail("report", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            report_usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--labels") || !strcmp(a, "--target")) {
            if (i + 1 >= argc) {
                rc = cli_fail("report", "%s needs a value", a);
                goto done;
            }
            const char **dst = a[2] == 'o' ? &out : a[2] == 'l' ? &labels_arg : &target_arg;
            *dst = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            report_usage(stderr);
            rc = cli_fail("report", "unknown flag '%s'", a);
            goto done;
        } else {
            dirs[nd++] = a;
        }
    }
    if (!nd) {
        report_usage(stderr);
        rc = cli_fail("report", "no run directory given");
        goto done;
    }
    if (nd == 1) {
        if (labels_arg || target_arg) {
            rc = cli_fail("report", "--labels and --target are for comparing several run directories");
            goto done;
        }
        if (report_write(dirs[0], out) != TR_OK) {
            rc = cli_fail("report", "%s", tr_errmsg());
            goto done;
        }
        if (out) printf("%s\n", out);
        else printf("%s%sreport.html\n", dirs[0], dirs[0][strlen(dirs[0]) - 1] == '/' ? "" : "/");
        rc = 0;
        goto done;
    }
    if (!out) {
        rc = cli_fail("report", "comparing %d run directories needs --out FILE (the page is not written into "
                                "any one of them)", nd);
        goto done;
    }
    double target = REPORT_TARGET_DEFAULT;
    if (target_arg && cli_float(target_arg, &target)) {
        rc = cli_fail("report", "--target: expected a number, got '%s'", target_arg);
        goto done;
    }
    if (labels_arg) {
        if (!(lab_copy = strdup(labels_arg)) || !(labels = calloc((size_t)nd, sizeof *labels))) {
            rc = cli_fail("report", "out of memory");
            goto done;
        }
        int nl = 0;
        for (char *p = lab_copy;; nl++) { /* split on ',' keeping empty fields */
            char *c = strchr(p, ',');
            if (nl < nd) labels[nl] = p;
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
        if (++nl != nd) {
            rc = cli_fail("report", "--labels has %d name%s for %d run directories", nl, nl == 1 ? "" : "s", nd);
            goto done;
        }
    }
    if (report_compare_target(dirs, labels, nd, target, out) != TR_OK) {
        rc = cli_fail("report", "%s", tr_errmsg());
        goto done;
    }
    printf("%s\n", out);
    rc = 0;
done:
    free(dirs);
    free(labels);
    free(lab_copy);
    return rc;
}
