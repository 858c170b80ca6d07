package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// TestRunOnPostgres runs the program against the real server, in a schema
// of its own, twice: the second run, with the same idempotency keys,
// prints the same thing and stores nothing more.
func TestRunOnPostgres(t *testing.T) {
	schema := pgledgertest.Schema(t, "credits_example_") // skips (or fails, in CI) without a server
	url := pgledgertest.URL()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	var first, second bytes.Buffer
	if err := run(ctx, &first, url, schema, "user-42"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"free tier:  +30 credits (entry 1)",
		"chat:       -3 credits (entry 2, prices v1)",
		"hold:       25 credits held for job video-7 (hold 3)",
		"capture:    -20 credits of hold 3 (entry 4)",
		"balance:    7 total, 0 held, 7 available",
		"    4  capture   -20  held  -25  balance    7  hold 3\n",
	} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, first.String())
		}
	}
	if err := run(ctx, &second, url, schema, "user-42"); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("a second run differs:\n%s\nfirst run:\n%s", second.String(), first.String())
	}
	var entries int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "entries"}.Sanitize()+" WHERE account = 'user-42'").Scan(&entries); err != nil || entries != 4 {
		t.Errorf("%d entries stored for user-42 after two runs (%v), want 4", entries, err)
	}
}
