/* Fuzz target: JSONL dataset records. The input is a .jsonl file read by
 * dataset_load (bad lines skipped) and by the streaming reader; every
 * record that parses must write back (record_write) as a line that parses
 * again and writes back identically, and must copy (record_copy) to the
 * same line. The meta getters and setters run on each record. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/data.h"

/* record_write into a malloc'ed string (without the '\n'). */
static char *write_line(const Record *r, size_t *len) {
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    if (!f) abort();
    int rc = record_write(f, r);
    fclose(f);
    FUZZ_CHECK(rc == TR_OK, "record_write of a parsed record: %s", tr_errmsg());
    FUZZ_CHECK(n > 0 && mem[n - 1] == '\n' && memchr(mem, '\n', n - 1) == NULL,
               "record_write did not write one line");
    mem[--n] = 0;
    *len = n;
    return mem;
}

static void check_record(const Record *r) {
    FUZZ_CHECK(r->id && r->meta && cJSON_IsObject(r->meta), "record without id or meta");
    FUZZ_CHECK(!r->prompt != !r->messages, "record needs exactly one of prompt and messages");
    size_t n1, n2, n3;
    char *l1 = write_line(r, &n1);
    Record back;
    int rc = record_parse(l1, n1, 1, &back);
    FUZZ_CHECK(rc == TR_OK, "written record does not parse: %s\nline: %s", tr_errmsg(), l1);
    char *l2 = write_line(&back, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(l1, l2, n1) == 0, "write/parse round trip changed the line\n%s\n%s", l1, l2);
    Record cp;
    FUZZ_CHECK(record_copy(&cp, r) == TR_OK, "record_copy: %s", tr_errmsg());
    char *l3 = write_line(&cp, &n3);
    FUZZ_CHECK(n1 == n3 && memcmp(l1, l3, n1) == 0, "copy writes differently");
    double nums[8];
    record_meta_str(&cp, "task");
    record_meta_num(&cp, "target", 0);
    record_meta_nums(&cp, "numbers", nums, 8);
    record_meta_set_str(&cp, "task", "countdown");
    record_meta_set_num(&cp, "target", 24);
    record_meta_set_nums(&cp, "numbers", nums, 0);
    record_meta_set_str(&cp, "\xff", "\xc3");
    free(write_line(&cp, &n3));
    record_free(&cp);
    record_free(&back);
    free(l1);
    free(l2);
    free(l3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "data.jsonl", data, size);
    Dataset d;
    if (dataset_load(&d, path, 1, NULL) == TR_OK) {
        for (int64_t i = 0; i < d.n; i++) check_record(&d.rec[i]);
        dataset_free(&d);
    }
    if (dataset_load(&d, path, 0, NULL) == TR_OK) dataset_free(&d);
    DataReader *r;
    if (data_open(&r, path) == TR_OK) {
        Record rec;
        int rc, n = 0;
        while ((rc = data_next(r, &rec)) != 0 && n++ < 10000) {
            if (rc > 0) record_free(&rec);
            data_line(r);
        }
        const char *first;
        int64_t line;
        data_unknown_keys(r, &first, &line);
        data_close(r);
    }
    /* the whole input as one line, as callers holding a line in memory do */
    Record one;
    if (record_parse((const char *)data, size, 7, &one) == TR_OK) {
        check_record(&one);
        record_free(&one);
    }
    return 0;
}
