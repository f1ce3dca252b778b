// Recurses in several goroutines deeply enough that each goroutine's stack
// grows several times (8 KiB → 1 MiB): the calls that hit the stack check
// run morestack and restart main.deep from its entry. Starts when a line
// arrives on stdin, and prints how many calls of main.deep it counted.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

var sink, calls int64

//go:noinline
func deep(n int, label string) int {
	atomic.AddInt64(&calls, 1)
	var pad [128]byte
	pad[n%128] = byte(n)
	if n == 0 {
		return int(pad[0]) + len(label)
	}
	return deep(n-1, label) + int(pad[n%128])
}

func main() {
	depth, _ := strconv.Atoi(os.Args[1])
	goroutines, _ := strconv.Atoi(os.Args[2])
	bufio.NewReader(os.Stdin).ReadString('\n')
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := deep(depth, "g"+strconv.Itoa(g))
			mu.Lock()
			sink += int64(r)
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	fmt.Printf("calls %d\n", atomic.LoadInt64(&calls))
}
