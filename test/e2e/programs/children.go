// Three processes of one binary: level 0 runs its own binary as level 1
// (os/exec), which runs it as level 2; each calls main.f(level, "child")
// once and prints "level L pid P". With "hold" it instead calls
// main.f(-1, "hold") every 20 ms until SIGINT or SIGTERM, printing "ready"
// after the first call.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

var sink int

//go:noinline
func f(n int, s string) int {
	return n + len(s)
}

func main() {
	if os.Args[1] == "hold" {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		sink += f(-1, "hold")
		fmt.Println("ready")
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				sink += f(-1, "hold")
			}
		}
	}
	level, _ := strconv.Atoi(os.Args[1])
	sink += f(level, "child")
	if level < 2 {
		self, err := os.Executable()
		if err == nil {
			cmd := exec.Command(self, strconv.Itoa(level+1))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			err = cmd.Run()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("level %d pid %d\n", level, os.Getpid())
}
