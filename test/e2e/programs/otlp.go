// Target of test/e2e/otlp.test.ts: handle calls lookup, so each lookup
// runs inside a handle on the same goroutine (a child span); the second
// lookup fails with an error (an error status). Each call sleeps a
// millisecond so that every duration is clearly above zero.
package main

import (
	"errors"
	"fmt"
	"time"
)

//go:noinline
func lookup(key string, n int) (int, error) {
	time.Sleep(time.Millisecond)
	if n < 0 {
		return 0, errors.New("negative " + key)
	}
	return n * 10, nil
}

//go:noinline
func handle(path string, n int) (code int) {
	time.Sleep(time.Millisecond)
	if _, err := lookup(path, n); err != nil {
		return 500
	}
	return 200
}

func main() {
	fmt.Println(handle("/a", 1) + handle("/b", -1))
}
