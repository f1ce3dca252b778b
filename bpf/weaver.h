/* Shared by every generated weaver program (see src/codegen.ts).
 *
 * The record layouts are not declared here: src/record.ts describes them
 * once, and the generator emits the C structs from that description before
 * including this file, so the TypeScript decoder and the BPF side cannot
 * drift apart.
 *
 * Rules for everything here: read user memory only (never write it), bound
 * every read and every loop, keep maps bounded.
 */
#ifndef WEAVER_H
#define WEAVER_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;

/* The kernel's x86-64 register frame, as a uprobe program sees it. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* Only the kernel fields weaver reads; CO-RE relocates them against the
 * running kernel's BTF, so no vmlinux.h is needed. */
struct thread_struct {
	unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	struct thread_struct thread;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

/* Records go to user space through one map, weaver_events. Programs take a
 * record with WEAVER_RESERVE(size) and hand it over with
 * WEAVER_SUBMIT(ctx, rec, size), so the transport is chosen here, by a
 * #define the generator emits before including this file, without touching
 * the generated code. */
#ifdef WEAVER_TRANSPORT_PERF
/* Per-CPU perf buffers (kernels before 5.8, or --transport perf). A record
 * is built in a per-CPU scratch area and copied out by
 * bpf_perf_event_output; the copy is the price of this transport. A record
 * the perf buffer has no room for is counted here, as a failed ring-buffer
 * reservation is: the kernel's own lost-sample report reaches the reader
 * only when that CPU's buffer next has room, which may be never. A per-CPU
 * map value is at most 32 KiB, which bounds a record's size. */
#define WEAVER_PERF_MAX_RECORD 32768

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} weaver_events SEC(".maps");

struct weaver_scratch {
	u8 bytes[WEAVER_PERF_MAX_RECORD];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct weaver_scratch);
} weaver_scratch SEC(".maps");

static __always_inline u8 *weaver_perf_scratch(void)
{
	u32 key = 0;
	return (u8 *)bpf_map_lookup_elem(&weaver_scratch, &key);
}

#define WEAVER_RESERVE(size) weaver_perf_scratch()
#define WEAVER_SUBMIT(ctx, rec, size)                                                            \
	do {                                                                                     \
		if (bpf_perf_event_output((ctx), &weaver_events, BPF_F_CURRENT_CPU, (rec), (size))) \
			weaver_count_drop();                                                     \
	} while (0)
#else
/* The BPF ring buffer (the default): records are written in place, no
 * copy; its size in bytes is set by the loader before load (--buffer-size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} weaver_events SEC(".maps");

#define WEAVER_RESERVE(size) ((u8 *)bpf_ringbuf_reserve(&weaver_events, (size), 0))
#define WEAVER_SUBMIT(ctx, rec, size) bpf_ringbuf_submit((rec), 0)
#endif

/* Records that did not fit in the ring buffer, counted per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} weaver_drops SEC(".maps");

static __always_inline void weaver_count_drop(void)
{
	u32 key = 0;
	u64 *n = bpf_map_lookup_elem(&weaver_drops, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The goroutine pointer g: R14 under the register ABI; under the stack ABI
 * at fs_base - 8 (thread-local storage of a statically linked Go program). */
static __always_inline u64 weaver_g_register_abi(struct pt_regs *ctx)
{
	return ctx->r14;
}

static __always_inline u64 weaver_g_stack_abi(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
	u64 g = 0;
	if (fsbase)
		bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase - 8));
	return g;
}

static __always_inline u64 weaver_goid(u64 g, u32 goid_offset)
{
	u64 goid = 0;
	if (g && goid_offset)
		bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + goid_offset));
	return goid;
}

static __always_inline u32 weaver_ppid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, real_parent, tgid);
}

/* A slot is [u32 bytes copied][s32 error][data…]: copy at most `cap` bytes
 * of user memory from `ptr`, `len` being what Go says the length is. The
 * decoder compares `bytes copied` with Go's length to mark truncation. */
static __always_inline void weaver_read_slot(u8 *slot, u32 cap, u64 ptr, s64 len)
{
	u64 n = 0;
	long err = 0;
	if (ptr && len > 0) {
		n = (u64)len;
		if (n > cap)
			n = cap;
		err = bpf_probe_read_user(slot + 8, n, (void *)ptr);
		if (err)
			n = 0;
	}
	*(u32 *)slot = (u32)n;
	*(s32 *)(slot + 4) = (s32)err;
}

/* Fills the header of a record; `g` is the goroutine pointer (0 when unknown). */
static __always_inline void weaver_fill_header(struct weaver_header *h, u32 kind, u32 func_id,
					       struct pt_regs *ctx, u64 g, u32 goid_offset)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	h->kind = kind;
	h->func_id = func_id;
	h->ktime_ns = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (u32)pid_tgid;
	h->ppid = weaver_ppid();
	h->flags = 0;
	h->goid = weaver_goid(g, goid_offset);
	h->sp = ctx->sp;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Copies `count` elements of `elem_size` bytes into a slot holding at most
 * `max_elems`; `len` is Go's length of the slice. */
static __always_inline void weaver_read_elems(u8 *slot, u32 max_elems, u32 elem_size, u64 ptr, s64 len)
{
	u64 n = 0;
	if (len > 0) {
		n = (u64)len;
		if (n > max_elems)
			n = max_elems;
	}
	weaver_read_slot(slot, max_elems * elem_size, ptr, (s64)(n * elem_size));
}

#endif
