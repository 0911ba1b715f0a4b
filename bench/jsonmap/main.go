// Command jsonmap is the yardstick of bench/normalize.sh: it reads CloudTrail records as
// JSON lines and decodes each into map[string]any with encoding/json — the least a program
// reading CloudTrail must do — and prints how many it read.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	n := 0
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				os.Exit(1)
			}
			n++
		}
		f.Close()
		if err := sc.Err(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println(n)
}
