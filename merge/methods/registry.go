package methods

// builtins lists every built-in method. Interpolation-style methods live in
// interp.go's list, task-vector methods in taskvector.go's; a new method is
// one file plus one entry in one of those lists.
func builtins() []*Method {
	return append(interpMethods(), taskVectorMethods()...)
}

// Takers lists, in alphabetical order, the registered methods that take a
// parameter called name. The engine ignores, with a warning, a parameter
// that the chosen method does not take but another one does (mergekit
// ignores such parameters), and refuses a name no method takes.
func (r Registry) Takers(name string) []string {
	var out []string
	for _, n := range r.Names() {
		if _, ok := r[n].Param(name); ok {
			out = append(out, n)
		}
	}
	return out
}
