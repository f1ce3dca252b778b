// Leaf functions (no stack check) for test/e2e/leaf-probes.test.ts. Each
// call prints the line weaver's JSON event must match:
//
//	EXPECT {"function":…,"args":[…],"returns":[…]}
package main

import (
	"fmt"
	"os"
	"strconv"
)

// Under the register ABI: cmp rax, 100; jle — probed on the jle.
//
//go:noinline
func leafBranch(n, m int) int {
	if n > 100 {
		return n * m
	}
	return m - n
}

// The leaf: a spill store, then add: nothing emulated before an argument changes.
//
//go:noinline
func leafSum(n int, s string) int { return n + len(s) }

// leafAsm(n int, s string) int, in leaf_amd64.s: tests a scratch register and
// branches before it reads its arguments from the stack (stack ABI).
func leafAsm(n int, s string) int

func expect(function string, args string, result int) {
	fmt.Printf("EXPECT {\"function\":%q,\"args\":[%s],\"returns\":[%d]}\n", function, args, result)
}

func main() {
	asm := len(os.Args) > 1 && os.Args[1] == "asm"
	for _, c := range [][2]int{{1, 2}, {150, 3}, {-7, 9}, {101, -4}, {100, 100}} {
		expect("main.leafBranch", fmt.Sprintf("%d,%d", c[0], c[1]), leafBranch(c[0], c[1]))
	}
	for i, s := range []string{"", "hello", "a longer string, with \"quotes\""} {
		n := i*1000 - 5
		expect("main.leafSum", fmt.Sprintf("%d,%s", n, strconv.Quote(s)), leafSum(n, s))
		if asm {
			expect("main.leafAsm", fmt.Sprintf("%d,%s", n+1, strconv.Quote(s)), leafAsm(n+1, s))
		}
	}
}
