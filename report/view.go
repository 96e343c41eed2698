package report

import (
	"fmt"
	"html/template"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// TopN is how many of the best trials a report lists per study.
const TopN = 5

// fmtValue renders a parameter value compactly.
func fmtValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', 4, 64)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(f, 'g', 3, 64)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "-"
	}
	return fmt.Sprint(v)
}

// fmtParams renders a trial's parameters as name=value, sorted.
func fmtParams(p map[string]any) string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + fmtValue(p[n])
	}
	return strings.Join(parts, ", ")
}

// fmtScore renders an accuracy with its 95% interval.
func fmtScore(sc results.TaskScore) string {
	return fmt.Sprintf("%.3f [%.2f, %.2f]", sc.Accuracy, sc.CILo, sc.CIHi)
}

// fmtObj renders an objective value, "-" when there is none.
func fmtObj(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *v)
}

// fmtDist describes a goptuna distribution as a range.
func fmtDist(d any) string {
	switch x := d.(type) {
	case goptuna.UniformDistribution:
		return fmt.Sprintf("float [%g, %g]", x.Low, x.High)
	case goptuna.LogUniformDistribution:
		return fmt.Sprintf("float [%g, %g], log", x.Low, x.High)
	case goptuna.DiscreteUniformDistribution:
		return fmt.Sprintf("float [%g, %g], step %g", x.Low, x.High, x.Q)
	case goptuna.IntUniformDistribution:
		return fmt.Sprintf("int [%d, %d]", x.Low, x.High)
	case goptuna.StepIntUniformDistribution:
		return fmt.Sprintf("int [%d, %d], step %d", x.Low, x.High, x.Step)
	case goptuna.CategoricalDistribution:
		parts := make([]string, len(x.Choices))
		for i, c := range x.Choices {
			parts[i] = fmt.Sprint(c)
		}
		return "choice {" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(d)
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes a study name into an HTML id fragment.
func slug(s string) string {
	return strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// kv is one row of a key/value table.
type kv struct{ Key, Value string }

// scoreCell is one per-task cell of a table.
type scoreCell struct {
	Text  string
	Class string
}

// trialRow is one row of the best-trials table.
type trialRow struct {
	Number    int
	Objective string
	Params    string
	// Normalized and Mean reduce the tune scores by the study's
	// scoring rule (the objective is one of them).
	Normalized, Mean string
	Scores           []scoreCell
	Best             bool
}

// failRow is a failed or pruned trial.
type failRow struct {
	Number int
	State  string
	Cause  string
}

// studyView is one study's section.
type studyView struct {
	ID, Name     string
	Methods      string
	Config       []kv
	Space        []kv
	ConfigText   string
	ConfigErr    string
	Tasks        []string // tune task columns of the best-trials table
	Top          []trialRow
	Holdout      []kv
	HoldoutNote  string
	History      template.HTML
	Params       []template.HTML
	TaskBars     template.HTML
	Failures     []failRow
	CountsText   string
	BestSummary  string
	HasComplete  bool
	BaselineNote string
	Paired       []pairedRow
	PairedHead   []string
	PairedNote   string
	Stages       []stageRow // where the time goes (none when not recorded)
	StagesNote   string
	Confirm      [][]string // the trials re-scored before freezing (confirmHead's columns)
	ConfirmNote  string
}

// confirmHead are the columns of a study's confirmation table.
var confirmHead = []string{"trial", "tune rank", "tune objective", "confirmed", "gap (tune − confirmed)", "items", "frozen"}

// confirmRows renders a study's confirmations.
func confirmRows(cs []results.Confirmation) [][]string {
	var out [][]string
	for _, c := range cs {
		frozen := ""
		if c.Chosen {
			frozen = "yes"
		}
		out = append(out, []string{strconv.Itoa(c.Trial), strconv.Itoa(c.TuneRank), fmt.Sprintf("%.4f", c.Tune), fmt.Sprintf("%.4f", c.Confirm),
			fmt.Sprintf("%+.4f", c.Gap()), strconv.Itoa(c.Items), frozen})
	}
	return out
}

// compareRow is one study in the comparison table.
type compareRow struct {
	ID, Name, Methods   string
	Tasks               int
	Done                string
	Best, Settings      string
	HoldoutNorm, HoldMn string
}

// curveRow is one point of the extension curve table.
type curveRow struct {
	Method, Variant, Study string
	Rule                   string // scale rule of a frozen recipe
	Models, Tasks          int
	Subsets                int // subsets of task models averaged
	Mean, Normalized       string
	SubsetCI, ItemCI       string // 95% intervals across subsets and from the items ("-" when not measured)
	Cost                   string // merges and items evaluated ("-" when not measured here)
	Times                  string
	Factor                 string // the scale factor the rule gave λ (refit: its choice; "-" when not recorded)
}

// verdictRow is one transfer verdict (eval.CurveVerdicts): a method's
// frozen settings against its re-tuned optimum at one size.
type verdictRow struct {
	Method, Rule           string
	Models                 int
	FrozenStudy, TunedStud string
	Frozen, Tuned          string // normalized accuracy with its 95% interval
	Verdict, Why           string
}

// verdictRows renders the curve's transfer verdicts.
func verdictRows(pts []results.CurvePoint) []verdictRow {
	var out []verdictRow
	for _, v := range eval.CurveVerdicts(pts) {
		out = append(out, verdictRow{Method: v.Method, Rule: v.Rule, Models: v.Models, FrozenStudy: v.FrozenStudy, TunedStud: v.TunedStudy,
			Frozen: v.Frozen.String(), Tuned: v.Tuned.String(), Verdict: fmt.Sprintf("transfer %s at %d", v.Word(), v.Models), Why: v.Why()})
	}
	return out
}

// verdictNote explains the verdict's rule, for the page and the
// Markdown.
func verdictNote() string {
	return fmt.Sprintf("Each method's frozen settings against the optimum re-tuned at the same number of task models (normalized accuracy with its 95%% interval: across subsets when several were merged, else from the items). Transfer holds at a size when the frozen settings keep at least %.0f%% of the re-tuned optimum, or when the two intervals overlap.", 100*eval.TransferKeep)
}

// matrixView is a baseline set shown as a table of models × tasks.
type matrixView struct {
	Name   string
	Tasks  []string
	Rows   []matrixRow
	Legend string
}

type matrixRow struct {
	Model string
	Cells []scoreCell
}

// view is the whole page.
type view struct {
	Title       string
	Path        string
	Generated   string
	Studies     []studyView
	Compare     []compareRow
	CompareHist template.HTML
	Curve       []curveRow
	CurvePlot   template.HTML
	Verdicts    []verdictRow
	VerdictNote string
	Claims      []claimRow
	ClaimsNote  string
	ClaimPlots  []claimPlotView
	Matrices    []matrixView
}

// taskLabel shortens toy task names for plots and headers.
func taskLabel(name string) string { return datasets.TaskKey(name) }

// buildView computes the page's contents from the data.
func buildView(d *Data, generated string) view {
	v := view{Title: "mergetune report", Path: d.Path, Generated: generated}
	if len(d.Studies) == 1 {
		v.Title = "mergetune report: " + d.Studies[0].Name
	}
	var hist []series
	for _, s := range d.Studies {
		sv := buildStudy(s)
		v.Studies = append(v.Studies, sv)
		c := s.Counts()
		row := compareRow{ID: sv.ID, Name: s.Name, Methods: sv.Methods,
			Done: fmt.Sprintf("%d complete, %d pruned, %d failed", c.Complete, c.Pruned, c.Failed),
			Best: "-", Settings: "-", HoldoutNorm: "-", HoldMn: "-"}
		if s.Settings != nil {
			row.Tasks = len(s.Settings.Tune)
		} else if s.Best != nil {
			row.Tasks = len(s.Best.Tune)
		}
		if s.Best != nil {
			row.Best = fmtObj(s.Best.Objective)
			row.Settings = fmtParams(s.Best.Params)
			if len(s.Best.Holdout) > 0 {
				h := s.Best.HoldoutScore
				row.HoldoutNorm, row.HoldMn = h.fmtNorm(), fmt.Sprintf("%.4f", h.Mean)
			}
		}
		v.Compare = append(v.Compare, row)
		if pts := bestSoFar(s); len(pts) > 0 {
			c, dash := style(d.Studies, s)
			hist = append(hist, series{Name: s.Name, Colour: c, Dash: dash, Points: pts, Step: true})
		}
	}
	if len(d.Studies) > 1 && len(hist) > 0 {
		v.CompareHist = template.HTML(xyPlot{ID: "plot-compare-history", Title: "Best objective so far, every study",
			XLabel: "trial", YLabel: "best objective", Series: hist, XInts: true, Width: 1000, Height: 320}.render())
	}
	if len(d.Curve) > 0 {
		v.CurvePlot, v.Curve = curveView(d.Curve)
		v.Verdicts, v.VerdictNote = verdictRows(d.Curve), verdictNote()
	}
	v.Claims, v.ClaimPlots = claimsView(d.Claims, d.ClaimPlots)
	if len(v.Claims) > 0 {
		v.ClaimsNote = claimsNote
	}
	for _, name := range sortedSetNames(d.BaselineSets) {
		v.Matrices = append(v.Matrices, matrix(name, d.BaselineSets[name]))
	}
	return v
}

// style gives a study's line in the comparison plot: its colour is its
// method's, its dash pattern its number of tasks' (solid for the fewest),
// so that studies of one method at several sizes read as one family.
func style(all []*Study, s *Study) (string, string) {
	methods := map[string]int{}
	sizes := map[int]bool{}
	for _, o := range all {
		m := strings.Join(o.Methods(), "+")
		if _, ok := methods[m]; !ok {
			methods[m] = len(methods)
		}
		sizes[o.size()] = true
	}
	var order []int
	for n := range sizes {
		order = append(order, n)
	}
	sort.Ints(order)
	dashes := []string{"", "7 4", "2 3", "10 3 2 3"}
	dash := ""
	for i, n := range order {
		if n == s.size() {
			dash = dashes[i%len(dashes)]
		}
	}
	return colour(methods[strings.Join(s.Methods(), "+")]), dash
}

// size is a study's number of tune tasks (0 when unknown).
func (s *Study) size() int {
	if s.Settings != nil {
		return len(s.Settings.Tune)
	}
	if s.Best != nil {
		return len(s.Best.Tune)
	}
	return 0
}

func sortedSetNames(m map[string][]results.Baseline) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// bestSoFar is the running best objective of a study's complete trials,
// by trial number.
func bestSoFar(s *Study) []point {
	var pts []point
	best := math.Inf(-1)
	for _, t := range s.Trials {
		if t.State != results.TrialComplete || t.Objective == nil {
			continue
		}
		if *t.Objective > best {
			best = *t.Objective
		}
		pts = append(pts, point{X: float64(t.Number), Y: best, Tip: fmt.Sprintf("%s: best %.4f after trial %d", s.Name, best, t.Number)})
	}
	return pts
}

// buildStudy computes one study's section.
func buildStudy(s *Study) studyView {
	sv := studyView{ID: "study-" + slug(s.Name), Name: s.Name, Methods: strings.Join(s.Methods(), ", "),
		ConfigErr: s.SettingsErr}
	if s.Settings != nil {
		sv.ConfigText = s.Settings.Text
	}
	c := s.Counts()
	sv.CountsText = fmt.Sprintf("%d trials: %d complete, %d pruned, %d failed", len(s.Trials), c.Complete, c.Pruned, c.Failed)
	if c.Running > 0 {
		sv.CountsText += fmt.Sprintf(", %d running", c.Running)
	}
	sv.HasComplete = c.Complete > 0
	if len(s.Confirmations) > 0 {
		sv.Confirm = confirmRows(s.Confirmations)
		sv.ConfirmNote = "Before freezing, the best trials by tune objective were re-scored on more items (the study's objective, each task normalized by its model's score on the same items), and the one with the best confirmed score was frozen. The gap is how much the search's own items flattered each trial (the winner's curse)."
	}
	sv.Config = configRows(s)
	for _, n := range s.ParamNames() {
		sv.Space = append(sv.Space, kv{n, fmtDist(s.Distributions[n])})
	}
	// Best trials with per-task scores.
	top := s.TopTrials(TopN)
	taskSet := map[string]bool{}
	for _, t := range top {
		for _, sc := range t.Tune {
			if !taskSet[sc.Task] {
				taskSet[sc.Task] = true
				sv.Tasks = append(sv.Tasks, sc.Task)
			}
		}
	}
	for _, t := range top {
		row := trialRow{Number: t.Number, Objective: fmtObj(t.Objective), Params: fmtParams(t.Params),
			Normalized: t.TuneScore.fmtNorm(), Mean: fmt.Sprintf("%.4f", t.TuneScore.Mean),
			Best: s.Best != nil && t.Number == s.Best.Number}
		for _, task := range sv.Tasks {
			cell := scoreCell{Text: "-"}
			for _, sc := range t.Tune {
				if sc.Task == task {
					cell = scoreCell{Text: fmtScore(sc), Class: heat(sc.Accuracy)}
				}
			}
			row.Scores = append(row.Scores, cell)
		}
		sv.Top = append(sv.Top, row)
	}
	if s.Best != nil {
		sv.BestSummary = fmt.Sprintf("Best: trial %d (%s), objective %s; settings %s.", s.Best.Number, s.Best.Method,
			fmtObj(s.Best.Objective), fmtParams(s.Best.Params))
		for _, sc := range s.Best.Holdout {
			base := "-"
			if b, ok := s.Baseline(s.TaskModel(sc.Task), sc.Task); ok {
				base = fmt.Sprintf("%.3f", b.Accuracy)
			}
			sv.Holdout = append(sv.Holdout, kv{sc.Task, fmt.Sprintf("%s (task model %s)", fmtScore(sc), base)})
		}
		if len(s.Best.Holdout) > 0 {
			h := s.Best.HoldoutScore
			norm := "normalized " + h.fmtNorm()
			if h.NormErr != "" {
				norm = "no normalized accuracy (" + h.NormErr + ")"
			}
			sv.HoldoutNote = fmt.Sprintf("Holdout of the best trial: mean accuracy %.4f, %s over %d tasks.", h.Mean, norm, len(s.Best.Holdout))
		} else {
			sv.HoldoutNote = "The best trial has no holdout scores (no holdout tasks, or the study has not finished)."
		}
	}
	// History: every complete trial and the best so far.
	var cloud []point
	for _, t := range s.Trials {
		if t.Objective != nil && (t.State == results.TrialComplete || t.State == results.TrialPruned) {
			cloud = append(cloud, point{X: float64(t.Number), Y: *t.Objective,
				Tip: fmt.Sprintf("trial %d (%s): %.4f; %s", t.Number, t.State, *t.Objective, fmtParams(t.Params))})
		}
	}
	if len(cloud) > 0 {
		sv.History = template.HTML(xyPlot{ID: sv.ID + "-plot-history", Title: "Optimisation history",
			XLabel: "trial", YLabel: "objective", XInts: true, Width: 1000, Height: 300,
			Series: []series{
				{Name: "trial", Colour: "#6b7686", Points: cloud, Markers: true, Faint: true},
				{Name: "best so far", Colour: colour(0), Points: bestSoFar(s), Step: true},
			}}.render())
	}
	// Each parameter against the objective.
	for i, n := range s.ParamNames() {
		var pts []point
		for _, t := range s.Trials {
			v, ok := t.Params[n]
			if !ok || t.Objective == nil || t.State != results.TrialComplete {
				continue
			}
			x, ok := numeric(v, s.Distributions[n])
			if !ok {
				continue
			}
			pts = append(pts, point{X: x, Y: *t.Objective, Tip: fmt.Sprintf("trial %d: %s=%s → %.4f", t.Number, n, fmtValue(v), *t.Objective)})
		}
		if len(pts) == 0 {
			continue
		}
		sv.Params = append(sv.Params, template.HTML(xyPlot{ID: fmt.Sprintf("%s-plot-param-%s", sv.ID, slug(n)), Title: n,
			XLabel: n, YLabel: "objective", Width: 440, Height: 260,
			Series: []series{{Colour: colour(i + 1), Points: pts, Markers: true}}}.render()))
	}
	sv.TaskBars, sv.BaselineNote = taskBars(s, sv.ID)
	sv.Paired, sv.PairedHead, sv.PairedNote = pairedRows(s.Paired), pairedHead, pairedNote
	sv.Stages, sv.StagesNote = stageRows(s)
	for _, t := range s.Trials {
		if t.State == results.TrialFailed || t.State == results.TrialPruned {
			sv.Failures = append(sv.Failures, failRow{t.Number, string(t.State), t.Cause()})
		}
	}
	return sv
}

// numeric maps a parameter value onto the x axis (a categorical choice
// becomes its index).
func numeric(v, dist any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		if c, ok := dist.(goptuna.CategoricalDistribution); ok {
			for i, ch := range c.Choices {
				if fmt.Sprint(ch) == x {
					return float64(i), true
				}
			}
		}
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// heat is a cell's colour class by accuracy.
func heat(a float64) string {
	switch {
	case a >= 0.9:
		return "h4"
	case a >= 0.7:
		return "h3"
	case a >= 0.4:
		return "h2"
	case a >= 0.1:
		return "h1"
	}
	return "h0"
}

// taskBars draws, for each tune task, the best merge against the base
// model and the fine-tunes. With more than six task models the bars show
// the task's own fine-tune and the mean of the others.
func taskBars(s *Study, id string) (template.HTML, string) {
	if s.Best == nil || len(s.Best.Tune) == 0 {
		return "", ""
	}
	models := s.Models()
	few := len(models) <= 6
	series := []string{"best merge (trial " + strconv.Itoa(s.Best.Number) + ")", results.BaseName}
	note := "Bars are accuracies on the tune items with 95% Wilson score intervals."
	if few {
		series = append(series, models...)
	} else {
		series = append(series, "own fine-tune", "other fine-tunes (mean)")
		note += fmt.Sprintf(" With %d task models, each task shows its own fine-tune and the mean of the other %d.", len(models), len(models)-1)
	}
	var groups []barGroup
	for _, sc := range s.Best.Tune {
		g := barGroup{Name: taskLabel(sc.Task)}
		g.Bars = append(g.Bars, bar{Label: series[0], Value: sc.Accuracy, Lo: sc.CILo, Hi: sc.CIHi, Interval: true})
		if b, ok := s.Baseline(results.BaseName, sc.Task); ok {
			g.Bars = append(g.Bars, bar{Label: results.BaseName, Value: b.Accuracy, Lo: b.CILo, Hi: b.CIHi, Interval: true})
		}
		own := s.TaskModel(sc.Task)
		var others []float64
		for _, m := range models {
			b, ok := s.Baseline(m, sc.Task)
			if !ok {
				continue
			}
			switch {
			case few:
				g.Bars = append(g.Bars, bar{Label: m, Value: b.Accuracy, Lo: b.CILo, Hi: b.CIHi, Interval: true})
			case m == own:
				g.Bars = append(g.Bars, bar{Label: "own fine-tune", Value: b.Accuracy, Lo: b.CILo, Hi: b.CIHi, Interval: true})
			default:
				others = append(others, b.Accuracy)
			}
		}
		if len(others) > 0 {
			var sum float64
			for _, o := range others {
				sum += o
			}
			g.Bars = append(g.Bars, bar{Label: "other fine-tunes (mean)", Value: sum / float64(len(others))})
		}
		groups = append(groups, g)
	}
	return template.HTML(barPlot{ID: id + "-plot-tasks", Title: "Per-task accuracy: best merge, base and fine-tunes",
		YLabel: "accuracy", Width: 1000, Height: 340, Groups: groups, Series: series}.render()), note
}

// configRows lists the study's recorded settings (or, for a study
// recorded before schema version 4, what its trials say).
func configRows(s *Study) []kv {
	if s.Settings == nil {
		rows := []kv{{"methods", strings.Join(s.Methods(), ", ")}}
		if s.File != "" {
			rows = append(rows, kv{"study file", s.File})
		}
		return rows
	}
	rows := make([]kv, len(s.Settings.Summary))
	for i, c := range s.Settings.Summary {
		rows[i] = kv{c.Key, c.Value}
	}
	return rows
}

// curveView draws the extension curve: one line per method for frozen
// recipes, dashed markers for studies tuned at that size.
func curveView(pts []results.CurvePoint) (template.HTML, []curveRow) {
	type key struct{ method, variant, rule string }
	bySeries := map[key][]point{}
	var order []key
	methods := map[string]int{}
	var sizes []float64
	seenSize := map[int]bool{}
	var rows []curveRow
	for _, p := range pts {
		if p.Subset != 0 {
			continue // a subset's point: in the CSV; the page shows the aggregates
		}
		k := key{p.Method, p.Variant, p.Rule}
		if _, ok := bySeries[k]; !ok {
			order = append(order, k)
		}
		if _, ok := methods[p.Method]; !ok {
			methods[p.Method] = len(methods)
		}
		bySeries[k] = append(bySeries[k], point{X: float64(p.Models), Y: p.Normalized,
			Tip: fmt.Sprintf("%s (%s, %s, from %s): %d models, %d subsets, normalized %.4f, mean %.4f", p.Method, p.Variant, p.Rule, p.Study,
				p.Models, p.Subsets, p.Normalized, p.Mean)})
		if !seenSize[p.Models] {
			seenSize[p.Models] = true
			sizes = append(sizes, float64(p.Models))
		}
		row := curveRow{Method: p.Method, Variant: p.Variant, Study: p.Study, Rule: p.Rule, Models: p.Models, Tasks: p.Tasks,
			Subsets: p.Subsets, Mean: fmt.Sprintf("%.4f", p.Mean), Normalized: fmt.Sprintf("%.4f", p.Normalized),
			SubsetCI: "-", ItemCI: "-", Cost: "-", Times: fmtTimes(p), Factor: "-"}
		if p.Factor > 0 {
			row.Factor = fmt.Sprintf("%.3g", p.Factor)
		}
		if p.Subsets > 1 {
			row.SubsetCI = fmt.Sprintf("[%.4f, %.4f]", p.SubsetLo, p.SubsetHi)
		}
		if p.ItemLo != p.ItemHi {
			row.ItemCI = fmt.Sprintf("[%.4f, %.4f]", p.ItemLo, p.ItemHi)
		}
		if p.Items > 0 {
			row.Cost = fmt.Sprintf("%d merges, %d items", p.Merges, p.Items)
		}
		rows = append(rows, row)
	}
	sort.Float64s(sizes)
	sort.SliceStable(order, func(a, b int) bool {
		if order[a].method != order[b].method {
			return order[a].method < order[b].method
		}
		if order[a].variant != order[b].variant {
			return order[a].variant < order[b].variant
		}
		return order[a].rule < order[b].rule
	})
	rules := map[string]bool{}
	for _, k := range order {
		if k.variant == results.VariantFrozen {
			rules[k.rule] = true
		}
	}
	var ss []series
	for _, k := range order {
		p := bySeries[k]
		sort.Slice(p, func(a, b int) bool { return p[a].X < p[b].X })
		name := k.method + " (" + k.variant + ")"
		if k.variant == results.VariantFrozen && len(rules) > 1 {
			name = k.method + " (" + k.variant + ", " + k.rule + ")"
		}
		ss = append(ss, series{Name: name, Colour: colour(methods[k.method]), Points: p,
			Line: true, Markers: true, Dashed: k.variant != results.VariantFrozen})
	}
	plot := xyPlot{ID: "plot-extend", Title: "Normalized accuracy against the number of merged tasks",
		XLabel: "task models merged", YLabel: "normalized accuracy", Series: ss, XTicks: sizes, Width: 1000, Height: 360,
		YFixed: true, YMin: 0, YMax: 1}
	return template.HTML(plot.render()), rows
}

// fmtTimes renders a curve point's merge and evaluation times ("-" for
// points that were not merged here, such as tuned studies' winners).
func fmtTimes(p results.CurvePoint) string {
	if p.MergeTime == 0 && p.EvalTime == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs + %.1fs", p.MergeTime.Seconds(), p.EvalTime.Seconds())
}

// matrix shows a baseline set as models × tasks.
func matrix(name string, bs []results.Baseline) matrixView {
	m := matrixView{Name: name, Legend: "accuracy of each unmerged model on each task"}
	var models []string
	seenT, seenM := map[string]bool{}, map[string]bool{}
	acc := map[[2]string]results.Baseline{}
	for _, b := range bs {
		if !seenT[b.Task] {
			seenT[b.Task] = true
			m.Tasks = append(m.Tasks, b.Task)
		}
		if !seenM[b.Model] {
			seenM[b.Model] = true
			models = append(models, b.Model)
		}
		acc[[2]string{b.Model, b.Task}] = b
	}
	// base first, then in task order where a model is named after a task.
	sort.SliceStable(models, func(a, b int) bool { return rank(models[a], m.Tasks) < rank(models[b], m.Tasks) })
	for _, mo := range models {
		r := matrixRow{Model: mo}
		for _, t := range m.Tasks {
			if b, ok := acc[[2]string{mo, t}]; ok {
				r.Cells = append(r.Cells, scoreCell{Text: fmt.Sprintf("%.2f", b.Accuracy), Class: heat(b.Accuracy)})
			} else {
				r.Cells = append(r.Cells, scoreCell{Text: "-"})
			}
		}
		m.Rows = append(m.Rows, r)
	}
	for i, t := range m.Tasks {
		m.Tasks[i] = taskLabel(t)
	}
	return m
}

func rank(model string, tasks []string) int {
	if model == results.BaseName {
		return -1
	}
	for i, t := range tasks {
		if datasets.TaskKey(t) == model {
			return i
		}
	}
	return len(tasks)
}
