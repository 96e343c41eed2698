// Package search will run merge-hyperparameter studies: a goptuna study
// proposes settings, the merge engine builds each candidate, the evaluator
// scores it and the results are recorded. It is not implemented yet; see
// the project's open issues.
package search
