// Command mergetune merges fine-tuned models (mergekit-compatible YAML),
// and searches for the merge settings that score best on your tasks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mergetune:", err)
		os.Exit(1)
	}
}

// newRoot builds the command tree. cobra gives subcommands, flags and
// help text the way Go CLIs users know (go, kubectl, hugo) do it.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mergetune",
		Short:         "Merge fine-tuned LLMs and tune the merge settings on your tasks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addProfileFlag(root)
	root.AddCommand(newMergeCmd())
	root.AddCommand(newEvalCmd(), newTasksCmd())
	root.AddCommand(newStudyCmd(), newExtendCmd())
	root.AddCommand(newDemoCmd(), newReproduceCmd(), newReportCmd())
	root.AddCommand(newBenchCmd())
	return root
}

// addProfileFlag gives root the persistent flag --cpuprofile FILE, which
// writes a CPU profile of the command (go tool pprof reads it).
func addProfileFlag(root *cobra.Command) {
	var path string
	var f *os.File
	root.PersistentFlags().StringVar(&path, "cpuprofile", "", "write a CPU profile of the command to this file (for go tool pprof)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if path == "" {
			return nil
		}
		var err error
		if f, err = os.Create(path); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile %s: %w", path, err)
		}
		return nil
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}
}
