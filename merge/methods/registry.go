package methods

// builtins lists every built-in method. Interpolation-style methods live in
// interp.go's list, task-vector methods in taskvector.go's; a new method is
// one file plus one entry in one of those lists.
func builtins() []*Method {
	return append(interpMethods(), taskVectorMethods()...)
}
