/* thinkrl command-line entry: dispatches `thinkrl <command> [flags]` to one
 * cmd_*.c file per command, then checks that what the command printed
 * reached standard output; the flag parsers the commands share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} Command;

static const Command COMMANDS[] = {
    {"init", cmd_init, "create a randomly initialised model from a preset"},
    {"info", cmd_info, "print a model's architecture, parameter count and memory"},
    {"score", cmd_score, "log-probs of a token sequence under a model"},
    {"tokenize", cmd_tokenize, "text -> token ids with a tokenizer.json"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"generate", cmd_generate, "sample continuations of prompts (KV cache, batched)"},
    {"data", cmd_data, "generate task records (JSONL), check a dataset, list tasks"},
    {"sft", cmd_sft, "supervised fine-tuning / pretraining into a run directory"},
    {"rl", cmd_rl, "RL post-training (GRPO, Dr. GRPO, DAPO, RLOO, REINFORCE++, ReMax, PPO) into a run directory"},
    {"eval", cmd_eval, "accuracy, pass@k, maj@k and reasoning patterns on a dataset"},
    {"report", cmd_report, "a run's metrics as one self-contained HTML report, or several runs compared"},
};

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "thinkrl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_int(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

int cli_seed(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && !*end) {
        *out = v;
        return 0;
    }
    if (*s == '+' || (*s >= '0' && *s <= '9')) { /* strtoull would wrap a '-' */
        errno = 0;
        unsigned long long u = strtoull(s, &end, 10);
        if (!errno && end != s && !*end) {
            uint64_t b = u;
            memcpy(out, &b, sizeof b); /* 2^63..2^64-1: the same 64 bits as -2^63..-1 */
            return 0;
        }
    }
    return -1;
}

int cli_float(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

void cli_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') fputs("\\\"", f);
        else if (c == '\\') fputs("\\\\", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void usage(FILE *f) {
    fprintf(f, "usage: thinkrl <command> [flags]   (thinkrl <command> --help for its flags)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) {
            int rc = COMMANDS[i].fn(argc - 1, argv + 1);
            /* whatever the command printed must have reached standard
             * output: a full disk or a closed pipe is a failure */
            errno = 0;
            int e = fflush(stdout) != 0 ? errno : 0;
            if (!rc && (e || ferror(stdout)))
                rc = cli_fail(argv[1], "write error on standard output: %s", e ? strerror(e) : "a write failed");
            return rc;
        }
    fprintf(stderr, "thinkrl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
