package methods

// taskVectorMethods lists the methods built on task vectors (model - base):
// the generalized task arithmetic family, sce, ram, ramplus_tl and
// arcee_fusion.
func taskVectorMethods() []*Method {
	return []*Method{
		gta("task_arithmetic", sparsifyNone, false, false, false),
		gta("ties", sparsifyMagnitude, true, true, false),
		gta("dare_linear", sparsifyBernoulli, false, false, true),
		gta("dare_ties", sparsifyBernoulli, true, false, true),
		gta("breadcrumbs", sparsifyOutliers, false, false, false),
		gta("breadcrumbs_ties", sparsifyOutliers, true, false, false),
		gta("della", sparsifyDella, true, true, true),
		gta("della_linear", sparsifyDella, false, false, true),
		sceMethod(),
		ramMethod(),
		ramPlusMethod(),
		arceeFusionMethod(),
	}
}
