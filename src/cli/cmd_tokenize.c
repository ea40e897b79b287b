/* `thinkrl tokenize` (text -> ids) and `thinkrl detokenize` (ids -> text)
 * over a tokenizer.json: thin wrappers of tok_encode / tok_decode. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/tokenizer.h"

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl tokenize --tokenizer PATH (--text STR | --input FILE) [flags]\n"
            "  --tokenizer PATH  tokenizer.json, or a directory with tokenizer.json [and\n"
            "                    tokenizer_config.json] (required)\n"
            "  --text STR        the text to encode (default: none)\n"
            "  --input FILE      one JSON string per line, '-' for stdin; prints one line\n"
            "                    {\"ids\":[...]} per input line (default: none)\n"
            "  --json            print {\"ids\":[...]} instead of ids separated by spaces\n"
            "                    (default: off; always on with --input)\n"
            "  --no-special      skip the post-processor, e.g. Llama 3's <|begin_of_text|>\n"
            "                    (default: off: special tokens added as transformers' encode does)\n"
            "  --split-special   read special tokens in the text as plain text (default: off)\n"
            "  --help            this text\n"
            "Invalid UTF-8 in the text is read with each bad sequence as U+FFFD.\n");
}

static void detokenize_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl detokenize --tokenizer PATH (--ids LIST | --input FILE) [flags]\n"
            "  --tokenizer PATH  tokenizer.json, or a directory with tokenizer.json [and\n"
            "                    tokenizer_config.json] (required)\n"
            "  --ids LIST        ids separated by commas or spaces, or a JSON array (default: none)\n"
            "  --input FILE      one JSON array of ids (or {\"ids\":[...]}) per line, '-' for\n"
            "                    stdin; prints one JSON string per line (default: none)\n"
            "  --skip-special    drop special tokens (default: off)\n"
            "  --no-cleanup      never apply clean_up_tokenization_spaces (default: off: as\n"
            "                    tokenizer_config.json says)\n"
            "  --json            print the text as a JSON string (default: off: the raw text\n"
            "                    and a newline; always on with --input)\n"
            "  --help            this text\n"
            "An id outside the vocabulary is an error.\n");
}

static int print_ids(FILE *f, const TokIds *ids, int json) {
    if (json) fputs("{\"ids\":[", f);
    for (size_t i = 0; i < ids->n; i++) fprintf(f, i ? (json ? ",%d" : " %d") : "%d", (int)ids->ids[i]);
    if (json) fputs("]}", f);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

static FILE *open_input(const char *path) { return strcmp(path, "-") ? fopen(path, "rb") : stdin; }

int cmd_tokenize(int argc, char **argv) {
    const char *tokpath = NULL, *text = NULL, *input = NULL;
    int json = 0, flags = TOK_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tokenize_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-special")) flags &= ~TOK_ADD_SPECIAL;
        else if (!strcmp(a, "--split-special")) flags |= TOK_SPLIT_SPECIAL;
        else if (i + 1 < argc && !strcmp(a, "--tokenizer")) tokpath = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--text")) text = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--input")) input = argv[++i];
        else {
            tokenize_usage(stderr);
            return cli_fail("tokenize", "unknown flag or missing value: %s", a);
        }
    }
    if (!tokpath) return cli_fail("tokenize", "--tokenizer is required (see --help)");
    if (!text == !input) return cli_fail("tokenize", "give exactly one of --text and --input (see --help)");
    Tokenizer tok;
    if (tok_load(&tok, tokpath)) return cli_fail("tokenize", "%s", tr_errmsg());
    TokIds ids = {0};
    int rc = 0;
    if (text) {
        if (tok_encode(&tok, text, strlen(text), flags, &ids)) rc = cli_fail("tokenize", "%s", tr_errmsg());
        else if (print_ids(stdout, &ids, json)) rc = cli_fail("tokenize", "write error: %s", strerror(errno));
    } else {
        FILE *in = open_input(input);
        if (!in) {
            rc = cli_fail("tokenize", "%s: %s", input, strerror(errno));
        } else {
            char *line = NULL;
            size_t cap = 0;
            ssize_t len;
            long lineno = 0;
            while (!rc && (len = getline(&line, &cap, in)) >= 0) {
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
                cJSON *j = tr_json_parse_line(line, (size_t)len);
                if (!j) {
                    rc = cli_fail("tokenize", "%s:%ld: %s", input, lineno, tr_errmsg());
                } else if (!cJSON_IsString(j)) {
                    rc = cli_fail("tokenize", "%s:%ld: not a JSON string", input, lineno);
                } else {
                    ids.n = 0;
                    if (tok_encode(&tok, j->valuestring, strlen(j->valuestring), flags, &ids))
                        rc = cli_fail("tokenize", "%s:%ld: %s", input, lineno, tr_errmsg());
                    else if (print_ids(stdout, &ids, 1))
                        rc = cli_fail("tokenize", "write error: %s", strerror(errno));
                }
                cJSON_Delete(j);
            }
            free(line);
            if (in != stdin) fclose(in);
        }
    }
    if (!rc && fflush(stdout)) rc = cli_fail("tokenize", "write error: %s", strerror(errno));
    tok_ids_free(&ids);
    tok_free(&tok);
    return rc;
}

/* ids from "1,2 3" or "[1, 2, 3]" or {"ids": [...]}; returns 0 or an error message */
static const char *parse_ids(const char *s, TokIds *ids) {
    ids->n = 0;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '[' || *s == '{') {
        cJSON *j = tr_json_parse_line(s, strlen(s));
        const cJSON *a = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "ids") : j;
        if (!cJSON_IsArray(a)) {
            cJSON_Delete(j);
            return "not a JSON array of ids (or {\"ids\": [...]})";
        }
        for (const cJSON *x = a->child; x; x = x->next) {
            if (!cJSON_IsNumber(x) || x->valuedouble != (double)(int32_t)x->valuedouble) {
                cJSON_Delete(j);
                return "ids must be integers";
            }
            if (ids->n == ids->cap) {
                size_t nc = ids->cap ? ids->cap * 2 : 256;
                int32_t *ni = realloc(ids->ids, nc * sizeof *ni);
                if (!ni) {
                    cJSON_Delete(j);
                    return "out of memory";
                }
                ids->ids = ni;
                ids->cap = nc;
            }
            ids->ids[ids->n++] = (int32_t)x->valuedouble;
        }
        cJSON_Delete(j);
        return NULL;
    }
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < -2147483647L - 1 || v > 2147483647L) return "ids must be integers";
        if (ids->n == ids->cap) {
            size_t nc = ids->cap ? ids->cap * 2 : 256;
            int32_t *ni = realloc(ids->ids, nc * sizeof *ni);
            if (!ni) return "out of memory";
            ids->ids = ni;
            ids->cap = nc;
        }
        ids->ids[ids->n++] = (int32_t)v;
        s = end;
    }
    return NULL;
}


static int print_text(FILE *f, const char *s, size_t n, int json) {
    if (json) cli_json_string(f, s, n);
    else fwrite(s, 1, n, f);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

int cmd_detokenize(int argc, char **argv) {
    const char *tokpath = NULL, *idstr = NULL, *input = NULL;
    int json = 0, flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            detokenize_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--skip-special")) flags |= TOK_SKIP_SPECIAL;
        else if (!strcmp(a, "--no-cleanup")) flags |= TOK_NO_CLEANUP;
        else if (i + 1 < argc && !strcmp(a, "--tokenizer")) tokpath = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--ids")) idstr = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--input")) input = argv[++i];
        else {
            detokenize_usage(stderr);
            return cli_fail("detokenize", "unknown flag or missing value: %s", a);
        }
    }
    if (!tokpath) return cli_fail("detokenize", "--tokenizer is required (see --help)");
    if (!idstr == !input) return cli_fail("detokenize", "give exactly one of --ids and --input (see --help)");
    Tokenizer tok;
    if (tok_load(&tok, tokpath)) return cli_fail("detokenize", "%s", tr_errmsg());
    TokIds ids = {0};
    int rc = 0;
    char *text = NULL;
    size_t tlen = 0;
    if (idstr) {
        const char *err = parse_ids(idstr, &ids);
        if (err) rc = cli_fail("detokenize", "--ids: %s", err);
        else if (tok_decode(&tok, ids.ids, ids.n, flags, &text, &tlen)) rc = cli_fail("detokenize", "%s", tr_errmsg());
        else if (print_text(stdout, text, tlen, json)) rc = cli_fail("detokenize", "write error: %s", strerror(errno));
        free(text);
    } else {
        FILE *in = open_input(input);
        if (!in) rc = cli_fail("detokenize", "%s: %s", input, strerror(errno));
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long lineno = 0;
        while (in && !rc && (len = getline(&line, &cap, in)) >= 0) {
            lineno++;
            const char *p = line;
            while (*p == ' ' || *p == '\t') p++;
            const char *err = *p == '[' || *p == '{' ? parse_ids(line, &ids) : "not a JSON array of ids";
            if (err) rc = cli_fail("detokenize", "%s:%ld: %s", input, lineno, err);
            else if (tok_decode(&tok, ids.ids, ids.n, flags, &text, &tlen))
                rc = cli_fail("detokenize", "%s:%ld: %s", input, lineno, tr_errmsg());
            else if (print_text(stdout, text, tlen, 1))
                rc = cli_fail("detokenize", "write error: %s", strerror(errno));
            free(text);
            text = NULL;
        }
        free(line);
        if (in && in != stdin) fclose(in);
    }
    if (!rc && fflush(stdout)) rc = cli_fail("detokenize", "write error: %s", strerror(errno));
    tok_ids_free(&ids);
    tok_free(&tok);
    return rc;
}
