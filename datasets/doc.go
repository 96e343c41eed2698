// Package datasets loads evaluation tasks: small YAML task files in the
// spirit of lm-evaluation-harness, the public benchmark formats through
// built-in adapters, and the toy tasks of package toy.
//
// A task file:
//
//	name: arc_easy            # unique within a task set
//	data: ../data/arc_easy.jsonl   # relative to the task file; jsonl, json, csv, tsv or parquet
//	                          # (built-in:arc_easy.jsonl: the copy embedded in the binary)
//	format: jsonl             # optional: inferred from the extension (jsonl, json, csv, tsv, parquet)
//	                          # data: hf:OWNER/NAME/CONFIG/SPLIT reads a dataset's Parquet files
//	                          # from the local Hugging Face cache (HFPrefix); nothing is downloaded
//	records: examples         # json: the key path of the list in an object ({"examples": [...]})
//	header: false             # csv/tsv: the first row is a record (needs columns)
//	columns: [question, answer]   # csv/tsv: the fields' names in column order
//	adapter: arc_easy         # optional: a built-in record format (AdapterNames)
//	prompt: "{{.query}}"      # Go text/template over the record's fields; func letter: 0 → "A"
//	target: answer            # a field name, or a template ("{{.answer}}")
//	choices: choices          # optional: a list field, or a list of templates
//	gold: gold                # optional: the field holding the gold choice index
//	fewshot: {count: 5, file: train.jsonl}   # or {count: 5, split: head}
//	limit: 200                # score the first 200 items (0: all; a smaller study or eval limit wins)
//	split: tune               # role: tune (default) or holdout, or a mapping:
//	split: {holdout: 0.3, seed: 1}   # two tasks, NAME@tune and NAME@holdout (see below)
//	stop: ["\n\n"]            # default: ["\n\n"]
//	max_tokens: 256           # default 256 (16 for choice)
//	scorer: choice            # or a mapping, see below
//	scoring: acc_norm         # choice tasks: letter (default), acc, acc_norm, acc_bytes (ScoringModes)
//	chat: true                # the prompt is a user turn in the model's chat template
//
// Scorers:
//
//   - exact: options strip (default true), ignore_case,
//     ignore_punctuation, regexes_to_ignore (lm-eval's exact_match).
//   - regex: pattern, group_select (0 first match, -1 last), fallback
//     ("[invalid]"), numeric (18 == 18.0 == $18), and the exact options;
//     preset gsm8k-strict ("#### N") or gsm8k-flexible (the last number)
//     sets lm-eval's gsm8k pattern and ignore chain.
//   - choice: the choices are listed under the prompt as "A. …" lines,
//     followed by answer_prefix (default "Answer:"; list_choices: false
//     when the prompt lists them itself). The evaluator reads the answer
//     letter from the next-token log-probabilities, falling back to a
//     generation and letter extraction. Under a log-likelihood scoring
//     mode (scoring: acc, acc_norm, acc_bytes; lm-eval's multiple_choice)
//     the evaluator instead scores " " + each choice as a continuation of
//     the prompt, which then lists no choices unless list_choices: true
//     and ends with a line answer_prefix unless it already does, and
//     few-shot examples end with the gold choice's text.
//
// Prompts are assembled as in lm-eval: each few-shot example's prompt, a
// space, its target (the gold letter for choice tasks) and a blank line,
// then the item's prompt. Few-shot examples come in file order from a
// separate file, or from the first records of the data file (split: head),
// which are then not scored; an item whose prompt equals an example's is
// never scored.
//
// Templates run within bounds (MaxRenderedBytes, MaxRenderSteps,
// MaxRenderTime): a template that would render without end is an error
// naming the task file, the field and the record.
//
// A split task file assigns each record to the part holdout when the first
// 8 bytes of SHA-256(seed, record) read as a fraction are below holdout,
// else to tune; the record is its JSON encoding (keys sorted), or its
// field key (split: {holdout: 0.3, seed: 1, key: id}). The parts are
// disjoint, identical records share a part, and no record changes part when
// records are added to the file. Few-shot examples taken from the head of
// the file belong to neither part. "file.yml@tune" names one part (Load,
// LoadAll, a task set's entries, a study's tasks).
//
// A field a record lacks is an error listing the fields the record has.
//
// A task set (LoadAll) is a file with a field tasks listing task mappings,
// task file paths, or built-in tasks ("gsm8k", "toy:reverse").
//
// The public benchmark files of the built-in tasks (gsm8k, arc_easy, …)
// are shipped in datasets/data, with their licences, and embedded
// (BuiltinData); Builtin reads a data directory instead when given one.
package datasets
