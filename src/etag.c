/*
 * etag: weak entity tags and If-None-Match (see include/na/etag.h).
 */
#include "na/etag.h"

#include <stdint.h>
#include <string.h>

/* The 64-bit finaliser of MurmurHash3: every input bit reaches every output bit. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Eight bytes a step, so tagging a large list costs a fraction of encoding it. */
static uint64_t hash(const unsigned char *p, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ mix(w)) * 0x100000001b3ull;
        h = (h << 27) | (h >> 37);
    }
    w = 0;
    memcpy(&w, p + i, len - i);
    return mix(h ^ mix(w ^ ((uint64_t)(len - i) << 56)));
}

static char *hex(char *out, uint64_t v, unsigned min_digits)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    unsigned n = 0;

    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v || n < min_digits);
    while (n)
        *out++ = tmp[--n];
    return out;
}

void na_etag_of(const void *body, size_t len, char out[NA_ETAG_MAX])
{
    char *p = out;

    memcpy(p, "W/\"", 3);
    p = hex(p + 3, (uint64_t)len, 1);
    *p++ = '-';
    p = hex(p, hash(body, len), 16);
    *p++ = '"';
    *p = '\0';
}

static bool etagc(unsigned char c)
{
    /* RFC 9110 8.8.3: %x21 / %x23-7E / obs-text */
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

bool na_etag_matches(const char *v, const char *etag)
{
    const char *mine, *end;
    size_t mine_len;

    if (!v || !etag)
        return false;
    mine = strncmp(etag, "W/", 2) ? etag : etag + 2;
    mine_len = strlen(mine);
    while (*v == ' ' || *v == '\t')
        v++;
    if (v[0] == '*') {
        /* "*" stands alone (as Express reads it): in a list it is a fault. */
        for (end = v + 1; *end == ' ' || *end == '\t'; end++)
            ;
        return !*end;
    }
    for (;;) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        if (!*v)
            return false;
        if (v[0] == 'W' && v[1] == '/')
            v += 2;
        if (*v != '"')
            return false; /* not an entity tag: what follows is not read */
        end = v + 1;
        while (etagc((unsigned char)*end))
            end++;
        if (*end != '"')
            return false;
        end++;
        if ((size_t)(end - v) == mine_len && !memcmp(v, mine, mine_len))
            return true;
        v = end;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v && *v != ',')
            return false;
    }
}

bool na_etag_no_cache(const char *cc)
{
    /* The `fresh` package's test: no-cache as a whole directive, anywhere in the list. */
    for (const char *p = cc; p && (p = strstr(p, "no-cache")); p += 8) {
        char after = p[8];

        if ((p == cc || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\t') &&
            (!after || after == ',' || after == ' ' || after == '\t'))
            return true;
    }
    return false;
}
