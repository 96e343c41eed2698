package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Plot kinds, written in each SVG's data-kind attribute.
const (
	kindLine    = "line"
	kindScatter = "scatter"
	kindBars    = "bars"
)

// palette holds the series colours (Okabe–Ito, readable by colour-blind
// readers), in the order series are given them.
var palette = [...]string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"}

// colour returns the i-th series colour.
func colour(i int) string { return palette[i%len(palette)] }

// point is one datum of a series; Tip is shown on hover.
type point struct {
	X, Y float64
	Tip  string
}

// series is one set of points of a line or scatter plot.
type series struct {
	Name    string
	Colour  string
	Points  []point
	Line    bool // join the points
	Step    bool // join them as a step function (best so far)
	Markers bool // draw a circle at each point
	Dashed  bool
	// Dash, when set, is the line's stroke-dasharray (Dashed uses "6 4").
	Dash  string
	Faint bool // drawn lighter (the cloud of trials under a best-so-far line)
	// NoLegend leaves the series out of the legend (per-unit lines under
	// their mean, named in their own tooltip).
	NoLegend bool
}

// xyPlot is a line or scatter plot.
type xyPlot struct {
	ID             string
	Title          string
	XLabel, YLabel string
	Width, Height  float64
	Series         []series
	// XInts labels the x axis with whole numbers only.
	XInts bool
	// XTicks, when set, are the x ticks (e.g. 2, 4, 8, 16).
	XTicks []float64
	// YMin/YMax force the y range when YFixed is set.
	YFixed     bool
	YMin, YMax float64
}

// frame is the drawing area inside the margins.
type frame struct {
	left, top, w, h        float64
	xmin, xmax, ymin, ymax float64
}

func (f frame) px(x float64) float64 {
	if f.xmax == f.xmin {
		return f.left + f.w/2
	}
	return f.left + (x-f.xmin)/(f.xmax-f.xmin)*f.w
}

func (f frame) py(y float64) float64 {
	if f.ymax == f.ymin {
		return f.top + f.h/2
	}
	return f.top + f.h - (y-f.ymin)/(f.ymax-f.ymin)*f.h
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// fmtTick renders a tick label without trailing zeros.
func fmtTick(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', 4, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// svgOpen starts an SVG element of the given kind.
func svgOpen(b *strings.Builder, id, kind, title string, w, h float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="plot" id="%s" data-kind="%s" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		html.EscapeString(id), kind, f1(w), f1(h), f1(w), f1(h), html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`, f1(w), f1(h))
	if title != "" {
		fmt.Fprintf(b, `<text x="%s" y="18" text-anchor="middle" class="ptitle">%s</text>`, f1(w/2), html.EscapeString(title))
	}
}

// axes draws the grid, ticks and axis labels of f.
func axes(b *strings.Builder, f frame, xticks, yticks []float64, xlabel, ylabel string, xfmt func(float64) string) {
	for _, t := range yticks {
		y := f.py(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, f1(f.left), f1(y), f1(f.left+f.w), f1(y))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" class="tick">%s</text>`, f1(f.left-6), f1(y+4), fmtTick(t))
	}
	for _, t := range xticks {
		x := f.px(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, f1(x), f1(f.top), f1(x), f1(f.top+f.h))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" class="tick">%s</text>`, f1(x), f1(f.top+f.h+16), html.EscapeString(xfmt(t)))
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" class="frame"/>`, f1(f.left), f1(f.top), f1(f.w), f1(f.h))
	if xlabel != "" {
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" class="alabel">%s</text>`, f1(f.left+f.w/2), f1(f.top+f.h+34), html.EscapeString(xlabel))
	}
	if ylabel != "" {
		cx, cy := 14.0, f.top+f.h/2
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" class="alabel" transform="rotate(-90 %s %s)">%s</text>`, f1(cx), f1(cy), f1(cx), f1(cy), html.EscapeString(ylabel))
	}
}

// render draws the plot as an inline SVG element.
func (p xyPlot) render() string {
	w, h := p.Width, p.Height
	if w == 0 {
		w = 640
	}
	if h == 0 {
		h = 300
	}
	var entries []legendEntry
	for i, s := range p.Series {
		if s.Name == "" || s.NoLegend {
			continue
		}
		c := s.Colour
		if c == "" {
			c = colour(i)
		}
		entries = append(entries, legendEntry{Name: s.Name, Colour: c, Line: true, Dashed: s.Dashed, Dash: s.Dash})
	}
	top := 30.0
	var lg string
	if len(entries) > 0 {
		var rows int
		lg, rows = legendRows(58, 34, w-16, entries)
		top = 34 + 16*float64(rows)
	}
	f := frame{left: 58, top: top, w: w - 58 - 16, h: h - top - 46}
	first := true
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) {
				continue
			}
			if first {
				f.xmin, f.xmax, f.ymin, f.ymax = pt.X, pt.X, pt.Y, pt.Y
				first = false
			}
			f.xmin, f.xmax = math.Min(f.xmin, pt.X), math.Max(f.xmax, pt.X)
			f.ymin, f.ymax = math.Min(f.ymin, pt.Y), math.Max(f.ymax, pt.Y)
		}
	}
	for _, t := range p.XTicks {
		f.xmin, f.xmax = math.Min(f.xmin, t), math.Max(f.xmax, t)
	}
	if p.YFixed {
		f.ymin, f.ymax = math.Min(f.ymin, p.YMin), math.Max(f.ymax, p.YMax)
	}
	padX := (f.xmax - f.xmin) * 0.04
	if padX == 0 {
		padX = 1
	}
	padY := (f.ymax - f.ymin) * 0.06
	if padY == 0 {
		padY = 0.05
	}
	f.xmin, f.xmax = f.xmin-padX, f.xmax+padX
	if !p.YFixed {
		f.ymin, f.ymax = f.ymin-padY, f.ymax+padY
	}
	var b strings.Builder
	svgOpen(&b, p.ID, p.kind(), p.Title, w, h)
	xticks := p.XTicks
	if xticks == nil {
		xticks = niceTicks(f.xmin, f.xmax, 8)
		if p.XInts {
			var ints []float64
			for _, t := range xticks {
				if t == math.Trunc(t) {
					ints = append(ints, t)
				}
			}
			xticks = ints
		}
	}
	xt := xticks[:0:0]
	for _, t := range xticks {
		if t >= f.xmin && t <= f.xmax {
			xt = append(xt, t)
		}
	}
	yt := niceTicks(f.ymin, f.ymax, 5)
	yin := yt[:0:0]
	for _, t := range yt {
		if t >= f.ymin && t <= f.ymax {
			yin = append(yin, t)
		}
	}
	axes(&b, f, xt, yin, p.XLabel, p.YLabel, fmtTick)
	for i, s := range p.Series {
		c := s.Colour
		if c == "" {
			c = colour(i)
		}
		opacity := "1"
		if s.Faint {
			opacity = "0.7"
		}
		if (s.Line || s.Step) && len(s.Points) > 0 {
			var d strings.Builder
			for j, pt := range s.Points {
				x, y := f.px(pt.X), f.py(pt.Y)
				switch {
				case j == 0:
					fmt.Fprintf(&d, "M%s %s", f1(x), f1(y))
				case s.Step:
					fmt.Fprintf(&d, " H%s V%s", f1(x), f1(y))
				default:
					fmt.Fprintf(&d, " L%s %s", f1(x), f1(y))
				}
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			if s.Dash != "" {
				dash = ` stroke-dasharray="` + s.Dash + `"`
			}
			width, lineOpacity := "2.2", opacity
			if s.Faint {
				width, lineOpacity = "1.2", "0.3"
			}
			fmt.Fprintf(&b, `<path class="series line" d="%s" fill="none" stroke="%s" stroke-width="%s" stroke-opacity="%s"%s><title>%s</title></path>`,
				d.String(), c, width, lineOpacity, dash, html.EscapeString(s.Name))
		}
		if s.Markers {
			for _, pt := range s.Points {
				if math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) {
					continue
				}
				if s.Dashed {
					// hollow and larger, so that it shows around a solid
					// marker at the same place
					fmt.Fprintf(&b, `<circle class="pt" cx="%s" cy="%s" r="6.5" fill="none" stroke="%s" stroke-width="2"><title>%s</title></circle>`,
						f1(f.px(pt.X)), f1(f.py(pt.Y)), c, html.EscapeString(pt.Tip))
					continue
				}
				fmt.Fprintf(&b, `<circle class="pt" cx="%s" cy="%s" r="3.6" fill="%s" fill-opacity="%s"><title>%s</title></circle>`,
					f1(f.px(pt.X)), f1(f.py(pt.Y)), c, opacity, html.EscapeString(pt.Tip))
			}
		}
	}
	b.WriteString(lg)
	b.WriteString("</svg>")
	return b.String()
}

func (p xyPlot) kind() string {
	for _, s := range p.Series {
		if s.Line || s.Step {
			return kindLine
		}
	}
	return kindScatter
}

// bar is one bar of a group, with an optional interval.
type bar struct {
	Label    string // the series it belongs to (legend)
	Value    float64
	Lo, Hi   float64
	Interval bool
}

// barGroup is the bars of one category (one task).
type barGroup struct {
	Name string
	Bars []bar
}

// barPlot is a grouped bar chart with 95% intervals.
type barPlot struct {
	ID     string
	Title  string
	YLabel string
	Width  float64
	Height float64
	Groups []barGroup
	// Series are the bar labels in legend order; a bar's colour is its
	// label's position here.
	Series []string
}

// render draws the chart as an inline SVG element.
func (p barPlot) render() string {
	w, h := p.Width, p.Height
	if w == 0 {
		w = 900
	}
	if h == 0 {
		h = 320
	}
	var entries []legendEntry
	for i, n := range p.Series {
		entries = append(entries, legendEntry{Name: n, Colour: colour(i)})
	}
	lg, rows := legendRows(58, 34, w-16, entries)
	top := 34 + 16*float64(rows)
	f := frame{left: 58, top: top, w: w - 58 - 16, h: h - top - 30, xmin: 0, xmax: 1, ymin: 0, ymax: 1}
	for _, g := range p.Groups {
		for _, br := range g.Bars {
			f.ymax = math.Max(f.ymax, math.Max(br.Value, br.Hi))
		}
	}
	var b strings.Builder
	svgOpen(&b, p.ID, kindBars, p.Title, w, h)
	axes(&b, f, nil, niceTicks(0, f.ymax, 5), "", p.YLabel, fmtTick)
	idx := map[string]int{}
	for i, s := range p.Series {
		idx[s] = i
	}
	ng := len(p.Groups)
	if ng == 0 {
		b.WriteString("</svg>")
		return b.String()
	}
	gw := f.w / float64(ng)
	for gi, g := range p.Groups {
		gx := f.left + gw*float64(gi)
		inner := gw * 0.8
		bw := inner / float64(max(len(g.Bars), 1))
		for bi, br := range g.Bars {
			x := gx + gw*0.1 + bw*float64(bi)
			y := f.py(br.Value)
			c := colour(idx[br.Label])
			tip := fmt.Sprintf("%s, %s: %.3f", g.Name, br.Label, br.Value)
			if br.Interval {
				tip += fmt.Sprintf(" [%.3f, %.3f]", br.Lo, br.Hi)
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
				f1(x+0.5), f1(y), f1(math.Max(bw-1, 1)), f1(f.top+f.h-y), c, html.EscapeString(tip))
			if br.Interval {
				cx := x + bw/2
				fmt.Fprintf(&b, `<path class="ci" d="M%s %s V%s M%s %s H%s M%s %s H%s" stroke="#333" stroke-width="1" fill="none"/>`,
					f1(cx), f1(f.py(br.Lo)), f1(f.py(br.Hi)),
					f1(cx-bw/5), f1(f.py(br.Lo)), f1(cx+bw/5), f1(cx-bw/5), f1(f.py(br.Hi)), f1(cx+bw/5))
			}
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" class="tick">%s</text>`, f1(gx+gw/2), f1(f.top+f.h+16), html.EscapeString(shorten(g.Name, int(gw/6.5))))
	}
	b.WriteString(lg)
	b.WriteString("</svg>")
	return b.String()
}

// legendEntry is one entry of a legend: a line sample (line plots) or a
// coloured square (bars).
type legendEntry struct {
	Name   string
	Colour string
	Line   bool
	Dashed bool
	Dash   string
}

// legendRows draws a legend from (x0, y) down, wrapping at maxX, and
// returns it with its number of rows.
func legendRows(x0, y, maxX float64, entries []legendEntry) (string, int) {
	var b strings.Builder
	x, rows := x0, 1
	for _, e := range entries {
		wd := 30 + 6.6*float64(len(e.Name))
		if e.Line {
			wd += 10
		}
		if x+wd > maxX && x > x0 {
			x, y, rows = x0, y+16, rows+1
		}
		tx := x + 14
		if e.Line {
			dash := ""
			if e.Dashed {
				dash = ` stroke-dasharray="5 3"`
			}
			if e.Dash != "" {
				dash = ` stroke-dasharray="` + e.Dash + `"`
			}
			marker := fmt.Sprintf(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`, f1(x+10), f1(y), e.Colour)
			if e.Dashed {
				marker = fmt.Sprintf(`<circle cx="%s" cy="%s" r="4.5" fill="#ffffff" stroke="%s" stroke-width="2"/>`, f1(x+10), f1(y), e.Colour)
			}
			fmt.Fprintf(&b, `<g class="legend"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"%s/>%s`,
				f1(x), f1(y), f1(x+20), f1(y), e.Colour, dash, marker)
			tx = x + 25
		} else {
			fmt.Fprintf(&b, `<g class="legend"><rect x="%s" y="%s" width="10" height="10" fill="%s"/>`, f1(x), f1(y-5), e.Colour)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick">%s</text></g>`, f1(tx), f1(y+4), html.EscapeString(e.Name))
		x += wd
	}
	return b.String(), rows
}

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	if n < 4 {
		n = 4
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
