//go:build gendoc

package main

// `make man` builds crrun with -tags gendoc and runs `crrun __gendoc DIR`:
// the man pages and shell completions are generated from the very cobra
// definitions the binary uses, so they cannot drift from --help. The
// generator is not in the shipped binary.

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra/doc"
)

func init() {
	if len(os.Args) != 3 || os.Args[1] != "__gendoc" {
		return
	}
	if err := gendoc(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "crrun __gendoc:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func gendoc(out string) error {
	man, comp := filepath.Join(out, "man", "man1"), filepath.Join(out, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	root := newRootCmd()
	root.DisableAutoGenTag = true // reproducible: no generation date
	hdr := &doc.GenManHeader{Title: "CRRUN", Section: "1", Source: "crrun " + version, Manual: "crrun manual"}
	if err := doc.GenManTree(root, hdr, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	gens := map[string]func(string) error{
		"crrun.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
		"_crrun":     root.GenZshCompletionFile,
		"crrun.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
	}
	for name, gen := range gens {
		if err := gen(filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
	}
	return nil
}
