/* `thinkrl rl`: RL post-training from a YAML config with key=value
 * overrides, into a run directory; --resume continues a run exactly. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/rl_train.h"

static void rl_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl rl [--config FILE] --out RUN_DIR [key=value ...]\n"
            "       thinkrl rl --resume RUN_DIR [key=value ...]\n"
            "  --config FILE    YAML configuration (presets in configs/rl_*.yaml)\n"
            "  --out RUN_DIR    run directory: config.yaml, metrics.jsonl, samples.jsonl, ckpt/,\n"
            "                   model/ (then `thinkrl report RUN_DIR`)\n"
            "  --resume RUN_DIR continue from the run's latest checkpoint with its config.yaml;\n"
            "                   the result equals a run that never stopped\n"
            "  key=value        override one key, applied after the file (algo.adv=rloo)\n"
            "  --print-config   print the effective configuration and exit\n"
            "  --help           this text and the keys below\n"
            "keys:\n");
    conf_print_help(&RL_SCHEMA, f);
}

static int rl_run_cb(const void *cfg, const char *run_dir, int resume, FILE *log) {
    return rl_train(cfg, run_dir, resume, log);
}

int cmd_rl(int argc, char **argv) {
    RlConfig c;
    memset(&c, 0, sizeof c);
    return cli_config_command("rl", argc, argv, &RL_SCHEMA, &c, rl_usage, rl_run_cb);
}
