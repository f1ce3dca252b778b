// The traced program of bench/emulation.mjs: `insns FORM N` calls the
// assembly function that starts with instruction FORM N times and prints
// "ns_per_call <wall> cpu_ns_per_call <user+system>".
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func nop1()
func nop2()
func nop3()
func nop5()
func nop6()
func pushbp()
func pushr12()
func jmp8()
func jcc8()
func jcc32()
func call32()
func cmp()
func test()
func mov()
func subsp()
func ret()

var forms = map[string]func(){
	"nop1": nop1, "nop2": nop2, "nop3": nop3, "nop5": nop5, "nop6": nop6,
	"pushbp": pushbp, "pushr12": pushr12, "jmp8": jmp8, "jcc8": jcc8, "jcc32": jcc32,
	"call32": call32, "cmp": cmp, "test": test, "mov": mov, "subsp": subsp, "ret": ret,
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "list" {
		for name := range forms {
			fmt.Println(name)
		}
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: insns FORM N | insns list")
		os.Exit(2)
	}
	f, ok := forms[os.Args[1]]
	n, err := strconv.Atoi(os.Args[2])
	if !ok || err != nil {
		fmt.Fprintln(os.Stderr, "usage: insns FORM N | insns list")
		os.Exit(2)
	}
	cpu0 := cpuNs()
	start := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	wall := time.Since(start).Nanoseconds()
	cpu := cpuNs() - cpu0
	fmt.Printf("ns_per_call %.1f cpu_ns_per_call %.1f\n", float64(wall)/float64(n), float64(cpu)/float64(n))
}
