package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/trailstream/trailstream/pkg/auth"
)

// usersAdd is `trailstream users add NAME --role ROLE --console-users FILE`: it writes the
// user to the console's users file with a bcrypt hash of a password asked for without echo
// on a terminal, else read as the first line of stdin (or of --password-file).
func usersAdd(fs *flag.FlagSet, file, roleName, passwordFile *string, stdin *os.File, stderr io.Writer) error {
	args := fs.Args()
	if len(args) == 0 {
		return errors.New("name the user: trailstream users add NAME --role admin --console-users FILE")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil { // the options may follow the name
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("one user at a time; %q is one argument too many", fs.Arg(0))
	}
	if *file == "" {
		return errors.New("--console-users: the users file to write")
	}
	role, err := auth.ParseRole(*roleName)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	if err := auth.CheckName(name); err != nil {
		return err
	}
	password, err := readPassword(*passwordFile, stdin, stderr)
	if err != nil {
		return err
	}
	if err := auth.AddUser(*file, name, password, role); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "user %s (%s) written to %s\n", name, role, *file)
	return nil
}

// readPassword reads the new password: from file when given, else from stdin, twice and
// without echo when it is a terminal.
func readPassword(file string, stdin *os.File, stderr io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return firstLine(string(b)), nil
	}
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Password again: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return firstLine(line), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
