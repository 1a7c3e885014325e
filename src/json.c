/*
 * json: strict RFC 8259 checking and span walking (see include/na/json.h).
 *
 * The checker is a recursive descent over the grammar of RFC 8259 section
 * 2 to 7, its recursion bounded by max_depth. Walking and decoding run
 * only over text the checker accepted, so they need no error paths.
 */
#include "na/json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct parser {
    const char *s;
    size_t n, i;
    unsigned max_depth;
    enum na_json_rc rc;
    char *err;
    size_t errlen;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct parser *p)
{
    while (p->i < p->n && is_ws(p->s[p->i]))
        p->i++;
}

/* Sets the error once (the innermost one wins) and returns -1. */
static int fail(struct parser *p, enum na_json_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, enum na_json_rc rc, const char *fmt, ...)
{
    char what[96];
    va_list ap;

    if (p->rc != NA_JSON_OK)
        return -1;
    p->rc = rc;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s at byte %zu", what, p->i);
    return -1;
}

/* The character at the cursor, described for a message. */
static const char *describe(const struct parser *p, char *out, size_t cap)
{
    unsigned char c;

    if (p->i >= p->n)
        return "end of text";
    c = (unsigned char)p->s[p->i];
    if (c >= 0x21 && c < 0x7f)
        snprintf(out, cap, "character '%c'", c);
    else if (c < 0x80)
        snprintf(out, cap, "character U+%04X", c);
    else
        snprintf(out, cap, "byte 0x%02X", c);
    return out;
}

static int unexpected(struct parser *p, const char *wanted)
{
    char d[32];

    return fail(p, NA_JSON_INVALID, "unexpected %s, expected %s", describe(p, d, sizeof(d)),
                wanted);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Consumes one or more digits; -1 if there are none. */
static int digits(struct parser *p, const char *where)
{
    if (p->i >= p->n || !is_digit(p->s[p->i]))
        return fail(p, NA_JSON_INVALID, "number without digits %s", where);
    while (p->i < p->n && is_digit(p->s[p->i]))
        p->i++;
    return 0;
}

static int parse_number(struct parser *p)
{
    if (p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '0') {
        p->i++;
        if (p->i < p->n && is_digit(p->s[p->i]))
            return fail(p, NA_JSON_INVALID, "number with a leading zero");
    } else if (digits(p, "before its end or its point")) {
        return -1;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (digits(p, "after its decimal point"))
            return -1;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (digits(p, "in its exponent"))
            return -1;
    }
    return 0;
}

static int parse_string(struct parser *p)
{
    p->i++; /* the opening quote */
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];

        if (c == '"') {
            p->i++;
            return 0;
        }
        if (c < 0x20)
            return fail(p, NA_JSON_INVALID,
                        "raw control character U+%04X in a string (escape it as \\u%04X)", c, c);
        if (c != '\\') {
            p->i++;
            continue;
        }
        p->i++;
        if (p->i >= p->n)
            break;
        switch (p->s[p->i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p->i++;
            break;
        case 'u':
            for (int k = 1; k <= 4; k++) {
                if (p->i + (size_t)k >= p->n || !is_hex(p->s[p->i + (size_t)k])) {
                    p->i--;
                    return fail(p, NA_JSON_INVALID, "\\u escape without four hex digits");
                }
            }
            p->i += 5;
            break;
        default:
            p->i--;
            return fail(p, NA_JSON_INVALID, "invalid escape in a string");
        }
    }
    return fail(p, NA_JSON_INVALID, "unterminated string");
}

/* Matches a literal (true, false, null). */
static int parse_word(struct parser *p, const char *word)
{
    size_t len = strlen(word);

    if (p->n - p->i < len || memcmp(p->s + p->i, word, len))
        return unexpected(p, "a value");
    p->i += len;
    return 0;
}

static int parse_value(struct parser *p, unsigned depth, struct na_json_span *out);

static int parse_container(struct parser *p, unsigned depth, bool object)
{
    char close = object ? '}' : ']';

    if (depth >= p->max_depth)
        return fail(p, NA_JSON_TOO_DEEP, "nesting deeper than %u levels", p->max_depth);
    p->i++; /* the opening bracket */
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return 0;
    }
    for (;;) {
        struct na_json_span v;

        if (object) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"')
                return unexpected(p, "a member name (a string)");
            if (parse_string(p))
                return -1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return unexpected(p, "':' after a member name");
            p->i++;
        }
        if (parse_value(p, depth + 1, &v))
            return -1;
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return 0;
        }
        return unexpected(p, object ? "',' or '}'" : "',' or ']'");
    }
}

/* A value with the whitespace around it; *out spans the value alone. */
static int parse_value(struct parser *p, unsigned depth, struct na_json_span *out)
{
    size_t start;
    int rc;

    skip_ws(p);
    if (p->i >= p->n)
        return unexpected(p, "a value");
    start = p->i;
    switch (p->s[p->i]) {
    case '{':
        out->kind = NA_JSON_OBJECT;
        rc = parse_container(p, depth, true);
        break;
    case '[':
        out->kind = NA_JSON_ARRAY;
        rc = parse_container(p, depth, false);
        break;
    case '"':
        out->kind = NA_JSON_STRING;
        rc = parse_string(p);
        break;
    case 't':
        out->kind = NA_JSON_TRUE;
        rc = parse_word(p, "true");
        break;
    case 'f':
        out->kind = NA_JSON_FALSE;
        rc = parse_word(p, "false");
        break;
    case 'n':
        out->kind = NA_JSON_NULL;
        rc = parse_word(p, "null");
        break;
    default:
        if (p->s[p->i] != '-' && !is_digit(p->s[p->i]))
            return unexpected(p, "a value");
        out->kind = NA_JSON_NUMBER;
        rc = parse_number(p);
        break;
    }
    if (rc)
        return -1;
    out->text = p->s + start;
    out->len = p->i - start;
    skip_ws(p);
    return 0;
}

enum na_json_rc na_json_parse(const char *s, size_t n, unsigned max_depth,
                              struct na_json_span *root, char *err, size_t errlen)
{
    struct parser p = {
        .s = s, .n = n, .max_depth = max_depth, .rc = NA_JSON_OK, .err = err, .errlen = errlen};
    struct na_json_span v;

    if (parse_value(&p, 0, &v))
        return p.rc;
    if (p.i != n) {
        unexpected(&p, "the end of the text after the JSON value");
        return p.rc;
    }
    *root = v;
    return NA_JSON_OK;
}

/* ---- walking checked text ---------------------------------------------- */

/* The end of the checked value starting at `p` (after leading whitespace). */
static const char *value_end(const char *p)
{
    unsigned depth = 0;

    while (is_ws(*p))
        p++;
    do {
        switch (*p) {
        case '"':
            for (p++; *p != '"'; p++) {
                if (*p == '\\')
                    p++;
            }
            p++;
            break;
        case '{':
        case '[':
            depth++;
            p++;
            break;
        case '}':
        case ']':
            depth--;
            p++;
            break;
        default:
            if (depth) {
                p++;
                break;
            }
            /* A number or a literal at the top: runs to a delimiter. */
            while (*p != ',' && *p != '}' && *p != ']' && !is_ws(*p) && *p != ':')
                p++;
            return p;
        }
    } while (depth);
    return p;
}

/*
 * The walk relies on the checked text ending with the object's own closing
 * brace, which na_json_members_init() guarantees: scans never run past it.
 */
void na_json_members_init(struct na_json_members *it, const struct na_json_span *object)
{
    it->p = object->text + 1;
    it->end = object->text + object->len - 1; /* the closing brace */
}

static const char *skip(const char *p)
{
    while (is_ws(*p))
        p++;
    return p;
}

static enum na_json_kind kind_of(char c)
{
    switch (c) {
    case '{':
        return NA_JSON_OBJECT;
    case '[':
        return NA_JSON_ARRAY;
    case '"':
        return NA_JSON_STRING;
    case 't':
        return NA_JSON_TRUE;
    case 'f':
        return NA_JSON_FALSE;
    case 'n':
        return NA_JSON_NULL;
    default:
        return NA_JSON_NUMBER;
    }
}

bool na_json_members_next(struct na_json_members *it, struct na_json_span *key,
                          struct na_json_span *value)
{
    const char *p = skip(it->p);

    if (p >= it->end)
        return false;
    key->kind = NA_JSON_STRING;
    key->text = p;
    p = value_end(p);
    key->len = (size_t)(p - key->text);
    p = skip(skip(p) + 1); /* past the ':' */
    value->kind = kind_of(*p);
    value->text = p;
    p = value_end(p);
    value->len = (size_t)(p - value->text);
    p = skip(p);
    it->p = *p == ',' ? p + 1 : p;
    return true;
}

/* ---- decoding strings --------------------------------------------------- */

static unsigned hex4(const char *s)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        v = v * 16 + (unsigned)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Appends bytes, keeping count past the end of the storage. */
static void put(char *out, size_t cap, size_t *len, const char *bytes, size_t n)
{
    for (size_t k = 0; k < n; k++, (*len)++) {
        if (*len + 1 < cap)
            out[*len] = bytes[k];
    }
}

static size_t utf8_encode(uint32_t cp, char b[4])
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t na_json_string(const struct na_json_span *str, char *out, size_t cap, bool *lone_surrogate)
{
    const char *p = str->text + 1, *end = str->text + str->len - 1;
    size_t len = 0;

    *lone_surrogate = false;
    while (p < end) {
        char b[4];
        uint32_t cp;

        if (*p != '\\') {
            put(out, cap, &len, p++, 1);
            continue;
        }
        p++;
        switch (*p) {
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            cp = hex4(p + 1);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = hex4(p + 3);

                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                *lone_surrogate = true;
                cp = 0xFFFD;
            }
            break;
        default: /* " \ / */
            cp = (unsigned char)*p;
            break;
        }
        p++;
        put(out, cap, &len, b, utf8_encode(cp, b));
    }
    out[len < cap ? len : cap - 1] = '\0';
    return len;
}
