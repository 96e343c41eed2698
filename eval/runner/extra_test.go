package runner

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/eval"
)

func TestTopTokensAndDigest(t *testing.T) {
	ctx := context.Background()
	b := New(Options{})
	dir := filepath.Join("testdata", "f32_tied_gqa")
	m, err := b.OpenModel(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	top, err := m.TopTokens(ctx, "hello", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 5 {
		t.Fatalf("%d tokens", len(top))
	}
	logits, err := m.Logits(ctx, m.Encode("hello"))
	if err != nil {
		t.Fatal(err)
	}
	last := logits[len(logits)-1]
	if got, want := top[0].Token, m.Decode([]int{argmax(last)}); got != want {
		t.Fatalf("top token %q, greedy %q", got, want)
	}
	var sum float64
	for i, tl := range top {
		if i > 0 && tl.Logprob > top[i-1].Logprob {
			t.Fatalf("not sorted: %v", top)
		}
		sum += math.Exp(tl.Logprob)
	}
	if sum <= 0 || sum > 1+1e-9 {
		t.Fatalf("probabilities sum to %v", sum)
	}
	g, err := m.Generate(ctx, "hello", eval.GenerateOptions{MaxTokens: 1})
	if err != nil || g != top[0].Token {
		t.Fatalf("generate %q, top %q, %v", g, top[0].Token, err)
	}
	// the digest depends on the weights only
	m2, err := b.OpenModel(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	other, err := b.OpenModel(ctx, filepath.Join("testdata", "f32_mha"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if m.Digest() != m2.Digest() || m.Digest() == other.Digest() || len(m.Digest()) != len("sha256:")+64 {
		t.Fatalf("digests %s %s %s", m.Digest(), m2.Digest(), other.Digest())
	}
}
