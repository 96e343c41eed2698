package methods

// taskVectorMethods lists the methods built on task vectors (model - base):
// the generalized task arithmetic family and sce.
func taskVectorMethods() []*Method {
	return nil
}
