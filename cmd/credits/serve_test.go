package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that a server goroutine may write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveLedger makes a ledger file with alice's free tier, starts "credits
// serve" on it with args, and returns its URL.
func serveLedger(t *testing.T, args ...string) string {
	t.Helper()
	c, path := newSQLiteCLI(t)
	c.ok("grant", "--account", "alice", "--free-tier", "--claim", "alice@example.com")
	c.ok("charge", "--account", "alice", "chat_message", "--key", "chat-1")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, now: time.Now, interrupt: ctx}
	done := make(chan int)
	go func() { done <- e.main(append([]string{"serve", "--db", path, "--addr", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	})
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/)`)
	for range 200 {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve did not start: %q %q", out.String(), errOut.String())
	return ""
}

func request(t *testing.T, client *http.Client, method, u, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	base := serveLedger(t, "--admin-token", "s3cret")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Reads are open; the page shows the ledger's numbers.
	if code, body := request(t, c, "GET", base+"accounts/alice", ""); code != 200 || !strings.Contains(body, `id="total">27</p>`) {
		t.Fatalf("account page: %d %s", code, body)
	}
	// Writes need the token.
	grant := `{"amount": 5, "source": "topup"}`
	for token, want := range map[string]int{"": 401, "Bearer wrong": 401, "s3cret": 401, "Bearer s3cret": 201} {
		code, body := request(t, c, "POST", base+"api/accounts/alice/grants", grant, "Authorization", token, "Idempotency-Key", "g-1")
		if code != want {
			t.Errorf("grant with %q: %d %s, want %d", token, code, body, want)
		}
	}
	// The support pages too, with a sign-in page linked from the refusal.
	if code, body := request(t, c, "GET", base+"support", ""); code != 401 || !strings.Contains(body, `href="./login"`) {
		t.Fatalf("support without signing in: %d %s", code, body)
	}
	if code, _ := request(t, c, "POST", base+"login", url.Values{"token": {"nope"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != 401 {
		t.Fatalf("sign-in with a wrong token: %d", code)
	}
	req, _ := http.NewRequest("POST", base+"login", strings.NewReader(url.Values{"token": {"s3cret"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cookies) != 1 || strings.Contains(cookies[0].Value, "s3cret") || !cookies[0].HttpOnly {
		t.Fatalf("sign-in: %d %v", res.StatusCode, cookies)
	}
	if code, body := request(t, c, "GET", base+"support/accounts/alice", "", "Cookie", cookies[0].Name+"="+cookies[0].Value); code != 200 || !strings.Contains(body, `id="total">32</p>`) {
		t.Fatalf("support page signed in: %d %s", code, body)
	}
}

func TestServeReadOnlyAndPrivate(t *testing.T) {
	c := http.DefaultClient
	base := serveLedger(t)
	if code, _ := request(t, c, "GET", base+"api/accounts/alice/balance", ""); code != 200 {
		t.Fatalf("read-only console, a read: %d", code)
	}
	if code, _ := request(t, c, "POST", base+"api/accounts/alice/grants", `{"amount": 5, "source": "topup"}`, "Authorization", "Bearer anything", "Idempotency-Key", "g"); code != 403 {
		t.Fatalf("read-only console, a write: %d", code)
	}

	base = serveLedger(t, "--admin-token", "t0k", "--private")
	if code, _ := request(t, c, "GET", base+"api/accounts/alice/balance", ""); code != 401 {
		t.Fatalf("private console, a read without the token: %d", code)
	}
	if code, _ := request(t, c, "GET", base+"api/accounts/alice/balance", "", "Authorization", "Bearer t0k"); code != 200 {
		t.Fatalf("private console, a read with the token: %d", code)
	}
	if code, _ := request(t, c, "GET", base+"api/prices", ""); code != 200 {
		t.Fatalf("private console, the prices: %d", code)
	}
}

func TestServeUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.db")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve", "--private", "--db", missing}, exitUsage, "--private needs --admin-token"},
		{[]string{"serve", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"serve", "--schema", "s", "--db", missing}, exitUsage, "--schema is for a PostgreSQL"},
		{[]string{"serve", "--db", missing}, exitInput, "no ledger file"},
	} {
		var out, errOut bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, now: time.Now, interrupt: t.Context()}
		if code := e.main(c.args); code != c.code || !strings.Contains(errOut.String(), c.msg) {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut.String())
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("serve created a ledger file")
	}
	if got := redactDB("postgres://u:pw@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("redact: %s", got)
	}
}
