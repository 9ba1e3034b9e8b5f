/* error.h — zonelab's error reporting. Owns the thread-local last-error message.
 *
 * Every fallible core function returns an int status (0 = ok, -1 = error) or NULL,
 * after calling zl_error_set() with a message that names the file, tensor or field.
 * The core never aborts or exits: the Lua binding turns the message into a Lua error.
 */
#ifndef ZL_ERROR_H
#define ZL_ERROR_H

#if defined(__GNUC__)
#define ZL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ZL_PRINTF(a, b)
#endif

/* Sets the last error (printf-style). Always returns -1 so callers can
 * `return zl_error_set(...)`. */
int zl_error_set(const char *fmt, ...) ZL_PRINTF(1, 2);

/* Prepends context ("loading model: ") to the current message; returns -1. */
int zl_error_prefix(const char *fmt, ...) ZL_PRINTF(1, 2);

/* The last error message of this thread ("" when none). */
const char *zl_error_get(void);

void zl_error_clear(void);

#endif
