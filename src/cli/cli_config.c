/* The commands that run from a YAML config into a run directory (sft, rl):
 * --config FILE, --out RUN_DIR, --resume RUN_DIR, key=value overrides,
 * --print-config, one shared parser. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "thinkrl/core.h"

int cli_config_command(const char *name, int argc, char **argv, const ConfSchema *schema, void *cfg,
                       void (*usage)(FILE *), CliRunFn run) {
    const char *config = NULL, *out = NULL, *resume = NULL;
    int print = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
    }
    if (conf_defaults(schema, cfg)) return cli_fail(name, "%s", tr_errmsg());
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--config") && more) config = argv[++i];
        else if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--resume") && more) resume = argv[++i];
        else if (!strcmp(a, "--print-config")) print = 1;
        else if (a[0] == '-' || !strchr(a, '=')) {
            cli_fail(name, "unknown or incomplete flag '%s' (see thinkrl %s --help)", a, name);
            goto done;
        }
    }
    if (resume && (config || out)) {
        cli_fail(name, "--resume takes the run's own config.yaml; leave out --config and --out");
        goto done;
    }
    char path[4200];
    if (resume) {
        snprintf(path, sizeof path, "%s/config.yaml", resume);
        if (access(path, R_OK) != 0) {
            cli_fail(name, "--resume %s: not a run directory (no config.yaml)", resume);
            goto done;
        }
        config = path;
        out = resume;
    }
    if (config && conf_load_yaml(schema, cfg, config)) {
        cli_fail(name, "%s", tr_errmsg());
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config") || !strcmp(a, "--out") || !strcmp(a, "--resume")) {
            i++;
            continue;
        }
        if (a[0] != '-' && conf_override(schema, cfg, a)) {
            cli_fail(name, "%s", tr_errmsg());
            goto done;
        }
    }
    if (print) {
        conf_write_yaml(schema, cfg, stdout);
        rc = 0;
        goto done;
    }
    if (!out) {
        cli_fail(name, "--out RUN_DIR is required");
        goto done;
    }
    if (run(cfg, out, resume != NULL, stderr)) {
        cli_fail(name, "%s", tr_errmsg());
        goto done;
    }
    rc = 0;
done:
    conf_free(schema, cfg);
    return rc;
}
