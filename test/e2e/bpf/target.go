// Target for test/e2e/loader.test.ts: waits for a line on stdin, then calls
// traced(base+i, i) for i in [0, n), so a probe on traced sees rax = base+i.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

//go:noinline
func traced(value int, index int) int { return value ^ index }

var sink int

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	base, _ := strconv.Atoi(os.Args[2])
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for i := 0; i < n; i++ {
		sink += traced(base+i, i)
	}
	fmt.Println("done", sink)
}
