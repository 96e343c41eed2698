// Command mergetune merges fine-tuned models (mergekit-compatible YAML),
// and searches for the merge settings that score best on your tasks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
	root.AddCommand(newMergeCmd())
	root.AddCommand(newEvalCmd(), newTasksCmd())
	root.AddCommand(newStudyCmd(), newExtendCmd())
	root.AddCommand(newDemoCmd(), newReproduceCmd(), newReportCmd())
	root.AddCommand(newBenchCmd())
	return root
}
