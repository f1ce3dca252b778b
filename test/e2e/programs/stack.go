// A call to main.traced through three frames, from main and from a
// goroutine: test/e2e/stack.test.ts checks the stack weaver records at
// each call (and -c --by-caller groups by the immediate caller, main.level3
// and main.other). Each call site carries a marker comment (`@name`) that the
// test finds to know the line the frame must show.
package main

import (
	"fmt"
	"sync"
)

// A leaf that compares before anything else: under the register ABI its
// probe sits on the jump after the first instruction, not on the entry.
//
//go:noinline
func traced(n, m int) int {
	if n > m {
		return n - m
	}
	return m - n
}

//go:noinline
func level3(n int) int {
	return traced(n, 10) + 1 // @level3
}

//go:noinline
func other(n int) int {
	return traced(n, 0) // @other
}

//go:noinline
func level2(n int) int {
	return level3(n) + 1 // @level2
}

//go:noinline
func level1(n int) int {
	return level2(n) + 1 // @level1
}

//go:noinline
func worker(wg *sync.WaitGroup, out *int) {
	defer wg.Done()
	*out = level1(2) // @worker
}

func main() {
	first := level1(1) // @main
	var wg sync.WaitGroup
	var second int
	wg.Add(1)
	go worker(&wg, &second) // @go
	wg.Wait()
	third := other(5) + other(6) // @main-other
	fmt.Println("results", first, second, third)
}
