/*
 * unit.h: what every unit test includes: cmocka and its prerequisites,
 * plus small helpers shared by the tests.
 */
#ifndef NA_UNIT_H
#define NA_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define RUN(tests) cmocka_run_group_tests(tests, NULL, NULL)

#endif
