package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/chat"
)

// layer holds one decoder layer's float32 weights, [out, in] row-major.
type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    []float32
	wgate, wup, wdown []float32
}

// Model is an opened llama checkpoint. It implements eval.Model and is safe
// for concurrent use: every call has its own key/value cache and scratch.
type Model struct {
	cfg      config
	tok      *tokenizer
	params   int64
	threads  int
	embed    []float32 // [vocab, hidden]
	layers   []layer
	norm     []float32
	head     []float32 // [vocab, hidden]; aliases embed when tied
	cos, sin []float32 // [maxPos, headDim/2]
	digest   string
	closed   atomic.Bool
	// chat is the model's chat template (tokenizer_config.json's
	// chat_template), or chatErr why there is none.
	chat    *chat.Template
	chatErr error
}

var _ eval.Model = (*Model)(nil)

// errClosed is returned by calls on a closed model.
var errClosed = errors.New("runner: model is closed")

// Params returns the number of parameters of the checkpoint (a tied output
// head is counted once).
func (m *Model) Params() int64 { return m.params }

// ContextLen returns the context length (max_position_embeddings).
func (m *Model) ContextLen() int { return m.cfg.maxPos }

// Encode returns the token ids of text as a prompt is encoded: with the BOS
// token first if tokenizer_config.json sets add_bos_token and names a BOS
// token (or config.json gives bos_token_id). Text that spells a special
// token, such as "<s>", is encoded as plain bytes.
func (m *Model) Encode(text string) []int {
	ids := m.tok.encode(text)
	if m.tok.bos >= 0 {
		ids = append([]int{m.tok.bos}, ids...)
	}
	return ids
}

// Decode returns the text of the token ids; special tokens (BOS, EOS, ...)
// and ids without a token are skipped.
// The result may hold invalid UTF-8 where a multi-byte character was split.
func (m *Model) Decode(ids []int) string { return string(m.tok.decode(nil, ids)) }

// Close releases the model; later calls fail.
func (m *Model) Close() error {
	m.closed.Store(true)
	return nil
}

// initRope precomputes the rotary tables as Hugging Face does in float32:
// inv_freq[i] = 1 / theta^(2i/headDim), angle = pos * inv_freq[i].
func (m *Model) initRope() {
	half := m.cfg.headDim / 2
	m.cos = make([]float32, m.cfg.maxPos*half)
	m.sin = make([]float32, m.cfg.maxPos*half)
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(m.cfg.headDim)
		inv[i] = float32(1 / float64(float32(math.Pow(m.cfg.theta, float64(e)))))
	}
	for p := range m.cfg.maxPos {
		for i, f := range inv {
			a := float64(float32(p) * f)
			m.cos[p*half+i] = float32(math.Cos(a))
			m.sin[p*half+i] = float32(math.Sin(a))
		}
	}
}

// blockSize is the most tokens one forward step processes at once; it
// bounds the scratch memory of long prompts.
const blockSize = 64

// state is the key/value cache and scratch of one call.
type state struct {
	k, v                    [][]float32 // per layer [capacity, kvHeads*headDim]
	n                       int         // positions in the cache
	x, h, q, att, tmp, g, u []float32
	scores                  []float32
	logits                  []float32
}

func (m *Model) newState(capacity int) *state {
	c := m.cfg
	kv := c.kvHeads * c.headDim
	s := &state{k: make([][]float32, c.layers), v: make([][]float32, c.layers)}
	for i := range s.k {
		s.k[i] = make([]float32, capacity*kv)
		s.v[i] = make([]float32, capacity*kv)
	}
	t := min(capacity, blockSize)
	s.x = make([]float32, t*c.hidden)
	s.h = make([]float32, t*c.hidden)
	s.tmp = make([]float32, t*c.hidden)
	s.q = make([]float32, t*c.heads*c.headDim)
	s.att = make([]float32, t*c.heads*c.headDim)
	s.g = make([]float32, t*c.inter)
	s.u = make([]float32, t*c.inter)
	s.scores = make([]float32, capacity)
	return s
}

// forward runs tokens through the model after the s.n cached positions and
// appends them to the cache. It returns the logits of the tokens from index
// from on, [len(tokens)-from, vocab] row-major (nil if from == len(tokens)).
// The slice is reused by the next call on s.
func (m *Model) forward(ctx context.Context, s *state, tokens []int, from int) ([]float32, error) {
	c := m.cfg
	V, H := c.vocab, c.hidden
	if need := (len(tokens) - from) * V; cap(s.logits) < need {
		s.logits = make([]float32, need)
	}
	logits := s.logits[:(len(tokens)-from)*V]
	for b := 0; b < len(tokens); b += blockSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk := tokens[b:min(len(tokens), b+blockSize)]
		m.block(s, blk)
		// Logits of the block's rows at index >= from.
		lo := max(from-b, 0)
		if lo < len(blk) {
			T := len(blk) - lo
			for t := lo; t < len(blk); t++ {
				rmsNorm(s.h[t*H:(t+1)*H], s.x[t*H:(t+1)*H], m.norm, c.eps)
			}
			out := logits[(b+lo-from)*V : (b+len(blk)-from)*V]
			matmul(out, s.h[lo*H:len(blk)*H], m.head, T, V, H, m.threads)
		}
	}
	return logits, nil
}

// block runs one block of tokens through the decoder layers, leaving the
// hidden states (before the final norm) in s.x.
func (m *Model) block(s *state, tokens []int) {
	c := m.cfg
	T, H, hd, I := len(tokens), c.hidden, c.headDim, c.inter
	Q, KV := c.heads*hd, c.kvHeads*hd
	half := hd / 2
	group := c.heads / c.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	x := s.x[:T*H]
	for t, id := range tokens {
		copy(x[t*H:(t+1)*H], m.embed[id*H:(id+1)*H])
	}
	h, q, att, tmp := s.h[:T*H], s.q[:T*Q], s.att[:T*Q], s.tmp[:T*H]
	g, u := s.g[:T*I], s.u[:T*I]
	p0 := s.n
	for li := range m.layers {
		l := &m.layers[li]
		for t := range T {
			rmsNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], l.attnNorm, c.eps)
		}
		kc := s.k[li][p0*KV : (p0+T)*KV]
		vc := s.v[li][p0*KV : (p0+T)*KV]
		matmul(q, h, l.wq, T, Q, H, m.threads)
		matmul(kc, h, l.wk, T, KV, H, m.threads)
		matmul(vc, h, l.wv, T, KV, H, m.threads)
		for t := range T {
			cs := m.cos[(p0+t)*half : (p0+t+1)*half]
			sn := m.sin[(p0+t)*half : (p0+t+1)*half]
			for hh := range c.heads {
				rope(q[t*Q+hh*hd:t*Q+(hh+1)*hd], cs, sn)
			}
			for hh := range c.kvHeads {
				rope(kc[t*KV+hh*hd:t*KV+(hh+1)*hd], cs, sn)
			}
		}
		keys, vals := s.k[li], s.v[li]
		for t := range T {
			n := p0 + t + 1 // causal: positions 0..p0+t
			sc := s.scores[:n]
			for hh := range c.heads {
				kvOff := (hh / group) * hd
				qv := q[t*Q+hh*hd : t*Q+(hh+1)*hd]
				mx := float32(math.Inf(-1))
				for j := range n {
					d := dot(qv, keys[j*KV+kvOff:j*KV+kvOff+hd]) * scale
					sc[j] = d
					mx = max(mx, d)
				}
				var sum float64
				for j, d := range sc {
					e := math.Exp(float64(d - mx))
					sc[j] = float32(e)
					sum += e
				}
				inv := float32(1 / sum)
				out := att[t*Q+hh*hd : t*Q+(hh+1)*hd]
				clear(out)
				for j, p := range sc {
					axpy(out, vals[j*KV+kvOff:j*KV+kvOff+hd], p*inv)
				}
			}
		}
		matmul(tmp, att, l.wo, T, H, Q, m.threads)
		add(x, tmp)
		for t := range T {
			rmsNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], l.ffnNorm, c.eps)
		}
		matmul(g, h, l.wgate, T, I, H, m.threads)
		matmul(u, h, l.wup, T, I, H, m.threads)
		for i, gv := range g {
			g[i] = float32(float64(gv)/(1+math.Exp(-float64(gv)))) * u[i]
		}
		matmul(tmp, g, l.wdown, T, H, I, m.threads)
		add(x, tmp)
	}
	s.n += T
}

// checkTokens validates token ids against the vocabulary.
func (m *Model) checkTokens(tokens []int) error {
	for i, id := range tokens {
		if id < 0 || id >= m.cfg.vocab {
			return fmt.Errorf("runner: token %d at position %d is outside the vocabulary of %d", id, i, m.cfg.vocab)
		}
	}
	return nil
}

// Logits returns the float32 logits of every position of tokens,
// [len(tokens)][vocab].
func (m *Model) Logits(ctx context.Context, tokens []int) ([][]float32, error) {
	if m.closed.Load() {
		return nil, errClosed
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	if len(tokens) > m.cfg.maxPos {
		return nil, fmt.Errorf("runner: %d tokens exceed the context of %d: %w", len(tokens), m.cfg.maxPos, eval.ErrContextOverflow)
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	s := m.newState(len(tokens))
	flat, err := m.forward(ctx, s, tokens, 0)
	if err != nil {
		return nil, err
	}
	V := m.cfg.vocab
	out := make([][]float32, len(tokens))
	for i := range out {
		out[i] = flat[i*V : (i+1)*V : (i+1)*V]
	}
	return out, nil
}

// LogLikelihood implements eval.Model: the sum over the tokens of
// continuation (encoded on its own, without BOS) of their float64
// log-softmax after the encoded prompt.
func (m *Model) LogLikelihood(ctx context.Context, prompt, continuation string) (float64, error) {
	if m.closed.Load() {
		return 0, errClosed
	}
	p, c := m.Encode(prompt), m.tok.encode(continuation)
	if len(c) == 0 {
		return 0, nil
	}
	if len(p) == 0 {
		return 0, errors.New("runner: log-likelihood needs a non-empty prompt (the tokenizer adds no BOS token)")
	}
	all := append(p, c[:len(c)-1]...)
	if len(all)+1 > m.cfg.maxPos {
		return 0, fmt.Errorf("runner: prompt and continuation of %d tokens exceed the context of %d: %w", len(all)+1, m.cfg.maxPos, eval.ErrContextOverflow)
	}
	s := m.newState(len(all))
	logits, err := m.forward(ctx, s, all, len(p)-1)
	if err != nil {
		return 0, err
	}
	V := m.cfg.vocab
	var ll float64
	for i, id := range c {
		ll += logSoftmaxAt(logits[i*V:(i+1)*V], id)
	}
	return ll, nil
}

// TopTokens implements eval.Model: the k most likely next tokens after
// prompt, with float64 log-softmax values, most likely first (lower id
// first on ties).
func (m *Model) TopTokens(ctx context.Context, prompt string, k int) ([]eval.TokenLogprob, error) {
	if m.closed.Load() {
		return nil, errClosed
	}
	ids := m.Encode(prompt)
	if len(ids) == 0 {
		return nil, errors.New("runner: top tokens need a non-empty prompt (the tokenizer adds no BOS token)")
	}
	if len(ids) > m.cfg.maxPos {
		return nil, fmt.Errorf("runner: prompt of %d tokens exceeds the context of %d: %w", len(ids), m.cfg.maxPos, eval.ErrContextOverflow)
	}
	s := m.newState(len(ids))
	logits, err := m.forward(ctx, s, ids, len(ids)-1)
	if err != nil {
		return nil, err
	}
	row := logits[:m.cfg.vocab]
	order := make([]int, len(row))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
	k = min(k, len(order))
	out := make([]eval.TokenLogprob, k)
	for i, id := range order[:k] {
		out[i] = eval.TokenLogprob{Token: m.Decode([]int{id}), Logprob: logSoftmaxAt(row, id)}
	}
	return out, nil
}

// Digest implements eval.Model: a sha256 of the tensors, config.json and
// the tokenizer files.
func (m *Model) Digest() string { return m.digest }

// Settings implements eval.Model: the built-in runner decodes greedily in
// float32 and has no other settings.
func (m *Model) Settings() string { return "builtin-runner/1 float32 greedy" }

// logSoftmaxAt returns log_softmax(row)[id] computed in float64.
func logSoftmaxAt(row []float32, id int) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, float64(v))
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - mx)
	}
	return float64(row[id]) - mx - math.Log(sum)
}

// argmax returns the index of the largest value, the lowest on ties.
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// Generate implements eval.Model: greedy decoding (the highest logit, the
// lowest id on ties) from the encoded prompt, for at most opt.MaxTokens new
// tokens (0: no limit), until the context (max_position_embeddings) is
// full, an end-of-sequence token is chosen, or the first occurrence of a
// stop string, which is cut off with everything after it. Only special
// end-of-sequence tokens end generation; an eos_token_id that is one of the
// 256 byte tokens is treated as text. The prompt must not be empty after
// encoding and must fit the context.
func (m *Model) Generate(ctx context.Context, prompt string, opt eval.GenerateOptions) (string, error) {
	if m.closed.Load() {
		return "", errClosed
	}
	ids := m.Encode(prompt)
	text, _, err := m.generate(ctx, ids, opt)
	return text, err
}

// generate is Generate on token ids; it also returns the generated ids
// (all of them, including those of a stop string).
func (m *Model) generate(ctx context.Context, ids []int, opt eval.GenerateOptions) (string, []int, error) {
	if len(ids) == 0 {
		return "", nil, errors.New("runner: generation needs a non-empty prompt (the tokenizer adds no BOS token)")
	}
	if len(ids) > m.cfg.maxPos {
		return "", nil, fmt.Errorf("runner: prompt of %d tokens exceeds the context of %d: %w", len(ids), m.cfg.maxPos, eval.ErrContextOverflow)
	}
	if opt.MaxTokens < 0 {
		return "", nil, fmt.Errorf("runner: negative MaxTokens %d", opt.MaxTokens)
	}
	limit := m.cfg.maxPos - len(ids) // new tokens that fit the context
	if opt.MaxTokens > 0 {
		limit = min(limit, opt.MaxTokens)
	}
	if limit == 0 {
		return "", nil, nil
	}
	maxStop := 0
	for _, st := range opt.Stop {
		maxStop = max(maxStop, len(st))
	}
	// The last generated token is never fed back, hence -1.
	s := m.newState(len(ids) + limit - 1)
	logits, err := m.forward(ctx, s, ids, len(ids)-1)
	if err != nil {
		return "", nil, err
	}
	var out []byte
	var gen []int
	for {
		next := argmax(logits)
		if m.tok.eos[next] {
			break
		}
		gen = append(gen, next)
		prev := len(out)
		out = m.tok.decode(out, gen[len(gen)-1:])
		if maxStop > 0 {
			// A new occurrence ends in the new bytes.
			from := max(0, prev-maxStop+1)
			cut := -1
			for _, st := range opt.Stop {
				if st == "" {
					continue
				}
				if i := strings.Index(string(out[from:]), st); i >= 0 && (cut < 0 || from+i < cut) {
					cut = from + i
				}
			}
			if cut >= 0 {
				return string(out[:cut]), gen, nil
			}
		}
		if len(gen) == limit {
			break
		}
		if logits, err = m.forward(ctx, s, gen[len(gen)-1:], 0); err != nil {
			return "", nil, err
		}
	}
	return string(out), gen, nil
}
