/* Fuzz target: a model's config.json through config_load. A config that
 * loads must validate, and must survive config_save + config_load
 * unchanged. The input is the file. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "config.json", data, size);
    ModelConfig c, d;
    if (config_load(&c, path) != TR_OK) return 0;
    FUZZ_CHECK(config_validate(&c) == TR_OK, "loaded config does not validate: %s", tr_errmsg());
    const char *out = fuzz_path(1, "config.saved.json");
    FUZZ_CHECK(config_save(&c, out) == TR_OK, "config_save: %s", tr_errmsg());
    FUZZ_CHECK(config_load(&d, out) == TR_OK, "saved config does not load: %s", tr_errmsg());
    FUZZ_CHECK(memcmp(&c, &d, sizeof c) == 0, "config changed through save + load");
    return 0;
}
