// Functions of many signatures, each called once with known values, for
// the signatures property test: the line `weaver list` writes for each,
// traced with -f, must show what package mode shows. Some identifiers are
// not ASCII (Größe, Café, Añadir, número).
package main

import (
	"errors"
	"fmt"
	"os"
)

type Point struct {
	X, Y int
	Tag  string
}

type Café struct {
	Nombre string
	Tazas  int
}

type Shape interface{ Area() int }

type Rect struct{ W, H int }

func (r Rect) Area() int { return r.W * r.H }

//go:noinline
func ints(a int, b int8, c int16, d int32, e int64) int64 { return int64(a) + int64(b) + int64(c) + int64(d) + e }

//go:noinline
func uints(a uint, b uint8, c uint16, d uint32, e uint64, p uintptr) uint64 {
	return uint64(a) + uint64(b) + uint64(c) + uint64(d) + e + uint64(p)
}

//go:noinline
func flags(a, b bool, n int) bool { return a && !b && n > 0 }

//go:noinline
func text(s string, n int) string { return s[:n] }

//go:noinline
func bytesOf(b []byte) int { return len(b) }

//go:noinline
func intSlice(xs []int) (sum int) {
	for _, x := range xs {
		sum += x
	}
	return
}

//go:noinline
func strSlice(xs []string, sep string) int { return len(xs) + len(sep) }

//go:noinline
func array(a [3]int, b [2]string) int { return a[0] + len(b[1]) }

//go:noinline
func point(p Point) Point { p.X++; return p }

//go:noinline
func pointPtr(p *Point, nilp *Point) int { return p.X + p.Y }

//go:noinline
func (p *Point) Move(dx, dy int) { p.X += dx; p.Y += dy }

//go:noinline
func (p Point) Sum() int { return p.X + p.Y }

//go:noinline
func mapped(m map[string]int, k string) (int, bool) { v, ok := m[k]; return v, ok }

//go:noinline
func iface(v interface{}, e error) string { return fmt.Sprint(v, e) }

//go:noinline
func shape(s Shape) int { return s.Area() }

//go:noinline
func channel(c chan int, n int) int { return cap(c) + n }

//go:noinline
func funcArg(f func(int) int, n int) int { return f(n) }

//go:noinline
func twoResults(a, b int) (int, error) {
	if b == 0 {
		return 0, errors.New("division by zero")
	}
	return a / b, nil
}

//go:noinline
func namedResults(n int) (half int, odd bool) { return n / 2, n%2 == 1 }

//go:noinline
func manyArgs(a, b, c, d, e, f, g, h, i, j, k int) int { return a + b + c + d + e + f + g + h + i + j + k }

//go:noinline
func mixed(b byte, s string, p *int, xs []int16, r rune) int { return int(b) + len(s) + *p + len(xs) + int(r) }

//go:noinline
func nested(ps []Point, m map[int]string) int { return len(ps) + len(m) }

//go:noinline
func complexes(c complex128) complex128 { return c * 2 }

//go:noinline
func noArgs() {}

//go:noinline
func Größe(ü int, straße string) int { return ü + len(straße) }

//go:noinline
func (c *Café) Añadir(número int) int { c.Tazas += número; return c.Tazas }

//go:noinline
func (c Café) Título() string { return c.Nombre }

//go:noinline
func structPtrs(a, b *Café) bool { return a.Nombre == b.Nombre }

func main() {
	n := 7
	p := &Point{X: 1, Y: 2, Tag: "p"}
	c := &Café{Nombre: "Olé", Tazas: 1}
	m := map[string]int{"uno": 1}
	ch := make(chan int, 3)
	double := func(x int) int { return 2 * x }
	fmt.Println(
		ints(-1, -2, 300, -40000, 1<<40),
		uints(1, 255, 65535, 1<<31, 1<<63, 0x1234),
		flags(true, false, 3),
		text("hello, world", 5),
		bytesOf([]byte("bytes")),
		intSlice([]int{1, 2, 3}),
		strSlice([]string{"a", "bc"}, "-"),
		array([3]int{4, 5, 6}, [2]string{"x", "yz"}),
		point(Point{X: 8, Y: 9, Tag: "val"}),
		pointPtr(p, nil),
		p.Sum(),
	)
	p.Move(10, 20)
	v, ok := mapped(m, "uno")
	q, err := twoResults(7, 0)
	half, odd := namedResults(9)
	fmt.Println(v, ok, iface(42, errors.New("boom")), shape(Rect{W: 3, H: 4}), channel(ch, 2), funcArg(double, 21), q, err, half, odd,
		manyArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), mixed('A', "ü", &n, []int16{-1, 2}, 'é'),
		nested([]Point{{X: 1}}, map[int]string{1: "one"}), complexes(1+2i))
	noArgs()
	fmt.Println(Größe(3, "Weiß"), c.Añadir(2), c.Título(), structPtrs(c, &Café{Nombre: "Olé"}), len(os.Args))
}
