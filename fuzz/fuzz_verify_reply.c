/* Fuzz target: the exec verifier's replies (JSON lines {"reward": x} or
 * {"error": ...}) through reward_exec_replies, the reader exec uses on a
 * verifier's stdout, without starting a process. The input is the
 * verifier's output; it is read as the replies to 1, 2 and k requests (k:
 * its number of lines). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/reward.h"

static void read_as(const uint8_t *data, size_t size, int n) {
    double out[64];
    for (int i = 0; i < n; i++) out[i] = NAN;
    if (reward_exec_replies((const char *)data, size, n, out) == TR_OK)
        for (int i = 0; i < n; i++) FUZZ_CHECK(isfinite(out[i]), "reply %d of %d not finite", i + 1, n);
    else
        FUZZ_CHECK(tr_errmsg()[0], "error without a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int lines = 0;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    read_as(data, size, 1);
    read_as(data, size, 2);
    read_as(data, size, lines < 1 ? 0 : lines > 64 ? 64 : lines);
    return 0;
}
