package methods

// interpMethods lists the methods that interpolate whole models:
// linear, slerp, nuslerp, multislerp, karcher, model_stock, nearswap and
// passthrough. Each lives in its own interp_<name>.go file.
func interpMethods() []*Method {
	return []*Method{
		linearMethod(),
		slerpMethod(),
		nuslerpMethod(),
		multislerpMethod(),
		karcherMethod(),
		modelStockMethod(),
		nearswapMethod(),
		passthroughMethod(),
	}
}

// evenShare starts an interpolation weight at 1/n of n models and
// suggests searching it over [0, 1].
func evenShare() Search { return Search{Share: true, Low: 0, High: 1} }
