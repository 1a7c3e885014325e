/*
 * trace: the trace id a request carries, for the access log to join on.
 *
 * Two headers may carry one. W3C `traceparent` (Trace Context, level 1):
 * "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lower-case hex,
 * neither id all zeros, version ff refused; a later version may append
 * "-..." fields, which are ignored. And the ALB's `X-Amzn-Trace-Id`:
 * "Root=1-<8 hex epoch>-<24 hex>;Parent=...;Sampled=1", whose root maps to
 * the same 32 hex digits (epoch then the rest), as OpenTelemetry's X-Ray
 * propagator maps it. A malformed value is ignored, never an error: the
 * request is served as if it had none.
 *
 * Pure functions over borrowed strings; any thread.
 */
#ifndef NA_TRACE_H
#define NA_TRACE_H

#include <stdbool.h>

#define NA_TRACE_ID_LEN 32

/*
 * Writes the 32 lower-case hex digits of the request's trace id and a NUL
 * into `out`: from `traceparent` when it is valid, else from the root of
 * `amzn` (X-Amzn-Trace-Id); either may be NULL. Returns false, `out`
 * untouched, when neither gives one.
 */
bool na_trace_id(const char *traceparent, const char *amzn, char out[NA_TRACE_ID_LEN + 1]);

#endif
