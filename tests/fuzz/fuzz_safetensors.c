/* fuzz_safetensors.c — libFuzzer target: any bytes through the safetensors parser
 * (header JSON, offsets, dtypes, shapes, data conversion) must give a map or an
 * error, never a crash or a sanitizer report. */
#include <stddef.h>
#include <stdint.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zl_tensor_map *m = zl_safetensors_parse("fuzz", data, size, 1);
    zl_tensor_map_free(m);
    return 0;
}
