// Calls main.f(i, "flood") `calls` times (0: until a signal), then prints
// "calls N" on stderr, N being the calls made. SIGINT or SIGTERM stops the
// loop at once and still prints the count, so a test knows exactly how
// many calls the probes could have seen.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
)

var sink int64

//go:noinline
func f(n int, s string) int {
	return n + len(s)
}

func main() {
	calls, _ := strconv.Atoi(os.Args[1])
	var stop int32
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		atomic.StoreInt32(&stop, 1)
	}()
	made := 0
	for i := 0; (calls == 0 || i < calls) && atomic.LoadInt32(&stop) == 0; i++ {
		sink += int64(f(i, "flood"))
		made++
	}
	fmt.Fprintf(os.Stderr, "calls %d\n", made)
}
