package methods

// interpMethods lists the methods that interpolate whole models:
// linear, slerp, nuslerp, multislerp, karcher, model_stock, nearswap and
// passthrough.
func interpMethods() []*Method {
	return nil
}
