// A program the verifier must reject: it dereferences a hash-map lookup
// result without checking it for NULL. (A hash map, because recent kernels
// prove constant-key array lookups non-NULL and would accept this.)
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

SEC("uprobe")
int unchecked_lookup(void *ctx) {
  __u32 key = 0;
  __u64 *value = bpf_map_lookup_elem(&counters, &key);
  return (int)*value;
}

char LICENSE[] SEC("license") = "GPL";
