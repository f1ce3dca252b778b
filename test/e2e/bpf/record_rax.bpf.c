// Test probe for test/e2e/loader.test.ts: records the first integer
// argument of a Go register-ABI function (rax) with a sequence number.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

// Records that could not be reserved because the ring buffer was full.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

// Every time the probe fired, recorded or not.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} hits SEC(".maps");

struct event {
  __u64 rax;
  __u64 seq;
  __u64 ktime_ns;
  __u32 pid;
  __u32 reserved;
};

SEC("uprobe")
int record_rax(struct pt_regs *ctx) {
  __u32 key = 0;
  __u64 seq = 0;
  __u64 *hit = bpf_map_lookup_elem(&hits, &key);
  if (hit) seq = __sync_fetch_and_add(hit, 1);
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __u64 *dropped = bpf_map_lookup_elem(&drops, &key);
    if (dropped) *dropped += 1;
    return 0;
  }
  e->rax = PT_REGS_RC(ctx);
  e->seq = seq;
  e->ktime_ns = bpf_ktime_get_ns();
  e->pid = bpf_get_current_pid_tgid() >> 32;
  e->reserved = 0;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
