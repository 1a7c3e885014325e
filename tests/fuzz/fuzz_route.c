/*
 * Fuzz target: paths and methods (include/na/router.h): percent-decoding,
 * route matching and the Allow header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), allow[64];
    struct na_match m;
    size_t n;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    na_method_parse(s);
    n = na_router_unescape(s);
    if (n > size || s[n] != '\0')
        abort(); /* decoding never lengthens */
    na_router_match(s, true, &m);
    if (m.param && (m.param < s || m.param + m.param_len > s + n))
        abort(); /* the parameter points into the path */
    na_router_allow(m.methods, allow, sizeof(allow));
    free(s);
    return 0;
}
