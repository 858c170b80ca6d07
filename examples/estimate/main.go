// Command estimate shows how a service prices a public-API job before it
// submits it: decode the request strictly, take the price table in force,
// estimate, and show the user an itemized bill with the price version.
//
//	go run ./examples/estimate                               # a built-in sample job
//	go run ./examples/estimate testdata/jobs/json_to_mp4.json # a job file (from the repo root)
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// sampleJob is a prompt_to_mp4 request as a client would send it.
const sampleJob = `{
  "pipeline": "prompt_to_mp4",
  "prompt": "A 30-second product tour with upbeat music, ending on our logo",
  "uploads": [
    {"name": "intro.mp4"},
    {"name": "walkthrough.vidova", "analyze": true}
  ],
  "remote_assets": [
    {"url": "https://cdn.example.com/music/theme.mp3"},
    {"url": "https://cdn.example.com/brand/logo", "type": "image"},
    {"url": "https://CDN.example.com/music/theme.mp3#chorus"}
  ]
}`

func main() {
	if err := run(os.Args[1:], os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "estimate:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer, now time.Time) error {
	var in io.Reader = strings.NewReader(sampleJob)
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	default:
		return errors.New("usage: estimate [JOB.json]")
	}

	// Strict decoding: an unknown field, a bad URL or a missing prompt is
	// an *InputError naming the field, ready to send back as a 400.
	job, err := credits.DecodeJob(in)
	if err != nil {
		var ie *credits.InputError
		if errors.As(err, &ie) {
			return fmt.Errorf("bad request: field %s: %s", ie.Field, ie.Reason)
		}
		return err
	}

	// The price table in force now; the estimate remembers its version so
	// the charge can use the same prices the user was shown.
	table, err := credits.DefaultPriceBook().At(now)
	if err != nil {
		return err
	}
	est, err := table.EstimateJob(job)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "%s job, %d uploads, %d remote assets\n", est.Pipeline, len(job.Uploads), len(job.RemoteAssets))
	for _, l := range est.Lines {
		fmt.Fprintf(w, "  %-26s %3d x %-3s = %s\n", l.Action, l.Quantity, l.UnitPrice, l.Subtotal)
	}
	fmt.Fprintf(w, "Total: %s credits (price table %s)\n", est.Total, est.PriceVersion)
	return nil
}
