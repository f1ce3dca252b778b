// Target of test/e2e/record-header.test.ts: after "ready" it waits for a
// line on stdin, calls main.traced 3 times from one goroutine locked to
// its thread, prints that goroutine's id and thread id, and exits at EOF.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

var sink int

//go:noinline
func inner(n int) int { return n * 2 }

// traced calls another function, so it starts with a stack check.
//go:noinline
func traced(n int) int { return inner(n) + 1 }

// goid parses "goroutine 18 [running]:" from the goroutine's own stack dump.
func goid() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _ := strconv.Atoi(strings.Fields(string(buf))[1])
	return id
}

func main() {
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	in.ReadString('\n')
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		for i := 0; i < 3; i++ {
			sink += traced(i)
		}
		done <- fmt.Sprintf("goid %d tid %d", goid(), syscall.Gettid())
	}()
	fmt.Println(<-done)
	in.ReadString('\n')
}
