/*
 * Fuzz target: the ECS task metadata reader (taskmeta.h): the input is an
 * HTTP response as the agent might send it; its body, when there is one,
 * goes to the JSON parser. Neither may crash, read past the input, or
 * report a body outside it; a parse that succeeds had a Revision.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/taskmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *resp = malloc(size + 1), *body, err[256];
    size_t len;
    struct na_taskmeta m;

    if (!resp)
        return 0;
    memcpy(resp, data, size);
    resp[size] = '\0'; /* as na_taskmeta_fetch() leaves it */
    if (!na_taskmeta_http_body(resp, size, &body, &len, err, sizeof(err))) {
        if (body < resp || body + len > resp + size)
            abort();
        if (!na_taskmeta_parse(body, len, &m, err, sizeof(err)) &&
            (strlen(m.revision) >= sizeof(m.revision) || !memmem(body, len, "Revision", 8)))
            abort(); /* Revision is required: it came from the input */
    }
    free(resp);
    return 0;
}
