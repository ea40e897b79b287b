/* Tests for dataset records (src/data/record.c): every record shape, every
 * documented error with its line and field, the streaming reader over a
 * messy file, dataset_load with and without skip_bad, write/parse round
 * trips, meta helpers, and a small fuzz over random and mutated lines. */
#include <cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/data.h"

static char tmpdir[64];

/* Writes len bytes to tmpdir/name; returns the path (static slot per call
 * site is not needed: callers copy or use it at once). */
static const char *write_tmp(const char *name, const char *data, size_t len) {
    static char path[8][256];
    static int slot = 0;
    char *p = path[slot++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot create %s: %s\n", p, strerror(errno));
        exit(2);
    }
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}

static bool has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static bool str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static bool rec_is_empty(const Record *r) {
    return !r->id && !r->prompt && !r->messages && !r->n_messages && !r->completion &&
           !r->answer && !r->images && !r->n_images && !r->meta;
}

/* Field-by-field equality; meta {} and NULL count as the same. */
static bool rec_equal(const Record *a, const Record *b) {
    if (!str_eq(a->id, b->id) || !str_eq(a->prompt, b->prompt) ||
        !str_eq(a->completion, b->completion) || !str_eq(a->answer, b->answer))
        return false;
    if (a->n_messages != b->n_messages || a->n_images != b->n_images) return false;
    for (int i = 0; i < a->n_messages; i++)
        if (!str_eq(a->messages[i].role, b->messages[i].role) ||
            !str_eq(a->messages[i].content, b->messages[i].content))
            return false;
    for (int i = 0; i < a->n_images; i++)
        if (!str_eq(a->images[i], b->images[i])) return false;
    bool ea = !a->meta || !a->meta->child, eb = !b->meta || !b->meta->child;
    if (ea || eb) return ea && eb;
    /* printed text, not cJSON_Compare: that one fails on duplicate keys,
     * which meta may hold (JSON does not forbid them) */
    char *ta = cJSON_PrintUnformatted(a->meta), *tb = cJSON_PrintUnformatted(b->meta);
    bool same = ta && tb && strcmp(ta, tb) == 0;
    cJSON_free(ta);
    cJSON_free(tb);
    return same;
}

/* Writes rec with record_write into memory; caller frees. */
static char *write_mem(const Record *rec, int *rc, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    *rc = record_write(f, rec);
    fclose(f);
    if (len) *len = n;
    return buf;
}

/* write -> parse must give back an equal record; the output is one line. */
static bool roundtrip(const Record *rec, int64_t line_no) {
    int rc;
    size_t n;
    char *text = write_mem(rec, &rc, &n);
    bool ok = rc == TR_OK && n > 0 && text[n - 1] == '\n' && memchr(text, '\n', n - 1) == NULL;
    if (ok) {
        Record back;
        int prc = record_parse(text, n - 1, line_no, &back);
        ok = prc == TR_OK && rec_equal(rec, &back);
        if (!ok)
            fprintf(stderr, "roundtrip failed (%s) on: %s", prc ? tr_errmsg() : "records differ",
                    text);
        record_free(&back);
    } else {
        fprintf(stderr, "record_write rc=%d (%s)\n", rc, tr_errmsg());
    }
    free(text);
    return ok;
}

static int parse_s(const char *line, int64_t line_no, Record *rec) {
    return record_parse(line, strlen(line), line_no, rec);
}

/* A bad line: TR_EFORMAT, a message with both substrings, *rec left empty. */
static void expect_bad(const char *line, const char *want1, const char *want2, int src_line) {
    Record r;
    memset(&r, 0x5a, sizeof r); /* record_parse must zero it even on error */
    int rc = parse_s(line, 3, &r);
    bool ok = rc == TR_EFORMAT && has(tr_errmsg(), want1) && (!want2 || has(tr_errmsg(), want2)) &&
              rec_is_empty(&r);
    CHECK(ok, "(test line %d) line %s: rc=%d msg='%s', wanted '%s'%s%s", src_line, line, rc,
          tr_errmsg(), want1, want2 ? " and " : "", want2 ? want2 : "");
    if (rc == TR_OK) record_free(&r);
}
#define EXPECT_BAD(line, w1, w2) expect_bad(line, w1, w2, __LINE__)

static void test_good_shapes(void) {
    Record r;
    int rc = parse_s("{\"id\":\"a1\",\"prompt\":\"What is 2+2?\",\"answer\":4}", 1, &r);
    CHECK(rc == TR_OK, "prompt record: %s", tr_errmsg());
    CHECK(str_eq(r.id, "a1") && str_eq(r.prompt, "What is 2+2?") && str_eq(r.answer, "4"),
          "prompt record fields: id=%s prompt=%s answer=%s", r.id, r.prompt, r.answer);
    CHECK(!r.messages && r.n_messages == 0 && !r.completion && !r.images && r.n_images == 0,
          "prompt record: absent fields must stay empty");
    CHECK(cJSON_IsObject(r.meta) && r.meta->child == NULL, "absent meta must be {}");
    record_free(&r);
    CHECK(rec_is_empty(&r), "record_free must zero the record");

    rc = parse_s("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                 "{\"role\":\"user\",\"content\":\"Hi\",\"name\":\"bob\"},"
                 "{\"role\":\"assistant\",\"content\":\"Hello!\"}],"
                 "\"images\":[\"a.png\",\"dir/b.jpg\"],"
                 "\"meta\":{\"task\":\"countdown\",\"difficulty\":3,\"nums\":[1,2.5,-3],"
                 "\"nested\":{\"a\":[{\"b\":null,\"c\":true}]}}}",
                 12, &r);
    CHECK(rc == TR_OK, "messages record: %s", tr_errmsg());
    if (rc == TR_OK) {
        CHECK(str_eq(r.id, "line-12"), "missing id must be line-12, got %s", r.id);
        CHECK(r.n_messages == 3 && !r.prompt, "n_messages %d", r.n_messages);
        if (r.n_messages == 3)
            CHECK(str_eq(r.messages[0].role, "system") && str_eq(r.messages[0].content, "Be brief.") &&
                      str_eq(r.messages[1].role, "user") && str_eq(r.messages[1].content, "Hi") &&
                      str_eq(r.messages[2].role, "assistant") &&
                      str_eq(r.messages[2].content, "Hello!"),
                  "message contents");
        CHECK(r.n_images == 2 && str_eq(r.images[0], "a.png") && str_eq(r.images[1], "dir/b.jpg"),
              "images");
        CHECK(str_eq(record_meta_str(&r, "task"), "countdown"), "meta task");
        CHECK(record_meta_num(&r, "difficulty", -1) == 3, "meta difficulty");
        double nums[4] = {0};
        CHECK(record_meta_nums(&r, "nums", nums, 4) == 3 && nums[0] == 1 && nums[1] == 2.5 &&
                  nums[2] == -3,
              "meta nums");
        const cJSON *nest = cJSON_GetObjectItemCaseSensitive(r.meta, "nested");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(nest, "a");
        const cJSON *a0 = cJSON_GetArrayItem(a, 0);
        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a0, "b")) &&
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a0, "c")),
              "nested meta kept");
        CHECK(roundtrip(&r, 12), "messages record round trip");
    }
    record_free(&r);

    rc = parse_s("{\"id\":17,\"prompt\":\"p\",\"completion\":\"c\",\"answer\":\"042\"}", 2, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "17") && str_eq(r.completion, "c") && str_eq(r.answer, "042"),
          "integer id / completion / string answer: %s id=%s", tr_errmsg(), r.id);
    record_free(&r);
    rc = parse_s("{\"id\":-3,\"prompt\":\"p\"}", 2, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "-3"), "negative id: %s", r.id);
    record_free(&r);
    rc = parse_s("{\"id\":1e3,\"prompt\":\"p\"}", 2, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "1000"), "id 1e3 is the integer 1000: %s", r.id);
    record_free(&r);
    rc = parse_s("{\"id\":9007199254740992,\"prompt\":\"p\"}", 2, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "9007199254740992"), "id 2^53: %s", r.id);
    record_free(&r);
    rc = parse_s("{\"id\":\"\",\"prompt\":\"\"}", 2, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "") && str_eq(r.prompt, ""), "empty strings are kept");
    record_free(&r);

    /* null means absent; an empty images array means none */
    rc = parse_s("{\"id\":null,\"prompt\":\"x\",\"answer\":null,\"meta\":null,\"images\":[],"
                 "\"messages\":null}",
                 4, &r);
    CHECK(rc == TR_OK && str_eq(r.id, "line-4") && !r.answer && r.n_images == 0 && !r.images &&
              cJSON_IsObject(r.meta),
          "null fields as absent: %s", tr_errmsg());
    record_free(&r);

    /* numeric answers: shortest text that reads back (expected values are
     * Python's repr of the same doubles) */
    static const struct {
        const char *json, *want;
    } ans[] = {
        {"0.5", "0.5"},
        {"1e30", "1e+30"},
        {"0.1", "0.1"},
        {"42.0", "42"},
        {"-7", "-7"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"0.3333333333333333", "0.3333333333333333"},
        {"123456789012345678", "1.2345678901234568e+17"},
        {"2.5e-8", "2.5e-08"},
        {"100000", "100000"},
        {"1234567890123456", "1234567890123456"},
    };
    for (size_t i = 0; i < sizeof ans / sizeof ans[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "{\"prompt\":\"q\",\"answer\":%s}", ans[i].json);
        rc = parse_s(line, 1, &r);
        CHECK(rc == TR_OK && str_eq(r.answer, ans[i].want), "answer %s -> '%s', want '%s'",
              ans[i].json, r.answer ? r.answer : "(null)", ans[i].want);
        record_free(&r);
    }

    /* record_parse takes a length: the line need not be NUL-terminated */
    const char *two = "{\"prompt\":\"one\"}{\"prompt\":\"two\"}";
    rc = record_parse(two, 16, 1, &r);
    CHECK(rc == TR_OK && str_eq(r.prompt, "one"), "length-bounded parse: %s", tr_errmsg());
    record_free(&r);
}

static void test_errors(void) {
    EXPECT_BAD("{\"prompt\": x}", "invalid JSON at column 12", NULL);
    EXPECT_BAD("{\"prompt\":\"x\"} y", "invalid JSON at column 16", NULL);
    EXPECT_BAD("{\"prompt\":\"x\"}{\"prompt\":\"y\"}", "invalid JSON at column 15", NULL);
    EXPECT_BAD("{\"prompt\":\"x\"", "invalid JSON", NULL);
    EXPECT_BAD("", "invalid JSON at column 1", NULL);
    EXPECT_BAD("[1,2]", "top-level", "not an object");
    EXPECT_BAD("\"just a string\"", "top-level", "not an object");
    EXPECT_BAD("{\"prompt\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"b\"}]}",
               "record needs exactly one of 'prompt' and 'messages' (has both)", NULL);
    EXPECT_BAD("{\"id\":\"x\"}", "record needs exactly one of 'prompt' and 'messages' (has neither)",
               NULL);
    EXPECT_BAD("{\"prompt\":3}", "field 'prompt': expected a string", NULL);
    EXPECT_BAD("{\"messages\":{}}", "field 'messages': expected an array", NULL);
    EXPECT_BAD("{\"messages\":[]}", "field 'messages'", "empty messages array");
    EXPECT_BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},\"hi\"]}",
               "field 'messages[1]': expected an object", NULL);
    EXPECT_BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":1,\"content\":\"b\"}]}",
               "field 'messages[1].role': expected a string", NULL);
    EXPECT_BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"\",\"content\":\"b\"}]}",
               "field 'messages[1].role'", "empty role");
    EXPECT_BAD("{\"messages\":[{\"content\":\"a\"}]}", "field 'messages[0].role'", "missing");
    EXPECT_BAD("{\"messages\":[{\"role\":\"user\"}]}", "field 'messages[0].content'", "missing");
    EXPECT_BAD("{\"messages\":[{\"role\":\"user\",\"content\":[\"a\"]}]}",
               "field 'messages[0].content': expected a string", NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"completion\":false}", "field 'completion': expected a string",
               NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"answer\":true}", "field 'answer': expected a string or a number",
               NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"answer\":[1]}", "field 'answer': expected a string or a number",
               NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"answer\":1e999}", "field 'answer'", NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"images\":\"a.png\"}", "field 'images': expected an array", NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"images\":[\"a.png\",3]}", "field 'images[1]': expected a string",
               NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"meta\":[1]}", "field 'meta': expected an object", NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"meta\":\"x\"}", "field 'meta': expected an object", NULL);
    EXPECT_BAD("{\"id\":1.5,\"prompt\":\"p\"}", "field 'id'", NULL);
    EXPECT_BAD("{\"id\":true,\"prompt\":\"p\"}", "field 'id'", NULL);
    EXPECT_BAD("{\"id\":[1],\"prompt\":\"p\"}", "field 'id'", NULL);
    EXPECT_BAD("{\"id\":1e300,\"prompt\":\"p\"}", "field 'id'", NULL);
    EXPECT_BAD("{\"prompt\":\"a\",\"prompt\":\"b\"}", "field 'prompt'", "duplicate");
    /* errors after other fields were filled: nothing may leak (ASan) */
    EXPECT_BAD("{\"id\":\"x\",\"messages\":[{\"role\":\"u\",\"content\":\"a\"}],\"completion\":\"c\","
               "\"answer\":\"1\",\"images\":[\"i\"],\"meta\":7}",
               "field 'meta'", NULL);
    EXPECT_BAD("{\"prompt\":\"p\",\"answer\":\"a\",\"images\":[\"i\",\"j\",null]}", "field 'images[2]'",
               NULL);
    /* byte-level problems cJSON alone would let through */
    EXPECT_BAD("{\"prompt\":\"a\\u0000b\"}", "column 13", "\\u0000");
    EXPECT_BAD("{\"prompt\":\"\xff\"}", "invalid UTF-8 at column 12", NULL);
    EXPECT_BAD("{\"prompt\":\"\xc0\x80\"}", "invalid UTF-8", NULL);       /* overlong NUL */
    EXPECT_BAD("{\"prompt\":\"\xed\xa0\x80\"}", "invalid UTF-8", NULL);   /* surrogate */
    EXPECT_BAD("{\"prompt\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8", NULL); /* > U+10FFFF */
    EXPECT_BAD("{\"prompt\":\"\xe4\xb8\"}", "invalid UTF-8", NULL);       /* truncated */
    EXPECT_BAD("{\"prompt\":\"\\ud800\"}", "invalid JSON", NULL);        /* lone surrogate escape */
    {
        Record r;
        const char nul[] = "{\"prompt\":\"a\0b\"}";
        int rc = record_parse(nul, sizeof nul - 1, 1, &r);
        CHECK(rc == TR_EFORMAT && has(tr_errmsg(), "column 13") && rec_is_empty(&r),
              "raw NUL byte: rc=%d %s", rc, tr_errmsg());
    }
    /* an escaped backslash before u0000 is text, not a NUL */
    {
        Record r;
        int rc = parse_s("{\"prompt\":\"a\\\\u0000b\"}", 1, &r);
        CHECK(rc == TR_OK && str_eq(r.prompt, "a\\u0000b"), "escaped backslash: %s", tr_errmsg());
        record_free(&r);
    }
}

/* A file with good, bad and blank lines, CRLF and a BOM, read with data_next. */
static void test_reader(void) {
    size_t big_n = 1 << 20;
    char *big = malloc(big_n + 64);
    int off = sprintf(big, "{\"prompt\":\"");
    for (size_t i = 0; i < big_n; i++) big[off + i] = (char)('a' + i % 26);
    strcpy(big + off + big_n, "\"}\n");

    char *content = malloc(big_n + 1024);
    size_t n = 0;
#define ADD(s) (memcpy(content + n, s, strlen(s)), n += strlen(s))
    ADD("\xEF\xBB\xBF{\"prompt\":\"p1\"}\r\n");                           /* 1 */
    ADD("\r\n");                                                          /* 2 */
    ADD("   \t  \n");                                                     /* 3 */
    ADD("{\"prompt\": bad}\n");                                           /* 4 */
    ADD("{\"id\":7,\"prompt\":\"p5\",\"extra\":1,\"other\":2}\r\n");      /* 5 */
    ADD("[1]\n");                                                         /* 6 */
    ADD("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"\",\"content\":\"x\"}]}\n");                         /* 7 */
    ADD(big);                                                             /* 8 */
    ADD("\n");                                                            /* 9 */
    ADD("{\"prompt\":\"last\",\"extra\":3,\"third\":0}");                 /* 10, no newline */
#undef ADD
    const char *path = write_tmp("reader.jsonl", content, n);
    char want[512];

    DataReader *rd = NULL;
    int rc = data_open(&rd, path);
    CHECK(rc == TR_OK && rd, "data_open: %s", tr_errmsg());
    if (!rd) goto done;
    CHECK(str_eq(data_path(rd), path), "data_path");
    Record r;

    rc = data_next(rd, &r);
    CHECK(rc == 1 && str_eq(r.prompt, "p1") && str_eq(r.id, "line-1") && data_line(rd) == 1,
          "line 1 (BOM, CRLF): rc=%d %s", rc, tr_errmsg());
    if (rc == 1) record_free(&r);

    rc = data_next(rd, &r);
    snprintf(want, sizeof want, "%s:4: invalid JSON at column 12", path);
    CHECK(rc == TR_EFORMAT && str_eq(tr_errmsg(), want) && data_line(rd) == 4 && rec_is_empty(&r),
          "line 4: rc=%d '%s' want '%s' line %lld", rc, tr_errmsg(), want,
          (long long)data_line(rd));

    rc = data_next(rd, &r);
    CHECK(rc == 1 && str_eq(r.id, "7") && str_eq(r.prompt, "p5") && data_line(rd) == 5,
          "line 5 after an error: rc=%d %s", rc, tr_errmsg());
    if (rc == 1) record_free(&r);

    rc = data_next(rd, &r);
    snprintf(want, sizeof want, "%s:6: top-level", path);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), want) && data_line(rd) == 6, "line 6: '%s'",
          tr_errmsg());

    rc = data_next(rd, &r);
    snprintf(want, sizeof want, "%s:7: field 'messages[1].role'", path);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), want) && data_line(rd) == 7, "line 7: '%s'",
          tr_errmsg());

    rc = data_next(rd, &r);
    CHECK(rc == 1 && r.prompt && strlen(r.prompt) == big_n && r.prompt[big_n - 1] == big[off + big_n - 1] &&
              str_eq(r.id, "line-8") && data_line(rd) == 8,
          "line 8 (1 MiB): rc=%d", rc);
    if (rc == 1) record_free(&r);

    rc = data_next(rd, &r);
    CHECK(rc == 1 && str_eq(r.prompt, "last") && str_eq(r.id, "line-10") && data_line(rd) == 10,
          "line 10 without newline: rc=%d %s", rc, tr_errmsg());
    if (rc == 1) record_free(&r);

    rc = data_next(rd, &r);
    CHECK(rc == 0 && rec_is_empty(&r), "end: rc=%d", rc);
    rc = data_next(rd, &r);
    CHECK(rc == 0, "end again: rc=%d", rc);

    const char *first = NULL;
    int64_t first_line = 0;
    int nu = data_unknown_keys(rd, &first, &first_line);
    CHECK(nu == 3 && str_eq(first, "extra") && first_line == 5,
          "unknown keys: %d first %s at %lld", nu, first ? first : "(null)", (long long)first_line);
    data_close(rd);

done:
    unlink(path);
    free(big);
    free(content);

    /* a file of blank lines only is no records, not an error for the reader */
    path = write_tmp("blank.jsonl", "\n \r\n\t\n", 6);
    rc = data_open(&rd, path);
    if (rc == TR_OK) {
        Record r2;
        rc = data_next(rd, &r2);
        CHECK(rc == 0, "blank file: rc=%d", rc);
        int nu2 = data_unknown_keys(rd, &first, &first_line);
        CHECK(nu2 == 0 && first == NULL, "no unknown keys");
        data_close(rd);
    }
    unlink(path);

    /* the BOM belongs to the file, not to the first line: a BOM-only line
     * is blank, and error columns do not count it */
    path = write_tmp("bom.jsonl", "\xEF\xBB\xBF \r\n{\"prompt\":\"ok\"}\r\n", 23);
    rc = data_open(&rd, path);
    if (rc == TR_OK) {
        Record r2;
        rc = data_next(rd, &r2);
        CHECK(rc == 1 && data_line(rd) == 2 && str_eq(r2.id, "line-2"), "BOM-only first line: rc=%d %s",
              rc, tr_errmsg());
        if (rc == 1) record_free(&r2);
        CHECK(data_next(rd, &r2) == 0, "BOM file: one record only");
        data_close(rd);
    }
    path = write_tmp("bom2.jsonl", "\xEF\xBB\xBF{\"prompt\": x}\n", 17);
    rc = data_open(&rd, path);
    if (rc == TR_OK) {
        Record r2;
        rc = data_next(rd, &r2);
        snprintf(want, sizeof want, "%s:1: invalid JSON at column 12", path);
        CHECK(rc == TR_EFORMAT && str_eq(tr_errmsg(), want), "BOM then bad JSON: '%s'", tr_errmsg());
        data_close(rd);
    }
    unlink(path);
    snprintf(want, sizeof want, "%s/bom.jsonl", tmpdir);
    unlink(want);

    /* a raw NUL inside a line (getline keeps it) is an error for that line only */
    {
        const char nul[] = "{\"prompt\":\"a\0b\"}\n{\"prompt\":\"c\"}\n";
        path = write_tmp("nul.jsonl", nul, sizeof nul - 1);
        /* read through "-": the reader takes stdin */
        if (freopen(path, "rb", stdin) && data_open(&rd, "-") == TR_OK) {
            Record r2;
            rc = data_next(rd, &r2);
            CHECK(rc == TR_EFORMAT && has(tr_errmsg(), "<stdin>:1: invalid JSON at column 13"),
                  "NUL byte via stdin: rc=%d %s", rc, tr_errmsg());
            rc = data_next(rd, &r2);
            CHECK(rc == 1 && str_eq(r2.prompt, "c") && data_line(rd) == 2, "line after NUL: rc=%d", rc);
            if (rc == 1) record_free(&r2);
            CHECK(str_eq(data_path(rd), "<stdin>"), "stdin path: %s", data_path(rd));
            data_close(rd);
        } else {
            CHECK(0, "cannot read %s as stdin", path);
        }
        unlink(path);
    }

    rc = data_open(&rd, "/nonexistent/dir/x.jsonl");
    CHECK(rc == TR_EIO && rd == NULL && has(tr_errmsg(), "/nonexistent/dir/x.jsonl") &&
              has(tr_errmsg(), strerror(ENOENT)),
          "missing file: rc=%d %s", rc, tr_errmsg());
}

static char *log_text(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    return s;
}

static int count_sub(const char *s, const char *sub) {
    int c = 0;
    for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) c++;
    return c;
}

static void test_dataset_load(void) {
    /* 3 good records among 12 bad lines and a blank one */
    char content[4096];
    size_t n = 0;
    n += (size_t)sprintf(content + n, "{\"id\":\"g1\",\"prompt\":\"a\"}\n");
    for (int i = 0; i < 6; i++) n += (size_t)sprintf(content + n, "{bad %d\n", i);
    n += (size_t)sprintf(content + n, "\n{\"id\":\"g2\",\"prompt\":\"b\"}\n");
    for (int i = 0; i < 6; i++) n += (size_t)sprintf(content + n, "{\"prompt\":%d}\n", i);
    n += (size_t)sprintf(content + n, "{\"id\":\"g3\",\"messages\":[{\"role\":\"u\",\"content\":\"c\"}]}\n");
    const char *path = write_tmp("mixed.jsonl", content, n);
    char want[512];

    Dataset d;
    int rc = dataset_load(&d, path, 0, NULL);
    snprintf(want, sizeof want, "%s:2: invalid JSON", path);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), want) && d.n == 0 && d.rec == NULL,
          "no skip_bad: first bad line is the error: rc=%d '%s'", rc, tr_errmsg());

    FILE *log = tmpfile();
    rc = dataset_load(&d, path, 1, log);
    CHECK(rc == TR_OK && d.n == 3 && d.skipped == 12, "skip_bad: rc=%d n=%lld skipped=%lld %s", rc,
          (long long)d.n, (long long)d.skipped, tr_errmsg());
    if (rc == TR_OK && d.n == 3)
        CHECK(str_eq(d.rec[0].id, "g1") && str_eq(d.rec[1].id, "g2") && str_eq(d.rec[2].id, "g3") &&
                  d.rec[2].n_messages == 1,
              "skip_bad records in order");
    char *lt = log_text(log);
    snprintf(want, sizeof want, "skipped 12 bad lines of %s", path);
    CHECK(has(lt, want), "log final count: '%s'", lt);
    snprintf(want, sizeof want, "%s:2: invalid JSON", path);
    CHECK(has(lt, want), "log names the first bad line");
    snprintf(want, sizeof want, "%s:13: field 'prompt'", path); /* 10th bad line */
    CHECK(has(lt, want), "log shows the 10th bad line");
    snprintf(want, sizeof want, "%s:14:", path); /* 11th bad line: counted only */
    CHECK(!has(lt, want), "log must not show the 11th bad line");
    snprintf(want, sizeof want, "%s:", path);
    CHECK(count_sub(lt, want) == 10, "10 bad lines in full, got %d: '%s'", count_sub(lt, want), lt);
    free(lt);
    fclose(log);
    dataset_free(&d);
    CHECK(d.rec == NULL && d.n == 0, "dataset_free zeroes");
    unlink(path);

    /* one bad line: singular, and log may be NULL */
    path = write_tmp("one_bad.jsonl", "{\"prompt\":\"a\"}\nnope\n", 20);
    log = tmpfile();
    rc = dataset_load(&d, path, 1, log);
    lt = log_text(log);
    snprintf(want, sizeof want, "skipped 1 bad line of %s", path);
    CHECK(rc == TR_OK && d.n == 1 && d.skipped == 1 && has(lt, want), "one bad line: '%s'", lt);
    free(lt);
    fclose(log);
    dataset_free(&d);
    rc = dataset_load(&d, path, 1, NULL);
    CHECK(rc == TR_OK && d.n == 1 && d.skipped == 1, "skip_bad with no log");
    dataset_free(&d);
    unlink(path);

    /* nothing but bad lines */
    path = write_tmp("all_bad.jsonl", "x\ny\n", 4);
    rc = dataset_load(&d, path, 1, NULL);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), path) && has(tr_errmsg(), "no records") && d.rec == NULL,
          "all bad: rc=%d %s", rc, tr_errmsg());
    unlink(path);

    /* empty and blank files */
    path = write_tmp("empty.jsonl", "", 0);
    rc = dataset_load(&d, path, 0, NULL);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), path) && has(tr_errmsg(), "no records"),
          "empty file: rc=%d %s", rc, tr_errmsg());
    unlink(path);
    path = write_tmp("blank2.jsonl", "\n\n  \n", 5);
    rc = dataset_load(&d, path, 1, NULL);
    CHECK(rc == TR_EFORMAT && has(tr_errmsg(), "no records"), "blank file: rc=%d %s", rc, tr_errmsg());
    unlink(path);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.jsonl", tmpdir);
    rc = dataset_load(&d, missing, 1, NULL);
    CHECK(rc == TR_EIO && has(tr_errmsg(), missing) && has(tr_errmsg(), strerror(ENOENT)),
          "missing file: rc=%d %s", rc, tr_errmsg());
}

static char *xstrdup(const char *s) {
    char *p = malloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

static void test_roundtrip(void) {
    const char *nasty = "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \"quoted\" back\\slash "
                        "line1\nline2\ttab\r cr \x01\x1f ctl / </script> \\u0041";
    Record r = {0};
    r.id = xstrdup("id \"1\"\\");
    r.prompt = xstrdup(nasty);
    r.completion = xstrdup("done\n");
    r.answer = xstrdup("1.0");
    r.n_images = 2;
    r.images = calloc(2, sizeof(char *));
    r.images[0] = xstrdup("img/\xc3\xa9.png");
    r.images[1] = xstrdup("b.png");
    CHECK(record_meta_set_str(&r, "task", nasty) == TR_OK, "set_str");
    CHECK(record_meta_set_num(&r, "difficulty", 0.1) == TR_OK, "set_num");
    double v[3] = {1, -2.5, 1e-300};
    CHECK(record_meta_set_nums(&r, "nums", v, 3) == TR_OK, "set_nums");
    CHECK(roundtrip(&r, 1), "prompt record with nasty strings");

    int rc;
    char *text = write_mem(&r, &rc, NULL);
    CHECK(rc == TR_OK, "write");
    if (text) {
        /* key order: id, prompt, completion, answer, images, meta */
        const char *keys[] = {"{\"id\":", "\"prompt\":", "\"completion\":", "\"answer\":", "\"images\":",
                              "\"meta\":"};
        const char *prev = text;
        for (int i = 0; i < 6; i++) {
            const char *p = strstr(text, keys[i]);
            CHECK(p && p >= prev, "key %s out of order in %s", keys[i], text);
            if (p) prev = p;
        }
        CHECK(text[0] == '{' && has(text, "\"answer\":\"1.0\""), "answer written as text: %s", text);
    }
    free(text);

    Record c;
    CHECK(record_copy(&c, &r) == TR_OK, "record_copy");
    record_free(&r);
    CHECK(str_eq(c.prompt, nasty) && str_eq(record_meta_str(&c, "task"), nasty) &&
              record_meta_num(&c, "difficulty", 0) == 0.1,
          "copy survives freeing the original");
    CHECK(roundtrip(&c, 1), "copy round trip");
    record_free(&c);

    /* messages record, empty meta left out, no id */
    Record m = {0};
    m.n_messages = 2;
    m.messages = calloc(2, sizeof(DataMsg));
    m.messages[0].role = xstrdup("user");
    m.messages[0].content = xstrdup(nasty);
    m.messages[1].role = xstrdup("assistant");
    m.messages[1].content = xstrdup("");
    m.meta = cJSON_CreateObject();
    text = write_mem(&m, &rc, NULL);
    CHECK(rc == TR_OK && text && !has(text, "\"meta\"") && !has(text, "\"id\"") &&
              !has(text, "\"prompt\"") && !has(text, "\"answer\""),
          "absent fields left out: %s", text ? text : "(null)");
    free(text);
    {
        /* written without an id, it reads back as line-N: compare with that */
        Record back;
        text = write_mem(&m, &rc, NULL);
        rc = parse_s(text, 9, &back);
        CHECK(rc == TR_OK && str_eq(back.id, "line-9") && back.n_messages == 2 &&
                  str_eq(back.messages[0].content, nasty) && str_eq(back.messages[1].content, ""),
              "messages round trip: %s", tr_errmsg());
        record_free(&back);
        free(text);
    }
    record_free(&m);

    /* invalid records are refused by record_write */
    Record bad = {0};
    text = write_mem(&bad, &rc, NULL);
    CHECK(rc == TR_EINVAL, "record with neither prompt nor messages must not be written");
    free(text);
    bad.prompt = xstrdup("p");
    bad.n_messages = 1;
    bad.messages = calloc(1, sizeof(DataMsg));
    bad.messages[0].role = xstrdup("user");
    bad.messages[0].content = xstrdup("c");
    text = write_mem(&bad, &rc, NULL);
    CHECK(rc == TR_EINVAL, "record with both must not be written");
    free(text);
    free(bad.prompt);
    bad.prompt = NULL;
    free(bad.messages[0].role);
    bad.messages[0].role = xstrdup("");
    text = write_mem(&bad, &rc, NULL);
    CHECK(rc == TR_EINVAL, "empty role must not be written");
    free(text);
    record_free(&bad);

    /* invalid UTF-8 (model output cut mid-character) is written as U+FFFD
     * so that the line stays valid JSON */
    {
        Record u = {0}, back;
        u.prompt = xstrdup("a\xff" "b\xe4\xb8");
        record_meta_set_str(&u, "s", "\xc0\x80z");
        text = write_mem(&u, &rc, NULL);
        rc = rc == TR_OK ? parse_s(text, 1, &back) : rc;
        CHECK(rc == TR_OK && str_eq(back.prompt, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd") &&
                  str_eq(record_meta_str(&back, "s"), "\xef\xbf\xbd\xef\xbf\xbdz"),
              "invalid UTF-8 written as U+FFFD: rc=%d %s", rc, text ? text : "");
        if (rc == TR_OK) record_free(&back);
        free(text);
        record_free(&u);
    }

    /* a whole file: write 200 records, load them back */
    char path[300];
    snprintf(path, sizeof path, "%s/written.jsonl", tmpdir);
    FILE *f = fopen(path, "wb");
    Rng rng;
    rng_seed(&rng, 7);
    Record src[200];
    for (int i = 0; i < 200; i++) {
        Record *s = &src[i];
        memset(s, 0, sizeof *s);
        char buf[64];
        snprintf(buf, sizeof buf, "r%d", i);
        s->id = xstrdup(buf);
        if (i % 2) {
            snprintf(buf, sizeof buf, "prompt %d \xe2\x82\xac", i);
            s->prompt = xstrdup(buf);
        } else {
            s->n_messages = 1 + i % 3;
            s->messages = calloc((size_t)s->n_messages, sizeof(DataMsg));
            for (int k = 0; k < s->n_messages; k++) {
                s->messages[k].role = xstrdup(k % 2 ? "assistant" : "user");
                snprintf(buf, sizeof buf, "m%d.%d\n", i, k);
                s->messages[k].content = xstrdup(buf);
            }
        }
        if (i % 3 == 0) {
            snprintf(buf, sizeof buf, "%.17g", rng_uniform_d(&rng));
            s->answer = xstrdup(buf);
        }
        if (i % 5 == 0) record_meta_set_num(s, "x", rng_uniform_d(&rng) * 1e6);
        record_write(f, s);
    }
    fclose(f);
    Dataset d;
    rc = dataset_load(&d, path, 0, NULL);
    CHECK(rc == TR_OK && d.n == 200 && d.skipped == 0, "load written file: %s", tr_errmsg());
    int same = 0;
    for (int i = 0; i < 200 && rc == TR_OK && d.n == 200; i++) same += rec_equal(&src[i], &d.rec[i]);
    CHECK(same == 200, "written file reads back: %d of 200 equal", same);
    for (int i = 0; i < 200; i++) record_free(&src[i]);
    dataset_free(&d);
    unlink(path);
}

static void test_meta(void) {
    Record r = {0};
    CHECK(record_meta_str(&r, "a") == NULL && record_meta_num(&r, "a", 5) == 5 &&
              record_meta_nums(&r, "a", NULL, 0) == -1,
          "getters on a NULL meta");
    CHECK(record_meta_set_str(&r, "a", "x") == TR_OK && cJSON_IsObject(r.meta), "set creates meta");
    CHECK(str_eq(record_meta_str(&r, "a"), "x"), "get_str");
    CHECK(record_meta_num(&r, "a", 5) == 5, "num of a string key falls back");
    CHECK(record_meta_set_num(&r, "a", 2.25) == TR_OK, "replace with a number");
    CHECK(record_meta_str(&r, "a") == NULL && record_meta_num(&r, "a", 0) == 2.25, "replaced");
    CHECK(cJSON_GetArraySize(r.meta) == 1, "replacing keeps one key");
    double v[5] = {3, 1, 4, 1, 5}, out[5] = {0};
    CHECK(record_meta_set_nums(&r, "v", v, 5) == TR_OK, "set_nums");
    CHECK(record_meta_nums(&r, "v", out, 2) == 5 && out[0] == 3 && out[1] == 1 && out[2] == 0,
          "nums copies at most max, returns the length");
    CHECK(record_meta_nums(&r, "v", out, 5) == 5 && out[4] == 5, "nums full");
    CHECK(record_meta_set_nums(&r, "e", NULL, 0) == TR_OK && record_meta_nums(&r, "e", out, 5) == 0,
          "empty number array");
    CHECK(record_meta_nums(&r, "a", out, 5) == -1, "nums of a number is -1");
    CHECK(record_meta_set_str(&r, "v", "now a string") == TR_OK &&
              record_meta_nums(&r, "v", out, 5) == -1,
          "nums of a string is -1");
    CHECK(record_meta_num(&r, "missing", -1) == -1, "missing num falls back");
    record_free(&r);

    int rc = parse_s("{\"prompt\":\"p\",\"meta\":{\"mixed\":[1,\"two\"],\"n\":\"3\"}}", 1, &r);
    CHECK(rc == TR_OK && record_meta_nums(&r, "mixed", out, 5) == -1 &&
              record_meta_num(&r, "n", 9) == 9 && str_eq(record_meta_str(&r, "n"), "3"),
          "getters on parsed meta");
    record_free(&r);
}

/* Random and mutated lines: never a crash or leak; any accepted line must
 * survive write -> parse unchanged. */
static void test_fuzz(void) {
    Rng rng;
    rng_seed(&rng, 1234);
    static const char *seeds[] = {
        "{\"id\":\"a\",\"prompt\":\"p\",\"completion\":\"c\",\"answer\":1.5,\"images\":[\"x\"],"
        "\"meta\":{\"k\":[1,{\"z\":null}]}}",
        "{\"id\":3,\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\\n\"},"
        "{\"role\":\"assistant\",\"content\":\"\\\"ok\\\"\"}],\"answer\":\"4\"}",
        "{\"prompt\":\"\xe4\xb8\xad\\ud83d\\ude00\",\"meta\":{\"a\":true,\"b\":-0.0}}",
    };
    const char alphabet[] = "{}[]\":,\\ u0123456789eE.-+truefalsnl\xc3\xa9\x80\xff\n\r\t";
    char line[512];
    int accepted = 0, bad_rt = 0, bad_rc = 0;
    for (int it = 0; it < 30000; it++) {
        size_t len;
        if (it % 3 == 0) {
            len = rng_u64(&rng) % 80;
            for (size_t i = 0; i < len; i++)
                line[i] = (rng_u64(&rng) % 4 == 0) ? (char)(rng_u64(&rng) & 0xff)
                                                   : alphabet[rng_u64(&rng) % (sizeof alphabet - 1)];
        } else {
            const char *s = seeds[rng_u64(&rng) % 3];
            len = strlen(s);
            memcpy(line, s, len);
            int nmut = 1 + (int)(rng_u64(&rng) % 3);
            for (int m = 0; m < nmut && len > 0; m++) {
                size_t pos = rng_u64(&rng) % len;
                switch (rng_u64(&rng) % 4) {
                case 0: line[pos] = alphabet[rng_u64(&rng) % (sizeof alphabet - 1)]; break;
                case 1: line[pos] = (char)(rng_u64(&rng) & 0xff); break;
                case 2: memmove(line + pos, line + pos + 1, len - pos - 1); len--; break;
                default: len = pos; break; /* truncate */
                }
            }
        }
        Record r;
        int rc = record_parse(line, len, 1, &r);
        if (rc == TR_OK) {
            accepted++;
            if (!roundtrip(&r, 1)) {
                bad_rt++;
                fprintf(stderr, "fuzz line was: ");
                for (size_t i = 0; i < len; i++) fprintf(stderr, "\\x%02x", (unsigned char)line[i]);
                fputc('\n', stderr);
            }
            record_free(&r);
        } else if (rc != TR_EFORMAT || !rec_is_empty(&r)) {
            bad_rc++;
        }
    }
    CHECK(bad_rc == 0, "fuzz: %d parses failed with a status other than TR_EFORMAT", bad_rc);
    CHECK(bad_rt == 0, "fuzz: %d accepted lines failed the round trip", bad_rt);
    CHECK(accepted > 100, "fuzz: only %d lines accepted (mutations too harsh?)", accepted);

    /* records holding arbitrary bytes: what record_write emits must parse */
    int unreadable = 0;
    for (int it = 0; it < 2000; it++) {
        char bytes[4][24];
        for (int k = 0; k < 4; k++) {
            size_t len = rng_u64(&rng) % 23;
            for (size_t i = 0; i < len; i++) bytes[k][i] = (char)(1 + rng_u64(&rng) % 255);
            bytes[k][len] = 0;
        }
        Record w = {0}, back;
        w.id = xstrdup(bytes[0]);
        w.prompt = xstrdup(bytes[1]);
        w.answer = xstrdup(bytes[2]);
        record_meta_set_str(&w, bytes[3][0] ? bytes[3] : "k", bytes[3]);
        int rc;
        char *text = write_mem(&w, &rc, NULL);
        if (rc != TR_OK || parse_s(text, 1, &back) != TR_OK) {
            if (unreadable++ == 0) fprintf(stderr, "unreadable (%s): %s", tr_errmsg(), text);
        } else {
            record_free(&back);
        }
        free(text);
        record_free(&w);
    }
    CHECK(unreadable == 0, "fuzz: %d written records with random bytes did not read back", unreadable);

    /* deep nesting: within cJSON's limit it is kept, beyond it an error */
    for (int depth = 500; depth <= 5000; depth += 4500) {
        size_t cap = (size_t)depth * 2 + 64, n = 0;
        char *s = malloc(cap);
        n += (size_t)sprintf(s, "{\"prompt\":\"x\",\"meta\":{\"d\":");
        for (int i = 0; i < depth; i++) s[n++] = '[';
        for (int i = 0; i < depth; i++) s[n++] = ']';
        s[n++] = '}';
        s[n++] = '}';
        Record r;
        int rc = record_parse(s, n, 1, &r);
        if (depth == 500) {
            CHECK(rc == TR_OK, "depth 500: %s", tr_errmsg());
            if (rc == TR_OK) CHECK(roundtrip(&r, 1), "depth 500 round trip");
        } else {
            CHECK(rc == TR_EFORMAT && has(tr_errmsg(), "invalid JSON"), "depth 5000: rc=%d", rc);
        }
        record_free(&r);
        /* truncated deep line */
        rc = record_parse(s, n / 2, 1, &r);
        CHECK(rc == TR_EFORMAT, "truncated deep line: rc=%d", rc);
        record_free(&r);
        free(s);
    }

    /* a file of random lines through the reader */
    char *buf = malloc(200000);
    size_t n = 0;
    for (int i = 0; i < 2000; i++) {
        size_t len = rng_u64(&rng) % 90;
        for (size_t k = 0; k < len; k++) buf[n++] = alphabet[rng_u64(&rng) % (sizeof alphabet - 1)];
        buf[n++] = '\n';
        if (i % 50 == 0) n += (size_t)sprintf(buf + n, "{\"prompt\":\"ok\",\"junk%d\":1}\n", i);
    }
    const char *path = write_tmp("fuzz.jsonl", buf, n);
    DataReader *rd;
    if (data_open(&rd, path) == TR_OK) {
        int good = 0, errs = 0, other = 0;
        for (;;) {
            Record r;
            int rc = data_next(rd, &r);
            if (rc == 0) break;
            if (rc == 1) {
                good++;
                record_free(&r);
            } else if (rc == TR_EFORMAT) {
                errs++;
            } else {
                other++;
                break;
            }
        }
        const char *first;
        int64_t fl;
        int nu = data_unknown_keys(rd, &first, &fl);
        CHECK(good >= 40 && errs > 1000 && other == 0, "fuzz file: %d good %d bad %d other", good,
              errs, other);
        CHECK(nu >= 40 && nu <= 64 && first && has(first, "junk0"), "unknown keys capped: %d", nu);
        data_close(rd);
    }
    unlink(path);
    free(buf);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/thinkrl_test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_good_shapes();
    test_errors();
    test_reader();
    test_dataset_load();
    test_roundtrip();
    test_meta();
    test_fuzz();
    if (rmdir(tmpdir) != 0) {
        CHECK(0, "temp dir %s not empty: %s", tmpdir, strerror(errno));
    }
    return tu_summary("test_data");
}
