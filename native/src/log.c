/* libbpf reports why an operation failed (including the kernel verifier's
 * log on a failed program load) only through its print callback. We collect
 * those messages so that a failed call can return them in the JS Error.
 * The callback is process-wide, so the buffer is shared and locked. */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "loader.h"

/* Enough for a long verifier log; the end of the log (where the verifier
 * states the error) is what matters, so on overflow the oldest half goes. */
#define LOG_CAP (4u << 20)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_buf;
static size_t log_len;

static void log_append(const char *text, size_t n) {
  if (n > LOG_CAP / 2) {
    text += n - LOG_CAP / 2;
    n = LOG_CAP / 2;
  }
  if (!log_buf) {
    log_buf = malloc(LOG_CAP + 1);
    if (!log_buf) return;
    log_len = 0;
  }
  if (log_len + n > LOG_CAP) {
    size_t need = log_len + n - LOG_CAP;
    size_t drop = need > log_len / 2 ? need : log_len / 2;
    memmove(log_buf, log_buf + drop, log_len - drop);
    log_len -= drop;
  }
  memcpy(log_buf + log_len, text, n);
  log_len += n;
  log_buf[log_len] = 0;
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0; /* per-relocation chatter, never useful to a user */
  char *text = NULL;
  int n = vasprintf(&text, fmt, args);
  if (n < 0) return 0;
  pthread_mutex_lock(&log_lock);
  log_append(text, (size_t)n);
  pthread_mutex_unlock(&log_lock);
  free(text);
  return n;
}

void log_install(void) { libbpf_set_print(print_fn); }

void log_clear(void) {
  pthread_mutex_lock(&log_lock);
  log_len = 0;
  if (log_buf) log_buf[0] = 0;
  pthread_mutex_unlock(&log_lock);
}

char *log_take(void) {
  pthread_mutex_lock(&log_lock);
  char *copy = strndup(log_buf ? log_buf : "", log_len);
  log_len = 0;
  if (log_buf) log_buf[0] = 0;
  pthread_mutex_unlock(&log_lock);
  return copy;
}
