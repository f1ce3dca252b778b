/* The life of a bpf_loader struct (handle.h): tracking, owners, links. */
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <unistd.h>
#include "handle.h"

/* Open loaders, so that links are destroyed even when the process exits
 * without running environment cleanup hooks (process.exit, fatal errors). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static bpf_loader **open_list;
static size_t open_len, open_cap;

void handle_track(bpf_loader *l) {
  pthread_mutex_lock(&open_lock);
  if (open_len == open_cap) {
    size_t cap = open_cap ? open_cap * 2 : 8;
    bpf_loader **grown = realloc(open_list, cap * sizeof *grown);
    if (grown) {
      open_list = grown;
      open_cap = cap;
    }
  }
  if (open_len < open_cap) open_list[open_len++] = l;
  pthread_mutex_unlock(&open_lock);
}

static void untrack(bpf_loader *l) {
  pthread_mutex_lock(&open_lock);
  for (size_t i = 0; i < open_len; i++)
    if (open_list[i] == l) {
      open_list[i] = open_list[--open_len];
      break;
    }
  pthread_mutex_unlock(&open_lock);
}

void handle_destroy_links(bpf_loader *l) {
  for (size_t i = 0; i < l->links_len; i++)
    if (l->links[i]) {
      bpf_link__destroy(l->links[i]);
      l->links[i] = NULL;
    }
  for (size_t i = 0; i < l->multi_len; i++)
    if (l->multi_fds[i] >= 0) {
      close(l->multi_fds[i]);
      l->multi_fds[i] = -1;
    }
  l->attached = 0;
}

/* At exit() the JS thread is the caller, so nothing else touches links;
 * the poll thread and TSFN are left alone (the loop is gone). */
static void destroy_links_of_open_loaders(void) {
  pthread_mutex_lock(&open_lock);
  for (size_t i = 0; i < open_len; i++)
    if (!open_list[i]->closed) handle_destroy_links(open_list[i]);
  pthread_mutex_unlock(&open_lock);
}

void handle_destroy_links_at_exit(void) {
  static bool registered;
  if (registered) return;
  registered = true;
  atexit(destroy_links_of_open_loaders);
}

void loader_release(bpf_loader *l) {
  if (--l->owners > 0) return;
  untrack(l);
  free(l);
}
