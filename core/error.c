/* error.c — thread-local last-error message (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ZL_ERROR_MAX 1024

static _Thread_local char zl_last_error[ZL_ERROR_MAX];

int zl_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(zl_last_error, sizeof zl_last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int zl_error_prefix(const char *fmt, ...)
{
    char prefix[ZL_ERROR_MAX];
    char old[ZL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, zl_last_error, sizeof old);
    /* prefix + old, truncated to the buffer */
    size_t np = strlen(prefix), no = strlen(old);
    if (np > ZL_ERROR_MAX - 1) np = ZL_ERROR_MAX - 1;
    if (no > ZL_ERROR_MAX - 1 - np) no = ZL_ERROR_MAX - 1 - np;
    memcpy(zl_last_error, prefix, np);
    memcpy(zl_last_error + np, old, no);
    zl_last_error[np + no] = '\0';
    return -1;
}

const char *zl_error_get(void) { return zl_last_error; }

void zl_error_clear(void) { zl_last_error[0] = '\0'; }
