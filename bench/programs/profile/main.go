// Writes a CPU profile of a few busy functions to the file named by its
// argument, for bench/package-mode.mjs to serve with pprof's web UI.
package main

import (
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

var sink int

//go:noinline
func sortWords(n int) {
	words := make([]string, n)
	for i := range words {
		words[i] = strings.Repeat(string(rune('a'+i%26)), 1+i%7)
	}
	sort.Strings(words)
	sink += len(words[0])
}

//go:noinline
func sum(n int) {
	for i := 0; i < n; i++ {
		sink += i * i
	}
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		sortWords(2000)
		sum(100000)
	}
	pprof.StopCPUProfile()
	f.Close()
}
