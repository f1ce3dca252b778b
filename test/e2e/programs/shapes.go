// Functions of three record shapes for test/e2e/shapes.test.ts: first and
// second are laid out alike, as are third and fourth; fifth differs. The
// banner differs between builds (BUILD is replaced), moving every address.
package main

import "fmt"

type Point struct {
	X, Y  int64
	Label string
}

var sink int64

//go:noinline
func first(n int, s string) int { return n + len(s) }

//go:noinline
func second(count int, name string) int { return count * len(name) }

//go:noinline
func third(p *Point, tag string) int64 { return p.X + int64(len(tag)) }

//go:noinline
func fourth(q *Point, other string) int64 { return q.Y - int64(len(other)) }

//go:noinline
func fifth(xs []string) int { return len(xs) }

func main() {
	sink += int64(first(1, "one"))
	sink += int64(second(2, "two"))
	sink += third(&Point{X: 3, Y: 4, Label: "p3"}, "three")
	sink += fourth(&Point{X: 5, Y: 6, Label: "p4"}, "four")
	sink += int64(fifth([]string{"a", "bc"}))
	fmt.Println("BUILD", sink)
}
