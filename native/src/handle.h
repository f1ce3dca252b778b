/* The life of a bpf_loader struct, apart from what it holds open: the list
 * of open loaders (so that links go away at exit), its owners, and
 * destroying its links. main.c and reader.c both use it; it uses neither. */
#ifndef BPF_LOADER_HANDLE_H
#define BPF_LOADER_HANDLE_H

#include "loader.h"

/* Adds a newly opened loader to the list whose links are destroyed at exit. */
void handle_track(bpf_loader *l);
/* Destroys every link of `l` (perf-event links and uprobe_multi fds). */
void handle_destroy_links(bpf_loader *l);
/* Registers, once per process, the atexit hook destroying the links of every open loader. */
void handle_destroy_links_at_exit(void);
/* Drops one owner and, when none is left, untracks and frees the struct. */
void loader_release(bpf_loader *l);

#endif
