/* testlib.h - helpers shared by the tests. */
#ifndef LY_TESTLIB_H
#define LY_TESTLIB_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#endif
