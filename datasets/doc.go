// Package datasets will hold task specifications and the adapters for
// public benchmark files. It is not implemented yet; see the project's
// open issues.
package datasets
