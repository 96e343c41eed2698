package report

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Formats Write can produce.
const (
	FormatHTML     = "html"
	FormatMarkdown = "md"
	FormatCSV      = "csv"
)

// Write renders d in the format (FormatHTML, FormatMarkdown or FormatCSV).
func Write(w io.Writer, d *Data, format string) error {
	switch format {
	case FormatHTML, "":
		return writeHTML(w, d)
	case FormatMarkdown:
		return writeMarkdown(w, d)
	case FormatCSV:
		return writeCSV(w, d)
	}
	return fmt.Errorf("report: format %q: want html, md or csv", format)
}

// WriteFile loads the database at dbPath and writes the report in the
// format to out (a temporary file renamed into place), and returns the
// paths written. A CSV report of a database holding studies and an
// extension curve writes the trials to out and the curve to
// CurveCSVPath(out), so each file is one table.
func WriteFile(ctx context.Context, dbPath, out, format string) ([]string, error) {
	d, err := Load(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(out, func(w io.Writer) error { return Write(w, d, format) }); err != nil {
		return nil, err
	}
	written := []string{out}
	if format == FormatCSV && len(d.Studies) > 0 && len(d.Curve) > 0 {
		cp := CurveCSVPath(out)
		if err := writeAtomic(cp, func(w io.Writer) error { return writeCurveCSV(w, d.Curve) }); err != nil {
			return written, err
		}
		written = append(written, cp)
	}
	return written, nil
}

// CurveCSVPath is where a CSV report written to out puts the extension
// curve when the database also holds studies: out without its extension,
// then "-curve.csv".
func CurveCSVPath(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + "-curve.csv"
}

// writeAtomic writes out through fn: a temporary file in its directory,
// renamed into place.
func writeAtomic(out string, fn func(io.Writer) error) error {
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report: %s: %w", out, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".report-*")
	if err != nil {
		return fmt.Errorf("report: %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("report: %s: %w", out, err)
	}
	return nil
}

func writeHTML(w io.Writer, d *Data) error {
	v := buildView(d, time.Now().Format("2006-01-02 15:04 MST"))
	if err := pageTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	return nil
}

// pageTemplate is the report page: inline CSS, inline SVG, no script.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1d2330; background: #f5f6f8; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 16px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 16px 0 4px; }
h2 { font-size: 21px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #0072B2; }
h3 { font-size: 16px; margin: 22px 0 6px; color: #2b3a55; }
p.meta { color: #5b6474; margin: 0 0 12px; font-size: 13px; }
p.note { color: #5b6474; font-size: 13px; margin: 4px 0 10px; }
nav { font-size: 14px; margin: 10px 0 0; line-height: 1.8; }
nav a { margin-right: 12px; }
a { color: #0062a0; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { border: 1px solid #dde1e7; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { background: #e9f4ff; font-weight: 600; }
table.kv { width: 100%; } table.kv th { width: 150px; }
td.h0 { background: #fbeaea; } td.h1 { background: #fcefdc; } td.h2 { background: #fdf7d9; } td.h3 { background: #e6f4e4; } td.h4 { background: #cfead0; }
table.matrix td { text-align: center; font-variant-numeric: tabular-nums; padding: 3px 4px; font-size: 12px; }
.scroll { overflow-x: auto; }
table.matrix th { font-size: 12px; }
pre { background: #f4f6f9; border: 1px solid #dde1e7; padding: 10px; font-size: 12px; overflow-x: auto; }
details summary { cursor: pointer; color: #0062a0; font-size: 13px; }
svg.plot { display: block; margin: 8px 0; max-width: 100%; height: auto; }
.params { display: flex; flex-wrap: wrap; gap: 4px 16px; }
.params svg.plot { margin: 4px 0; }
.ptitle { font-size: 14px; font-weight: 600; fill: #1d2330; }
.tick { font-size: 11px; fill: #4a5262; }
.alabel { font-size: 12px; fill: #2b3a55; }
.grid { stroke: #e6e9ee; stroke-width: 1; }
.frame { fill: none; stroke: #9aa3b2; stroke-width: 1; }
section.study { margin-top: 10px; }
.empty { color: #5b6474; font-style: italic; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="meta">Database {{.Path}} · generated {{.Generated}}</p>
<nav>
{{if .Compare}}<a href="#comparison">Comparison</a>{{end}}
{{if .Claims}}<a href="#claims">What the papers claim</a>{{end}}
{{if .Curve}}<a href="#extend">Extend curve</a>{{end}}
{{if .Matrices}}<a href="#baselines">Baselines</a>{{end}}
{{range .Studies}}<a href="#{{.ID}}">{{.Name}}</a>{{end}}
</nav>

{{if .Compare}}
<section id="comparison">
<h2>Comparison of the studies</h2>
<p class="note">Each study's best trial (objective on the tune tasks) and its holdout scores (mean accuracy, and normalized: accuracy divided by the task model's own accuracy).</p>
<table>
<tr><th>study</th><th>method</th><th>tasks</th><th>trials</th><th>best objective</th><th>best settings</th><th>holdout normalized</th><th>holdout mean</th></tr>
{{range .Compare}}<tr><td><a href="#{{.ID}}">{{.Name}}</a></td><td>{{.Methods}}</td><td class="num">{{.Tasks}}</td><td>{{.Done}}</td><td class="num">{{.Best}}</td><td>{{.Settings}}</td><td class="num">{{.HoldoutNorm}}</td><td class="num">{{.HoldMn}}</td></tr>
{{end}}</table>
{{.CompareHist}}
</section>
{{end}}

{{if .Claims}}
<section id="claims">
<h2>What the papers claim, and what the family shows</h2>
<p class="note">{{.ClaimsNote}}</p>
<table>
<tr><th>paper</th><th>claim</th><th>measured</th><th>family shows</th><th>95% interval</th><th>units</th><th>claimed side</th><th>verdict</th><th>run</th></tr>
{{range .Claims}}<tr><td>{{.Paper}}</td><td>{{.Statement}}</td><td>{{.Measure}}</td><td class="num">{{.Value}}</td><td class="num">{{.Interval}}</td><td class="num">{{.Units}}</td><td class="num">&gt; {{.Threshold}}</td><td>{{.Verdict}}</td><td>{{.Run}}</td></tr>
{{end}}</table>
{{range .ClaimPlots}}{{.SVG}}
{{end}}
</section>
{{end}}

{{if .Curve}}
<section id="extend">
<h2>Extend curve</h2>
<p class="note">Each method's frozen best settings merged into 2, 4, 8, … task models under a scale rule and scored on the merged models' tasks (solid lines); dashed: the winners of studies tuned at that number of models, on their holdout tasks. Each point is the mean over the random subsets of task models merged at that size; "95% across subsets" is Student's t interval of that mean over the subsets, "95% from items" the interval from item sampling alone (the tasks' items as independent samples, each task's error read off its Wilson interval). Every subset's own point is in the CSV report.</p>
{{.CurvePlot}}
<table>
<tr><th>method</th><th>variant</th><th>rule</th><th>from study</th><th>models</th><th>subsets</th><th>tasks</th><th>λ factor</th><th>mean</th><th>normalized</th><th>95% across subsets</th><th>95% from items</th><th>cost</th><th>merge + eval</th></tr>
{{range .Curve}}<tr><td>{{.Method}}</td><td>{{.Variant}}</td><td>{{.Rule}}</td><td>{{.Study}}</td><td class="num">{{.Models}}</td><td class="num">{{.Subsets}}</td><td class="num">{{.Tasks}}</td><td class="num">{{.Factor}}</td><td class="num">{{.Mean}}</td><td class="num">{{.Normalized}}</td><td class="num">{{.SubsetCI}}</td><td class="num">{{.ItemCI}}</td><td class="num">{{.Cost}}</td><td class="num">{{.Times}}</td></tr>
{{end}}</table>
{{if .Verdicts}}
<h3 id="verdict">Transfer verdict</h3>
<p class="note">{{.VerdictNote}}</p>
<table>
<tr><th>method</th><th>rule</th><th>models</th><th>frozen (from study)</th><th>re-tuned (study)</th><th>verdict</th><th>why</th></tr>
{{range .Verdicts}}<tr><td>{{.Method}}</td><td>{{.Rule}}</td><td class="num">{{.Models}}</td><td class="num">{{.Frozen}} ({{.FrozenStudy}})</td><td class="num">{{.Tuned}} ({{.TunedStud}})</td><td>{{.Verdict}}</td><td>{{.Why}}</td></tr>
{{end}}</table>
{{end}}
</section>
{{end}}

{{if .Matrices}}
<section id="baselines">
<h2>Baselines</h2>
{{range .Matrices}}
<p class="note">{{.Name}}: {{.Legend}}.</p>
<div class="scroll"><table class="matrix">
<tr><th>model</th>{{range .Tasks}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><th>{{.Model}}</th>{{range .Cells}}<td class="{{.Class}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table></div>
{{end}}
</section>
{{end}}

{{range .Studies}}
<section class="study" id="{{.ID}}">
<h2>Study {{.Name}}</h2>
<p class="meta">{{.Methods}} · {{.CountsText}}</p>

<h3 id="{{.ID}}-config">Configuration</h3>
{{if .ConfigErr}}<p class="note">{{.ConfigErr}}</p>{{end}}
<table class="kv">
{{range .Config}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>
{{end}}{{range .Space}}<tr><th>range of {{.Key}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .ConfigText}}<details><summary>study file</summary><pre>{{.ConfigText}}</pre></details>{{end}}

<h3 id="{{.ID}}-best">Best trials</h3>
{{if .Top}}
<p class="note">{{.BestSummary}} Normalized and mean accuracy on the tune items by the study's scoring rule (task weights applied; the objective is one of them), and per-task accuracy with 95% Wilson score intervals.</p>
<table>
<tr><th>trial</th><th>objective</th><th>settings</th><th>normalized</th><th>mean</th>{{range .Tasks}}<th>{{.}}</th>{{end}}</tr>
{{range .Top}}<tr{{if .Best}} class="best"{{end}}><td class="num">{{.Number}}</td><td class="num">{{.Objective}}</td><td>{{.Params}}</td><td class="num">{{.Normalized}}</td><td class="num">{{.Mean}}</td>{{range .Scores}}<td class="num {{.Class}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table>
<h3 id="{{.ID}}-holdout">Holdout</h3>
<p class="note">{{.HoldoutNote}}</p>
{{if .Holdout}}<table class="compact">{{range .Holdout}}<tr><th>{{.Key}}</th><td class="num">{{.Value}}</td></tr>{{end}}</table>{{end}}
{{else}}<p class="empty">No trial has completed.</p>{{end}}

<h3 id="{{.ID}}-history">Optimisation history</h3>
{{if .History}}{{.History}}{{else}}<p class="empty">No trial has an objective yet.</p>{{end}}

<h3 id="{{.ID}}-params">Parameters against the objective</h3>
{{if .Params}}<div class="params">{{range .Params}}{{.}}{{end}}</div>{{else}}<p class="empty">No searched parameter, or no complete trial.</p>{{end}}

<h3 id="{{.ID}}-tasks">Per-task scores: best merge, base and fine-tunes</h3>
{{if .TaskBars}}<p class="note">{{.BaselineNote}}</p>{{.TaskBars}}{{else}}<p class="empty">No complete trial with task scores.</p>{{end}}

<h3 id="{{.ID}}-paired">Paired comparison: best trial against base and task models</h3>
{{if .Paired}}<p class="note">{{.PairedNote}}</p>
<div class="scroll"><table class="paired">
<tr>{{range .PairedHead}}<th>{{.}}</th>{{end}}</tr>
{{range .Paired}}<tr><td>{{.Split}}</td><td>{{.Task}}</td><td>{{.Model}}</td><td class="num">{{.N}}</td><td class="num">{{.AccBest}}</td><td class="num">{{.AccModel}}</td><td class="num">{{.Diff}}</td><td class="num">{{.Discordant}}</td><td class="num">{{.P}}</td></tr>
{{end}}</table></div>{{else}}<p class="empty">No complete trial with task scores.</p>{{end}}

{{if .Stages}}<h3 id="{{.ID}}-stages">Where the time goes</h3>
<p class="note">{{.StagesNote}}</p>
<table>
<tr><th>stage</th><th>median</th><th>share</th><th>last trial</th></tr>
{{range .Stages}}<tr><td>{{.Name}}</td><td class="num">{{.Median}}</td><td class="num">{{.Share}}</td><td class="num">{{.Last}}</td></tr>
{{end}}</table>{{end}}

{{if .Confirm}}<h3 id="{{.ID}}-confirm">Confirmed before freezing</h3>
<p class="note">{{.ConfirmNote}}</p>
<table>
<tr><th>trial</th><th>tune rank</th><th>tune objective</th><th>confirmed</th><th>gap (tune − confirmed)</th><th>items</th><th>frozen</th></tr>
{{range .Confirm}}<tr>{{range .}}<td class="num">{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}

<h3 id="{{.ID}}-failures">Failed and pruned trials</h3>
{{if .Failures}}<table>
<tr><th>trial</th><th>state</th><th>cause</th></tr>
{{range .Failures}}<tr><td class="num">{{.Number}}</td><td>{{.State}}</td><td>{{.Cause}}</td></tr>
{{end}}</table>{{else}}<p class="empty">None: every trial completed.</p>{{end}}
</section>
{{end}}
</main>
</body>
</html>
`))
