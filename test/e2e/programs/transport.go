// Calls main.f(i, label) `calls` times in each of `goroutines` goroutines
// (so records come from every CPU), then, after a pause, one last
// f(-1, "tail") that marks the end: once the tracer shows it, every earlier
// call has been reported or counted as lost. Starts when a line arrives on
// stdin; prints how many calls of main.f it made.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var sink, calls int64

//go:noinline
func f(n int, label string) int {
	atomic.AddInt64(&calls, 1)
	return n + len(label)
}

// g is never called: it exists so that a record larger than a perf
// record can hold can be asked for.
//go:noinline
func g(ss []string) int { return len(ss) }

func main() {
	perG, _ := strconv.Atoi(os.Args[1])
	goroutines, _ := strconv.Atoi(os.Args[2])
	bufio.NewReader(os.Stdin).ReadString('\n')
	var wg sync.WaitGroup
	for w := 0; w < goroutines; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			label := "w" + strconv.Itoa(w)
			var s int64
			for i := 0; i < perG; i++ {
				s += int64(f(i, label))
			}
			atomic.AddInt64(&sink, s)
		}(w)
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	sink += int64(f(-1, "tail"))
	if len(os.Args) > 3 {
		sink += int64(g(nil))
	}
	fmt.Printf("calls %d\n", atomic.LoadInt64(&calls))
}
