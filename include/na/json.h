/*
 * json: a strict reader of JSON text (RFC 8259), for request bodies.
 *
 * cJSON builds our answers, but it is lenient on input: it takes raw
 * control characters inside strings, any byte below 0x21 as whitespace,
 * and cuts numbers longer than 63 characters; so a body that JSON.parse
 * (and Express's express.json()) refuses would be stored, or stored cut
 * short ("Wid\0get" as "Wid"). This reader accepts exactly the grammar of
 * RFC 8259 and nothing else, bounds nesting, and builds no tree: it checks
 * the whole text once, then hands out spans of the text (the members of an
 * object, a string to decode, a number's characters) that the caller reads
 * as it needs.
 *
 * Spans borrow the text: they are valid as long as it is. Everything here
 * is a pure function, safe from any thread.
 */
#ifndef NA_JSON_H
#define NA_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum na_json_kind {
    NA_JSON_OBJECT,
    NA_JSON_ARRAY,
    NA_JSON_STRING,
    NA_JSON_NUMBER,
    NA_JSON_TRUE,
    NA_JSON_FALSE,
    NA_JSON_NULL,
};

/* One value of a checked text: its kind and its exact characters (quotes included). */
struct na_json_span {
    enum na_json_kind kind;
    const char *text;
    size_t len;
};

enum na_json_rc {
    NA_JSON_OK = 0,
    NA_JSON_INVALID,  /* not JSON: `err` names the problem and its byte offset */
    NA_JSON_TOO_DEEP, /* valid so far, but nests deeper than allowed */
};

/*
 * Checks that s[0..n) is one JSON value, with only JSON whitespace (space,
 * tab, CR, LF) around it, nesting arrays and objects at most `max_depth`
 * deep. On NA_JSON_OK sets *root; otherwise writes the reason into `err`
 * ("raw control character U+000A in a string at byte 9"). Bytes are not
 * checked for UTF-8 here: callers check the whole text first.
 */
enum na_json_rc na_json_parse(const char *s, size_t n, unsigned max_depth,
                              struct na_json_span *root, char *err, size_t errlen);

/* Walks the members of a checked object span, in text order. */
struct na_json_members {
    const char *p, *end;
};

void na_json_members_init(struct na_json_members *it, const struct na_json_span *object);

/* The next member's key (a string span) and value; false after the last. */
bool na_json_members_next(struct na_json_members *it, struct na_json_span *key,
                          struct na_json_span *value);

/*
 * Decodes a checked string span into UTF-8: escapes resolved, surrogate
 * pairs joined. Writes at most cap - 1 bytes and a NUL into `out` (cap >=
 * 1) and returns the length of the whole decoded string, which is >= cap
 * when it was cut (as snprintf does). An escaped lone surrogate, which no
 * UTF-8 can hold, is written as U+FFFD and sets *lone_surrogate. The
 * decoded text may hold NUL bytes (from \u0000): use the length.
 */
size_t na_json_string(const struct na_json_span *str, char *out, size_t cap, bool *lone_surrogate);

#endif
