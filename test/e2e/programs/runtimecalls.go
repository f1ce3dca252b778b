// Runtime and sync functions at work: the program compares strings, fills
// maps, takes locks and passes values between goroutines (memequal,
// mapaccess, chansend, gopark, …). It never panics unless asked: with a
// second argument K it panics and recovers exactly K times (main.boom).
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

//go:noinline
func work(n int) int {
	m := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan int)
	total := 0
	for i := 0; i < n; i++ {
		k := "key-" + strconv.Itoa(i%7)
		if k == "key-3" {
			total++
		}
		m[k] += i
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				mu.Lock()
				total += g
				mu.Unlock()
			}
			ch <- g
		}(g)
	}
	for g := 0; g < 4; g++ {
		total += <-ch
	}
	wg.Wait()
	return total + len(m)
}

// boom has a RET (a function without one may leave by a jump, so weaver
// cannot count its frame as a panic's).
//
//go:noinline
func boom(i int) int {
	if i >= 0 {
		panic(i)
	}
	return i
}

//go:noinline
func try(i int) (recovered bool) {
	defer func() { recovered = recover() != nil }()
	boom(i)
	return false
}

func main() {
	n, panics := 200, 0
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		panics, _ = strconv.Atoi(os.Args[2])
	}
	recovered := 0
	for i := 0; i < panics; i++ {
		if try(i) {
			recovered++
		}
	}
	fmt.Println("total", work(n), "recovered", recovered)
}
