package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/report"
)

// newReportCmd builds `mergetune report`.
func newReportCmd() *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "report STUDY_DB [--out report.html] [--format html|md|csv]",
		Short: "Write a study database's report: HTML with plots, markdown or CSV",
		Long: `Read a study database (a study's storage file, holding one or more studies) and write
one self-contained report: an HTML page with inline SVG plots and no network
access (the configuration, the best trials with per-task scores and
intervals, the optimisation history, each parameter against the objective,
per-task bars against the base and the fine-tunes, a paired comparison of
the best trial with the base and each task model on the same items
(difference with its 95% interval, McNemar's p), the extend curve when
stored, failed and pruned trials), or the same tables as markdown, or every
trial with its parameters and per-task scores as CSV (the best trial's row
also holds the paired comparisons, in cmp:MODEL:SPLIT:TASK:* columns), and
every point of the extend curve in a second file beside it (OUT-curve.csv; a
database without studies: the curve alone in OUT). A database holding
several studies gives one report with a section per study and a comparison.
The database is all it reads: each study records its settings (task models,
objective, task weights, the study file's text) when it runs, so the study
file, the models and the task files need not be on this machine. The
normalized columns use the study's own scoring rule, task weights included.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format = strings.ToLower(format)
			switch format {
			case report.FormatHTML, report.FormatMarkdown, report.FormatCSV:
			default:
				return fmt.Errorf("--format %q: want html, md or csv", format)
			}
			if out == "" {
				out = strings.TrimSuffix(args[0], filepath.Ext(args[0])) + "-report." + format
			}
			written, err := report.WriteFile(cmd.Context(), args[0], out, format)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report written to %s\n", strings.Join(written, " and "))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (default: STUDY_DB without its extension + -report.FORMAT)")
	cmd.Flags().StringVar(&format, "format", report.FormatHTML, "html, md or csv")
	return cmd
}
