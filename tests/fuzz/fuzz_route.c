/*
 * Fuzz target: paths and methods (include/na/router.h): route matching on
 * the raw path, the parameter's and the arguments' percent-decoding, and
 * the Allow header.
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
    /* The path is matched as it came; only its parameter is decoded (into the match). */
    n = strlen(s);
    na_router_match(s, true, &m);
    if (m.param && !(m.param >= s && m.param + m.param_len <= s + n) &&
        !(m.param == m.param_buf && m.param_len < sizeof(m.param_buf) && !m.param[m.param_len]))
        abort(); /* the parameter points into the path, or is its decoded copy */
    if (m.param && memchr(m.param, '\0', m.param_len))
        abort(); /* %00 never decodes */
    na_router_allow(m.methods, allow, sizeof(allow));
    /* Query arguments are decoded in place. */
    if (na_router_unescape(s) > n || strlen(s) > n)
        abort(); /* decoding never lengthens */
    free(s);
    return 0;
}
