// Func values as arguments: a named function, a closure, a method value,
// nil, and a func field behind a pointer. Each call prints nothing but its
// result, so the trace is the only place the functions are named.
package main

import (
	"fmt"
	"os"
)

type Ops struct {
	Name string
	Fn   func(int) int
}

type Counter struct{ n int }

//go:noinline
func (c *Counter) Add(x int) int { c.n += x; return c.n }

//go:noinline
func barfoo(x int) int { return x + 1 }

//go:noinline
func apply(f func(int) int, n int) int {
	if f == nil {
		return -n
	}
	return f(n)
}

//go:noinline
func applyOps(o *Ops, n int) int { return o.Fn(n) }

//go:noinline
func pick(i int) func(int) int {
	if i > 0 {
		return barfoo
	}
	return nil
}

func main() {
	k := len(os.Args)
	closure := func(x int) int { return x * k }
	c := &Counter{}
	fmt.Println(apply(barfoo, 1), apply(closure, 2), apply(c.Add, 3), apply(nil, 4), applyOps(&Ops{"ops", closure}, 5), pick(1)(6))
}
