/*
 * Fuzz target: the fault parsers (fault.h). The input is split at the
 * first two newlines into FAULT_ERROR_PERCENT, FAULT_DELAY_MS and an
 * X-Fault-Status value; the rest is X-Fault-Delay-Ms. What parses is in
 * range, what does not leaves its outputs untouched, and a decision is a
 * status of 400 to 599 (or none) and a delay within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/fault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *part[4] = {0};
    struct na_fault_config cfg = {0};
    uint32_t ppm = 7;
    unsigned lo = 7, hi = 7;
    struct na_fault f = {.status = 1, .delay_ms = 1};
    char msg[160];
    unsigned rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    part[0] = text;
    for (int i = 1; i < 4; i++) {
        char *nl = strchr(part[i - 1], '\n');

        if (!nl)
            break;
        *nl = '\0';
        part[i] = nl + 1;
    }
    if (!na_fault_parse_percent(part[0], &ppm)) {
        if (ppm > 1000000)
            abort();
        cfg.error_ppm = ppm;
    } else if (ppm != 7) {
        abort();
    }
    if (part[1] && !na_fault_parse_delay(part[1], &lo, &hi)) {
        if (lo > hi || hi > NA_FAULT_DELAY_MAX_MS)
            abort();
        cfg.delay_min_ms = lo;
        cfg.delay_max_ms = hi;
    } else if (lo != 7 || hi != 7) {
        abort();
    }
    rc = na_fault_decide(&cfg, part[2], part[3], size * UINT64_C(0x9e3779b97f4a7c15), &f, msg,
                         sizeof(msg));
    if (rc == 400) {
        if (f.status != 1 || f.delay_ms != 1 || !msg[0])
            abort();
    } else if (rc != 0 || (f.status && (f.status < 400 || f.status > 599)) ||
               f.delay_ms > NA_FAULT_DELAY_MAX_MS ||
               (!part[3] && (f.delay_ms < cfg.delay_min_ms || f.delay_ms > cfg.delay_max_ms) &&
                cfg.delay_max_ms)) {
        abort();
    }
    free(text);
    return 0;
}
