// The benchmark's traced program. main.f(int, string) calls another
// function, so like most Go functions it starts with a stack check.
//
//	hot loop N [FUNC]   N calls of f (or leafSum, leafBranch; deep: f below 80 more frames) as fast as possible; prints "ns_per_call <float>"
//	hot rate R S [W]    R calls a second for S seconds, spread over W
//	                    goroutines (default 2); prints "calls <n> rate <achieved/s>"
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var sink int64

//go:noinline
func g(n int) int { return n * 3 }

//go:noinline
func f(n int, s string) int { return g(n) + len(s) }

// leafSum has no stack check, and its first instructions store a register
// and write an argument register: its entry probe costs two traps a call.
//
//go:noinline
func leafSum(n int, s string) int { return n + len(s) }

// leafBranch has no stack check; under the register ABI it compares n and
// branches first, so weaver probes the branch, which the kernel emulates.
//
//go:noinline
func leafBranch(n, m int) int {
	if n > 100 {
		return n * m
	}
	return m - n
}

// loop also reports the process's CPU time per call (user + system, the
// uprobe's trap included): unlike the wall clock it leaves out the time
// the thread waited for a CPU on a loaded machine. It calls f, or with
// which "leafSum" or "leafBranch" that function.
func loop(n int, which string) {
	cpu0 := cpuNs()
	start := time.Now()
	s := 0
	switch which {
	case "leafSum":
		for i := 0; i < n; i++ {
			s += leafSum(i, "benchmark")
		}
	case "leafBranch":
		for i := 0; i < n; i++ {
			s += leafBranch(i, 9)
		}
	case "deep":
		s = deep(deepFrames, n)
	default:
		for i := 0; i < n; i++ {
			s += f(i, "benchmark")
		}
	}
	wall := time.Since(start).Nanoseconds()
	cpu := cpuNs() - cpu0
	sink += int64(s)
	fmt.Printf("ns_per_call %.1f cpu_ns_per_call %.1f\n", float64(wall)/float64(n), float64(cpu)/float64(n))
}

// Frames deep sits below the loop of "deep": more than weaver's --stack
// records at most (64), so a walk goes to its bound on every call.
const deepFrames = 80

// deep calls itself d times, then f n times: the loop with a deep stack.
//
//go:noinline
func deep(d, n int) int {
	if d > 0 {
		return deep(d-1, n) + 1
	}
	s := 0
	for i := 0; i < n; i++ {
		s += f(i, "benchmark")
	}
	return s
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rate paces each worker against the clock: every 200 µs it makes the calls
// it is behind by, so the rate holds whatever one call costs (up to what a
// core can do).
func rate(perSecond float64, seconds float64, workers int) {
	var calls int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			share := perSecond / float64(workers)
			made := 0
			s := 0
			for {
				now := time.Now()
				if now.After(end) {
					break
				}
				due := int(share * now.Sub(start).Seconds())
				for ; made < due; made++ {
					s += f(made, "benchmark")
				}
				time.Sleep(200 * time.Microsecond)
			}
			atomic.AddInt64(&calls, int64(made))
			atomic.AddInt64(&sink, int64(s))
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	fmt.Printf("calls %d rate %.0f\n", calls, float64(calls)/elapsed)
}

func main() {
	switch os.Args[1] {
	case "loop":
		n, _ := strconv.Atoi(os.Args[2])
		which := ""
		if len(os.Args) > 3 {
			which = os.Args[3]
		}
		loop(n, which)
	case "rate":
		r, _ := strconv.ParseFloat(os.Args[2], 64)
		s, _ := strconv.ParseFloat(os.Args[3], 64)
		w := 2
		if len(os.Args) > 4 {
			w, _ = strconv.Atoi(os.Args[4])
		}
		rate(r, s, w)
	default:
		fmt.Fprintln(os.Stderr, "usage: hot loop N | hot rate R S [W]")
		os.Exit(2)
	}
}
