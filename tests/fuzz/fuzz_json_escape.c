/*
 * Fuzz target: JSON string escaping (buf.h), which writes client bytes into
 * log lines and error bodies. Whatever the bytes and however small the
 * buffer, the output is one valid JSON string.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "na/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char storage[512];
    struct na_buf b;
    cJSON *j;
    size_t cap = size ? 3 + data[0] % (sizeof(storage) - 3) : sizeof(storage);

    na_buf_init(&b, storage, cap);
    na_buf_json_str(&b, (const char *)data, size, 0);
    j = cJSON_Parse(b.data);
    if (!j || !cJSON_IsString(j))
        abort();
    cJSON_Delete(j);
    return 0;
}
