package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func TestSampleJob(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, &out, now); err != nil {
		t.Fatal(err)
	}
	want := `prompt_to_mp4 job, 2 uploads, 3 remote assets
  upload_video                 1 x 5   = 5
  upload_image                 1 x 0   = 0
  upload_audio                 1 x 3   = 3
  screen_recording_upload      1 x 0   = 0
  screen_recording_analysis    1 x 5   = 5
  public_api_ai_creation       1 x 3   = 3
  render                       1 x 5   = 5
Total: 21 credits (price table v1)
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestJobFile(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{filepath.Join("..", "..", "testdata", "jobs", "json_to_mp4.json")}, &out, now); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "Total: 26 credits (price table v1)\n") {
		t.Errorf("got\n%s", out.String())
	}
}

func TestErrors(t *testing.T) {
	bad := filepath.Join("..", "..", "testdata", "jobs", "invalid", "url_scheme.json")
	err := run([]string{bad}, &bytes.Buffer{}, now)
	if err == nil || err.Error() != "bad request: field remote_assets[1].url: must be an http:// or https:// URL" {
		t.Errorf("bad job: %v", err)
	}
	if err := run([]string{"missing.json"}, &bytes.Buffer{}, now); err == nil {
		t.Error("a missing file is not an error")
	}
	if err := run([]string{"a", "b"}, &bytes.Buffer{}, now); err == nil {
		t.Error("two arguments are not an error")
	}
	if err := run(nil, &bytes.Buffer{}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("a time before every price table is not an error")
	}
}
