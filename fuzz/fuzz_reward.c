/* Fuzz target: the reward extractors and checks on a model response:
 * verify_parse (<think>/<answer> split), verify_number, verify_answer,
 * verify_expr / verify_equation (countdown expressions), reward_parse_box,
 * reward_consistent, and every built-in reward but exec scoring the
 * response against a record (task scorers included via meta.task).
 * Input: response [NUL record JSON line [NUL reference answer]]; without a
 * record a countdown-like one with a box is used. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/data.h"
#include "thinkrl/reward.h"
#include "thinkrl/verify.h"

static const char *DEFAULT_REC =
    "{\"id\":\"r1\",\"prompt\":\"Use 3 4 6 1 to make 24\",\"answer\":\"24\","
    "\"meta\":{\"numbers\":[3,4,6,1],\"target\":24,\"box\":[0,0,10,10],\"choices\":[\"a\",\"b\"]}}";

static RewardSet *the_set(void) {
    static RewardSet s;
    static int ready;
    if (!ready) {
        reward_set_init(&s);
        if (reward_set_parse(&s, "format:0.5,accuracy,equation,iou(mode=hard,threshold=0.3),"
                                 "consistency(box_iou=0.5),taco(acc=accuracy),length(max=64,cache=8),"
                                 "contains(words='the|answer|=',mode=all,case=false):-1") != TR_OK) {
            fprintf(stderr, "fuzz: reward set: %s\n", tr_errmsg());
            abort();
        }
        ready = 1;
    }
    return &s;
}

static int inside(const char *p, size_t n, const char *s, size_t len) {
    return p == NULL || (p >= s && p + n <= s + len);
}

static void check_text(const char *s, size_t n, const char *ref, const Record *rec) {
    VerifyParts vp;
    verify_parse(s, n, NULL, &vp);
    FUZZ_CHECK(inside(vp.think, vp.think_len, s, n) && inside(vp.answer, vp.answer_len, s, n),
               "parts outside the response");
    VerifyTags tags = {"reasoning", "x"};
    VerifyParts vq;
    verify_parse(s, n, &tags, &vq);
    FUZZ_CHECK(inside(vq.think, vq.think_len, s, n) && inside(vq.answer, vq.answer_len, s, n),
               "parts outside the response (custom tags)");
    double d;
    verify_number(s, n, &d);
    verify_answer(s, n, ref);
    if (vp.answer) verify_answer(vp.answer, vp.answer_len, ref);
    VerifyExpr e;
    if (verify_expr(s, n, &e)) FUZZ_CHECK(e.n_numbers <= 32 && e.error[0] == 0, "expr state");
    else FUZZ_CHECK(e.error[0] != 0, "failed expression without an error");
    double nums[8];
    int nn = record_meta_nums(rec, "numbers", nums, 8);
    if (nn < 0) nn = 0;
    if (nn > 8) nn = 8;
    char why[128];
    verify_equation(s, n, nums, nn, record_meta_num(rec, "target", 24), why, sizeof why);
    verify_equation(s, n, nums, nn, 24, NULL, 0);
    double box[4];
    if (reward_parse_box(s, n, -1, box)) {
        FUZZ_CHECK(box[0] <= box[2] && box[1] <= box[3], "invalid box returned");
        double iou = reward_iou(box, box);
        FUZZ_CHECK(iou == 0 || fabs(iou - 1) < 1e-9 || !isfinite(iou), "iou of a box with itself %g", iou);
    }
    reward_parse_box(s, n, 1, box);
    int ok;
    reward_consistent(s, n, NULL, &ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *part[3];
    size_t len[3];
    int np = fuzz_split(data, size, 3, part, len);
    Record rec;
    const char *rj = np >= 2 && len[1] ? part[1] : DEFAULT_REC;
    if (record_parse(rj, strlen(rj), 1, &rec) != TR_OK) {
        fuzz_parts_free(part, 3);
        return 0;
    }
    const char *ref = np >= 3 ? part[2] : rec.answer ? rec.answer : "24";
    check_text(part[0], len[0], ref, &rec);

    RewardSet *s = the_set();
    RewardCtx c[2];
    memset(c, 0, sizeof c);
    c[0].response = part[0];
    c[0].response_len = len[0];
    c[0].n_tokens = 12;
    c[0].max_tokens = 64;
    c[0].rec = &rec;
    c[1] = c[0];
    c[1].n_tokens = 80;
    c[1].truncated = 1;
    c[1].prompt = "";
    double total[2], values[2 * REWARD_MAX_TERMS];
    float tok0[12], tok1[80], *tok[2] = {tok0, tok1};
    memset(tok0, 0, sizeof tok0);
    memset(tok1, 0, sizeof tok1);
    if (reward_score_batch(s, c, 2, total, values, tok) == TR_OK)
        for (int i = 0; i < 2; i++) FUZZ_CHECK(isfinite(total[i]), "reward %g", total[i]);
    reward_score(s, &c[0], total, NULL, NULL);
    record_free(&rec);
    fuzz_parts_free(part, 3);
    return 0;
}
